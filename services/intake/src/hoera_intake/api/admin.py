"""R8: operators change the rules without a release; each change validated whole and audited."""

# No `from __future__ import annotations`: the routes per kind take the kind's model as their body
# type, which FastAPI must see as a class, not as a string it cannot resolve.
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from hoera_events.common import Code
from hoera_kit.db import Conn
from hoera_kit.errors import DomainError
from pydantic import BaseModel

from hoera_intake.api.deps import Admin, Uses
from hoera_intake.api.models import AuditEntry, RulesVersion
from hoera_intake.handlers import Intake
from hoera_intake.rules import KINDS, Categories, Category

router = APIRouter(prefix="/admin", tags=["admin"])

Reason = Annotated[str, Query(max_length=500, description="Why: kept in the audit trail")]
ExpectedVersion = Annotated[
    int | None,
    Query(ge=1, description="Refuse (409) when someone changed the rules since you read this version"),
]
_REFUSALS: dict[int | str, dict[str, Any]] = {
    403: {"description": "not an administrator"},
    409: {"description": "expected_version is not the version in force"},
    422: {"description": "the document is invalid; `errors` name each bad field; nothing was applied"},
}


async def _replace(
    intake: Intake, kind: str, document: BaseModel, who: str, reason: str, expected: int | None
) -> RulesVersion:
    async def work(conn: Conn) -> RulesVersion:
        if expected is not None:
            version, _, _ = await intake.rules.current(conn, kind)
            if version != expected:
                raise DomainError(
                    f"the {kind} rules are at version {version}, not {expected}: read them again",
                    field="expected_version",
                )
        version = await intake.rules.replace(conn, kind, document, changed_by=who, reason=reason)
        _, _, changed_at = await intake.rules.current(conn, kind)
        return RulesVersion(kind=kind, version=version, changed_by=who, changed_at=changed_at)

    return await intake.atomically(work)


@router.get("/rules", response_model=list[RulesVersion], summary="Every kind of rules and its version")
async def list_rules(principal: Admin, intake: Uses) -> list[RulesVersion]:
    async with intake.svc.pool.acquire() as conn:
        rows = await intake.rules.listing(conn)
    return [RulesVersion(**dict(r)) for r in rows]


def _kind_routes(kind: str, model: type[BaseModel]) -> None:
    label = kind.replace("-", " ")
    name = kind.replace("-", "_")

    @router.get(
        f"/rules/{kind}",
        response_model=model,
        summary=f"The {label} rules in force",
        operation_id=f"read_rules_{name}",
        responses={403: {"description": "not an administrator"}},
    )
    async def read(principal: Admin, intake: Uses) -> JSONResponse:
        async with intake.svc.pool.acquire() as conn:
            version, document, _ = await intake.rules.current(conn, kind)
        return JSONResponse(document, headers={"ETag": f'"{version}"'})

    @router.put(
        f"/rules/{kind}",
        response_model=RulesVersion,
        summary=f"Replace the {label} rules",
        description=f"The whole {label} document, validated as one: a 422 names the bad field and "
        "nothing is applied. The change and the document before and after go to the audit trail.",
        operation_id=f"replace_rules_{name}",
        responses=_REFUSALS,
    )
    async def replace(
        body: model,  # type: ignore[valid-type]
        principal: Admin,
        intake: Uses,
        reason: Reason = "",
        expected_version: ExpectedVersion = None,
    ) -> RulesVersion:
        return await _replace(intake, kind, body, principal.subject, reason, expected_version)


for _kind, _model in KINDS.items():
    _kind_routes(_kind, _model)


@router.put(
    "/categories/{code}",
    response_model=RulesVersion,
    summary="Add or change one category and its SLA",
    description="Business days per channel, or for test and demo categories `sla.seconds`: the "
    "promised moment that many seconds after receipt, so an end-to-end test sees a complaint go "
    "overdue, escalate and breach within seconds.",
    responses=_REFUSALS,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {
                    "examples": {
                        "business days": {
                            "value": {
                                "code": "refund.late",
                                "names": {
                                    "nl": "Laattijdige terugbetaling",
                                    "fr": "Remboursement tardif",
                                    "en": "Late refund",
                                },
                                "sla": {"business_days": 5, "by_channel": {"email": 4}},
                            }
                        },
                        "seconds (test/demo)": {
                            "value": {
                                "code": "demo.fast",
                                "names": {"nl": "Demo", "fr": "Démo", "en": "Demo"},
                                "sla": {"seconds": 5, "reminder_seconds_before": 2},
                                "default_team": "team-nl-1",
                            }
                        },
                    }
                }
            }
        }
    },
)
async def put_category(
    code: Annotated[Code, Path(examples=["refund.late"])],
    body: Category,
    principal: Admin,
    intake: Uses,
    reason: Reason = "",
) -> RulesVersion:
    if body.code != code:
        raise DomainError(
            f"the body's code {body.code!r} is not the path's {code!r}", status=422, field="code"
        )
    async with intake.svc.pool.acquire() as conn:
        book = await intake.rules.book(conn)
    others = [c for c in book.categories.categories if c.code != code]
    document = Categories(categories=[*others, body])
    return await _replace(
        intake, "categories", document, principal.subject, reason, book.versions["categories"]
    )


@router.get("/audit", response_model=list[AuditEntry], summary="Who changed which rules, when, and how")
async def audit(
    principal: Admin,
    intake: Uses,
    kind: Annotated[str | None, Query(max_length=32, examples=["categories"])] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[AuditEntry]:
    if kind is not None and kind not in KINDS:
        raise DomainError(f"unknown kind {kind!r} (known: {', '.join(KINDS)})", status=422, field="kind")
    async with intake.svc.pool.acquire() as conn:
        rows = await intake.rules.audit(conn, kind, limit)
    return [AuditEntry(**dict(r)) for r in rows]
