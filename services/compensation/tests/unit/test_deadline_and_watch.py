"""R14's approval deadline in business days, and R15's flag episodes and their clearing by two persons."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hoera_compensation import domain
from hoera_compensation.domain import AbuseWatchRule, ApprovalDeadline, Episode, Refused, Watch, Why
from hoera_events.common import Money
from hypothesis import given
from hypothesis import strategies as st

BRUSSELS = ZoneInfo("Europe/Brussels")


def test_two_business_days_from_a_thursday_is_the_monday_at_the_same_time() -> None:
    thursday = datetime(2025, 3, 6, 14, 30, tzinfo=BRUSSELS)
    due = domain.approval_deadline(thursday, ApprovalDeadline(business_days=2), BRUSSELS)
    assert due == datetime(2025, 3, 10, 14, 30, tzinfo=BRUSSELS)


def test_a_request_on_saturday_counts_from_monday() -> None:
    saturday = datetime(2025, 3, 8, 10, 0, tzinfo=BRUSSELS)
    due = domain.approval_deadline(saturday, ApprovalDeadline(business_days=1), BRUSSELS)
    assert due == datetime(2025, 3, 10, 10, 0, tzinfo=BRUSSELS)


@given(
    start=st.datetimes(
        min_value=datetime(2024, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
    ),
    days=st.integers(1, 30),
)
def test_a_deadline_in_business_days_lands_on_a_weekday_after_at_least_that_many_days(
    start: datetime, days: int
) -> None:
    due = domain.approval_deadline(start, ApprovalDeadline(business_days=days), BRUSSELS)
    assert due.astimezone(BRUSSELS).weekday() < 5
    assert due - start >= timedelta(days=days) - timedelta(hours=1)  # a DST change may take an hour
    assert due - start <= timedelta(days=days + days // 5 * 2 + 2, hours=1)


def test_a_deadline_in_seconds_is_for_tests_and_demos() -> None:
    now = datetime(2025, 3, 8, 10, 0, tzinfo=UTC)
    assert domain.approval_deadline(now, ApprovalDeadline(seconds=5), BRUSSELS) == now + timedelta(seconds=5)


def watch(n: int, open_since: datetime | None = None) -> Watch:
    return Watch(
        financial_compensations=n, total=Money.eur(100 * n) if n else None, open_flag_since=open_since
    )


def test_the_watch_flags_at_the_threshold_once_per_episode() -> None:
    rule = AbuseWatchRule(threshold=2, window_days=365)
    since = datetime(2025, 3, 3, tzinfo=UTC)
    assert domain.next_episode(watch(1), rule) is Episode.keep
    assert domain.next_episode(watch(2), rule) is Episode.start
    assert domain.next_episode(watch(3, since), rule) is Episode.keep
    assert domain.next_episode(watch(1, since), rule) is Episode.end
    assert domain.is_flagged(watch(2, since), rule)
    assert not domain.is_flagged(watch(1, since), rule)
    assert not domain.is_flagged(watch(5), rule)


@given(threshold=st.integers(1, 20), n=st.integers(0, 40), open_flag=st.booleans())
def test_an_episode_starts_only_at_or_above_the_threshold_without_an_open_flag(
    threshold: int, n: int, open_flag: bool
) -> None:
    rule = AbuseWatchRule(threshold=threshold)
    w = watch(n, datetime(2025, 1, 1, tzinfo=UTC) if open_flag else None)
    episode = domain.next_episode(w, rule)
    assert (episode is Episode.start) == (n >= threshold and not open_flag)
    assert (episode is Episode.end) == (n < threshold and open_flag)


def test_the_clearing_binds_its_two_persons_only_while_it_is_all_that_keeps_the_customer_unflagged() -> None:
    rule = AbuseWatchRule(threshold=2)
    both = frozenset({"sup-sara", "appr-eva"})
    cleared = replace(watch(2), cleared_by=both)
    assert domain.clearers(cleared, rule) == both
    # Too few compensations left in the window: the customer would not be flagged anyway.
    assert domain.clearers(replace(cleared, financial_compensations=1), rule) == frozenset()
    # A new episode is open: its approvers decide, whoever cleared the last one.
    since = datetime(2025, 3, 3, tzinfo=UTC)
    assert domain.clearers(replace(cleared, open_flag_since=since), rule) == frozenset()


def test_a_flag_is_cleared_by_an_approver_other_than_the_one_who_asked() -> None:
    domain.check_clearing_request(None)
    with pytest.raises(Refused) as twice:
        domain.check_clearing_request("sup-sara")
    assert twice.value.why is Why.conflict
    with pytest.raises(Refused) as unasked:
        domain.check_clearing_confirmer("appr-eva", None)
    assert unasked.value.why is Why.conflict
    with pytest.raises(Refused) as own:
        domain.check_clearing_confirmer("appr-eva", "appr-eva")
    assert own.value.why is Why.forbidden
    domain.check_clearing_confirmer("appr-eva", "sup-sara")
