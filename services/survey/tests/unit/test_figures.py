"""R18, R20: the standard figures against worked examples."""

from __future__ import annotations

from hoera_events.surveys import AgentAttribute
from hoera_survey.domain import Answer, ContactMe, Question, Tally, ces, csat, nps, response_rate, tally


def test_nps_is_percent_promoters_minus_percent_detractors() -> None:
    # 45 promoters (9-10), 35 passives (7-8), 20 detractors (0-6): 45% - 20% = 25, the seed's NPS.
    scores = [10] * 25 + [9] * 20 + [8] * 20 + [7] * 15 + [6] * 10 + [3] * 5 + [0] * 5
    assert nps(tally([Answer(nps=s) for s in scores], invited=100)) == 25.0


def test_nps_counts_six_as_detractor_and_seven_as_passive() -> None:
    t = tally([Answer(nps=s) for s in (10, 9, 8, 7, 6, 5, 3, 0)], invited=8)
    assert (t.promoters, t.detractors, t.nps_answers) == (2, 4, 8)
    assert nps(t) == -25.0


def test_nps_ranges_from_minus_100_to_100() -> None:
    assert nps(tally([Answer(nps=0)] * 3, invited=3)) == -100.0
    assert nps(tally([Answer(nps=10)] * 3, invited=3)) == 100.0


def test_csat_is_the_share_of_the_two_happiest_smileys() -> None:
    answers = [Answer(satisfaction=s) for s in (5, 5, 4, 4, 3, 2, 1, 5)]
    assert csat(tally(answers, invited=8)) == 62.5


def test_ces_is_the_mean_effort_where_five_is_the_easiest() -> None:
    assert ces(tally([Answer(effort=e) for e in (5, 4, 4, 2)], invited=4)) == 3.75


def test_response_rate_of_the_seed_insurer_is_about_sixteen_percent() -> None:
    assert response_rate(Tally(invited=387_000, answered=63_500)) == 16.4


def test_skipped_questions_do_not_count_and_no_answers_give_no_figure() -> None:
    t = tally([Answer(satisfaction=5), Answer(nps=9), Answer()], invited=10)
    assert (t.satisfaction_answers, t.nps_answers, t.effort_answers) == (1, 1, 0)
    assert csat(t) == 100.0 and nps(t) == 100.0 and ces(t) is None
    assert response_rate(t) == 30.0
    assert response_rate(Tally()) is None


def test_an_answer_keeps_only_what_the_survey_asked() -> None:
    answer = Answer(
        satisfaction=4,
        effort=2,
        nps=8,
        attributes={AgentAttribute.friendly: 5, AgentAttribute.clear: 1},
        comment="  ",
        contact_me=ContactMe(),
    )
    short = answer.limited_to([Question.satisfaction, Question.nps, Question.comment], [])
    assert short == Answer(satisfaction=4, nps=8)
    full = answer.limited_to(list(Question), [AgentAttribute.friendly])
    assert full.attributes == {AgentAttribute.friendly: 5}
    assert full.comment is None and full.contact_me == ContactMe()
