"""The complaint workspace (R1-R3, R6, R7, R9, R10): my team's dossiers and one dossier; nl, fr, en.

Server-rendered with real forms, so it works from the keyboard and without JavaScript. A form is
read into the API's own model (Assignment, Note, Step, Resolution, Closing, Reopening) and handed
to the same use case as the API in one transaction, so the page can do nothing the API refuses; a
refused value is shown next to its field, in the page's language. The compensation panel of a
complaint lives in the compensation service, beside its catalogue, mandates and ledger; the dossier
links to it (HOERA_STAFF_PAGES).

Sign-in, CSRF, the look and the navigation are the kit's (hoera_kit.pages).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from hoera_kit.auth import Principal, Role
from hoera_kit.db import Conn
from hoera_kit.pages import PageLanguage, PageMessage, PageView, StaffPages
from hoera_kit.refusals import Refusal
from hoera_kit.sessions import PostedForm, SignedForm, StaffSession
from pydantic import BaseModel, ValidationError

from hoera_intake import rules
from hoera_intake.api.models import Assignment, Closing, DossierView, Note, Reopening, Resolution, Step
from hoera_intake.domain import Status
from hoera_intake.handlers import Deps, work

router = APIRouter(include_in_schema=False)
PAGES = StaffPages(
    service="intake",
    directory=Path(__file__).parent / "pages",
    roles=(Role.agent, Role.supervisor, Role.approver),
    home="/workspace",
)
router.include_router(PAGES.router())

Session = Annotated[StaffSession, Depends(PAGES.sessions.page)]
Form = Annotated[SignedForm, Depends(PAGES.sessions.form)]
Lang = PageLanguage
Message = PageMessage
WORKING = (Status.in_progress, Status.waiting_on_customer, Status.waiting_on_department)
ALL_TEAMS = "*"


def _deps(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


class _View(PageView):
    """A workspace page: the kit's view with the complaint's compensation panel."""

    def __init__(self, request: Request, session: StaffSession, lang: str | None) -> None:
        super().__init__(PAGES, request, session, lang)

    def compensation(self, complaint_id: uuid.UUID) -> str | None:
        return self.elsewhere("compensation", f"/compensation/complaints/{complaint_id}")

    def context(self) -> dict[str, Any]:
        principal = self.session.principal
        return {
            **super().context(),
            "compensation": self.compensation,
            "works": principal.has_role(Role.agent, Role.supervisor),
        }


async def _labels(deps: Deps, tenant: str, lang: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The tenant's categories and root-cause departments, named in the page's language."""
    async with deps.transaction() as conn:
        categories = await deps.rules.get(conn, tenant, rules.CATEGORIES)
        causes = await deps.rules.get(conn, tenant, rules.ROOT_CAUSES)

    def name(names: Any, code: str) -> str:
        return str(names.model_dump().get(lang) or code)

    return (
        [(c.code, name(c.names, c.code)) for c in categories.categories],
        [(d.code, name(d.names, d.code)) for d in causes.departments],
    )


# --- the list ---------------------------------------------------------------------------------------


@router.get("/workspace", response_class=HTMLResponse)
async def workspace_page(
    request: Request,
    session: Session,
    lang: Lang = None,
    status: Annotated[Status | None, Query()] = None,
    overdue: Annotated[bool | None, Query()] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    customer: Annotated[str | None, Query(max_length=64)] = None,
    team: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    view = _View(request, session, lang)
    principal = session.principal
    deps = _deps(request)
    teams = sorted(principal.teams)
    # My team's dossiers by default (the first of mine); every employee may read the organisation's (R1).
    chosen = team if team is not None else (teams[0] if teams else ALL_TEAMS)
    search = work.Search(
        customer_id=(customer or "").strip() or None,
        status=status,
        category=category or None,
        team_id=None if chosen == ALL_TEAMS else chosen,
        overdue=True if overdue else None,
        cursor=cursor,
        limit=50,
    )
    try:
        page = await work.search(deps, principal, search)
    except Refusal as exc:
        if exc.status != 422:
            raise
        # A team id or customer id the search refuses: the empty list, with the filters kept.
        page = work.Page(items=[], next_cursor=None)
    categories, _ = await _labels(deps, principal.tenant, view.lang)
    filters = {
        "status": status.value if status else "",
        "overdue": "true" if overdue else "",
        "category": category or "",
        "customer": customer or "",
        "team": chosen,
    }
    now = deps.now()
    return view.render(
        "workspace.html",
        items=[(c, c.overdue_at is not None and c.overdue_at <= now) for c in page.items],
        next_link=f"/workspace?{urlencode({**filters, 'lang': view.lang, 'cursor': page.next_cursor})}"
        if page.next_cursor
        else None,
        filters=filters,
        teams=teams,
        all_teams=ALL_TEAMS,
        statuses=[s.value for s in Status],
        categories=categories,
    )


# --- one dossier ------------------------------------------------------------------------------------


def _dossier_path(complaint_id: uuid.UUID) -> str:
    return f"/workspace/complaints/{complaint_id}"


async def _dossier(
    view: _View,
    complaint_id: uuid.UUID,
    *,
    message: str | None = None,
    error: str | None = None,
    error_form: str | None = None,
    error_field: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    deps = _deps(view.request)
    principal = view.session.principal
    d = DossierView.of_dossier(await work.dossier(deps, principal, complaint_id), deps.now())
    _, causes = await _labels(deps, principal.tenant, view.lang)
    team_member = d.team_id is None or principal.in_team(d.team_id)
    return view.render(
        "dossier.html",
        status_code=status_code,
        d=d,
        timeline=list(reversed(d.timeline)),
        causes=causes,
        steps=[s.value for s in WORKING],
        reopen_reasons=list(view.t["reopen_reasons"]),
        can_work=principal.has_role(Role.agent, Role.supervisor) and team_member,
        message=message,
        error=error,
        error_form=error_form,
        error_field=error_field,
    )


@router.get("/workspace/complaints/{complaint_id}", response_class=HTMLResponse)
async def dossier_page(
    request: Request, complaint_id: uuid.UUID, session: Session, lang: Lang = None, msg: Message = None
) -> HTMLResponse:
    view = _View(request, session, lang)
    return await _dossier(view, complaint_id, message=view.message(msg))


Use = Callable[[Deps, Conn, Principal, uuid.UUID, Any], Awaitable[Any]]


def _fields(form: PostedForm, names: tuple[str, ...]) -> dict[str, Any]:
    """The form's non-empty values for the model's fields; checkboxes and radios post "true"/"false"."""
    return {name: value for name in names if (value := (form.get(name) or "").strip())}


async def _act(
    request: Request, complaint_id: uuid.UUID, posted: SignedForm, what: str, model: type[BaseModel], use: Use
) -> Response:
    view = _View(request, posted.session, posted.form.get("lang"))
    deps = _deps(request)
    names = tuple(model.model_fields)
    try:
        body = model.model_validate(_fields(posted.form, names))
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else None
        text = view.t["field_errors"].get(field or "", view.t["field_errors"]["default"])
        return await _dossier(
            view, complaint_id, error=text, error_form=what, error_field=field, status_code=422
        )

    async def run(conn: Conn) -> None:
        await use(deps, conn, posted.principal, complaint_id, body)

    try:
        await deps.atomically(run)
    except Refusal as exc:
        if exc.status == 404:
            raise
        text = view.t["refusals"].get(str(exc.status)) or exc.message
        return await _dossier(
            view, complaint_id, error=text, error_form=what, error_field=exc.field, status_code=exc.status
        )
    return view.redirect(_dossier_path(complaint_id), msg=what)


@router.post("/workspace/complaints/{complaint_id}/assign")
async def assign(request: Request, complaint_id: uuid.UUID, posted: Form) -> Response:
    async def use(deps: Deps, conn: Conn, who: Principal, cid: uuid.UUID, body: Assignment) -> None:
        await work.assign(deps, conn, who, cid, agent_id=body.agent_id, team_id=body.team_id, note=body.note)

    return await _act(request, complaint_id, posted, "assigned", Assignment, use)


@router.post("/workspace/complaints/{complaint_id}/note")
async def add_note(request: Request, complaint_id: uuid.UUID, posted: Form) -> Response:
    async def use(deps: Deps, conn: Conn, who: Principal, cid: uuid.UUID, body: Note) -> None:
        await work.add_note(deps, conn, who, cid, body.text)

    return await _act(request, complaint_id, posted, "noted", Note, use)


@router.post("/workspace/complaints/{complaint_id}/step")
async def record_step(request: Request, complaint_id: uuid.UUID, posted: Form) -> Response:
    async def use(deps: Deps, conn: Conn, who: Principal, cid: uuid.UUID, body: Step) -> None:
        await work.record_step(deps, conn, who, cid, status=body.status, note=body.note)

    return await _act(request, complaint_id, posted, "stepped", Step, use)


@router.post("/workspace/complaints/{complaint_id}/resolve")
async def resolve(request: Request, complaint_id: uuid.UUID, posted: Form) -> Response:
    async def use(deps: Deps, conn: Conn, who: Principal, cid: uuid.UUID, body: Resolution) -> None:
        await work.resolve(
            deps,
            conn,
            who,
            cid,
            root_cause_department=body.root_cause_department,
            first_contact_resolution=body.first_contact_resolution,
            note=body.note,
            answer=body.answer,
        )

    return await _act(request, complaint_id, posted, "resolved", Resolution, use)


@router.post("/workspace/complaints/{complaint_id}/close")
async def close(request: Request, complaint_id: uuid.UUID, posted: Form) -> Response:
    async def use(deps: Deps, conn: Conn, who: Principal, cid: uuid.UUID, body: Closing) -> None:
        await work.close(deps, conn, who, cid, note=body.note)

    return await _act(request, complaint_id, posted, "closed", Closing, use)


@router.post("/workspace/complaints/{complaint_id}/reopen")
async def reopen(request: Request, complaint_id: uuid.UUID, posted: Form) -> Response:
    async def use(deps: Deps, conn: Conn, who: Principal, cid: uuid.UUID, body: Reopening) -> None:
        await work.reopen(deps, conn, who, cid, reason=body.reason, note=body.note)

    return await _act(request, complaint_id, posted, "reopened", Reopening, use)
