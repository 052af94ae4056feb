"""R24: a team's rolling CSAT below the level raises one alert, and not again until it recovered."""

from __future__ import annotations

from hoera_alerts.domain import (
    ThresholdRule,
    ThresholdState,
    assess_threshold,
    csat,
)
from hypothesis import given
from hypothesis import strategies as st


@st.composite
def rules(draw: st.DrawFn) -> ThresholdRule:
    alert_below = draw(st.floats(0, 10, allow_nan=False))
    recovered_at = draw(st.floats(alert_below, 10, allow_nan=False))
    return ThresholdRule(
        alert_below=alert_below, recovered_at=recovered_at, min_answers=draw(st.integers(1, 10))
    )


readings = st.lists(st.tuples(st.none() | st.floats(0, 10, allow_nan=False), st.integers(0, 20)), max_size=80)


def run(rule: ThresholdRule, seq: list[tuple[float | None, int]]) -> list[bool]:
    state = ThresholdState()
    fired = []
    for value, n in seq:
        a = assess_threshold(state, value, n, rule)
        state = a.state
        fired.append(a.fire)
    return fired


@given(rules(), readings)
def test_hysteresis_never_fires_twice_without_a_recovery_in_between(
    rule: ThresholdRule, seq: list[tuple[float | None, int]]
) -> None:
    fired = run(rule, seq)
    last_fire: int | None = None
    for i, did in enumerate(fired):
        if not did:
            continue
        if last_fire is not None:
            between = seq[last_fire + 1 : i]
            assert any(
                v is not None and n >= rule.min_answers and v >= rule.recovered_at for v, n in between
            ), f"fired at {last_fire} and {i} without a recovery"
        last_fire = i


@given(rules(), readings)
def test_an_alert_fires_only_on_a_figure_below_the_level_with_enough_answers(
    rule: ThresholdRule, seq: list[tuple[float | None, int]]
) -> None:
    for (value, n), did in zip(seq, run(rule, seq), strict=True):
        if did:
            assert value is not None and value < rule.alert_below and n >= rule.min_answers


@given(rules(), readings)
def test_a_drop_below_the_level_is_never_missed_while_armed(
    rule: ThresholdRule, seq: list[tuple[float | None, int]]
) -> None:
    state = ThresholdState()
    for value, n in seq:
        a = assess_threshold(state, value, n, rule)
        low = value is not None and n >= rule.min_answers and value < rule.alert_below
        if not state.alerting and low:
            assert a.fire
        state = a.state


def test_a_figure_hovering_around_the_level_alerts_once() -> None:
    rule = ThresholdRule(alert_below=6.0, recovered_at=7.0, min_answers=3)
    seq = [(5.9, 5), (6.1, 5), (5.8, 5), (6.9, 5), (5.0, 5)]
    assert run(rule, seq) == [True, False, False, False, False]
    assert run(rule, [*seq, (7.0, 5), (5.9, 5)])[-1] is True


def test_too_few_answers_say_nothing_yet() -> None:
    rule = ThresholdRule(alert_below=6.0, recovered_at=7.0, min_answers=5)
    assert run(rule, [(0.0, 4), (0.0, 5)]) == [False, True]


def test_csat_maps_the_unhappiest_face_to_0_and_the_happiest_to_10() -> None:
    assert csat(1, 1) == 0.0
    assert csat(5, 1) == 10.0
    assert csat(3 + 4, 2) == 6.25
    assert csat(0, 0) is None
