"""The customer's pages (R18, R19, R22) and the invitation e-mail's HTML, from the Jinja2 templates
in ``pages/`` and the operator's texts (R8). Server-rendered, no JavaScript: the question why a
customer was unhappy shows after an unhappy smiley by CSS alone (``:has()``), and without CSS it is
simply there, its legend saying when it applies."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from urllib.parse import urlencode
from uuid import UUID

from hoera_events.common import Channel as ContactChannel
from hoera_events.common import Language, PreferredMoment
from hoera_events.organisation import FeedbackReason
from hoera_events.surveys import AgentAttribute, SurveyTrigger
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import escape
from pydantic import BaseModel, ConfigDict

from hoera_survey.domain import UNHAPPY_MAX_SMILEY, Answer, Question
from hoera_survey.rules import Texts

PAGES = Path(__file__).parent / "pages"
_env = Environment(
    loader=FileSystemLoader(PAGES),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)

LANGUAGE_NAMES: tuple[tuple[str, str], ...] = (("nl", "NL"), ("fr", "FR"), ("en", "EN"))
# Faces from the unhappiest to the happiest: the mouth curves from a frown to a wide smile, and the
# colour supports, never replaces, the shape and the visible label.
_FACE = {
    "face_colours": ["#f28b82", "#fbbc7c", "#fde293", "#ccebb0", "#a8dab5"],
    "mouth_ends": [72, 70, 66, 62, 60],
    "mouth_curves": [52, 60, 66, 76, 86],
}


class ReasonTexts(BaseModel):
    """The words around the tenant's reasons (whose own labels the organisation gives), nl/fr/en."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    legend: str
    """Says when the question applies, so that it reads right where CSS does not hide it."""
    hint: str
    unknown: str
    """The form's error for a reason that is not one of the tenant's."""


REASON_TEXTS: dict[Language, ReasonTexts] = {
    Language(code): ReasonTexts.model_validate(texts)
    for code, texts in json.loads((PAGES / "reasons.json").read_text(encoding="utf-8")).items()
}


def _switcher(path: str, params: dict[str, str]) -> Callable[[str], str]:
    def switch_url(code: str) -> str:
        return f"{path}?{urlencode({**params, 'lang': code})}"

    return switch_url


def survey_page(
    t: Texts,
    language: Language,
    *,
    survey_id: UUID,
    token: str,
    trigger: SurveyTrigger,
    questions: Sequence[Question],
    attributes: Sequence[AgentAttribute],
    reasons: Sequence[FeedbackReason] = (),
    unhappy_max_smiley: int = UNHAPPY_MAX_SMILEY,
    given: Answer | None = None,
    error: str | None = None,
) -> str:
    """The survey's form. The reasons are asked with the satisfaction question, for its smileys up to
    ``unhappy_max_smiley``; a tenant without reasons asks none."""
    path = f"/s/{survey_id}"
    asked = [q.value for q in questions]
    return _env.get_template("survey.html").render(
        t=t,
        language=language.value,
        languages=LANGUAGE_NAMES,
        switch_url=_switcher(path, {"t": token}),
        intro=getattr(t, f"intro_{trigger.value}"),
        action=path,
        opt_out_action=f"{path}/opt-out",
        token=token,
        questions=asked,
        attributes=list(attributes),
        reasons=[(r.code, str(getattr(r.labels, language.value))) for r in reasons]
        if "satisfaction" in asked
        else [],
        unhappy_levels=list(range(1, unhappy_max_smiley + 1)),
        reason_texts=REASON_TEXTS[language],
        given=given or Answer(),
        # Enum order, not the stored texts' order (jsonb sorts keys): "as soon as possible" and the
        # phone come first, and are what an unchanged form asks for.
        moments=list(PreferredMoment),
        channels=list(ContactChannel),
        error=error,
        **_FACE,
    )


def message_page(
    t: Texts, language: Language, *, heading: str, message: str, path: str, params: dict[str, str]
) -> str:
    """A short page: the thank-you, the opt-out confirmation, or why a link does not work."""
    return _env.get_template("message.html").render(
        t=t,
        language=language.value,
        languages=LANGUAGE_NAMES,
        switch_url=_switcher(path, params),
        heading=heading,
        message=message,
    )


def invitation_html(t: Texts, language: Language, values: Mapping[str, str]) -> str:
    """The invitation's HTML part: the text's paragraphs, its link as a button. The page is rendered
    once per language and wording, with the placeholders in, and filled per recipient with the
    values escaped as the template would have escaped them (a campaign renders it once, not per mail)."""
    shell = _invitation_shell(language.value, t.page_title, t.mail_subject, t.mail_body)
    return shell.format(**{name: str(escape(value)) for name, value in values.items()})


@functools.lru_cache(maxsize=256)
def _invitation_shell(language: str, page_title: str, subject: str, body: str) -> str:
    """The invitation's HTML with {link}, {expires_on} and {organisation} still in it: a str.format
    template (the page title's own braces doubled, so they stay text; the template has none)."""
    paragraphs = [p.strip() for p in body.split("\n\n") if p.strip()]
    return _env.get_template("invitation_mail.html").render(
        page_title=page_title.replace("{", "{{").replace("}", "}}"),
        language=language,
        subject=subject,
        paragraphs=paragraphs,
        link="{link}",
    )
