"""R27: other services' events become the callback service's own read model (never their tables);
some of them put a customer in the queue (R26) or move their callbacks up or down (R29)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hoera_events.alerts import AlertRaised
from hoera_events.common import Channel
from hoera_events.complaints import (
    ComplaintClosed,
    ComplaintRaised,
    ComplaintReopened,
    ComplaintResolved,
    ComplaintSlaBreached,
    CustomerDeceasedMarkWithdrawn,
    CustomerMarkedDeceased,
)
from hoera_events.envelope import Envelope
from hoera_events.platform import ContactClosed
from hoera_events.recovery import RecoveryTrigger
from hoera_events.surveys import SurveyAnswered
from hoera_kit import timers
from hoera_kit.db import Conn
from hoera_kit.privacy import erased

from hoera_callback import store
from hoera_callback.domain import (
    ComplaintTrigger,
    Source,
    WithdrawnReason,
    complaint_wants_callback,
    mark_deceased,
    survey_wants_callback,
    withdraw_deceased_mark,
)
from hoera_callback.handlers import recovery
from hoera_callback.handlers.common import LEAD_TIME_TIMER, RETRY_TIMER, timer_key
from hoera_callback.handlers.requests import NewRequest, refresh_priorities, request_callback
from hoera_callback.rules import PRIORITY, TRIGGERS
from hoera_callback.store import AlertRow, ComplaintRow, ContactRow, SurveyRow

if TYPE_CHECKING:
    from hoera_callback.handlers import Deps


async def contacts_closed(deps: Deps, conn: Conn, envelopes: Sequence[Envelope]) -> None:
    """The platform's closed contacts, kept as context (R27): a Kafka batch in one statement."""
    rows = []
    for env in envelopes:
        event = env.data_as(ContactClosed)
        rows.append(
            (
                env.tenant,
                ContactRow(
                    contact_id=event.contact_id,
                    customer_id=event.customer_id,
                    channel=event.channel.value,
                    agent_id=event.agent_id,
                    team_id=event.team_id,
                    language=event.language.value,
                    closed_at=event.closed_at,
                    reason_code=event.reason_code,
                    first_contact_resolved=event.first_contact_resolved,
                    recording_ref=event.recording_ref,
                ),
            )
        )
    await store.upsert_contacts(conn, rows)


async def _comment(deps: Deps, conn: Conn, tenant: str, event: SurveyAnswered) -> str | None:
    """The customer's words, kept as context (R27). The event says only that they commented: the words
    are asked of the survey service; an older event that still carries them is read as it comes. A
    customer this service has erased gets no words back from a late answer."""
    if not event.commented or event.comment is not None:
        return event.comment
    words = (await deps.survey_comments.resolve(tenant, [event.survey_id])).get(event.survey_id)
    if words is None or await erased(conn, tenant, event.customer_id):
        return None
    return words


async def survey_answered(deps: Deps, conn: Conn, env: Envelope) -> None:
    event = env.data_as(SurveyAnswered)
    comment = await _comment(deps, conn, env.tenant, event)
    await store.upsert_survey(
        conn,
        env.tenant,
        SurveyRow(
            survey_id=event.survey_id,
            customer_id=event.customer_id,
            trigger=event.trigger.value,
            channel=event.channel.value,
            language=event.language.value,
            answered_at=event.answered_at,
            contact_id=event.contact_id,
            complaint_id=event.complaint_id,
            callback_id=event.callback_id,
            agent_id=event.agent_id,
            team_id=event.team_id,
            satisfaction=event.satisfaction,
            effort=event.effort,
            nps=event.nps,
            attributes={k.value: v for k, v in event.attributes.items()},
            comment=comment,
            contact_me=event.contact_me is not None,
            reason=event.reason,
            topics=list(event.topics),
        ),
    )
    triggers = await deps.rules.get(conn, env.tenant, TRIGGERS)
    priority = await deps.rules.get(conn, env.tenant, PRIORITY)
    source = survey_wants_callback(
        contact_me=event.contact_me is not None,
        satisfaction=event.satisfaction,
        unhappy_smiley_callback=triggers.unhappy_smiley_callback,
        unhappy_max_smiley=priority.unhappy_max_smiley,
    )
    if source is not None:
        wish = event.contact_me
        reason = None
        if event.contact_id:
            earlier = await store.contact(conn, env.tenant, event.contact_id)
            reason = earlier.reason_code if earlier else None
        await request_callback(
            deps,
            conn,
            NewRequest(
                tenant=env.tenant,
                request_ref=f"survey:{event.survey_id}",
                customer_id=event.customer_id,
                team_id=event.team_id,
                source=source,
                language=event.language.value,
                requested_at=event.answered_at,
                preferred_channel=wish.preferred_channel if wish else Channel.phone,
                preferred_moment=wish.preferred_moment if wish else None,
                preferred_at=wish.preferred_at if wish else None,
                survey_id=event.survey_id,
                complaint_id=event.complaint_id,
                contact_id=event.contact_id,
                earlier_agent_id=event.agent_id,
                reason_code=reason,
                satisfaction=event.satisfaction,
            ),
            cause=env,
        )
    await recovery.survey_answered(deps, conn, env, event)
    await refresh_priorities(deps, conn, env.tenant, event.customer_id)


async def alert_raised(deps: Deps, conn: Conn, env: Envelope) -> None:
    event = env.data_as(AlertRaised)
    if event.customer_id is None:
        return  # a team's threshold alert: not about one customer's story
    await store.upsert_alert(
        conn,
        env.tenant,
        AlertRow(
            alert_id=event.alert_id,
            customer_id=event.customer_id,
            kind=event.kind.value,
            severity=event.severity.value,
            raised_at=event.raised_at,
            team_id=event.team_id,
            agent_id=event.agent_id,
            complaint_id=event.complaint_id,
            survey_id=event.survey_id,
            contact_id=event.contact_id,
            satisfaction=event.satisfaction,
        ),
    )


async def _complaint_callback(
    deps: Deps,
    conn: Conn,
    env: Envelope,
    row: ComplaintRow,
    trigger: ComplaintTrigger,
    ref: str,
    at: datetime,
) -> None:
    """R26: some complaint moments put the customer in the queue, where the tenant's rules say so."""
    triggers = await deps.rules.get(conn, env.tenant, TRIGGERS)
    if not complaint_wants_callback(trigger, row.category, triggers):
        return
    await request_callback(
        deps,
        conn,
        NewRequest(
            tenant=env.tenant,
            request_ref=ref,
            customer_id=row.customer_id,
            team_id=row.team_id,
            source=Source.complaint,
            language=row.language,
            requested_at=at,
            complaint_id=row.complaint_id,
            contact_id=row.contact_id,
            earlier_agent_id=row.agent_id,
            reason_code=row.category,
        ),
        cause=env,
    )


async def _upsert(conn: Conn, env: Envelope, data: Any, fields: dict[str, Any]) -> ComplaintRow:
    return await store.upsert_complaint(conn, env.tenant, data.complaint_id, data.customer_id, fields)


async def _raised(deps: Deps, conn: Conn, env: Envelope, data: ComplaintRaised) -> None:
    row = await _upsert(
        conn,
        env,
        data,
        {
            "category": data.category,
            "language": data.language.value,
            "team_id": data.team_id,
            "agent_id": data.agent_id,
            "contact_id": data.contact_id,
            "due_date": data.due_date,
            "raised_at": data.raised_at,
        },
    )
    if not data.about_deceased:  # R10: a complaint about a deceased customer never calls them
        ref = f"complaint:{row.complaint_id}:raised"
        await _complaint_callback(deps, conn, env, row, ComplaintTrigger.raised, ref, data.raised_at)


async def _breached(deps: Deps, conn: Conn, env: Envelope, data: ComplaintSlaBreached) -> None:
    row = await _upsert(
        conn,
        env,
        data,
        {
            "category": data.category,
            "team_id": data.team_id,
            "agent_id": data.agent_id,
            "due_date": data.due_date,
            "breached_at": data.breached_at,
        },
    )
    ref = f"complaint:{row.complaint_id}:sla_breached:{data.due_date.isoformat()}"
    await _complaint_callback(deps, conn, env, row, ComplaintTrigger.sla_breached, ref, data.breached_at)
    await recovery.complaint_signal(deps, conn, env, row, RecoveryTrigger.sla_breach, ref, data.breached_at)


async def _resolved(deps: Deps, conn: Conn, env: Envelope, data: ComplaintResolved) -> None:
    await _upsert(
        conn,
        env,
        data,
        {
            "category": data.category,
            "team_id": data.team_id,
            "agent_id": data.agent_id,
            "resolved_at": data.resolved_at,
            "root_cause_department": data.root_cause_department,
            "first_contact_resolution": data.first_contact_resolution,
        },
    )


async def _closed(deps: Deps, conn: Conn, env: Envelope, data: ComplaintClosed) -> None:
    await _upsert(
        conn,
        env,
        data,
        {
            "category": data.category,
            "language": data.language.value,
            "team_id": data.team_id,
            "agent_id": data.agent_id,
            "closed_at": data.closed_at,
        },
    )


async def _reopened(deps: Deps, conn: Conn, env: Envelope, data: ComplaintReopened) -> None:
    row = await _upsert(
        conn,
        env,
        data,
        {
            "team_id": data.team_id,
            "agent_id": data.agent_id,
            "due_date": data.due_date,
            "reopened_at": data.reopened_at,
        },
    )
    ref = f"complaint:{row.complaint_id}:reopened:{data.reopened_at.isoformat()}"
    await _complaint_callback(deps, conn, env, row, ComplaintTrigger.reopened, ref, data.reopened_at)
    await recovery.complaint_signal(
        deps, conn, env, row, RecoveryTrigger.complaint_reopened, ref, data.reopened_at
    )


ComplaintMoment = Callable[["Deps", Conn, Envelope, Any], Awaitable[None]]
Moment = ComplaintRaised | ComplaintSlaBreached | ComplaintResolved | ComplaintClosed | ComplaintReopened
_MOMENTS: dict[type[Moment], ComplaintMoment] = {
    ComplaintRaised: _raised,
    ComplaintSlaBreached: _breached,
    ComplaintResolved: _resolved,
    ComplaintClosed: _closed,
    ComplaintReopened: _reopened,
}


async def complaint_event(deps: Deps, conn: Conn, env: Envelope) -> None:
    """Complaint facts for the context panel (R27) and the churn signals (R29); some complaint
    moments put the customer in the queue (R26). A deceased mark withdraws their callbacks (R10)."""
    data = env.data
    if isinstance(data, CustomerMarkedDeceased):
        await customer_died(conn, env.tenant, data)
    elif isinstance(data, Moment):
        await _MOMENTS[type(data)](deps, conn, env, data)
        await refresh_priorities(deps, conn, env.tenant, data.customer_id)


async def customer_died(conn: Conn, tenant: str, event: CustomerMarkedDeceased) -> None:
    """R10: nobody calls a deceased customer back; their open callbacks leave the queue."""
    mark = mark_deceased(await store.lock_customer(conn, tenant, event.customer_id), event.marked_at)
    await store.save_deceased_mark(conn, tenant, event.customer_id, mark)
    if not mark.deceased:
        return  # a mark older than its withdrawal, arrived late: the customer is not deceased
    for callback in await store.open_of_customer(conn, tenant, event.customer_id, for_update=True):
        await store.withdraw(
            conn, tenant, callback.callback_id, reason=WithdrawnReason.customer_deceased, at=event.marked_at
        )
        await timers.cancel(conn, LEAD_TIME_TIMER, timer_key(tenant, callback.callback_id))
        await timers.cancel(conn, RETRY_TIMER, timer_key(tenant, callback.callback_id))


async def deceased_mark_withdrawn(deps: Deps, conn: Conn, env: Envelope) -> None:
    """R10: a mistaken deceased mark withdrawn: the customer may be called back again, so new
    requests are accepted. Callbacks withdrawn because of the mark stay withdrawn (their moment has
    passed, and calling out of the blue after such a mistake is a person's decision); they keep
    their reason and show among the customer's earlier callbacks on the next one's context panel."""
    event = env.data_as(CustomerDeceasedMarkWithdrawn)
    mark = await store.lock_customer(conn, env.tenant, event.customer_id)
    await store.save_deceased_mark(
        conn, env.tenant, event.customer_id, withdraw_deceased_mark(mark, event.withdrawn_at)
    )
