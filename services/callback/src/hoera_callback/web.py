"""The agent page (R26-R28): my queue, take next, the context panel and the outcome form; nl, fr, en.

Server-rendered, no JavaScript: real forms and buttons, so it works from the keyboard.

Sign-in: agents sign in on /agent/sign-in and the kit's staff session (hoera_kit.sessions) carries
them from there, in a cookie; no URL, link or form holds a token. Each form posts the session's CSRF
value. After a POST the browser is sent back to the GET page (303); the pages are served with
`Referrer-Policy: no-referrer` and `Cache-Control: no-store`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from hoera_kit.auth import Principal, Role
from hoera_kit.refusals import Refusal
from hoera_kit.sessions import (
    CSRF_FIELD,
    PostedForm,
    SignedForm,
    SignInView,
    StaffSession,
    StaffSessions,
)
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError

from hoera_callback import handlers
from hoera_callback.domain import AgentOutcome
from hoera_callback.handlers import CallbackDetail, Deps, OutcomeCommand
from hoera_callback.rules import QUEUE

router = APIRouter(include_in_schema=False)

PAGES = Path(__file__).parent / "pages"
LANGUAGES = (("nl", "Nederlands"), ("fr", "Français"), ("en", "English"))
WORKER_ROLES = (Role.agent, Role.supervisor)
HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
}


def _deps(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


@cache
def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(PAGES), autoescape=select_autoescape(["html"]))


@cache
def _texts() -> dict[str, dict[str, Any]]:
    texts: dict[str, dict[str, Any]] = json.loads((PAGES / "texts.json").read_text(encoding="utf-8"))
    return texts


def _language(requested: str | None, principal: Principal | None, request: Request) -> str:
    codes = [code for code, _ in LANGUAGES]
    if requested in codes:
        return requested
    if principal is not None and principal.language in codes:
        return principal.language
    for part in request.headers.get("accept-language", "").split(","):
        primary = part.split(";")[0].strip().lower()[:2]
        if primary in codes:
            return primary
    return "nl"


def _page_url(lang: str, msg: str | None = None, **extra: str) -> str:
    query = {"lang": lang, **({"msg": msg} if msg else {}), **extra}
    return f"/agent?{urlencode(query)}"


def _sign_in_page(request: Request, view: SignInView, status_code: int) -> Response:
    lang = _language(view.lang, None, request)
    html = (
        _environment()
        .get_template("sign_in.html")
        .render(
            lang=lang,
            t=_texts()[lang],
            languages=LANGUAGES,
            page_url=lambda code: f"{view.action}?{view.query(lang=code)}",
            view=view,
            csrf_field=CSRF_FIELD,
            note=view.note.value if view.note else None,
            problem=view.note is not None and view.note.is_problem,
        )
    )
    return HTMLResponse(html, status_code=status_code, headers=HEADERS)


SESSIONS = StaffSessions(service="callback", roles=WORKER_ROLES, home="/agent", render_sign_in=_sign_in_page)
router.include_router(SESSIONS.router())

AgentPage = Annotated[StaffSession, Depends(SESSIONS.page)]
AgentForm = Annotated[SignedForm, Depends(SESSIONS.form)]


async def _render(
    request: Request,
    session: StaffSession,
    *,
    lang: str,
    message: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    deps = _deps(request)
    principal = session.principal
    current: CallbackDetail | None = None
    async with deps.transaction() as conn:
        rules = await deps.rules.get(conn, principal.tenant, QUEUE)
    held = await handlers.held(deps, principal)
    if held is not None:
        current = await handlers.detail(deps, principal, held.callback_id)
    queue = await handlers.queue(deps, principal, team_id=None, limit=100)
    zone = deps.tenants.calendar(principal.tenant).zone

    def when(moment: datetime | None) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else "–"

    html = (
        _environment()
        .get_template("agent.html")
        .render(
            lang=lang,
            t=_texts()[lang],
            languages=LANGUAGES,
            page_url=lambda code: _page_url(code),
            who=principal.name or principal.subject,
            csrf_field=CSRF_FIELD,
            csrf=session.csrf,
            sign_out=SESSIONS.sign_out_path,
            message=message,
            error=error,
            current=current,
            queue=queue,
            outcomes=[o.value for o in AgentOutcome],
            max_attempts=rules.max_attempts,
            when=when,
        )
    )
    return HTMLResponse(html, status_code=status_code, headers=HEADERS)


@router.get("/agent", response_class=HTMLResponse)
async def agent_page(
    request: Request,
    session: AgentPage,
    lang: Annotated[str | None, Query()] = None,
    msg: Annotated[str | None, Query(max_length=40)] = None,
    at: Annotated[str | None, Query(max_length=40)] = None,
) -> HTMLResponse:
    language = _language(lang, session.principal, request)
    texts = _texts()[language]
    message = texts.get(f"msg_{msg}") if msg else None
    if message and msg == "retry" and at:
        message = f"{message} {at}"
    return await _render(request, session, lang=language, message=message)


class _Invalid(Exception):
    """A form value the page does not accept; key names its text."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


Done = tuple[str, dict[str, str]] | None
"""What a page action reports: a message key and its parameters, or None for the default."""
Action = Callable[[Principal, PostedForm], Awaitable[Done]]


def _refusal_text(texts: dict[str, Any], status_code: int, field: str | None, detail: str) -> str:
    """The page speaks the agent's language; the API's English detail stays for the unexpected."""
    if status_code == 422 and field == "note":
        return str(texts["err_note_required"])
    key = {409: "err_conflict", 404: "err_not_found"}.get(status_code)
    return str(texts[key]) if key else detail


async def _post(request: Request, posted: SignedForm, act: Action, *, ok_msg: str) -> Response:
    session, form = posted.session, posted.form
    lang = _language(form.get("lang"), session.principal, request)
    texts = _texts()[lang]
    try:
        done = await act(session.principal, form)
    except Refusal as exc:
        error = _refusal_text(texts, exc.status, exc.field, exc.message)
        return await _render(request, session, lang=lang, error=error, status_code=exc.status)
    except _Invalid as exc:
        return await _render(request, session, lang=lang, error=texts[exc.key], status_code=422)
    msg, params = done if done else (ok_msg, {})
    return RedirectResponse(_page_url(lang, msg, **params), status_code=303, headers=HEADERS)


def _claim_id(form: PostedForm) -> UUID | None:
    value = form.get("claim_id")
    try:
        return UUID(value) if value else None
    except ValueError:
        return None


@router.post("/agent/next")
async def take_next(request: Request, posted: AgentForm) -> Response:
    async def act(principal: Principal, form: PostedForm) -> Done:
        taken = await handlers.take_next(_deps(request), principal)
        return None if taken else ("empty", {})

    return await _post(request, posted, act, ok_msg="claimed")


@router.post("/agent/callbacks/{callback_id}/claim")
async def claim(request: Request, callback_id: UUID, posted: AgentForm) -> Response:
    async def act(principal: Principal, form: PostedForm) -> Done:
        await handlers.claim_chosen(_deps(request), principal, callback_id)
        return None

    return await _post(request, posted, act, ok_msg="claimed")


@router.post("/agent/callbacks/{callback_id}/release")
async def release(request: Request, callback_id: UUID, posted: AgentForm) -> Response:
    async def act(principal: Principal, form: PostedForm) -> Done:
        await handlers.release(_deps(request), principal, callback_id, _claim_id(form))
        return None

    return await _post(request, posted, act, ok_msg="released")


@router.post("/agent/callbacks/{callback_id}/outcome")
async def record_outcome(request: Request, callback_id: UUID, posted: AgentForm) -> Response:
    async def act(principal: Principal, form: PostedForm) -> Done:
        try:
            command = OutcomeCommand(
                outcome=AgentOutcome(form.get("outcome") or ""),
                note=form.get("note") or None,
                claim_id=_claim_id(form),
            )
        except ValueError as exc:  # pydantic's ValidationError is a ValueError too
            field = "note" if isinstance(exc, ValidationError) and "note" in str(exc) else "outcome"
            raise _Invalid(f"err_{field}") from exc
        deps = _deps(request)
        result = await handlers.record_outcome(deps, principal, callback_id, command)
        if result.retry_at is not None:
            zone = deps.tenants.calendar(principal.tenant).zone
            return "retry", {"at": result.retry_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")}
        return None

    return await _post(request, posted, act, ok_msg="recorded")
