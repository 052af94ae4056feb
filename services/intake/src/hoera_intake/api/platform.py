"""The contact-centre platform's edge: complaints and closed contacts, each POST idempotent."""

from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Header
from fastapi.responses import JSONResponse
from hoera_kit.db import Conn

from hoera_intake.api.deps import Platform, Uses
from hoera_intake.api.models import ComplaintAccepted, ComplaintSubmission, ContactRecorded, ContactReport
from hoera_intake.handlers import complaints
from hoera_intake.handlers.complaints import NewComplaint

router = APIRouter(tags=["platform"])

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="A retried POST with the same key and body gets the first answer and creates "
        "nothing; the same key with another body is refused (422).",
        examples=["5f2b0c8e-4d0e-4a53-9c53-2f9f6b2f3a10"],
    ),
]
REPLAYED = "Idempotent-Replayed"
_REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no valid bearer token"},
    403: {"description": "not the platform role"},
    422: {"description": "a field is missing or wrong (named in `field`/`errors`), or the key was reused"},
}


def _answer(status_code: int, body: Any, replayed: bool) -> JSONResponse:
    return JSONResponse(body, status_code=status_code, headers={REPLAYED: str(replayed).lower()})


@router.post(
    "/complaints",
    status_code=201,
    response_model=ComplaintAccepted,
    summary="Submit a complaint (the platform)",
    description="Opens the dossier (R1), promises a date from the category's SLA on the business-day "
    "calendar and acknowledges it to the complainant in their language (R2). 201: a new dossier; "
    "200: the platform_ref was known, the existing dossier is answered. A repeat with the same "
    "Idempotency-Key gets the first answer with `Idempotent-Replayed: true`.",
    responses={
        200: {"model": ComplaintAccepted, "description": "already known by platform_ref"},
        **_REFUSALS,
    },
)
async def submit_complaint(
    body: ComplaintSubmission, key: IdempotencyKey, principal: Platform, deps: Uses
) -> JSONResponse:
    cmd = NewComplaint(
        tenant=principal.tenant,
        customer_id=body.customer_id,
        channel=body.channel,
        category=body.category,
        language=body.language,
        summary=body.summary,
        received_at=body.received_at,
        platform_ref=body.platform_ref,
        contact_id=body.contact_id,
        agent_id=body.agent_id,
        team_id=body.team_id,
        about_deceased=body.about_deceased,
        complainant=body.complainant.complainant() if body.complainant else None,
    )

    async def work(conn: Conn) -> JSONResponse:
        async def submit() -> tuple[int, Any]:
            c, created = await complaints.submit(
                deps, conn, cmd, actor=principal.subject, via="http", strict=True
            )
            return (201 if created else 200), ComplaintAccepted.of(c).model_dump(mode="json")

        stored, replayed = await complaints.once(
            conn,
            tenant=principal.tenant,
            scope="complaints",
            key=key,
            body=body.model_dump(mode="json"),
            work=submit,
        )
        return _answer(stored.status_code, stored.body, replayed)

    try:
        return await deps.atomically(work)
    except asyncpg.UniqueViolationError:
        # The same platform_ref arrived at the same moment on the topic: that dossier answers.
        return await deps.atomically(work)


@router.post(
    "/contacts",
    status_code=201,
    response_model=ContactRecorded,
    summary="Report a closed contact (the platform)",
    description="Records the contact once by contact_id for first-contact-resolution figures (R9) and, "
    "when it was about a deceased customer, marks them (R10). Passed on as ContactClosed (producer "
    "intake) so the survey service sees it too. 201: new; 200: known already.",
    responses={200: {"model": ContactRecorded, "description": "the contact was known"}, **_REFUSALS},
)
async def report_contact(
    body: ContactReport, key: IdempotencyKey, principal: Platform, deps: Uses
) -> JSONResponse:
    contact = body.event()

    async def work(conn: Conn) -> JSONResponse:
        async def record() -> tuple[int, Any]:
            new = await complaints.record_contact(
                deps, conn, principal.tenant, contact, via="http", actor=principal.subject
            )
            answer = ContactRecorded(contact_id=contact.contact_id, recorded=new)
            return (201 if new else 200), answer.model_dump(mode="json")

        stored, replayed = await complaints.once(
            conn,
            tenant=principal.tenant,
            scope="contacts",
            key=key,
            body=body.model_dump(mode="json"),
            work=record,
        )
        return _answer(stored.status_code, stored.body, replayed)

    return await deps.atomically(work)
