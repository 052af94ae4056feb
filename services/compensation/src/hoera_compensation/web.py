"""The compensation pages (R11-R15): the panel of a complaint and the approval queue; nl, fr, en.

Server-rendered with real forms, so they work from the keyboard and without JavaScript. The panel
is where an agent apologises, records the damage and proposes a compensation, with the catalogue's
words in the customer's language, their own mandate and the abuse watch in view before they decide.
The approval queue is the approver's: every proposal above a mandate, with its complaint and its
deadline, approved or rejected with a reason. The pages call the same handlers as the API, so four
eyes (R14, R15), the mandate and the apology-first order hold here exactly as there.

Sign-in, CSRF, the look and the navigation are the kit's (hoera_kit.pages).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from hoera_events.common import Currency, Money
from hoera_events.compensation import CompensationKind
from hoera_kit.auth import Principal, Role
from hoera_kit.pages import PageLanguage, PageMessage, PageView, StaffPages
from hoera_kit.refusals import Forbidden, Refusal
from hoera_kit.sessions import PostedForm, SignedForm, StaffSession
from pydantic import ValidationError

from hoera_compensation import domain, handlers
from hoera_compensation.api import AbuseWatchView, CustomerTexts, DecisionIn
from hoera_compensation.domain import Verdict
from hoera_compensation.handlers import Deps

router = APIRouter(include_in_schema=False)
PAGES = StaffPages(
    service="compensation",
    directory=Path(__file__).parent / "pages",
    roles=(Role.agent, Role.supervisor, Role.approver),
    home="/approval-queue",
)
router.include_router(PAGES.router())

Session = Annotated[StaffSession, Depends(PAGES.sessions.page)]
Form = Annotated[SignedForm, Depends(PAGES.sessions.form)]
Lang = PageLanguage
Message = PageMessage
_AMOUNT = re.compile(r"^\d{1,7}([.,]\d{1,2})?$")


def _deps(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


class _Invalid(Exception):
    """A form value the page does not accept: `key` names its text, `field` the input it is next to."""

    def __init__(self, key: str, field: str) -> None:
        super().__init__(key)
        self.key = key
        self.field = field


def money_in(value: str | None, field: str) -> Money:
    """An amount as a person types it ("450", "450,00", "12.5") in euros, as cents; never a float."""
    text = (value or "").strip().replace(" ", "")
    if not _AMOUNT.match(text):
        raise _Invalid("err_amount", field)
    try:
        cents = int(Decimal(text.replace(",", ".")) * 100)
    except InvalidOperation as exc:
        raise _Invalid("err_amount", field) from exc
    if cents <= 0:
        raise _Invalid("err_amount", field)
    return Money(amount_cents=cents, currency=Currency.EUR)


def money_out(money: Money | None) -> str:
    if money is None:
        return "–"
    return f"{money.currency.value} {money.amount_cents // 100},{money.amount_cents % 100:02d}"


class _View(PageView):
    """A compensation page: the kit's view with money and the complaint's dossier in intake."""

    def __init__(self, request: Request, session: StaffSession, lang: str | None) -> None:
        super().__init__(PAGES, request, session, lang)

    def dossier(self, complaint_id: uuid.UUID) -> str | None:
        return self.elsewhere("intake", f"/workspace/complaints/{complaint_id}")

    def context(self) -> dict[str, Any]:
        return {**super().context(), "money": money_out, "dossier": self.dossier}


Act = Callable[[Principal, PostedForm], Awaitable[str]]
"""A page action: does what the form asks and returns the message key to show afterwards."""
Show = Callable[[_View, str, str | None, int], Awaitable[HTMLResponse]]
"""Renders the page again with an error next to a field (the key of its text, the field, status)."""


async def _post(request: Request, posted: SignedForm, act: Act, *, back: str, show: Show) -> Response:
    view = _View(request, posted.session, posted.form.get("lang"))
    try:
        msg = await act(posted.principal, posted.form)
    except _Invalid as exc:
        return await show(view, view.t[exc.key], exc.field, 422)
    except Refusal as exc:
        if exc.status == 404:
            raise  # nothing of another team's complaint is shown
        text = view.t["refusals"].get(str(exc.status)) if exc.status != 422 else None
        return await show(view, text or exc.message, exc.field, exc.status)
    return view.redirect(back, msg=msg)


# --- the panel of a complaint (R11-R15) -------------------------------------------------------------


async def _panel(
    view: _View,
    complaint_id: uuid.UUID,
    *,
    message: str | None = None,
    error: str | None = None,
    error_field: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    deps = _deps(view.request)
    principal = view.session.principal
    f = await handlers.complaint_file(deps, principal, complaint_id)
    live = next((x for x in f.compensations if x.status != "rejected"), None)
    return view.render(
        "panel.html",
        status_code=status_code,
        complaint=f.complaint,
        step="apologise" if f.apology is None else "propose" if live is None else live.status,
        entry=f.entry,
        customer_texts=CustomerTexts.of(f.entry, f.customer_language) if f.entry else None,
        apology=f.apology,
        damage=f.damage,
        compensations=f.compensations,
        mandate=f.mandate,
        watch=AbuseWatchView.of(f.watch),
        deceased_owner=f.deceased.owner,
        can_propose=principal.has_role(Role.agent, Role.supervisor),
        message=message,
        error=error,
        error_field=error_field,
    )


def _panel_path(complaint_id: uuid.UUID) -> str:
    return f"/compensation/complaints/{complaint_id}"


@router.get("/compensation/complaints/{complaint_id}", response_class=HTMLResponse)
async def panel_page(
    request: Request, complaint_id: uuid.UUID, session: Session, lang: Lang = None, msg: Message = None
) -> HTMLResponse:
    view = _View(request, session, lang)
    return await _panel(view, complaint_id, message=view.message(msg))


def _panel_show(complaint_id: uuid.UUID) -> Show:
    async def show(view: _View, error: str, field: str | None, status_code: int) -> HTMLResponse:
        return await _panel(view, complaint_id, error=error, error_field=field, status_code=status_code)

    return show


def _text(form: PostedForm, name: str, *, limit: int = 1000) -> str | None:
    value = (form.get(name) or "").strip()
    if len(value) > limit:
        raise _Invalid("err_too_long", name)
    return value or None


@router.post("/compensation/complaints/{complaint_id}/apology")
async def apologise(request: Request, complaint_id: uuid.UUID, posted: Form) -> Response:
    async def act(principal: Principal, form: PostedForm) -> str:
        await handlers.record_apology(
            _deps(request),
            principal,
            complaint_id,
            text=_text(form, "text"),
            language=None,
            catalogue_entry=None,
        )
        return "apologised"

    return await _post(request, posted, act, back=_panel_path(complaint_id), show=_panel_show(complaint_id))


@router.post("/compensation/complaints/{complaint_id}/damage")
async def record_damage(request: Request, complaint_id: uuid.UUID, posted: Form) -> Response:
    async def act(principal: Principal, form: PostedForm) -> str:
        amount = money_in(form.get("amount"), "damage_amount")
        description = _text(form, "description")
        await handlers.record_damage(
            _deps(request), principal, complaint_id, amount=amount, description=description
        )
        return "damage_recorded"

    return await _post(request, posted, act, back=_panel_path(complaint_id), show=_panel_show(complaint_id))


@router.post("/compensation/complaints/{complaint_id}/proposal")
async def propose(request: Request, complaint_id: uuid.UUID, posted: Form) -> Response:
    async def act(principal: Principal, form: PostedForm) -> str:
        try:
            kind = CompensationKind(form.get("kind") or "")
        except ValueError as exc:
            raise _Invalid("err_kind", "kind") from exc
        if kind is CompensationKind.financial:
            proposal = domain.ProposalRequest(kind=kind, amount=money_in(form.get("amount"), "amount"))
        else:
            gesture = _text(form, "gesture", limit=64)
            words = _text(form, "gesture_text")
            if not (gesture or words):
                raise _Invalid("err_gesture", "gesture")
            proposal = domain.ProposalRequest(kind=kind, gesture=gesture, gesture_text=words)
        done = await handlers.propose(
            _deps(request), principal, complaint_id, proposal, catalogue_entry=None, note=_text(form, "note")
        )
        return "sent_for_approval" if done.compensation.status == "awaiting_approval" else "granted"

    return await _post(request, posted, act, back=_panel_path(complaint_id), show=_panel_show(complaint_id))


# --- the approval queue (R14) -----------------------------------------------------------------------

State = Literal["awaiting_approval", "approved", "rejected"]


def _approver(session: StaffSession) -> None:
    if not session.principal.has_role(Role.approver):
        raise Forbidden("the approval queue is for approvers")


@router.get("/approval-queue", response_class=HTMLResponse)
async def queue_page(
    request: Request,
    session: Session,
    lang: Lang = None,
    msg: Message = None,
    state: Annotated[State, Query(alias="status")] = "awaiting_approval",
) -> HTMLResponse:
    view = _View(request, session, lang)
    if not session.principal.has_role(Role.approver):
        # An agent or supervisor who lands here (the pages' home) works complaints, not approvals.
        return view.render("not_approver.html", status_code=403)
    items = await handlers.approvals(_deps(request), session.principal, status=state, limit=200)
    return view.render(
        "queue.html",
        items=items,
        state=state,
        states=("awaiting_approval", "approved", "rejected"),
        now=_deps(request).now(),
        message=view.message(msg),
    )


async def _approval(
    view: _View,
    compensation_id: uuid.UUID,
    *,
    error: str | None = None,
    error_field: str | None = None,
    entered: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    _approver(view.session)
    deps = _deps(view.request)
    principal = view.session.principal
    item = await handlers.approval_request(deps, principal, compensation_id)
    f = await handlers.complaint_file(deps, principal, item.complaint_id)
    return view.render(
        "approval.html",
        status_code=status_code,
        c=item,
        complaint=f.complaint,
        damage=f.damage,
        apology=f.apology,
        entry=f.entry,
        watch=AbuseWatchView.of(f.watch),
        own=item.proposed_by == principal.subject,
        now=deps.now(),
        error=error,
        error_field=error_field,
        entered=entered,
    )


@router.get("/approval-queue/{compensation_id}", response_class=HTMLResponse)
async def approval_page(
    request: Request, compensation_id: uuid.UUID, session: Session, lang: Lang = None
) -> HTMLResponse:
    return await _approval(_View(request, session, lang), compensation_id)


@router.post("/approval-queue/{compensation_id}/decision")
async def decide(request: Request, compensation_id: uuid.UUID, posted: Form) -> Response:
    _approver(posted.session)
    entered = (posted.form.get("reason") or "").strip()

    async def act(principal: Principal, form: PostedForm) -> str:
        try:
            verdict = Verdict(form.get("verdict") or "")
        except ValueError as exc:
            raise _Invalid("err_verdict", "verdict") from exc
        try:
            body = DecisionIn(reason=entered)
        except ValidationError as exc:
            raise _Invalid("err_reason", "reason") from exc
        await handlers.decide_approval(
            _deps(request), principal, compensation_id, verdict, reason=body.reason, reason_code=None
        )
        return "approved" if verdict is Verdict.approve else "rejected"

    async def show(view: _View, error: str, field: str | None, status_code: int) -> HTMLResponse:
        return await _approval(
            view, compensation_id, error=error, error_field=field, entered=entered, status_code=status_code
        )

    return await _post(request, posted, act, back="/approval-queue", show=show)
