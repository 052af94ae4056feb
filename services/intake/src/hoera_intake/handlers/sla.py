"""R3: the SLA timer of a dossier. Whatever of reminder, escalation and breach is due happens once (its
mark on the dossier, under the dossier's row lock, whatever the replicas), on the tenant's business
calendar; an absent owner's work moves to a colleague who is there, and the escalation goes to whoever
stands in for the team's supervisor that day (the same answer alerts gives)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from hoera_events.complaints import (
    AssignmentReason,
    ComplaintAssigned,
    ComplaintEscalated,
    ComplaintSlaBreached,
    EscalationStep,
)
from hoera_kit import organisation, timers
from hoera_kit.db import Conn

from hoera_intake import domain, notices, store
from hoera_intake.domain import Complaint
from hoera_intake.handlers.common import from_timer_key, schedule
from hoera_intake.metrics import SLA_BREACHES
from hoera_intake.rules import TenantRules

if TYPE_CHECKING:
    from hoera_intake.handlers import Deps

ACTOR = "sla"


async def _timer_complaint(conn: Conn, timer: timers.Timer) -> Complaint | None:
    """The dossier a timer is about, locked; None when the timer was overtaken (another plan,
    paused, answered) and must do nothing."""
    tenant, complaint_id = from_timer_key(timer.key)
    c = await store.get_complaint(conn, tenant, complaint_id, lock=True)
    if c is None or timer.payload.get("v") != c.sla_version:
        return None
    if c.status not in domain.WORKING or c.paused_at is not None:
        return None
    return c


async def on_sla_timer(deps: Deps, conn: Conn, timer: timers.Timer) -> None:
    """R3: whatever of reminder, escalation and breach is due now, then the timer moves on to
    the next step."""
    c = await _timer_complaint(conn, timer)
    if c is None:
        return
    rules = await deps.tenant_rules(conn, c.tenant)
    now = deps.now()
    due, _ = domain.sla_steps(deps.calendar(c.tenant), now, c.progress)
    for step in due:
        if step is domain.SlaStep.reminder:
            await _remind(deps, conn, rules, c, now)
        elif step is domain.SlaStep.escalation:
            await _escalate(deps, conn, rules, c, now)
        else:
            await _breach(deps, conn, c, now)
    await schedule(deps, conn, c)
    await store.save_complaint(conn, c)


async def _remind(deps: Deps, conn: Conn, rules: TenantRules, c: Complaint, now: datetime) -> None:
    await _cover_absence(deps, conn, c, now)
    c.reminded_at = now
    await deps.emit_about(conn, c, _escalated(c, EscalationStep.reminder, now, None))
    await store.add_timeline(conn, c, "reminder", ACTOR, None, {"agent_id": c.agent_id})
    owner = organisation.person(deps.organisation(c.tenant), c.agent_id) if c.agent_id else None
    if owner is not None:
        await notices.to_staff(
            deps, conn, rules, c, "reminder", owner, key=f"reminder:{c.id}:{c.sla_version}"
        )


async def _escalate(deps: Deps, conn: Conn, rules: TenantRules, c: Complaint, now: datetime) -> None:
    """R3: to the team's supervisor, or who stands in for them that day; never to everyone."""
    await _cover_absence(deps, conn, c, now)
    org = deps.organisation(c.tenant)
    target = domain.escalation_target(org, c.team_id, deps.calendar(c.tenant).local_date(now))
    to = target.id if target is not None else None
    c.escalated_at = now
    await deps.emit_about(conn, c, _escalated(c, EscalationStep.escalated_to_lead, now, to))
    why = None if to else f"nobody in the organisation leads team {c.team_id or '(none)'} today"
    await store.add_timeline(conn, c, "escalated", ACTOR, why, {"to": to})
    if target is not None:
        key = f"escalation:{c.id}:{c.sla_version}"
        await notices.to_staff(deps, conn, rules, c, "escalation", target, key=key)


async def _breach(deps: Deps, conn: Conn, c: Complaint, now: datetime) -> None:
    """R3/R4: the promised date passed; said exactly once (the dossier's mark, under its lock)."""
    c.breached_at = now
    await deps.emit_about(
        conn,
        c,
        ComplaintSlaBreached(
            complaint_id=c.id,
            customer_id=c.customer_id,
            category=c.category,
            due_date=c.due_date,
            breached_at=now,
            team_id=c.team_id,
            agent_id=c.agent_id,
        ),
    )
    await store.add_timeline(conn, c, "sla_breached", ACTOR, None, {"due_date": c.due_date.isoformat()})
    SLA_BREACHES.labels("intake", c.tenant).inc()


def _escalated(
    c: Complaint, step: EscalationStep, now: datetime, to: str | None, *, owner: str | None = None
) -> ComplaintEscalated:
    return ComplaintEscalated(
        complaint_id=c.id,
        customer_id=c.customer_id,
        step=step,
        escalated_at=now,
        due_date=c.due_date,
        team_id=c.team_id,
        agent_id=owner or c.agent_id,
        escalated_to_agent_id=to,
    )


async def _cover_absence(deps: Deps, conn: Conn, c: Complaint, now: datetime) -> None:
    """R3: an absent owner's work moves to a colleague who is there (not a deceased customer's case:
    that keeps its one named owner, R10, and the escalation reaches the team instead)."""
    if c.agent_id is None or c.about_deceased or c.team_id is None:
        return
    org = deps.organisation(c.tenant)
    day = deps.calendar(c.tenant).local_date(now)
    if not organisation.is_absent(org, c.agent_id, day):
        return
    team = organisation.team(org, c.team_id)
    members = list(team.members) if team is not None else []
    work = await store.open_work(conn, c.tenant, members)
    chosen = domain.colleague_for(org, c.team_id, c.agent_id, day, work)
    if chosen is None:
        await store.add_timeline(
            conn, c, "owner_absent", ACTOR, f"{c.agent_id} is absent and nobody in {c.team_id} is there"
        )
        return
    previous, c.agent_id = c.agent_id, chosen
    await store.add_timeline(
        conn,
        c,
        "assigned",
        ACTOR,
        f"{previous} is absent",
        {"agent_id": chosen, "team_id": c.team_id, "previous_agent_id": previous},
    )
    await deps.emit_about(
        conn,
        c,
        ComplaintAssigned(
            complaint_id=c.id,
            customer_id=c.customer_id,
            agent_id=chosen,
            team_id=c.team_id,
            assigned_at=now,
            reason=AssignmentReason.absence,
            previous_agent_id=previous,
        ),
    )
    await deps.emit_about(
        conn, c, _escalated(c, EscalationStep.reassigned_absence, now, chosen, owner=previous)
    )
