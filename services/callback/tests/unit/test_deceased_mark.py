"""R10: a deceased mark and its withdrawal, decided by the events' own times whatever order they
arrive in (they travel on two topics)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from functools import reduce

from hoera_callback.domain import DeceasedMark, mark_deceased, withdraw_deceased_mark
from hypothesis import given
from hypothesis import strategies as st

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_a_withdrawal_after_the_mark_clears_it() -> None:
    withdrawn = withdraw_deceased_mark(mark_deceased(DeceasedMark(), at(0)), at(5))
    assert withdrawn == DeceasedMark(marked_at=None, withdrawn_at=at(5))


def test_a_withdrawal_older_than_the_latest_mark_leaves_the_mark_in_force() -> None:
    late = withdraw_deceased_mark(mark_deceased(mark_deceased(DeceasedMark(), at(0)), at(10)), at(5))
    assert late.deceased and late.marked_at == at(10)


def test_a_mark_no_newer_than_a_withdrawal_already_seen_changes_nothing() -> None:
    withdrawn = withdraw_deceased_mark(DeceasedMark(), at(5))
    assert mark_deceased(withdrawn, at(0)) == withdrawn
    assert mark_deceased(withdrawn, at(5)) == withdrawn
    assert mark_deceased(withdrawn, at(6)).deceased


Change = tuple[str, int]
changes = st.lists(st.tuples(st.sampled_from(["mark", "withdraw"]), st.integers(0, 50)), max_size=8)


def _apply(mark: DeceasedMark, change: Change) -> DeceasedMark:
    kind, minute = change
    return mark_deceased(mark, at(minute)) if kind == "mark" else withdraw_deceased_mark(mark, at(minute))


@given(changes, st.randoms(use_true_random=False))
def test_the_order_of_arrival_never_changes_the_outcome(history: list[Change], rnd: random.Random) -> None:
    shuffled = list(history)
    rnd.shuffle(shuffled)
    assert reduce(_apply, shuffled, DeceasedMark()) == reduce(_apply, history, DeceasedMark())


@given(changes)
def test_the_customer_is_deceased_exactly_when_the_latest_change_is_a_mark(history: list[Change]) -> None:
    latest_mark = max((m for k, m in history if k == "mark"), default=None)
    latest_withdrawal = max((m for k, m in history if k == "withdraw"), default=None)
    expected = latest_mark is not None and (latest_withdrawal is None or latest_mark > latest_withdrawal)
    assert reduce(_apply, history, DeceasedMark()).deceased is expected
