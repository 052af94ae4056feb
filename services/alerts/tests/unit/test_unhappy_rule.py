"""R23: which survey answers are unhappy, on every score combination."""

from __future__ import annotations

import itertools
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from hoera_alerts.domain import UnhappyRule, unhappy_alert_id, unhappy_findings
from hoera_events.common import Channel, Language
from hoera_events.surveys import AgentAttribute, SurveyAnswered, SurveyTrigger
from hypothesis import given
from hypothesis import strategies as st

SEED = UnhappyRule.model_validate(
    json.loads((Path(__file__).parents[2] / "rules" / "templates" / "nl" / "unhappy.json").read_text())
)
SMILEYS = [None, 1, 2, 3, 4, 5]
NPS = [None, *range(11)]


def answer(
    satisfaction: int | None = None,
    effort: int | None = None,
    nps: int | None = None,
    attributes: dict[AgentAttribute, int] | None = None,
) -> SurveyAnswered:
    return SurveyAnswered(
        survey_id=uuid.uuid4(),
        customer_id="c-1",
        trigger=SurveyTrigger.contact_closed,
        channel=Channel.phone,
        language=Language.nl,
        answered_at=datetime(2025, 3, 3, 10, tzinfo=UTC),
        satisfaction=satisfaction,
        effort=effort,
        nps=nps,
        attributes=attributes or {},
    )


def expected_unhappy(a: SurveyAnswered, rule: UnhappyRule) -> bool:
    """The rule as an operator reads it, written independently of the implementation."""

    def low(score: int | None, limit: int | None) -> bool:
        return score is not None and limit is not None and score <= limit

    counted = rule.attributes if rule.attributes is not None else set(AgentAttribute)
    return (
        low(a.satisfaction, rule.satisfaction_at_most)
        or low(a.effort, rule.effort_at_most)
        or low(a.nps, rule.nps_at_most)
        or any(low(s, rule.attribute_at_most) for k, s in a.attributes.items() if k in counted)
    )


def test_the_seeded_rule_decides_every_combination_of_satisfaction_effort_and_nps() -> None:
    checked = 0
    for sat, effort, nps in itertools.product(SMILEYS, SMILEYS, NPS):
        a = answer(sat, effort, nps)
        found = unhappy_findings(a, SEED)
        unhappy = (
            (sat is not None and sat <= 2)
            or (effort is not None and effort <= 2)
            or (nps is not None and nps <= 6)
        )
        assert bool(found) is unhappy, (sat, effort, nps, found)
        checked += 1
    assert checked == 6 * 6 * 12


def test_a_skipped_survey_is_never_unhappy() -> None:
    assert unhappy_findings(answer(), SEED) == ()


def test_the_findings_name_each_unhappy_question_with_its_score() -> None:
    a = answer(satisfaction=1, effort=4, nps=6, attributes={AgentAttribute.clear: 2})
    found = [(f.question, f.score) for f in unhappy_findings(a, SEED)]
    assert found == [("satisfaction", 1), ("nps", 6), ("clear", 2)]


def test_an_agent_attribute_at_the_two_lowest_faces_is_unhappy_even_when_satisfied() -> None:
    a = answer(satisfaction=5, nps=10, attributes={AgentAttribute.friendly: 2})
    assert [f.question for f in unhappy_findings(a, SEED)] == ["friendly"]
    assert unhappy_findings(answer(satisfaction=5, attributes={AgentAttribute.friendly: 3}), SEED) == ()


def test_a_question_switched_off_by_the_operator_never_makes_an_answer_unhappy() -> None:
    rule = UnhappyRule(nps_at_most=None, attributes=frozenset({AgentAttribute.expert}))
    assert unhappy_findings(answer(satisfaction=4, nps=0), rule) == ()
    assert unhappy_findings(answer(attributes={AgentAttribute.friendly: 1}), rule) == ()
    assert unhappy_findings(answer(attributes={AgentAttribute.expert: 1}), rule) != ()


smiley = st.none() | st.integers(1, 5)
limits = st.builds(
    UnhappyRule,
    satisfaction_at_most=smiley,
    effort_at_most=smiley,
    nps_at_most=st.none() | st.integers(0, 10),
    attribute_at_most=smiley,
    attributes=st.none() | st.frozensets(st.sampled_from(list(AgentAttribute))),
)
answers = st.builds(
    answer,
    satisfaction=smiley,
    effort=smiley,
    nps=st.none() | st.integers(0, 10),
    attributes=st.dictionaries(st.sampled_from(list(AgentAttribute)), st.integers(1, 5)),
)


@given(answers, limits)
def test_any_rule_on_any_answer_is_unhappy_exactly_when_a_score_is_at_or_below_its_limit(
    a: SurveyAnswered, rule: UnhappyRule
) -> None:
    found = unhappy_findings(a, rule)
    assert bool(found) is expected_unhappy(a, rule)
    for f in found:  # every finding is a real answer at or below its limit
        assert f.score == (
            getattr(a, f.question)
            if f.question in ("satisfaction", "effort", "nps")
            else a.attributes[AgentAttribute(f.question)]
        )


@given(answers, st.integers(1, 5))
def test_a_lower_score_never_makes_an_unhappy_answer_happy(a: SurveyAnswered, floor: int) -> None:
    if a.satisfaction is None:
        return
    lower = a.model_copy(update={"satisfaction": min(a.satisfaction, floor)})
    if unhappy_findings(a, SEED):
        assert unhappy_findings(lower, SEED)


def test_one_answer_gives_one_alert_id_whatever_event_carries_it() -> None:
    survey = uuid.uuid4()
    assert unhappy_alert_id("demo", survey) == unhappy_alert_id("demo", survey)
    assert unhappy_alert_id("demo", survey) != unhappy_alert_id("other", survey)
