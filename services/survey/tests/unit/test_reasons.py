"""Why a customer was unhappy: asked after an unhappy satisfaction smiley (the triggers document's
unhappy_max_smiley, 2 by default), from the tenant's reasons in the customer's language; a reason
given with any other smiley is dropped. The page shows the question by CSS alone."""

from __future__ import annotations

import json
import uuid

import pytest
from hoera_events.common import Language
from hoera_events.organisation import FeedbackReason, Labels
from hoera_events.surveys import AgentAttribute, SurveyTrigger
from hoera_survey import views
from hoera_survey.domain import Answer, Question
from hoera_survey.rules import TEMPLATES, TEXTS, TRIGGERS, TextRules, TriggerRules

QUESTIONS = list(Question)
REASONS = [
    FeedbackReason(
        code="waiting-time",
        labels=Labels(
            nl="Ik moest te lang wachten", fr="J'ai dû attendre trop longtemps", en="I had to wait too long"
        ),
    ),
    FeedbackReason(code="other", labels=Labels(nl="Iets anders", fr="Autre chose", en="Something else")),
]


@pytest.mark.parametrize(
    ("satisfaction", "kept"), [(1, True), (2, True), (3, False), (5, False), (None, False)]
)
def test_a_reason_is_kept_only_with_an_unhappy_satisfaction(satisfaction: int | None, kept: bool) -> None:
    answer = Answer(satisfaction=satisfaction, reason="waiting-time").limited_to(
        QUESTIONS, list(AgentAttribute)
    )
    assert answer.reason == ("waiting-time" if kept else None)


def test_what_counts_as_unhappy_is_the_tenants_setting() -> None:
    answer = Answer(satisfaction=2, reason="other")
    assert answer.limited_to(QUESTIONS, [], unhappy_max_smiley=1).reason is None
    assert answer.limited_to(QUESTIONS, [], unhappy_max_smiley=3).reason == "other"
    # Without the satisfaction question there is no smiley to be unhappy with.
    assert answer.limited_to([Question.comment], []).reason is None


def test_the_setting_defaults_to_the_two_unhappiest_smileys_and_never_the_happiest() -> None:
    template = json.loads((TEMPLATES / "nl" / "triggers.json").read_text())
    rules = TRIGGERS.validate(template)
    assert isinstance(rules, TriggerRules) and rules.unhappy_max_smiley == 2
    with pytest.raises(ValueError):
        TriggerRules.model_validate({**template, "unhappy_max_smiley": 5})


def _page(language: Language, reasons: list[FeedbackReason], unhappy_max_smiley: int = 2) -> str:
    texts = TEXTS.validate(json.loads((TEMPLATES / "nl" / "texts.json").read_text()))
    assert isinstance(texts, TextRules)
    return views.survey_page(
        texts.for_language(language),
        language,
        survey_id=uuid.uuid4(),
        token="k.p.s",
        trigger=SurveyTrigger.contact_closed,
        questions=QUESTIONS,
        attributes=list(AgentAttribute),
        reasons=reasons,
        unhappy_max_smiley=unhappy_max_smiley,
    )


@pytest.mark.parametrize(
    ("language", "legend", "label"),
    [
        (Language.nl, "Als u niet tevreden was: waarom?", "Ik moest te lang wachten"),
        (
            Language.fr,
            "Si vous n&#39;étiez pas satisfait(e) : pourquoi ?",
            "J&#39;ai dû attendre trop longtemps",
        ),
        (Language.en, "If you were not satisfied: why?", "I had to wait too long"),
    ],
)
def test_the_page_asks_why_in_the_customers_language(language: Language, legend: str, label: str) -> None:
    page = _page(language, REASONS)
    assert f"<legend>{legend}</legend>" in page and label in page
    assert 'type="radio" id="reason-waiting-time" name="reason" value="waiting-time"' in page
    # Shown by CSS alone once an unhappy smiley is checked; no script on the page.
    assert "form:has(#satisfaction-1:checked, #satisfaction-2:checked) .reasons { display: block; }" in page
    assert "<script" not in page


def test_the_tenants_setting_decides_which_smileys_show_the_question() -> None:
    page = _page(Language.en, REASONS, unhappy_max_smiley=1)
    assert "form:has(#satisfaction-1:checked) .reasons" in page


def test_a_tenant_without_reasons_asks_none() -> None:
    page = _page(Language.nl, [])
    assert 'name="reason"' not in page and ".reasons" not in page
