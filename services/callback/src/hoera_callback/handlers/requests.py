"""R26: a reason to call a customer back becomes one callback, with a lead-time target on the tenant's
business calendar and a priority from the churn-risk signals (R29) that the read model holds."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated
from uuid import UUID, uuid4

from hoera_events.callbacks import CallbackPriority, CallbackRequested, CallbackSource
from hoera_events.common import Channel, Code, CustomerId, Language, PreferredMoment, TeamId
from hoera_events.envelope import Envelope
from hoera_kit.auth import Principal
from hoera_kit.db import Conn
from hoera_kit.refusals import Conflict
from pydantic import BaseModel, ConfigDict, Field

from hoera_callback import store
from hoera_callback.domain import (
    Source,
    Status,
    assess_priority,
    callback_due_at,
    callback_language,
    queue_team,
)
from hoera_callback.handlers import recovery
from hoera_callback.handlers.book import Book
from hoera_callback.handlers.common import (
    LEAD_TIME_TIMER,
    Note,
    ensure_sees_team,
    tenant_language,
    timer_key,
    utc,
    visible,
)
from hoera_callback.store import Callback

if TYPE_CHECKING:
    from hoera_callback.handlers import Deps


class NewRequest(BaseModel):
    """A reason to call a customer back, from an event or an agent."""

    tenant: str
    request_ref: str
    """What makes a repeat of the same request recognisable (survey:<id>, complaint:<id>:<moment>)."""
    customer_id: str
    team_id: str | None = None
    source: Source
    language: str | None
    requested_at: datetime
    preferred_channel: Channel = Channel.phone
    preferred_moment: PreferredMoment | None = None
    preferred_at: datetime | None = None
    survey_id: UUID | None = None
    complaint_id: UUID | None = None
    contact_id: str | None = None
    alert_id: UUID | None = None
    earlier_agent_id: str | None = None
    reason_code: str | None = None
    satisfaction: int | None = None
    request_note: Note | None = None
    requested_by: str | None = None


class ManualRequest(BaseModel):
    """An agent or supervisor puts a customer in their team's queue (source "agent")."""

    customer_id: CustomerId
    team_id: TeamId
    language: Language
    reason_code: Code | None = None
    note: Note | None = None
    complaint_id: UUID | None = None
    preferred_channel: Channel = Channel.phone
    preferred_moment: PreferredMoment | None = None
    request_ref: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")] | None = None
    """Your own reference: sending the same one again for the same customer adds nothing; sending it
    for another customer or team is refused (409)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "CUST-0012345",
                    "team_id": "team-nl-1",
                    "language": "nl",
                    "reason_code": "refund.status",
                    "note": "Asked at the desk to be called about the refund",
                    "request_ref": "desk-2025-03-03-17",
                }
            ]
        }
    )


def queue_request(book: Book, req: NewRequest, *, cause: Envelope | None = None) -> Callback | None:
    """R26: one callback per request, whatever number of times it is delivered; None for a customer
    who died (R10: nobody calls to ask for them). The customer is locked in the book (the service's
    lock order, store.lock_customer), so a mark decided at the same moment either sees this callback
    and withdraws it, or is seen here."""
    if book.customer(req.tenant, req.customer_id).mark.deceased:
        return None
    existing = book.callback_by_ref(req.tenant, req.request_ref)
    if existing is not None:
        return existing
    rules = book.rules(req.tenant)
    deps = book.deps
    language = callback_language(req.language, tenant_language(deps, req.tenant))
    team = queue_team(deps.tenants.organisation(req.tenant), req.team_id, language.value)
    if team is None:
        # Refused, so the kit retries the event and then dead-letters it with this reason: a request
        # is never dropped without a trace.
        raise Conflict(f"tenant {req.tenant} has no team yet whose queue could take this callback")
    assessment = assess_priority(book.facts(req.tenant, req.customer_id, rules.priority), rules.priority)
    due_at = callback_due_at(deps.tenants.calendar(req.tenant), req.requested_at, rules.queue.lead_time)
    callback = Callback(
        callback_id=uuid4(),
        tenant=req.tenant,
        request_ref=req.request_ref,
        customer_id=req.customer_id,
        team_id=team,
        source=req.source.value,
        language=language.value,
        preferred_channel=req.preferred_channel.value,
        preferred_moment=req.preferred_moment.value if req.preferred_moment else None,
        preferred_at=utc(req.preferred_at),
        survey_id=req.survey_id,
        complaint_id=req.complaint_id,
        contact_id=req.contact_id,
        alert_id=req.alert_id,
        earlier_agent_id=req.earlier_agent_id,
        reason_code=req.reason_code,
        satisfaction=req.satisfaction,
        request_note=req.request_note,
        requested_by=req.requested_by,
        requested_at=utc(req.requested_at),
        due_at=utc(due_at),
        priority=assessment.level.name,
        priority_score=assessment.score,
        priority_reasons=[r.value for r in assessment.reasons],
        churn_risk=assessment.churn_risk,
        status=Status.queued,
        attempt=1,
    )
    book.add_callback(callback)
    book.schedule(LEAD_TIME_TIMER, timer_key(req.tenant, callback.callback_id), callback.due_at)
    recovery.callback_requested(book, callback)
    book.emit(
        CallbackRequested(
            callback_id=callback.callback_id,
            customer_id=callback.customer_id,
            source=CallbackSource(callback.source),
            priority=CallbackPriority(callback.priority),
            language=Language(callback.language),
            requested_at=callback.requested_at,
            due_at=callback.due_at,
            churn_risk=callback.churn_risk,
            preferred_channel=Channel(callback.preferred_channel),
            preferred_moment=req.preferred_moment,
            preferred_at=req.preferred_at,
            survey_id=req.survey_id,
            complaint_id=req.complaint_id,
            contact_id=req.contact_id,
            alert_id=req.alert_id,
            agent_id=req.earlier_agent_id,
            team_id=callback.team_id,
            satisfaction=req.satisfaction,
            reason_code=req.reason_code,
        ),
        tenant=req.tenant,
        cause=cause,
    )
    return callback


async def request_callback(
    deps: Deps, conn: Conn, req: NewRequest, *, cause: Envelope | None = None
) -> Callback | None:
    """`queue_request` for one request on its own (an agent's)."""
    book = await Book.load(
        deps, conn, lock=[(req.tenant, req.customer_id)], callback_refs=[(req.tenant, req.request_ref)]
    )
    callback = queue_request(book, req, cause=cause)
    await book.write(conn)
    return callback


def refresh(book: Book, tenant: str, customer_id: str) -> None:
    """R29: a new signal (a breach, a detractor score, "considering leaving") moves the customer's
    open callbacks up the queue, and a resolved breach moves them back. A customer the book did not
    lock has none open (the batch asked) and is left alone: claimers never wait on a customer's row."""
    if not book.locked(tenant, customer_id):
        return
    open_callbacks = book.open_callbacks(tenant, customer_id)
    if not open_callbacks:
        return
    priority = book.rules(tenant).priority
    facts = book.facts(tenant, customer_id, priority)
    for callback in open_callbacks:
        assessment = assess_priority(
            facts.model_copy(update={"lead_time_missed": callback.escalated_at is not None}), priority
        )
        reasons = [r.value for r in assessment.reasons]
        if (assessment.score, reasons) != (callback.priority_score, callback.priority_reasons):
            book.change_callback(
                callback,
                priority=assessment.level.name,
                priority_score=assessment.score,
                priority_reasons=reasons,
                churn_risk=assessment.churn_risk,
            )


async def refresh_priorities(deps: Deps, conn: Conn, tenant: str, customer_id: str) -> None:
    """`refresh` for one customer, whose row the caller already locked (an outcome, an escalation)."""
    book = await Book.load(deps, conn, lock=[(tenant, customer_id)], cases=False)
    refresh(book, tenant, customer_id)
    await book.write(conn)


async def request_by_agent(deps: Deps, principal: Principal, cmd: ManualRequest) -> tuple[Callback, bool]:
    """An agent or supervisor puts a customer in their team's queue by hand; (callback, created).

    Another team's queue answers 404 like every object of another team. A reference already used
    for another customer or team is a 409: it names another request, never this one."""
    ensure_sees_team(principal, cmd.team_id)
    ref = f"agent:{cmd.request_ref}" if cmd.request_ref else f"agent:{uuid4()}"
    async with deps.transaction() as conn:
        before = await store.by_ref(conn, principal.tenant, ref)
        callback = await request_callback(
            deps,
            conn,
            NewRequest(
                tenant=principal.tenant,
                request_ref=ref,
                customer_id=cmd.customer_id,
                team_id=cmd.team_id,
                source=Source.agent,
                language=cmd.language.value,
                requested_at=deps.now(),
                preferred_channel=cmd.preferred_channel,
                preferred_moment=cmd.preferred_moment,
                complaint_id=cmd.complaint_id,
                reason_code=cmd.reason_code,
                request_note=cmd.note,
                requested_by=principal.subject,
            ),
        )
        if callback is None:
            raise Conflict("this customer is marked deceased: no callbacks (R10)", field="customer_id")
        if (callback.customer_id, callback.team_id) != (cmd.customer_id, cmd.team_id):
            # Raised in the transaction, so nothing of this request stays written.
            raise Conflict(
                "this request_ref was already used for another request: choose a new one",
                field="request_ref",
            )
        return visible(principal, callback), before is None
