"""R28: the outcome of each attempt, the retries of an unreachable customer, and the escalation of
a callback that missed its lead-time target."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from uuid import UUID

from hoera_events.callbacks import CallbackCompleted, CallbackEscalated, CallbackOutcome, CallbackPriority
from hoera_events.common import Channel, Language
from hoera_kit import timers
from hoera_kit.auth import Principal
from hoera_kit.db import Conn
from hoera_kit.timers import Timer
from pydantic import BaseModel

from hoera_callback import store
from hoera_callback.domain import (
    OPEN_STATUSES,
    REACHED,
    AgentOutcome,
    Outcome,
    Status,
    check_may_record,
    decide_outcome,
)
from hoera_callback.handlers import recovery
from hoera_callback.handlers.common import (
    LEAD_TIME_TIMER,
    RETRY_TIMER,
    Note,
    from_timer_key,
    timer_key,
    visible,
)
from hoera_callback.handlers.requests import refresh_priorities
from hoera_callback.rules import QUEUE
from hoera_callback.store import Callback, OutcomeRow

if TYPE_CHECKING:
    from hoera_callback.handlers import Deps


class OutcomeCommand(BaseModel):
    outcome: AgentOutcome
    note: Note | None = None
    claim_id: UUID | None = None
    """The claim the outcome belongs to; when given, a newer claim makes it stale (409)."""


class OutcomeResult(BaseModel):
    callback: Callback
    outcome: Outcome
    """What was recorded: the last "not reachable" of the schedule becomes "unreachable_final"."""
    retry_at: datetime | None = None


async def _lock_after_customer(conn: Conn, found: Callback) -> tuple[Callback, datetime]:
    """The callback locked after its customer (the service's lock order, store.lock_customer): an
    outcome that moves the customer's other callbacks up must not hold this row while it waits for
    the customer, as a deceased mark takes the customer first and then every callback."""
    await store.lock_customer(conn, found.tenant, found.customer_id)
    locked, now = await store.get_at(conn, found.tenant, found.callback_id, for_update=True)
    assert locked is not None and now is not None, "callbacks are never deleted"
    return locked, now


async def record_outcome(
    deps: Deps, principal: Principal, callback_id: UUID, cmd: OutcomeCommand
) -> OutcomeResult:
    async with deps.transaction() as conn:
        # Another team's callback is refused before anything of its customer is locked.
        found = visible(principal, await store.get(conn, principal.tenant, callback_id))
        callback, now = await _lock_after_customer(conn, found)
        queue = await deps.rules.get(conn, callback.tenant, QUEUE)
        check_may_record(callback.entry(), principal.subject, cmd.claim_id, now)
        decision = decide_outcome(
            cmd.outcome,
            attempt=callback.attempt,
            at=now,
            retries=queue.retries,
            calendar=deps.tenants.calendar(callback.tenant),
            note=cmd.note,
        )
        note = cmd.note.strip() if cmd.note and cmd.note.strip() else None
        await store.insert_outcome(
            conn,
            callback.tenant,
            OutcomeRow(
                callback_id=callback_id,
                attempt=callback.attempt,
                agent_id=principal.subject,
                team_id=callback.team_id,
                outcome=decision.outcome.value,
                reached=decision.outcome in REACHED,
                note=note,
                retry_at=decision.retry_at,
                recorded_at=now,
            ),
        )
        key = timer_key(callback.tenant, callback_id)
        if callback.attempt == 1:
            await timers.cancel(conn, LEAD_TIME_TIMER, key)
        if decision.final:
            updated = await store.finish(
                conn,
                callback.tenant,
                callback_id,
                outcome=decision.outcome.value,
                agent=principal.subject,
                at=now,
            )
        else:
            assert decision.retry_at is not None
            updated = await store.wait_for_retry(
                conn, callback.tenant, callback_id, outcome=decision.outcome.value, retry_at=decision.retry_at
            )
            await timers.schedule(conn, RETRY_TIMER, key, decision.retry_at, {"attempt": callback.attempt})
        if decision.outcome is Outcome.considering_leaving:
            await store.mark_customer(
                conn, callback.tenant, callback.customer_id, "considering_leaving_at", now
            )
            await refresh_priorities(deps, conn, callback.tenant, callback.customer_id)
        await recovery.callback_outcome(
            conn, callback, CallbackOutcome(decision.outcome.value), principal.subject, now
        )
        await deps.emit(
            conn,
            CallbackCompleted(
                callback_id=callback_id,
                customer_id=callback.customer_id,
                agent_id=principal.subject,
                outcome=CallbackOutcome(decision.outcome.value),
                attempt=callback.attempt,
                completed_at=now,
                channel=Channel(callback.preferred_channel),
                language=Language(callback.language),
                team_id=callback.team_id,
                complaint_id=callback.complaint_id,
                retry_at=decision.retry_at,
            ),
            tenant=callback.tenant,
        )
        return OutcomeResult(callback=updated, outcome=decision.outcome, retry_at=decision.retry_at)


async def retry_due(deps: Deps, conn: Conn, timer: Timer) -> None:
    """R28: the next attempt at an unreachable customer goes back into the queue."""
    tenant, callback_id = from_timer_key(timer.key)
    callback = await store.get(conn, tenant, callback_id, for_update=True)
    if callback is None or callback.status is not Status.waiting_retry:
        return
    if callback.attempt != timer.payload.get("attempt"):
        return  # a timer of an attempt that is no longer the current one
    await store.requeue_for_attempt(conn, tenant, callback_id, callback.attempt + 1)


async def lead_time_missed(deps: Deps, conn: Conn, timer: Timer) -> None:
    """R28 (and R3): nobody tried this callback by its target, so it rises in the queue and the
    escalation is published for the team's supervisor."""
    tenant, callback_id = from_timer_key(timer.key)
    found = await store.get(conn, tenant, callback_id)
    if found is None:
        return
    callback, now = await _lock_after_customer(conn, found)
    if callback.status not in OPEN_STATUSES or callback.escalated_at is not None:
        return
    if await store.has_outcome(conn, tenant, callback_id):
        return
    await store.mark_escalated(conn, tenant, callback_id, now)
    await refresh_priorities(deps, conn, tenant, callback.customer_id)
    escalated = await store.get(conn, tenant, callback_id)
    assert escalated is not None
    await deps.emit(
        conn,
        CallbackEscalated(
            callback_id=escalated.callback_id,
            customer_id=escalated.customer_id,
            due_at=escalated.due_at,
            escalated_at=now,
            priority=CallbackPriority(escalated.priority),
            team_id=escalated.team_id,
            churn_risk=escalated.churn_risk,
        ),
        tenant=tenant,
    )
