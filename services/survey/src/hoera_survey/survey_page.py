"""The customer's face: the survey page behind a signed link (R18, R19, R22), no login.

A link that does not work (tampered, for another survey, expired, already used) gets a friendly page
in the customer's language with a 4xx status, and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import parse_qs
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from hoera_events.common import Language
from hoera_events.surveys import AgentAttribute
from hoera_kit.db import Conn
from pydantic import ValidationError

from hoera_survey import handlers, links, rules, store, views
from hoera_survey.domain import Answer, ContactMe
from hoera_survey.handlers import Deps
from hoera_survey.store import SurveyRow, SurveyState

router = APIRouter(tags=["survey page"])

MAX_FORM_BYTES = 32_000
_STATUS = {
    links.LinkProblem.tampered: 403,
    links.LinkProblem.other_survey: 403,
    links.LinkProblem.expired: 410,
    links.LinkProblem.used: 409,
    links.LinkProblem.unknown: 404,
}
# The token is the customer's key: it must not leak through a Referer, a cache or a frame.
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
}


def _deps(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


AppDeps = Annotated[Deps, Depends(_deps)]
TokenParam = Annotated[str, Query(alias="t", max_length=512, description="the signed link token")]
LangParam = Annotated[str | None, Query(max_length=8, description="nl, fr or en: the language switch")]


def _html(content: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(content, status_code=status, headers=_HEADERS)


def _language(chosen: str | None, survey: SurveyRow | None, request: Request) -> Language:
    """R22: the switch wins, then the customer's language, then the browser's, then Dutch."""
    if chosen is not None and chosen in Language.__members__:
        return Language(chosen)
    if survey is not None:
        return survey.language
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in Language.__members__:
            return Language(code)
    return Language.nl


@dataclass(frozen=True)
class _Opened:
    survey: SurveyRow
    claims: links.LinkClaims


async def _open(
    deps: Deps, conn: Conn, survey_id: UUID, token: str
) -> tuple[_Opened | links.LinkProblem, SurveyRow | None]:
    """The survey a link opens, or why it does not (checked against what was issued)."""
    survey = await store.get_survey(conn, survey_id)
    checked = links.verify(token, survey_id=survey_id, secret=deps.settings.link_secret, now=deps.now())
    if isinstance(checked, links.LinkProblem):
        return checked, survey
    if survey is None or survey.state in (SurveyState.scheduled, SurveyState.suppressed):
        return links.LinkProblem.unknown, survey
    if survey.state is SurveyState.answered:
        return links.LinkProblem.used, survey
    if survey.link_nonce != checked.nonce:
        return links.LinkProblem.tampered, survey
    if survey.expires_at is None or survey.expires_at <= deps.now():
        return links.LinkProblem.expired, survey
    return _Opened(survey, checked), survey


def _problem_page(
    texts: rules.TextRules, problem: links.LinkProblem, language: Language, survey_id: UUID, token: str
) -> HTMLResponse:
    t = texts.for_language(language)
    message = {
        links.LinkProblem.tampered: t.problem_tampered,
        links.LinkProblem.other_survey: t.problem_tampered,
        links.LinkProblem.expired: t.problem_expired,
        links.LinkProblem.used: t.problem_used,
        links.LinkProblem.unknown: t.problem_unknown,
    }[problem]
    page = views.message_page(
        t,
        language,
        heading=t.problem_title,
        message=message,
        path=f"/s/{survey_id}",
        params={"t": token},
    )
    return _html(page, _STATUS[problem])


def _render_form(
    ruleset: rules.RuleSet,
    survey: SurveyRow,
    token: str,
    language: Language,
    given: Answer | None = None,
    error: bool = False,
) -> str:
    rule = ruleset.triggers.for_trigger(survey.trigger)
    t = ruleset.texts.for_language(language)
    return views.survey_page(
        t,
        language,
        survey_id=survey.survey_id,
        token=token,
        trigger=survey.trigger,
        questions=rule.questions,
        attributes=rule.attributes,
        given=given,
        error=t.invalid_answer if error else None,
    )


@router.get(
    "/s/{survey_id}",
    response_class=HTMLResponse,
    summary="The survey page a customer opens from the invitation's link",
    responses={
        403: {"description": "tampered link"},
        409: {"description": "already answered"},
        410: {"description": "expired link"},
        404: {"description": "no such survey"},
    },
)
async def show_survey(
    survey_id: UUID, request: Request, deps: AppDeps, t: TokenParam, lang: LangParam = None
) -> HTMLResponse:
    async with deps.svc.pool.acquire() as conn:
        opened, survey = await _open(deps, conn, survey_id, t)
        ruleset = await rules.load(conn, deps.settings.survey_rules_dir)
    language = _language(lang, survey, request)
    if isinstance(opened, links.LinkProblem):
        return _problem_page(ruleset.texts, opened, language, survey_id, t)
    return _html(_render_form(ruleset, opened.survey, t, language))


def _field(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[-1] if values else None


def _answer_from_form(form: dict[str, list[str]]) -> Answer:
    """The form's fields as an Answer; a ValueError or ValidationError when one is not valid."""

    def one(name: str) -> str | None:
        values = form.get(name)
        return values[-1].strip() if values and values[-1].strip() else None

    def number(name: str) -> int | None:
        value = one(name)
        return int(value) if value is not None else None

    attributes: dict[str, Any] = {}
    for attribute in AgentAttribute:
        if (value := number(f"attr_{attribute.value}")) is not None:
            attributes[attribute.value] = value
    contact_me = None
    if one("contact_me"):
        contact_me = ContactMe.model_validate(
            {
                k: v
                for k, v in (("moment", one("moment")), ("channel", one("contact_channel")))
                if v is not None
            }
        )
    return Answer.model_validate(
        {
            "satisfaction": number("satisfaction"),
            "effort": number("effort"),
            "nps": number("nps"),
            "attributes": attributes,
            "comment": _field(form, "comment"),
            "contact_me": contact_me,
        }
    )


@router.post(
    "/s/{survey_id}",
    response_class=HTMLResponse,
    summary="Submit the answer (form post); one answer per link, a repeat changes nothing",
    status_code=303,
    responses={
        303: {"description": "recorded: see the thank-you page"},
        422: {"description": "an answer out of range: the form again"},
    },
)
async def submit_survey(survey_id: UUID, request: Request, deps: AppDeps) -> Response:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        return _html("form too large", 413)
    form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=100)
    token = _field(form, "t") or ""
    lang = _field(form, "lang")
    async with deps.svc.pool.acquire() as conn, conn.transaction():
        opened, survey = await _open(deps, conn, survey_id, token)
        ruleset = await rules.load(conn, deps.settings.survey_rules_dir)
        language = _language(lang, survey, request)
        if isinstance(opened, links.LinkProblem):
            return _problem_page(ruleset.texts, opened, language, survey_id, token)
        try:
            answer = _answer_from_form(form)
        except (ValueError, ValidationError):
            page = _render_form(ruleset, opened.survey, token, language, error=True)
            return _html(page, 422)
        recorded = await handlers.submit_answer(deps, conn, survey_id, opened.claims.nonce, answer, language)
        if recorded is None:  # a double submit lost the race for the link
            return _problem_page(ruleset.texts, links.LinkProblem.used, language, survey_id, token)
    return RedirectResponse(f"/s/{survey_id}/thanks?lang={language.value}", status_code=303, headers=_HEADERS)


@router.get("/s/{survey_id}/thanks", response_class=HTMLResponse, summary="The thank-you page")
async def thanks(survey_id: UUID, request: Request, deps: AppDeps, lang: LangParam = None) -> HTMLResponse:
    async with deps.svc.pool.acquire() as conn:
        survey = await store.get_survey(conn, survey_id)
        ruleset = await rules.load(conn, deps.settings.survey_rules_dir)
    language = _language(lang, survey, request)
    t = ruleset.texts.for_language(language)
    page = views.message_page(
        t, language, heading=t.thanks_title, message=t.thanks_body, path=f"/s/{survey_id}/thanks", params={}
    )
    return _html(page)


@router.post(
    "/s/{survey_id}/opt-out",
    response_class=HTMLResponse,
    summary="The customer asks for no more surveys (the link stays usable for this one)",
)
async def opt_out(survey_id: UUID, request: Request, deps: AppDeps) -> HTMLResponse:
    body = await request.body()
    form = parse_qs(body[:MAX_FORM_BYTES].decode("utf-8", "replace"), max_num_fields=10)
    token = _field(form, "t") or ""
    lang = _field(form, "lang")
    async with deps.svc.pool.acquire() as conn, conn.transaction():
        opened, survey = await _open(deps, conn, survey_id, token)
        ruleset = await rules.load(conn, deps.settings.survey_rules_dir)
        language = _language(lang, survey, request)
        if isinstance(opened, links.LinkProblem):
            return _problem_page(ruleset.texts, opened, language, survey_id, token)
        await handlers.opt_out(
            deps, conn, opened.survey.tenant, opened.survey.customer_id, f"customer:survey:{survey_id}"
        )
    t = ruleset.texts.for_language(language)
    page = views.message_page(
        t,
        language,
        heading=t.thanks_title,
        message=t.opt_out_done,
        path=f"/s/{survey_id}",
        params={"t": token},
    )
    return _html(page)
