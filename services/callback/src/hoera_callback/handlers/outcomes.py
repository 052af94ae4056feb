"""R28: the outcome of each attempt, the retries of an unreachable customer, and the escalation of
a callback that missed its lead-time target."""

from __future__ import annotations

from datetime import datetime
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
from hoera_callback.handlers.common import (
    LEAD_TIME_TIMER,
    RETRY_TIMER,
    CallbackApp,
    Note,
    rules_say_no,
    visible,
)
from hoera_callback.handlers.requests import refresh_priorities
from hoera_callback.store import Callback, OutcomeRow


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


async def record_outcome(
    app: CallbackApp, principal: Principal, callback_id: UUID, cmd: OutcomeCommand
) -> OutcomeResult:
    async with app.pool.acquire() as conn, conn.transaction():
        found, now = await store.get_at(conn, callback_id, for_update=True)
        callback = visible(principal, found)
        assert now is not None
        rules = await app.rules.current(conn)
        with rules_say_no():
            check_may_record(callback.entry(), principal.subject, cmd.claim_id, now)
            decision = decide_outcome(
                cmd.outcome,
                attempt=callback.attempt,
                at=now,
                retry=rules.retry,
                calendar=rules.calendar,
                note=cmd.note,
            )
        note = cmd.note.strip() if cmd.note and cmd.note.strip() else None
        await store.insert_outcome(
            conn,
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
            tenant=callback.tenant,
        )
        if callback.attempt == 1:
            await timers.cancel(conn, LEAD_TIME_TIMER, str(callback_id))
        if decision.final:
            updated = await store.finish(
                conn, callback_id, outcome=decision.outcome.value, agent=principal.subject, at=now
            )
        else:
            assert decision.retry_at is not None
            updated = await store.wait_for_retry(
                conn, callback_id, outcome=decision.outcome.value, retry_at=decision.retry_at
            )
            await timers.schedule(
                conn, RETRY_TIMER, str(callback_id), decision.retry_at, {"attempt": callback.attempt}
            )
        if decision.outcome is Outcome.considering_leaving:
            await store.mark_customer(
                conn, callback.tenant, callback.customer_id, "considering_leaving_at", now
            )
            await refresh_priorities(conn, callback.tenant, callback.customer_id, rules)
        await app.svc.emit(
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


async def retry_due(conn: Conn, timer: Timer) -> None:
    """R28: the next attempt at an unreachable customer goes back into the queue."""
    callback = await store.get(conn, UUID(timer.key), for_update=True)
    if callback is None or callback.status is not Status.waiting_retry:
        return
    if callback.attempt != timer.payload.get("attempt"):
        return  # a timer of an attempt that is no longer the current one
    await store.requeue_for_attempt(conn, callback.callback_id, callback.attempt + 1)


def lead_time_missed(app: CallbackApp) -> timers.TimerHandler:
    async def escalate(conn: Conn, timer: Timer) -> None:
        """R28 (and R3): nobody tried this callback by its target, so it rises in the queue and the
        escalation is published for the team's supervisor."""
        callback, now = await store.get_at(conn, UUID(timer.key), for_update=True)
        if callback is None or callback.status not in OPEN_STATUSES or callback.escalated_at is not None:
            return
        if await store.has_outcome(conn, callback.callback_id):
            return
        assert now is not None
        await store.mark_escalated(conn, callback.callback_id, now)
        rules = await app.rules.current(conn)
        await refresh_priorities(conn, callback.tenant, callback.customer_id, rules)
        escalated = await store.get(conn, callback.callback_id)
        assert escalated is not None
        await app.svc.emit(
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
            tenant=escalated.tenant,
        )

    return escalate
