"""The customer's face: the survey page behind a signed link (R18, R19, R22), no login.

A link that does not work (tampered, for another survey, expired, already used, unknown, mangled)
gets a friendly page in the customer's language with a 4xx status, and changes nothing. The link
names its organisation's key, so the page, its questions and its texts are that organisation's.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from hoera_events.common import Language
from hoera_events.surveys import AgentAttribute
from hoera_kit.refusals import Refusal
from hoera_kit.sessions import PostedForm, read_form
from pydantic import ValidationError

from hoera_survey import handlers, links, views
from hoera_survey.domain import Answer, ContactMe
from hoera_survey.handlers import Asked, Deps, LinkCheck, Opened, UnknownReason

router = APIRouter(tags=["survey page"])

_STATUS = {
    links.LinkProblem.tampered: 403,
    links.LinkProblem.other_survey: 403,
    links.LinkProblem.expired: 410,
    links.LinkProblem.used: 409,
    links.LinkProblem.unknown: 404,
}
_NOT_OURS: dict[int | str, dict[str, Any]] = {
    403: {"description": "a link that is not ours, was changed, or is for another survey: a page saying so"},
    404: {"description": "no such survey (or a mangled link): a page saying so"},
}
_PROBLEMS: dict[int | str, dict[str, Any]] = {
    **_NOT_OURS,
    409: {"description": "the survey was answered already (a link works once): a page saying so"},
    410: {"description": "the link has expired: a page saying so"},
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
SurveyPath = Annotated[str, Path(description="the survey's id (a UUID), as the link carries it")]
TokenParam = Annotated[str, Query(alias="t", description="the signed link token")]
LangParam = Annotated[str | None, Query(description="nl, fr or en: the language switch")]


def _html(content: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(content, status_code=status, headers=_HEADERS)


def _survey_id(value: str) -> UUID | None:
    """A mangled id (a link cut short in a mail) is an unknown survey, answered with its page."""
    try:
        return UUID(value)
    except ValueError:
        return None


def _language(chosen: str | None, check: LinkCheck | None, request: Request) -> Language:
    """R22: the switch wins, then the customer's language (else their organisation's), then the
    browser's, then Dutch."""
    if chosen is not None and chosen in Language.__members__:
        return Language(chosen)
    if check is not None and check.customer_language is not None:
        return check.customer_language
    for part in request.headers.get("accept-language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in Language.__members__:
            return Language(code)
    return Language.nl


def _problem_page(
    check: LinkCheck, problem: links.LinkProblem, language: Language, path: str, token: str
) -> HTMLResponse:
    t = check.texts.for_language(language)
    message = {
        links.LinkProblem.tampered: t.problem_tampered,
        links.LinkProblem.other_survey: t.problem_tampered,
        links.LinkProblem.expired: t.problem_expired,
        links.LinkProblem.used: t.problem_used,
        links.LinkProblem.unknown: t.problem_unknown,
    }[problem]
    page = views.message_page(
        t, language, heading=t.problem_title, message=message, path=path, params={"t": token}
    )
    return _html(page, _STATUS[problem])


async def _unknown(
    deps: Deps, survey_id: str, token: str, lang: str | None, request: Request
) -> HTMLResponse:
    async with deps.transaction() as conn:
        check = await handlers.unknown_survey(deps, conn, token)
    path = f"/s/{quote(survey_id, safe='')}"
    return _problem_page(check, links.LinkProblem.unknown, _language(lang, check, request), path, token)


def _render_form(
    check: LinkCheck,
    opened: Opened,
    asked: Asked,
    token: str,
    language: Language,
    *,
    error: str | None = None,
    given: Answer | None = None,
) -> str:
    t = check.texts.for_language(language)
    return views.survey_page(
        t,
        language,
        survey_id=opened.survey.survey_id,
        token=token,
        trigger=opened.survey.trigger,
        questions=asked.rule.questions,
        attributes=asked.rule.attributes,
        reasons=asked.reasons,
        unhappy_max_smiley=asked.unhappy_max_smiley,
        given=given,
        error=error,
    )


@router.get(
    "/s/{survey_id}",
    response_class=HTMLResponse,
    summary="The survey page a customer opens from the invitation's link",
    responses=_PROBLEMS,
)
async def show_survey(
    survey_id: SurveyPath, request: Request, deps: AppDeps, t: TokenParam = "", lang: LangParam = None
) -> HTMLResponse:
    sid = _survey_id(survey_id)
    if sid is None:
        return await _unknown(deps, survey_id, t, lang, request)
    async with deps.transaction() as conn:
        check = await handlers.open_link(deps, conn, sid, t)
        opened = check.outcome
        language = _language(lang, check, request)
        if isinstance(opened, Opened):
            asked = await handlers.asked(deps, conn, opened.survey)
            return _html(_render_form(check, opened, asked, t, language))
    return _problem_page(check, opened, language, f"/s/{survey_id}", t)


async def _form(request: Request) -> PostedForm:
    """The posted form, read by the kit (a repeated field counts by its first value). A body of any
    other kind reads as an empty form: the page answers it as it answers a link without a token."""
    try:
        return await read_form(request)
    except Refusal:
        return PostedForm({})


def _answer_from_form(form: PostedForm) -> Answer:
    """The form's fields as an Answer; a ValueError or ValidationError when one is not valid."""

    def one(name: str) -> str | None:
        value = (form.get(name) or "").strip()
        return value or None

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
            "comment": form.get("comment"),
            "contact_me": contact_me,
            "reason": one("reason"),
        }
    )


@router.post(
    "/s/{survey_id}",
    response_class=HTMLResponse,
    summary="Submit the answer (form post); one answer per link, a repeat changes nothing",
    status_code=303,
    responses={
        303: {"description": "recorded: see the thank-you page"},
        **_PROBLEMS,
        422: {
            "description": "an answer out of range, or a reason the organisation does not offer: "
            "the form again, saying so; nothing is written"
        },
    },
)
async def submit_survey(survey_id: SurveyPath, request: Request, deps: AppDeps) -> Response:
    form = await _form(request)
    token = form.get("t") or ""
    lang = form.get("lang")
    sid = _survey_id(survey_id)
    if sid is None:
        return await _unknown(deps, survey_id, token, lang, request)
    path = f"/s/{survey_id}"
    async with deps.transaction() as conn:
        check = await handlers.open_link(deps, conn, sid, token)
        opened = check.outcome
        language = _language(lang, check, request)
        if not isinstance(opened, Opened):
            return _problem_page(check, opened, language, path, token)
        asked = await handlers.asked(deps, conn, opened.survey)
        t = check.texts.for_language(language)
        try:
            answer = _answer_from_form(form)
        except (ValueError, ValidationError):
            return _html(_render_form(check, opened, asked, token, language, error=t.invalid_answer), 422)
        try:
            recorded = await handlers.submit_answer(
                deps, conn, opened.survey.tenant, sid, opened.claims.nonce, answer, language
            )
        except UnknownReason:
            # Checked before anything is written: the form again, the customer's other choices kept.
            page = _render_form(
                check,
                opened,
                asked,
                token,
                language,
                error=views.REASON_TEXTS[language].unknown,
                given=answer.model_copy(update={"reason": None}),
            )
            return _html(page, 422)
        if recorded is None:  # a double submit lost the race for the link
            return _problem_page(check, links.LinkProblem.used, language, path, token)
    thanks = f"{path}/thanks?{urlencode({'lang': language.value, 't': token})}"
    return RedirectResponse(thanks, status_code=303, headers=_HEADERS)


@router.get(
    "/s/{survey_id}/thanks",
    response_class=HTMLResponse,
    summary="The thank-you page after an answer (with the link that gave it)",
    responses=_NOT_OURS,
)
async def thanks(
    survey_id: SurveyPath, request: Request, deps: AppDeps, t: TokenParam = "", lang: LangParam = None
) -> HTMLResponse:
    sid = _survey_id(survey_id)
    if sid is None:
        return await _unknown(deps, survey_id, t, lang, request)
    path = f"/s/{survey_id}/thanks"
    async with deps.transaction() as conn:
        check = await handlers.open_answered(deps, conn, sid, t)
    language = _language(lang, check, request)
    if not isinstance(check.outcome, Opened):
        return _problem_page(check, check.outcome, language, path, t)
    texts = check.texts.for_language(language)
    page = views.message_page(
        texts, language, heading=texts.thanks_title, message=texts.thanks_body, path=path, params={"t": t}
    )
    return _html(page)


@router.post(
    "/s/{survey_id}/opt-out",
    response_class=HTMLResponse,
    summary="The customer asks for no more surveys (the link stays usable for this one)",
    responses=_PROBLEMS,
)
async def opt_out(survey_id: SurveyPath, request: Request, deps: AppDeps) -> HTMLResponse:
    form = await _form(request)
    token = form.get("t") or ""
    lang = form.get("lang")
    sid = _survey_id(survey_id)
    if sid is None:
        return await _unknown(deps, survey_id, token, lang, request)
    path = f"/s/{survey_id}"
    async with deps.transaction() as conn:
        check = await handlers.open_link(deps, conn, sid, token)
        language = _language(lang, check, request)
        if not isinstance(check.outcome, Opened):
            return _problem_page(check, check.outcome, language, path, token)
        await handlers.opt_out_by_link(deps, conn, check.outcome)
    t = check.texts.for_language(language)
    page = views.message_page(
        t, language, heading=t.thanks_title, message=t.opt_out_done, path=path, params={"t": token}
    )
    return _html(page)
