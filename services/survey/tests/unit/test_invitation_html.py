"""The invitation's HTML is rendered once per language and wording and filled per recipient: it must
be the very page that rendering each mail with its own values gives (escaping included)."""

from __future__ import annotations

import json
from typing import Any

from hoera_events.common import Language
from hoera_survey import views
from hoera_survey.rules import TEMPLATES, TEXTS, TextRules
from hypothesis import given, settings
from hypothesis import strategies as st

# Values a customer's mail can carry, with what HTML must escape; never empty, no line breaks and no
# space at either end (a link, a date, an organisation's name).
_value = st.text(alphabet=st.sampled_from(list("aZ09 &<>\"'/?=:;.-_{}éß€")), min_size=1, max_size=30).filter(
    lambda v: v == v.strip()
)
# Operator's wording: free text with the placeholders, braces doubled where meant literally.
_word = st.sampled_from(
    ["Beste klant", "{organisation}", "&", "<b>", '"quoted"', "{{literal}}", "tot {expires_on}"]
)
_paragraph = st.lists(_word, min_size=1, max_size=4).map(" ".join)


def _texts() -> TextRules:
    texts = TEXTS.validate(json.loads((TEMPLATES / "nl" / "texts.json").read_text()))
    assert isinstance(texts, TextRules)
    return texts


_TEXTS = _texts()


def _each_mail(texts: Any, language: Language, values: dict[str, str]) -> str:
    """How the HTML was rendered before: the texts filled first, the page rendered per mail."""
    subject = texts.mail_subject.format(**values)
    body = texts.mail_body.format(**values)
    paragraphs = [p.strip() for p in body.split("\n\n") if p.strip()]
    return views._env.get_template("invitation_mail.html").render(
        page_title=texts.page_title,
        language=language.value,
        subject=subject,
        paragraphs=paragraphs,
        link=values["link"],
    )


@settings(max_examples=200, deadline=None)
@given(
    language=st.sampled_from(list(Language)),
    before=st.lists(_paragraph, max_size=3),
    after=st.lists(_paragraph, max_size=2),
    subject=_paragraph,
    title=st.sampled_from(["Uw mening", "Votre avis {x}", "A & B <i>"]),
    link=_value,
    expires_on=_value,
    organisation=_value,
)
def test_rendered_once_and_filled_is_the_page_rendered_per_mail(
    language: Language,
    before: list[str],
    after: list[str],
    subject: str,
    title: str,
    link: str,
    expires_on: str,
    organisation: str,
) -> None:
    texts = _TEXTS.for_language(language).model_copy(
        update={
            "mail_subject": subject,
            "mail_body": "\n\n".join([*before, "{link}", *after]),
            "page_title": title,
        }
    )
    values = {
        "link": f"https://hoera.test/s/1?t={link}",
        "expires_on": expires_on,
        "organisation": organisation,
    }
    assert views.invitation_html(texts, language, values) == _each_mail(texts, language, values)
