"""R10: a deceased mark and its withdrawal, decided by the events' own times whatever order they
arrive in; R30: a repeated proactive request repeats its grant, never past a death or an opt-out."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from functools import reduce

from hoera_events.surveys import SuppressionReason
from hoera_survey.domain import (
    Allow,
    DeceasedMark,
    Standing,
    Suppress,
    mark_deceased,
    may_repeat,
    withdraw_deceased_mark,
)
from hypothesis import given
from hypothesis import strategies as st

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_a_withdrawal_after_the_mark_clears_it_and_keeps_its_own_time() -> None:
    marked = mark_deceased(DeceasedMark(), at(0))
    assert marked.deceased
    withdrawn = withdraw_deceased_mark(marked, at(5))
    assert withdrawn == DeceasedMark(marked_at=None, withdrawn_at=at(5))
    assert not withdrawn.deceased


def test_a_withdrawal_older_than_the_latest_mark_leaves_the_mark_in_force() -> None:
    marked = mark_deceased(mark_deceased(DeceasedMark(), at(0)), at(10))
    late = withdraw_deceased_mark(marked, at(5))
    assert late == DeceasedMark(marked_at=at(10), withdrawn_at=at(5))
    assert late.deceased


def test_a_mark_older_than_a_withdrawal_already_seen_changes_nothing() -> None:
    withdrawn = withdraw_deceased_mark(DeceasedMark(), at(5))
    assert mark_deceased(withdrawn, at(0)) == withdrawn
    assert mark_deceased(withdrawn, at(5)) == withdrawn, "at the same instant the withdrawal wins"
    assert mark_deceased(withdrawn, at(6)).deceased, "a new mark after the withdrawal counts"


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


def test_a_repeated_proactive_request_repeats_its_grant_unless_the_customer_died_or_opted_out() -> None:
    assert may_repeat(Standing()) == Allow()
    assert may_repeat(Standing(opted_out=True)) == Suppress(SuppressionReason.opted_out, "opted_out")
    assert may_repeat(Standing(deceased=True)) == Suppress(SuppressionReason.deceased, "customer_deceased")
