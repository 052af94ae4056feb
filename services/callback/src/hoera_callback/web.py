"""The agent page (R26-R28): my queue, take next, the context panel and the outcome form; nl, fr, en.

Server-rendered, no JavaScript: real forms and buttons, so it works from the keyboard.

Sign-in: agents sign in on /agent/sign-in and the kit's staff session (hoera_kit.sessions) carries
them from there, in a cookie; no URL, link or form holds a token. Each form posts the session's CSRF
value. After a POST the browser is sent back to the GET page (303); the pages are served with
`Referrer-Policy: no-referrer` and `Cache-Control: no-store`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from hoera_kit.auth import Principal, Role
from hoera_kit.pages import PageView, StaffPages
from hoera_kit.refusals import Refusal
from hoera_kit.sessions import PostedForm, SignedForm, StaffSession
from pydantic import ValidationError

from hoera_callback import handlers
from hoera_callback.domain import AgentOutcome
from hoera_callback.handlers import CallbackDetail, Deps, OutcomeCommand
from hoera_callback.rules import QUEUE

router = APIRouter(include_in_schema=False)

WORKER_ROLES = (Role.agent, Role.supervisor)
PAGES = StaffPages(
    service="callback", directory=Path(__file__).parent / "pages", roles=WORKER_ROLES, home="/agent"
)
SESSIONS = PAGES.sessions
router.include_router(PAGES.router())

AgentPage = Annotated[StaffSession, Depends(SESSIONS.page)]
AgentForm = Annotated[SignedForm, Depends(SESSIONS.form)]


def _deps(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


def _page_url(lang: str, msg: str | None = None, **extra: str) -> str:
    query = {"lang": lang, **({"msg": msg} if msg else {}), **extra}
    return f"/agent?{urlencode(query)}"


async def _render(
    request: Request,
    session: StaffSession,
    *,
    lang: str,
    message: str | None = None,
    error: str | None = None,
    status_code: int = 200,
    team_id: str | None = None,
) -> HTMLResponse:
    deps = _deps(request)
    principal = session.principal
    current: CallbackDetail | None = None
    async with deps.transaction() as conn:
        rules = await deps.rules.get(conn, principal.tenant, QUEUE)
    held = await handlers.held(deps, principal)
    if held is not None:
        current = await handlers.detail(deps, principal, held.callback_id)
    queue = await handlers.queue(deps, principal, team_id=team_id, limit=100)
    feedback = deps.tenants.organisation(principal.tenant).feedback
    return PageView(PAGES, request, session, lang).render(
        "agent.html",
        status_code=status_code,
        message=message,
        error=error,
        current=current,
        queue=queue,
        outcomes=[o.value for o in AgentOutcome],
        max_attempts=rules.max_attempts,
        team=team_id,
        reason_label=lambda code: feedback.reason_label(code, lang),
        topic_label=lambda code: feedback.topic_label(code, lang),
    )


@router.get("/agent", response_class=HTMLResponse)
async def agent_page(
    request: Request,
    session: AgentPage,
    lang: Annotated[str | None, Query()] = None,
    msg: Annotated[str | None, Query(max_length=40)] = None,
    at: Annotated[str | None, Query(max_length=40)] = None,
    team: Annotated[str | None, Query(max_length=64, description="only this team's queue")] = None,
) -> HTMLResponse:
    language = PAGES.language(lang, session.principal, request)
    texts = PAGES.texts[language]
    message = texts.get(f"msg_{msg}") if msg else None
    if message and msg == "retry" and at:
        message = f"{message} {at}"
    return await _render(request, session, lang=language, message=message, team_id=team or None)


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
    lang = PAGES.language(form.get("lang"), session.principal, request)
    texts = PAGES.texts[lang]
    try:
        done = await act(session.principal, form)
    except Refusal as exc:
        error = _refusal_text(texts, exc.status, exc.field, exc.message)
        return await _render(request, session, lang=lang, error=error, status_code=exc.status)
    except _Invalid as exc:
        return await _render(request, session, lang=lang, error=texts[exc.key], status_code=422)
    msg, params = done if done else (ok_msg, {})
    return RedirectResponse(_page_url(lang, msg, **params), status_code=303, headers=PAGES.headers(request))


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
