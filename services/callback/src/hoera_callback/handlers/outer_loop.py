"""The figures of the loop and the outer loop (R7, R29).

Recovery figures: of the cases closed in a period, grouped by team, agent, department, reason or week:
the recovery rate (recovered / closed as recovered, not recovered or customer left), the median time to
recover, the recovery survey's mean smiley against the first answer's on the same cases, and the churn
signals recovered against lost.

The outer loop: per root-cause department, the complaints it caused, the unhappy answers and recovery
cases traced to it and their trend per week, and its improvement actions (owner, due date, status,
note); for a done action, the same figures over equal windows before and after the day it was done.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Literal
from uuid import UUID, uuid4

from hoera_events.common import AgentId, Code
from hoera_kit.auth import Principal, Role
from hoera_kit.refusals import Conflict, Forbidden, NotFound
from pydantic import BaseModel, Field, StringConstraints

from hoera_callback import recovery_store as rstore
from hoera_callback.handlers.common import sees_team
from hoera_callback.recovery_store import DepartmentCounts, ImprovementAction, RecoveryFigures

if TYPE_CHECKING:
    from hoera_callback.handlers import Deps

GroupBy = Literal["team", "agent", "department", "reason", "week"]
ActionStatus = Literal["planned", "in_progress", "done", "dropped"]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ActionNote = Annotated[str, StringConstraints(max_length=4000)]
MAX_DAYS = 731


def _leads(principal: Principal) -> None:
    """Supervisors read and act on the loop's figures; admins read every team's."""
    if not principal.has_role(Role.supervisor, Role.admin):
        raise Forbidden("supervisors and administrators read the loop's figures")


def _teams(principal: Principal, team_id: str | None) -> list[str] | None:
    if team_id is not None:
        if not sees_team(principal, team_id):
            raise NotFound("team")
        return [team_id]
    return None if principal.has_role(Role.admin) else sorted(principal.teams)


class Period(BaseModel):
    since: datetime
    until: datetime


def period(deps: Deps, days: int) -> Period:
    now = deps.now()
    return Period(since=now - timedelta(days=days), until=now)


async def recovery_figures(
    deps: Deps,
    principal: Principal,
    *,
    by: GroupBy | None,
    days: int,
    team_id: str | None = None,
) -> list[RecoveryFigures]:
    _leads(principal)
    teams = _teams(principal, team_id)
    window = period(deps, days)
    async with deps.transaction() as conn:
        return await rstore.recovery_figures(
            conn,
            principal.tenant,
            by=by,
            since=window.since,
            until=window.until,
            timezone=deps.tenants.calendar(principal.tenant).zone.key,
            teams=teams,
        )


class WeekCounts(BaseModel):
    week_start: date
    counts: DepartmentCounts


class BeforeAfter(BaseModel):
    """One done action's department figures over equal windows either side of the day it was done."""

    action: ImprovementAction
    window_days: int
    before: DepartmentCounts
    after: DepartmentCounts
    after_complete: bool
    """False while the window after the action has not fully passed yet: the figures so far."""


class DepartmentView(BaseModel):
    department: str
    period: Period
    counts: DepartmentCounts
    topics: dict[str, int]
    """Comment topics of the department's cases closed in the period, most frequent first."""
    trend: list[WeekCounts]
    actions: list[ImprovementAction]
    before_after: list[BeforeAfter]


def _empty(department: str) -> DepartmentCounts:
    return DepartmentCounts(
        department=department, complaints=0, unhappy_answers=0, recovery_cases=0, recovered=0, rated=0
    )


async def departments(deps: Deps, principal: Principal, *, days: int) -> list[DepartmentCounts]:
    """Every department's counts in the period, the one that caused most complaints first."""
    _leads(principal)
    window = period(deps, days)
    async with deps.transaction() as conn:
        found = await rstore.department_counts(conn, principal.tenant, since=window.since, until=window.until)
    return sorted(found, key=lambda d: (-(d.complaints + d.recovery_cases), d.department))


async def counts_between(
    deps: Deps, tenant: str, department: str, since: datetime, until: datetime
) -> DepartmentCounts:
    async with deps.transaction() as conn:
        found = await rstore.department_counts(conn, tenant, since=since, until=until, department=department)
    return found[0] if found else _empty(department)


async def department_view(
    deps: Deps, principal: Principal, department: str, *, days: int, weeks: int, window_days: int
) -> DepartmentView:
    _leads(principal)
    tenant = principal.tenant
    window = period(deps, days)
    counts = await counts_between(deps, tenant, department, window.since, window.until)
    zone = deps.tenants.calendar(tenant).zone
    today = deps.now().astimezone(zone).date()
    monday = today - timedelta(days=today.weekday())
    trend = []
    for back in range(weeks - 1, -1, -1):
        start_day = monday - timedelta(weeks=back)
        start = datetime.combine(start_day, datetime.min.time(), zone)
        trend.append(
            WeekCounts(
                week_start=start_day,
                counts=await counts_between(deps, tenant, department, start, start + timedelta(days=7)),
            )
        )
    async with deps.transaction() as conn:
        actions = await rstore.actions(conn, tenant, department=department)
        topics = await rstore.department_topics(
            conn, tenant, department=department, since=window.since, until=window.until
        )
    now = window.until  # one moment for the whole view
    before_after = []
    for action in actions:
        if action.done_at is None:
            continue
        span = timedelta(days=window_days)
        before_after.append(
            BeforeAfter(
                action=action,
                window_days=window_days,
                before=await counts_between(deps, tenant, department, action.done_at - span, action.done_at),
                after=await counts_between(
                    deps, tenant, department, action.done_at, min(action.done_at + span, now)
                ),
                after_complete=action.done_at + span <= now,
            )
        )
    return DepartmentView(
        department=department,
        period=window,
        counts=counts,
        topics=topics,
        trend=trend,
        actions=actions,
        before_after=before_after,
    )


class NewAction(BaseModel):
    department: Code
    title: Title
    owner: AgentId
    due_on: date
    status: ActionStatus = "planned"
    note: ActionNote | None = None


class ActionChange(BaseModel):
    """What changes; `version` is the one the change was made against (409 when someone was first)."""

    version: Annotated[int, Field(ge=1)]
    title: Title | None = None
    owner: AgentId | None = None
    due_on: date | None = None
    status: ActionStatus | None = None
    note: ActionNote | None = None


async def create_action(deps: Deps, principal: Principal, cmd: NewAction) -> ImprovementAction:
    _leads(principal)
    now = deps.now()
    async with deps.transaction() as conn:
        return await rstore.insert_action(
            conn,
            {
                "tenant": principal.tenant,
                "action_id": uuid4(),
                "department": cmd.department,
                "title": cmd.title,
                "owner": cmd.owner,
                "due_on": cmd.due_on,
                "status": cmd.status,
                "note": cmd.note,
                "created_at": now,
                "created_by": principal.subject,
                "updated_at": now,
                "updated_by": principal.subject,
                "done_at": now if cmd.status == "done" else None,
            },
        )


async def change_action(
    deps: Deps, principal: Principal, action_id: UUID, cmd: ActionChange
) -> ImprovementAction:
    _leads(principal)
    now = deps.now()
    async with deps.transaction() as conn:
        found = await rstore.action(conn, principal.tenant, action_id, for_update=True)
        if found is None:
            raise NotFound("improvement action")
        if found.version != cmd.version:
            raise Conflict(
                f"this action changed since version {cmd.version} (now {found.version}): reload it",
                field="version",
            )
        values = {
            k: v
            for k, v in cmd.model_dump(exclude={"version"}, exclude_unset=True).items()
            if v is not None or k == "note"  # only the note may be emptied
        }
        values |= {"updated_at": now, "updated_by": principal.subject}
        if "status" in values:
            # The day it was done is when "after" starts; a status that leaves "done" forgets it.
            was_done = found.status == "done"
            values["done_at"] = (found.done_at if was_done else now) if values["status"] == "done" else None
        return await rstore.update_action(conn, principal.tenant, action_id, values)


async def action_of(deps: Deps, principal: Principal, action_id: UUID) -> ImprovementAction:
    _leads(principal)
    async with deps.transaction() as conn:
        found = await rstore.action(conn, principal.tenant, action_id)
    if found is None:
        raise NotFound("improvement action")
    return found


async def all_actions(deps: Deps, principal: Principal, department: str | None) -> list[ImprovementAction]:
    _leads(principal)
    async with deps.transaction() as conn:
        return await rstore.actions(conn, principal.tenant, department=department)
