"""The recovery loop's pages (R7, R23, R29): the team's recovery cases, a case with its timeline and the
forms that trace and close it, the recovery figures, and the departments' view with their improvement
actions. Server-rendered, no JavaScript, nl/fr/en; the same sign-in, session and CSRF rules as the
agent page (web.py), and the same use cases as the API, so a page can do nothing the API could not.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from hoera_events.common import Code
from hoera_events.organisation import Feedback
from hoera_kit.auth import Principal, Role
from hoera_kit.pages import PageLanguage, PageMessage, PageView
from hoera_kit.refusals import Refusal
from hoera_kit.sessions import PostedForm, StaffSession
from pydantic import ValidationError

from hoera_callback.handlers import Deps, outer_loop, recovery
from hoera_callback.handlers.outer_loop import ActionChange, NewAction
from hoera_callback.handlers.recovery import CloseCommand, DepartmentCommand
from hoera_callback.recovery import Status
from hoera_callback.recovery_store import RecoveryFigures
from hoera_callback.web import PAGES, AgentForm, AgentPage

router = APIRouter(include_in_schema=False)

OUTCOMES = ("recovered", "not_recovered", "customer_left", "no_action_needed")
GROUPS = ("team", "agent", "department", "reason", "week")
ACTION_STATUSES = ("planned", "in_progress", "done", "dropped")
FIGURE_DAYS = 90


def _deps(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


def _view(request: Request, session: StaffSession, lang: str | None) -> PageView:
    return PageView(PAGES, request, session, lang)


def _feedback(deps: Deps, principal: Principal) -> Feedback:
    return deps.tenants.organisation(principal.tenant).feedback


def _leads(principal: Principal) -> bool:
    return principal.has_role(Role.supervisor, Role.admin)


def _words(view: PageView, deps: Deps) -> dict[str, Any]:
    """What every recovery template gets: its words, the tenant's reason and topic labels."""
    feedback = _feedback(deps, view.session.principal)
    return {
        "r": view.t["recovery"],
        "reason_label": lambda code: feedback.reason_label(code, view.lang) if code else "–",
        "topic_label": lambda code: feedback.topic_label(code, view.lang),
        "leads": _leads(view.session.principal),
        "pct": lambda v: "–" if v is None else f"{round(v * 100)}%",
    }


def _refusal(view: PageView, exc: Refusal) -> str:
    """The page's words for a refusal; the API's English detail for the unexpected."""
    errors = view.t["recovery"]["errors"]
    return str(errors.get(exc.field or "", errors.get(str(exc.status), exc.message)))


# ---- the team's cases ---------------------------------------------------------------------------


@router.get("/recovery", response_class=HTMLResponse)
async def cases_page(
    request: Request,
    session: AgentPage,
    lang: PageLanguage = None,
    msg: PageMessage = None,
    team: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[Status | None, Query()] = Status.open,
    overdue: Annotated[bool, Query()] = False,
) -> HTMLResponse:
    deps, view = _deps(request), _view(request, session, lang)
    principal = session.principal
    found = await recovery.cases(deps, principal, team_id=team or None, status=status, overdue=overdue)
    summary: list[RecoveryFigures] = []
    if _leads(principal):
        summary = await outer_loop.recovery_figures(deps, principal, by="team", days=FIGURE_DAYS)
    return view.render(
        "recovery.html",
        cases=found,
        summary=summary,
        team=team,
        status=status.value if status else "",
        overdue=overdue,
        message=view.t["recovery"]["messages"].get(msg or ""),
        now=deps.now(),
        **_words(view, deps),
    )


async def _case_page(
    request: Request,
    session: StaffSession,
    case_id: UUID,
    lang: str | None,
    *,
    error: str | None = None,
    message: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    deps, view = _deps(request), _view(request, session, lang)
    detail = await recovery.detail(deps, session.principal, case_id)
    return view.render(
        "recovery_case.html",
        status_code=status_code,
        d=detail,
        c=detail.case,
        outcomes=OUTCOMES,
        error=error,
        message=message,
        callback_page=f"/agent?team={detail.case.team_id}",
        **_words(view, deps),
    )


@router.get("/recovery/cases/{case_id}", response_class=HTMLResponse)
async def case_page(
    request: Request, case_id: UUID, session: AgentPage, lang: PageLanguage = None, msg: PageMessage = None
) -> HTMLResponse:
    view = _view(request, session, lang)
    message = view.t["recovery"]["messages"].get(msg or "")
    return await _case_page(request, session, case_id, lang, message=message)


Act = Callable[[Principal, PostedForm], Awaitable[None]]


async def _case_post(request: Request, case_id: UUID, posted: AgentForm, act: Act, ok: str) -> Response:
    session, form = posted.session, posted.form
    view = _view(request, session, form.get("lang"))
    try:
        await act(session.principal, form)
    except ValidationError as exc:
        field = str(exc.errors()[0]["loc"][0]) if exc.errors() else ""
        error = view.t["recovery"]["errors"].get(field, str(exc))
        return await _case_page(request, session, case_id, view.lang, error=error, status_code=422)
    except Refusal as exc:
        if exc.status == 404:
            raise
        return await _case_page(
            request, session, case_id, view.lang, error=_refusal(view, exc), status_code=exc.status
        )
    return view.redirect(f"/recovery/cases/{case_id}", msg=ok)


@router.post("/recovery/cases/{case_id}/department")
async def trace_case(request: Request, case_id: UUID, posted: AgentForm) -> Response:
    async def act(principal: Principal, form: PostedForm) -> None:
        command = DepartmentCommand(root_cause_department=(form.get("root_cause_department") or "").strip())
        await recovery.set_department(_deps(request), principal, case_id, command)

    return await _case_post(request, case_id, posted, act, "traced")


@router.post("/recovery/cases/{case_id}/close")
async def close_case(request: Request, case_id: UUID, posted: AgentForm) -> Response:
    async def act(principal: Principal, form: PostedForm) -> None:
        command = CloseCommand(
            outcome=form.get("outcome") or None,
            root_cause_department=(form.get("root_cause_department") or "").strip() or None,
            note=form.get("note") or None,
        )
        await recovery.close(_deps(request), principal, case_id, command)

    return await _case_post(request, case_id, posted, act, "closed")


# ---- figures and the outer loop (supervisors) ---------------------------------------------------


@router.get("/recovery/figures", response_class=HTMLResponse)
async def figures_page(
    request: Request,
    session: AgentPage,
    lang: PageLanguage = None,
    by: Annotated[outer_loop.GroupBy, Query()] = "team",
    days: Annotated[int, Query(ge=1, le=outer_loop.MAX_DAYS)] = FIGURE_DAYS,
) -> HTMLResponse:
    deps, view = _deps(request), _view(request, session, lang)
    rows = await outer_loop.recovery_figures(deps, session.principal, by=by, days=days)
    overall = await outer_loop.recovery_figures(deps, session.principal, by=None, days=days)
    return view.render(
        "recovery_figures.html",
        rows=rows,
        overall=overall,
        by=by,
        days=days,
        groups=GROUPS,
        **_words(view, deps),
    )


@router.get("/recovery/departments", response_class=HTMLResponse)
async def departments_page(
    request: Request,
    session: AgentPage,
    lang: PageLanguage = None,
    days: Annotated[int, Query(ge=1, le=outer_loop.MAX_DAYS)] = FIGURE_DAYS,
) -> HTMLResponse:
    deps, view = _deps(request), _view(request, session, lang)
    rows = await outer_loop.departments(deps, session.principal, days=days)
    return view.render("departments.html", rows=rows, days=days, **_words(view, deps))


async def _department_page(
    request: Request,
    session: StaffSession,
    department: str,
    lang: str | None,
    *,
    error: str | None = None,
    message: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    deps, view = _deps(request), _view(request, session, lang)
    shown = await outer_loop.department_view(
        deps, session.principal, department, days=FIGURE_DAYS, weeks=12, window_days=28
    )
    return view.render(
        "department.html",
        status_code=status_code,
        v=shown,
        statuses=ACTION_STATUSES,
        error=error,
        message=message,
        today=deps.now().date(),
        **_words(view, deps),
    )


@router.get("/recovery/departments/{department}", response_class=HTMLResponse)
async def department_page(
    request: Request,
    department: Code,
    session: AgentPage,
    lang: PageLanguage = None,
    msg: PageMessage = None,
) -> HTMLResponse:
    view = _view(request, session, lang)
    message = view.t["recovery"]["messages"].get(msg or "")
    return await _department_page(request, session, department, lang, message=message)


async def _department_post(
    request: Request, department: str, posted: AgentForm, act: Act, ok: str
) -> Response:
    session, form = posted.session, posted.form
    view = _view(request, session, form.get("lang"))
    try:
        await act(session.principal, form)
    except ValidationError as exc:
        field = str(exc.errors()[0]["loc"][0]) if exc.errors() else ""
        error = view.t["recovery"]["errors"].get(field, str(exc))
        return await _department_page(request, session, department, view.lang, error=error, status_code=422)
    except Refusal as exc:
        if exc.status in (403, 404):
            raise
        return await _department_page(
            request, session, department, view.lang, error=_refusal(view, exc), status_code=exc.status
        )
    return view.redirect(f"/recovery/departments/{department}", msg=ok)


def _date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


@router.post("/recovery/departments/{department}/actions")
async def plan_action(request: Request, department: Code, posted: AgentForm) -> Response:
    async def act(principal: Principal, form: PostedForm) -> None:
        command = NewAction.model_validate(
            {
                "department": department,
                "title": form.get("title") or "",
                "owner": form.get("owner") or "",
                "due_on": _date(form.get("due_on")),
                "note": form.get("note") or None,
            }
        )
        await outer_loop.create_action(_deps(request), principal, command)

    return await _department_post(request, department, posted, act, "planned")


@router.post("/recovery/departments/{department}/actions/{action_id}")
async def change_action(request: Request, department: Code, action_id: UUID, posted: AgentForm) -> Response:
    async def act(principal: Principal, form: PostedForm) -> None:
        command = ActionChange.model_validate(
            {
                "version": form.get("version") or 0,
                "status": form.get("status") or None,
                "note": form.get("note") or None,
            }
        )
        await outer_loop.change_action(_deps(request), principal, action_id, command)

    return await _department_post(request, department, posted, act, "changed")
