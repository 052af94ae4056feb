"""R1, R3, R5-R7, R9: agents and supervisors at work on a dossier: read and search it (any of the
organisation), and on their own teams' assign, note, record a step (the clock stands still while
waiting on the customer), move the promised date, resolve with the root cause, close and reopen."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

import asyncpg
from hoera_events.common import Channel, Language
from hoera_events.complaints import (
    AssignmentReason,
    ComplaintAssigned,
    ComplaintClosed,
    ComplaintDueDateChanged,
    ComplaintReopened,
    ComplaintResolved,
    DueDateChangeReason,
    ReopenReason,
)
from hoera_kit.auth import Principal, Role
from hoera_kit.db import Conn
from hoera_kit.refusals import Conflict, Forbidden, Invalid

from hoera_intake import domain, notices, store
from hoera_intake.domain import Complaint, Status
from hoera_intake.handlers import deceased
from hoera_intake.handlers.common import SYSTEM, load, load_to_act, schedule
from hoera_intake.rules import TenantRules

if TYPE_CHECKING:
    from hoera_intake.handlers import Deps


@dataclass(frozen=True)
class Dossier:
    complaint: Complaint
    complainant: store.Complainant | None
    deceased: store.Deceased | None
    timeline: list[asyncpg.Record]


@dataclass(frozen=True)
class Search:
    customer_id: str | None = None
    status: Status | None = None
    category: str | None = None
    team_id: str | None = None
    overdue: bool | None = None
    cursor: str | None = None
    limit: int = 50


@dataclass(frozen=True)
class Page:
    items: list[Complaint]
    next_cursor: str | None


async def dossier(deps: Deps, principal: Principal, complaint_id: uuid.UUID) -> Dossier:
    """R1: every employee of the organisation reads every dossier, with its whole timeline."""
    async with deps.svc.pool.acquire() as conn, conn.transaction(readonly=True, isolation="repeatable_read"):
        c = await load(conn, principal.tenant, complaint_id, lock=False)
        return Dossier(
            complaint=c,
            complainant=await store.get_complainant(conn, c.tenant, c.id),
            deceased=await store.get_deceased(conn, c.tenant, c.customer_id) if c.about_deceased else None,
            timeline=await store.timeline(conn, c.tenant, c.id),
        )


async def search(deps: Deps, principal: Principal, query: Search) -> Page:
    """Newest first, keyset-paginated; `overdue`: not answered and past the promise (clock running)."""
    after = None
    if query.cursor is not None:
        try:
            after = store.decode_cursor(query.cursor)
        except ValueError:
            raise Invalid("not a cursor from this service", field="cursor") from None
    async with deps.svc.pool.acquire() as conn:
        found = await store.search(
            conn,
            principal.tenant,
            customer_id=query.customer_id,
            status=query.status,
            category=query.category,
            team_id=query.team_id,
            overdue=query.overdue,
            after=after,
            limit=query.limit + 1,
            now=deps.now(),
        )
    page = found[: query.limit]
    more = len(found) > query.limit
    return Page(page, store.encode_cursor(page[-1].raised_at, page[-1].id) if more else None)


async def assign(
    deps: Deps,
    conn: Conn,
    principal: Principal,
    complaint_id: uuid.UUID,
    *,
    agent_id: str,
    team_id: str | None,
    note: str | None,
) -> Complaint:
    c = await load_to_act(conn, principal, complaint_id)
    domain.check_acting(c.status)
    target_team = team_id or c.team_id
    if target_team is None:
        raise Invalid("the complaint has no team yet: name one", field="team_id")
    if not principal.in_team(target_team) and not principal.has_role(Role.supervisor):
        raise Forbidden(
            f"an agent assigns within their own teams; {target_team} is not one of yours", field="team_id"
        )
    if agent_id == c.agent_id and target_team == c.team_id:
        raise Conflict(f"the complaint is already assigned to {agent_id}", field="agent_id")
    marked = await store.get_deceased(conn, c.tenant, c.customer_id)
    if marked is not None and marked.owner_agent_id != agent_id:
        # R10: one named owner; only a supervisor hands the case (and the bereaved) over.
        if not principal.has_role(Role.supervisor):
            raise Conflict(
                f"the customer is deceased and {marked.owner_agent_id} is the named owner; "
                "a supervisor can hand the case over",
                field="agent_id",
            )
        await store.change_deceased_owner(conn, c.tenant, c.customer_id, agent_id)
    previous = c.agent_id
    now = deps.now()
    c.agent_id, c.team_id = agent_id, target_team
    await store.add_timeline(
        conn,
        c,
        "assigned",
        principal.subject,
        note,
        {"agent_id": agent_id, "team_id": target_team, "previous_agent_id": previous},
    )
    await deps.emit_about(
        conn,
        c,
        ComplaintAssigned(
            complaint_id=c.id,
            customer_id=c.customer_id,
            agent_id=agent_id,
            team_id=target_team,
            assigned_at=now,
            reason=AssignmentReason.manual,
            previous_agent_id=previous,
        ),
    )
    if c.about_deceased and marked is None:
        await deceased.record_marking(
            deps,
            conn,
            c.tenant,
            c.customer_id,
            agent_id,
            target_team,
            principal.subject,
            complaint=c,
            contact_id=c.contact_id,
            next_of_kin_email=None,
            reason="a complaint about a deceased customer was assigned",
            cause=None,
        )
    await store.save_complaint(conn, c)
    return c


async def add_note(
    deps: Deps, conn: Conn, principal: Principal, complaint_id: uuid.UUID, text: str
) -> Complaint:
    c = await load_to_act(conn, principal, complaint_id)
    await store.add_timeline(conn, c, "note", principal.subject, None, {"text": text})
    return c


async def record_step(
    deps: Deps, conn: Conn, principal: Principal, complaint_id: uuid.UUID, *, status: Status, note: str | None
) -> Complaint:
    """R6: a step moves the dossier to another working status; the time in each is measured.
    R3: in a waiting status of the rules the clock stands still."""
    c = await load_to_act(conn, principal, complaint_id)
    domain.check_step(c.status, status)
    rules = await deps.tenant_rules(conn, c.tenant)
    now = deps.now()
    previous = c.status
    c.status, c.status_since = status, now
    await store.start_period(conn, c, now)
    await store.add_timeline(
        conn, c, "status_changed", principal.subject, note, {"from": previous.value, "to": status.value}
    )
    waiting = set(rules.workflow.waiting_statuses)
    if status in waiting and c.paused_at is None:
        c.paused_at = now
        c.sla_version += 1
        await store.add_timeline(conn, c, "sla_paused", SYSTEM, f"waiting status {status.value}")
    elif status not in waiting and c.paused_at is not None:
        await _resume(deps, conn, rules, c, now, principal.subject)
    await schedule(deps, conn, c)
    if status in rules.workflow.inform_customer_on:
        await notices.to_customer(
            deps, conn, rules, c, "status_update", key=f"status_update:{c.id}:{now.timestamp()}"
        )
    await store.save_complaint(conn, c)
    return c


async def _resume(
    deps: Deps, conn: Conn, rules: TenantRules, c: Complaint, now: datetime, actor: str
) -> None:
    assert c.paused_at is not None
    previous_due = c.due_date
    plan = domain.resume_plan(deps.calendar(c.tenant), now, domain.Pause(c.plan, c.paused_at))
    waited = now - c.paused_at
    c.paused_at = None
    c.replan(plan)
    await store.add_timeline(
        conn, c, "sla_resumed", SYSTEM, None, {"waited_seconds": int(waited.total_seconds())}
    )
    if c.due_date != previous_due:
        await _due_date_changed(
            deps, conn, rules, c, previous_due, DueDateChangeReason.waiting_for_customer, actor
        )


async def _due_date_changed(
    deps: Deps,
    conn: Conn,
    rules: TenantRules,
    c: Complaint,
    previous: date,
    reason: DueDateChangeReason,
    actor: str,
    note: str | None = None,
    *,
    tell_customer: bool = True,
) -> None:
    """R3/R5: a moved promised date is on the timeline and told to the customer."""
    await store.add_timeline(
        conn,
        c,
        "due_date_changed",
        actor,
        note or reason.value,
        {"from": previous.isoformat(), "to": c.due_date.isoformat(), "reason": reason.value},
    )
    await deps.emit_about(
        conn,
        c,
        ComplaintDueDateChanged(
            complaint_id=c.id,
            customer_id=c.customer_id,
            previous_due_date=previous,
            due_date=c.due_date,
            reason=reason,
            changed_at=deps.now(),
        ),
    )
    if tell_customer:
        await notices.to_customer(
            deps,
            conn,
            rules,
            c,
            "due_date_changed",
            key=f"due_date_changed:{c.id}:{c.sla_version}",
            previous_date=notices.format_date(previous, c.language),
            note=note or "",
        )


async def change_due_date(
    deps: Deps,
    conn: Conn,
    principal: Principal,
    complaint_id: uuid.UUID,
    *,
    due_date: date,
    reason: DueDateChangeReason,
    note: str | None,
) -> Complaint:
    c = await load_to_act(conn, principal, complaint_id)
    if c.status not in domain.WORKING:
        raise Conflict(f"the complaint is {c.status.value}: no date to move", field="status")
    if due_date == c.due_date:
        raise Invalid("that is the promised date already", field="due_date")
    rules = await deps.tenant_rules(conn, c.tenant)
    now = deps.now()
    previous = c.due_date
    c.replan(domain.agreed_plan(deps.calendar(c.tenant), now, domain.Agreed(c.plan, due_date)))
    if c.paused_at is not None:
        c.paused_at = now  # the agreed date already counts the waiting so far
    await _due_date_changed(deps, conn, rules, c, previous, reason, principal.subject, note)
    await schedule(deps, conn, c)
    await store.save_complaint(conn, c)
    return c


async def resolve(
    deps: Deps,
    conn: Conn,
    principal: Principal,
    complaint_id: uuid.UUID,
    *,
    root_cause_department: str,
    first_contact_resolution: bool,
    note: str | None,
    answer: str | None,
) -> Complaint:
    """R7: the department at fault, from the operator list; R9: resolved at first contact?"""
    c = await load_to_act(conn, principal, complaint_id)
    rules = await deps.tenant_rules(conn, c.tenant)
    domain.check_resolve(c.status, root_cause_department, rules.root_cause_codes())
    now = deps.now()
    c.status, c.status_since, c.resolved_at, c.paused_at = Status.resolved, now, now, None
    c.root_cause_department = root_cause_department
    c.first_contact_resolution = first_contact_resolution
    await store.start_period(conn, c, now)
    await schedule(deps, conn, c)
    await store.add_timeline(
        conn,
        c,
        "resolved",
        principal.subject,
        note,
        {
            "root_cause_department": root_cause_department,
            "first_contact_resolution": first_contact_resolution,
            "answer": answer,
        },
    )
    await deps.emit_about(
        conn,
        c,
        ComplaintResolved(
            complaint_id=c.id,
            customer_id=c.customer_id,
            category=c.category,
            root_cause_department=root_cause_department,
            first_contact_resolution=first_contact_resolution,
            resolved_at=now,
            team_id=c.team_id,
            agent_id=c.agent_id,
        ),
    )
    if Status.resolved in rules.workflow.inform_customer_on:
        await notices.to_customer(
            deps, conn, rules, c, "resolved", key=f"resolved:{c.id}:{c.reopen_count}", note=answer or ""
        )
    await store.save_complaint(conn, c)
    return c


async def close(
    deps: Deps, conn: Conn, principal: Principal, complaint_id: uuid.UUID, *, note: str | None
) -> Complaint:
    """R5: closed; the survey service may now ask the complainant for feedback."""
    c = await load_to_act(conn, principal, complaint_id)
    domain.check_close(c.status)
    rules = await deps.tenant_rules(conn, c.tenant)
    now = deps.now()
    c.status, c.status_since, c.closed_at = Status.closed, now, now
    await store.start_period(conn, c, now)
    await store.add_timeline(conn, c, "closed", principal.subject, note)
    await deps.emit_about(
        conn,
        c,
        ComplaintClosed(
            complaint_id=c.id,
            customer_id=c.customer_id,
            category=c.category,
            channel=Channel(c.channel),
            language=Language(c.language),
            closed_at=now,
            team_id=c.team_id,
            agent_id=c.agent_id,
            about_deceased=c.about_deceased,
        ),
    )
    if Status.closed in rules.workflow.inform_customer_on:
        await notices.to_customer(deps, conn, rules, c, "closed", key=f"closed:{c.id}:{c.reopen_count}")
    await store.save_complaint(conn, c)
    return c


async def reopen(
    deps: Deps,
    conn: Conn,
    principal: Principal,
    complaint_id: uuid.UUID,
    *,
    reason: ReopenReason,
    note: str | None,
) -> Complaint:
    """A resolved or closed complaint works again under a new promise from its category's SLA."""
    c = await load_to_act(conn, principal, complaint_id)
    domain.check_reopen(c.status)
    rules = await deps.tenant_rules(conn, c.tenant)
    now = deps.now()
    previous_due = c.due_date
    sla = rules.sla_for(c.category, Channel(c.channel))
    domain.reopened(c, domain.plan_sla(deps.calendar(c.tenant), now, sla), now)
    await store.start_period(conn, c, now)
    await store.add_timeline(conn, c, "reopened", principal.subject, note, {"reason": reason.value})
    await deps.emit_about(
        conn,
        c,
        ComplaintReopened(
            complaint_id=c.id,
            customer_id=c.customer_id,
            reason=reason,
            reopened_at=now,
            due_date=c.due_date,
            team_id=c.team_id,
            agent_id=c.agent_id,
        ),
    )
    # The reopened message carries the new date; one message, not two.
    await _due_date_changed(
        deps,
        conn,
        rules,
        c,
        previous_due,
        DueDateChangeReason.reopened,
        principal.subject,
        note,
        tell_customer=False,
    )
    await notices.to_customer(deps, conn, rules, c, "reopened", key=f"reopened:{c.id}:{c.reopen_count}")
    await schedule(deps, conn, c)
    await store.save_complaint(conn, c)
    return c
