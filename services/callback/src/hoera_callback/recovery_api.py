"""HTTP routes of the recovery loop: the team's recovery cases, the recovery figures, the departments'
view and their improvement actions. Each route only turns the request into a handler's call.

Agents and supervisors work their teams' cases (another team's case answers 404, as one that does not
exist); supervisors and admins read the figures and keep the improvement actions."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Depends, Query, status
from hoera_events.common import Code, TeamId
from hoera_kit.auth import Principal, Role, require_roles

from hoera_callback.api import CallbackDeps
from hoera_callback.handlers import outer_loop, recovery
from hoera_callback.handlers.outer_loop import ActionChange, DepartmentView, GroupBy, NewAction
from hoera_callback.handlers.recovery import CaseDetail, CloseCommand, DepartmentCommand
from hoera_callback.recovery import Status
from hoera_callback.recovery_store import DepartmentCounts, ImprovementAction, RecoveryCase, RecoveryFigures

router = APIRouter()

Reader = Annotated[Principal, Depends(require_roles(Role.agent, Role.supervisor, Role.admin))]
Worker = Annotated[Principal, Depends(require_roles(Role.agent, Role.supervisor))]
Lead = Annotated[Principal, Depends(require_roles(Role.supervisor, Role.admin))]
Days = Annotated[int, Query(ge=1, le=outer_loop.MAX_DAYS, description="the period: this many days up to now")]


@router.get("/recovery-cases", summary="My teams' recovery cases, newest first", tags=["recovery"])
async def list_cases(
    principal: Reader,
    deps: CallbackDeps,
    team_id: Annotated[TeamId | None, Query(description="one of your teams")] = None,
    status_: Annotated[Status | None, Query(alias="status")] = None,
    overdue: Annotated[bool, Query(description="only open cases past their target time")] = False,
) -> list[RecoveryCase]:
    return await recovery.cases(deps, principal, team_id=team_id, status=status_, overdue=overdue)


@router.get("/recovery-cases/{case_id}", summary="A recovery case with its timeline", tags=["recovery"])
async def read_case(case_id: UUID, principal: Reader, deps: CallbackDeps) -> CaseDetail:
    return await recovery.detail(deps, principal, case_id)


@router.put(
    "/recovery-cases/{case_id}/department",
    summary="Trace the case to the department at fault (R7)",
    tags=["recovery"],
    responses={409: {"description": "the case is closed"}},
)
async def set_department(
    case_id: UUID, body: DepartmentCommand, principal: Worker, deps: CallbackDeps
) -> RecoveryCase:
    return await recovery.set_department(deps, principal, case_id, body)


@router.post(
    "/recovery-cases/{case_id}/close",
    summary="Close a case with its outcome and the department at fault",
    description="`outcome` is required; `root_cause_department` too, unless the case has one (set on it, "
    "or the root cause its complaint was resolved with). 422 names the missing field; a closed case is 409.",
    tags=["recovery"],
    responses={409: {"description": "already closed"}, 422: {"description": "outcome or department missing"}},
)
async def close_case(
    case_id: UUID, body: CloseCommand, principal: Worker, deps: CallbackDeps
) -> RecoveryCase:
    return await recovery.close(deps, principal, case_id, body)


@router.get(
    "/recovery-figures",
    summary="Recovery rate, time to recover, recovery survey against the first answer, churn signals",
    description="Of the cases closed in the period, grouped by `by` (or all together). The rate is "
    "recovered / (recovered + not recovered + customer left); `no_action_needed` is left out.",
    tags=["recovery"],
)
async def read_recovery_figures(
    principal: Lead,
    deps: CallbackDeps,
    days: Days = 90,
    by: GroupBy | None = None,
    team_id: TeamId | None = None,
) -> list[RecoveryFigures]:
    return await outer_loop.recovery_figures(deps, principal, by=by, days=days, team_id=team_id)


@router.get(
    "/departments", summary="What each root-cause department caused in the period (R7)", tags=["outer loop"]
)
async def list_departments(principal: Lead, deps: CallbackDeps, days: Days = 90) -> list[DepartmentCounts]:
    return await outer_loop.departments(deps, principal, days=days)


@router.get(
    "/departments/{department}",
    summary="A department's figures, their trend per week, its actions and their before/after figures",
    tags=["outer loop"],
)
async def read_department(
    department: Code,
    principal: Lead,
    deps: CallbackDeps,
    days: Days = 90,
    weeks: Annotated[int, Query(ge=1, le=53)] = 12,
    window_days: Annotated[int, Query(ge=1, le=365, description="each side of a done action")] = 28,
) -> DepartmentView:
    return await outer_loop.department_view(
        deps, principal, department, days=days, weeks=weeks, window_days=window_days
    )


@router.get("/improvement-actions", summary="Improvement actions, open ones first", tags=["outer loop"])
async def list_actions(
    principal: Lead, deps: CallbackDeps, department: Code | None = None
) -> list[ImprovementAction]:
    return await outer_loop.all_actions(deps, principal, department)


@router.post(
    "/improvement-actions",
    status_code=status.HTTP_201_CREATED,
    summary="Plan an improvement action for a department, with an owner and a due date",
    tags=["outer loop"],
)
async def create_action(body: NewAction, principal: Lead, deps: CallbackDeps) -> ImprovementAction:
    return await outer_loop.create_action(deps, principal, body)


@router.get("/improvement-actions/{action_id}", summary="One improvement action", tags=["outer loop"])
async def read_action(action_id: UUID, principal: Lead, deps: CallbackDeps) -> ImprovementAction:
    return await outer_loop.action_of(deps, principal, action_id)


@router.patch(
    "/improvement-actions/{action_id}",
    summary="Change an action's status, owner, due date or note",
    description="Name the `version` you changed; 409 when someone changed it since. Setting status `done` "
    "records the moment, from which its after-figures count.",
    tags=["outer loop"],
    responses={409: {"description": "changed by someone else since your version"}},
)
async def change_action(
    action_id: UUID, body: ActionChange, principal: Lead, deps: CallbackDeps
) -> ImprovementAction:
    return await outer_loop.change_action(deps, principal, action_id, body)
