"""R14's approval deadline on the tenant's business calendar, and R15's flag episodes and their
clearing by two persons."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hoera_compensation import domain
from hoera_compensation.domain import AbuseWatchRule, ApprovalDeadline, Episode, Watch
from hoera_events.common import Money
from hoera_events.organisation import CalendarRules
from hoera_kit.calendar import BusinessCalendar
from hoera_kit.refusals import Conflict, Forbidden
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

BRUSSELS = ZoneInfo("Europe/Brussels")
BELGIUM = BusinessCalendar(CalendarRules())
"""The default calendar: Europe/Brussels, Monday to Friday 08:00-18:00, Belgian public holidays."""


def test_two_business_days_from_a_thursday_is_the_monday_at_the_same_time() -> None:
    thursday = datetime(2025, 3, 6, 14, 30, tzinfo=BRUSSELS)
    due = domain.approval_deadline(BELGIUM, thursday, ApprovalDeadline(business_days=2))
    assert due == datetime(2025, 3, 10, 14, 30, tzinfo=BRUSSELS)


def test_a_request_on_saturday_counts_from_monday_morning() -> None:
    saturday = datetime(2025, 3, 8, 10, 0, tzinfo=BRUSSELS)
    due = domain.approval_deadline(BELGIUM, saturday, ApprovalDeadline(business_days=1))
    assert due == datetime(2025, 3, 11, 8, 0, tzinfo=BRUSSELS)


def test_a_public_holiday_of_the_tenant_s_calendar_is_no_business_day() -> None:
    # Easter Monday 2025 is 21 April: a request on Thursday the 17th is due on Tuesday the 22nd.
    thursday = datetime(2025, 4, 17, 11, 0, tzinfo=BRUSSELS)
    due = domain.approval_deadline(BELGIUM, thursday, ApprovalDeadline(business_days=2))
    assert due == datetime(2025, 4, 22, 11, 0, tzinfo=BRUSSELS)
    weekends_only = BusinessCalendar(CalendarRules(holidays_country=None))
    assert domain.approval_deadline(weekends_only, thursday, ApprovalDeadline(business_days=2)) == datetime(
        2025, 4, 21, 11, 0, tzinfo=BRUSSELS
    )


def test_a_day_the_operator_closes_is_skipped_too() -> None:
    bridge = BusinessCalendar(CalendarRules(closed_days=[date(2025, 3, 7)]))
    thursday = datetime(2025, 3, 6, 14, 30, tzinfo=BRUSSELS)
    due = domain.approval_deadline(bridge, thursday, ApprovalDeadline(business_days=1))
    assert due == datetime(2025, 3, 10, 14, 30, tzinfo=BRUSSELS)


@given(
    start=st.datetimes(
        min_value=datetime(2024, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
    ),
    days=st.integers(1, 30),
)
def test_a_deadline_in_business_days_lands_in_business_hours_after_that_many_business_days(
    start: datetime, days: int
) -> None:
    due = domain.approval_deadline(BELGIUM, start, ApprovalDeadline(business_days=days))
    day = BELGIUM.local_date(due)
    assert BELGIUM.is_business_day(day)
    assert BELGIUM.opening(day) <= due <= BELGIUM.closing(day)
    begun = BELGIUM.local_date(BELGIUM.next_business_moment(start))
    assert BELGIUM.business_days_between(begun, day) == days


@given(
    first=st.datetimes(
        min_value=datetime(2024, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
    ),
    later_by=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=20)),
)
def test_a_later_request_is_never_due_sooner(first: datetime, later_by: timedelta) -> None:
    rule = ApprovalDeadline(business_days=2)
    assert domain.approval_deadline(BELGIUM, first + later_by, rule) >= domain.approval_deadline(
        BELGIUM, first, rule
    )


def test_a_deadline_in_seconds_is_for_tests_and_demos() -> None:
    now = datetime(2025, 3, 8, 10, 0, tzinfo=UTC)
    assert domain.approval_deadline(BELGIUM, now, ApprovalDeadline(seconds=5)) == now + timedelta(seconds=5)


def test_a_deadline_gives_business_days_or_seconds_never_both_nor_neither() -> None:
    for bad in ({"business_days": 2, "seconds": 5}, {}):
        with pytest.raises(ValidationError, match="exactly one"):
            ApprovalDeadline.model_validate(bad)


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
    with pytest.raises(Conflict):
        domain.check_clearing_request("sup-sara")
    with pytest.raises(Conflict):
        domain.check_clearing_confirmer("appr-eva", None)
    with pytest.raises(Forbidden):
        domain.check_clearing_confirmer("appr-eva", "appr-eva")
    domain.check_clearing_confirmer("appr-eva", "sup-sara")


@given(days=st.integers(1, 3660), back=st.integers(0, 4000))
def test_the_watch_window_looks_back_exactly_window_days_of_elapsed_time(days: int, back: int) -> None:
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    start = domain.watch_window_start(now, AbuseWatchRule(window_days=days))
    granted = now - timedelta(days=back)
    assert (granted > start) == (back < days)
