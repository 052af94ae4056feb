"""R25: the dashboard's figures from what the store counts."""

from __future__ import annotations

from hoera_alerts.domain import Counts, ces, figures, nps, percentage
from hypothesis import given
from hypothesis import strategies as st


def test_figures_from_counts() -> None:
    f = figures(
        Counts(
            satisfaction_n=4,
            satisfaction_sum=4 + 5 + 5 + 2,
            effort_n=2,
            effort_sum=9,
            nps_n=5,
            promoters=3,
            detractors=1,
            invited=50,
            invited_answered=8,
            contacts_with_fcr=20,
            contacts_resolved_first_time=13,
            complaints_resolved=4,
            complaints_resolved_first_time=3,
        )
    )
    assert f.csat == 7.5
    assert f.nps == 40.0
    assert f.ces == 4.5
    assert f.response_rate == 16.0
    assert f.fcr == 65.0
    assert f.complaint_fcr == 75.0
    assert f.answers == 4


def test_no_answers_show_no_figure_rather_than_zero() -> None:
    f = figures(Counts())
    assert (f.csat, f.nps, f.ces, f.response_rate, f.fcr) == (None, None, None, None, None)


@given(st.integers(0, 1000), st.integers(0, 1000), st.integers(0, 1000))
def test_nps_stays_between_minus_100_and_100(promoters: int, detractors: int, passives: int) -> None:
    total = promoters + detractors + passives
    value = nps(promoters, detractors, total)
    assert value is None if total == 0 else -100 <= value <= 100


def test_ces_and_percentages() -> None:
    assert ces(0, 0) is None
    assert ces(7, 2) == 3.5
    assert percentage(1, 3) == 33.3
