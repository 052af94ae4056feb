"""R26: a reason to call a customer back becomes one callback, with a lead-time target and a
priority from the churn-risk signals (R29) that the read model holds."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID, uuid4

from hoera_events.callbacks import CallbackPriority, CallbackRequested, CallbackSource
from hoera_events.common import Channel, Language, PreferredMoment
from hoera_events.envelope import Envelope
from hoera_kit import timers
from hoera_kit.auth import Principal
from hoera_kit.db import Conn
from hoera_kit.errors import DomainError
from pydantic import BaseModel

from hoera_callback import store
from hoera_callback.domain import (
    CustomerFacts,
    PriorityRules,
    Source,
    Status,
    add_duration,
    assess_priority,
    customer_facts,
)
from hoera_callback.handlers.common import LEAD_TIME_TIMER, CallbackApp, Note, visible
from hoera_callback.rules import CallbackRules
from hoera_callback.store import Callback


class NewRequest(BaseModel):
    """A reason to call a customer back, from an event or an agent."""

    tenant: str
    request_ref: str
    """What makes a repeat of the same request recognisable (survey:<id>, complaint:<id>:<moment>)."""
    customer_id: str
    team_id: str | None = None
    source: Source
    language: str
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


async def load_facts(
    conn: Conn, tenant: str, customer_id: str, rules: PriorityRules, now: datetime
) -> CustomerFacts:
    flags = await store.customer_flags(conn, tenant, customer_id)
    latest = await store.latest_survey(conn, tenant, customer_id)
    complaints = await store.complaints_of(conn, tenant, customer_id)
    return customer_facts(
        considering_leaving=flags.considering_leaving,
        latest_nps=latest.nps if latest else None,
        latest_satisfaction=latest.satisfaction if latest else None,
        complaints=[c.facts() for c in complaints],
        now=now,
        rules=rules,
    )


async def request_callback(
    app: CallbackApp, conn: Conn, req: NewRequest, *, cause: Envelope | None = None
) -> Callback | None:
    """R26: one callback per request, whatever number of times it is delivered; None for a customer
    who died (R10: nobody calls to ask for them)."""
    rules = await app.rules.current(conn)
    # Locked, so a mark decided at the same moment either sees this callback (and withdraws it)
    # or is seen here.
    if (await store.lock_deceased_mark(conn, req.tenant, req.customer_id)).deceased:
        return None
    existing = await store.by_ref(conn, req.tenant, req.request_ref)
    if existing is not None:
        return existing
    now = await store.db_now(conn)
    facts = await load_facts(conn, req.tenant, req.customer_id, rules.priority, now)
    assessment = assess_priority(facts, rules.priority)
    language = req.language if req.language in {lang.value for lang in Language} else rules.default_language
    due_at = add_duration(req.requested_at, rules.lead_time, rules.calendar)
    callback = await store.insert_callback(
        conn,
        {
            "callback_id": uuid4(),
            "tenant": req.tenant,
            "request_ref": req.request_ref,
            "customer_id": req.customer_id,
            "team_id": rules.team_for(req.team_id, language),
            "source": req.source.value,
            "language": language,
            "preferred_channel": req.preferred_channel.value,
            "preferred_moment": req.preferred_moment.value if req.preferred_moment else None,
            "preferred_at": req.preferred_at,
            "survey_id": req.survey_id,
            "complaint_id": req.complaint_id,
            "contact_id": req.contact_id,
            "alert_id": req.alert_id,
            "earlier_agent_id": req.earlier_agent_id,
            "reason_code": req.reason_code,
            "satisfaction": req.satisfaction,
            "request_note": req.request_note,
            "requested_by": req.requested_by,
            "requested_at": req.requested_at,
            "due_at": due_at,
            "priority": assessment.level.name,
            "priority_score": assessment.score,
            "priority_reasons": [r.value for r in assessment.reasons],
            "churn_risk": assessment.churn_risk,
            "status": Status.queued.value,
        },
    )
    if callback is None:  # another replica inserted the same request a moment ago
        return await store.by_ref(conn, req.tenant, req.request_ref)
    await timers.schedule(conn, LEAD_TIME_TIMER, str(callback.callback_id), due_at)
    await app.svc.emit(
        conn,
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


async def refresh_priorities(conn: Conn, tenant: str, customer_id: str, rules: CallbackRules) -> None:
    """R29: a new signal (a breach, a detractor score, "considering leaving") moves the customer's
    open callbacks up the queue, and a resolved breach moves them back."""
    # No row locks for reading: most refreshes change nothing, and a lock would make claimers skip
    # the row for the length of this transaction (SKIP LOCKED).
    open_callbacks = await store.open_of_customer(conn, tenant, customer_id)
    if not open_callbacks:
        return
    now = await store.db_now(conn)
    facts = await load_facts(conn, tenant, customer_id, rules.priority, now)
    for callback in open_callbacks:
        assessment = assess_priority(
            facts.model_copy(update={"lead_time_missed": callback.escalated_at is not None}), rules.priority
        )
        reasons = [r.value for r in assessment.reasons]
        if (assessment.score, reasons) != (callback.priority_score, callback.priority_reasons):
            await store.set_priority(
                conn,
                callback.callback_id,
                level=assessment.level.name,
                score=assessment.score,
                reasons=reasons,
                churn_risk=assessment.churn_risk,
            )


async def request_by_agent(
    app: CallbackApp,
    principal: Principal,
    *,
    customer_id: str,
    team_id: str,
    language: Language,
    reason_code: str | None,
    note: str | None,
    complaint_id: UUID | None,
    preferred_channel: Channel,
    preferred_moment: PreferredMoment | None,
    request_ref: str | None,
) -> tuple[Callback, bool]:
    """An agent or supervisor puts a customer in their team's queue by hand; (callback, created)."""
    if not principal.in_team(team_id):
        raise DomainError("you can only add callbacks to a team you work in", status=403, field="team_id")
    ref = f"agent:{request_ref}" if request_ref else f"agent:{uuid4()}"
    async with app.pool.acquire() as conn, conn.transaction():
        before = await store.by_ref(conn, principal.tenant, ref)
        callback = await request_callback(
            app,
            conn,
            NewRequest(
                tenant=principal.tenant,
                request_ref=ref,
                customer_id=customer_id,
                team_id=team_id,
                source=Source.agent,
                language=language.value,
                requested_at=await store.db_now(conn),
                preferred_channel=preferred_channel,
                preferred_moment=preferred_moment,
                complaint_id=complaint_id,
                reason_code=reason_code,
                request_note=note,
                requested_by=principal.subject,
            ),
        )
        if callback is None:
            raise DomainError(
                "this customer is marked deceased: no callbacks (R10)", status=409, field="customer_id"
            )
        return visible(principal, callback), before is None
