"""R10: a deceased mark and its withdrawal, arriving in either order, compared when read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hoera_compensation.domain import DeceasedMark
from hypothesis import given
from hypothesis import strategies as st

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def at(minutes: int | None) -> datetime | None:
    return None if minutes is None else T0 + timedelta(minutes=minutes)


def mark(marked: int | None, withdrawn: int | None) -> DeceasedMark:
    return DeceasedMark(
        owner_agent_id="agent-anna" if marked is not None else None,
        marked_at=at(marked),
        withdrawn_at=at(withdrawn),
    )


def test_a_withdrawal_undoes_the_mark_before_it_but_never_a_newer_one() -> None:
    assert mark(0, None).owner == "agent-anna"
    assert mark(0, 5).owner is None
    assert mark(10, 5).owner == "agent-anna"
    assert mark(None, 5).owner is None
    assert mark(None, None).owner is None


def test_a_mark_withdrawn_at_the_same_instant_is_withdrawn() -> None:
    assert not mark(5, 5).in_force


@given(
    raised=st.integers(-100, 100),
    marked=st.none() | st.integers(-100, 100),
    withdrawn=st.none() | st.integers(-100, 100),
    said=st.booleans(),
)
def test_a_complaint_stops_being_about_a_deceased_customer_only_by_a_later_withdrawal(
    raised: int, marked: int | None, withdrawn: int | None, said: bool
) -> None:
    m = mark(marked, withdrawn)
    now = m.about_deceased(said, at(raised))
    withdrawn_since_raised = withdrawn is not None and raised <= withdrawn and not m.in_force
    assert now is (said and not withdrawn_since_raised)


def test_a_complaint_whose_raise_has_not_arrived_counts_as_raised_before_the_withdrawal() -> None:
    assert mark(0, 5).about_deceased(True, None) is False
    assert mark(10, 5).about_deceased(True, None) is True
