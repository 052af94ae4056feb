"""R2: promised dates count business days on the organisation's holiday calendar (the seeded Belgian
one), across weekends, public holidays and year ends; R3: staff are notified in business hours only."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hoera_intake import rules
from hoera_intake.domain import Calendar
from hypothesis import given
from hypothesis import strategies as st

BE = rules.CalendarRules.model_validate(rules.seed_document("calendar")).calendar()
WEEKENDS_ONLY = Calendar()

days = st.dates(min_value=date(2025, 12, 1), max_value=date(2029, 1, 31))
counts = st.integers(min_value=0, max_value=120)
calendars = st.sampled_from([BE, WEEKENDS_ONLY])


@given(day=days, n=counts, calendar=calendars)
def test_the_promised_date_is_never_a_weekend_or_holiday(day: date, n: int, calendar: Calendar) -> None:
    due = calendar.add_business_days(day, n)
    assert calendar.is_business_day(due)
    assert due.isoweekday() <= 5
    assert due not in calendar.holidays
    assert due >= day


@given(day=days, n=counts, calendar=calendars)
def test_adding_n_then_n_business_days_equals_adding_2n(day: date, n: int, calendar: Calendar) -> None:
    assert calendar.add_business_days(calendar.add_business_days(day, n), n) == calendar.add_business_days(
        day, 2 * n
    )


@given(day=days, n=st.integers(min_value=1, max_value=120), calendar=calendars)
def test_n_business_days_later_lies_exactly_n_business_days_away(
    day: date, n: int, calendar: Calendar
) -> None:
    start = calendar.next_business_day(day)
    due = calendar.add_business_days(start, n)
    assert calendar.business_days_between(start, due) == n
    assert calendar.subtract_business_days(due, n) == start


@given(day=days, n=st.integers(min_value=2, max_value=60))
def test_each_more_business_day_gives_a_later_date(day: date, n: int) -> None:
    assert BE.add_business_days(day, n) > BE.add_business_days(day, n - 1) >= BE.add_business_days(day, 0)


def test_christmas_and_the_weekend_are_skipped_at_the_end_of_2026() -> None:
    # Thu 24 Dec 2026; Fri 25 Dec is Christmas, then a weekend.
    assert BE.add_business_days(date(2026, 12, 24), 1) == date(2026, 12, 28)
    assert WEEKENDS_ONLY.add_business_days(date(2026, 12, 24), 1) == date(2026, 12, 25)


def test_new_year_across_the_year_end() -> None:
    # Thu 31 Dec 2026; Fri 1 Jan 2027 is New Year's Day.
    assert BE.add_business_days(date(2026, 12, 31), 1) == date(2027, 1, 4)
    assert BE.add_business_days(date(2026, 12, 31), 5) == date(2027, 1, 8)
    # Received on a Saturday: counting starts after it.
    assert BE.add_business_days(date(2027, 1, 2), 1) == date(2027, 1, 4)


def test_the_seeded_calendar_knows_the_movable_feasts() -> None:
    assert date(2027, 3, 29) in BE.holidays  # Easter Monday 2027
    assert date(2028, 6, 5) in BE.holidays  # Whit Monday 2028
    # Wed 13 May 2026 + 1: Thu 14 May is Ascension Day.
    assert BE.add_business_days(date(2026, 5, 13), 1) == date(2026, 5, 15)
    assert len([d for d in BE.holidays if d.year == 2027]) == 10


def test_zero_business_days_is_today_or_the_next_business_day() -> None:
    assert BE.add_business_days(date(2026, 3, 4), 0) == date(2026, 3, 4)
    assert BE.add_business_days(date(2026, 3, 7), 0) == date(2026, 3, 9)


moments = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 20), timezones=st.just(UTC)
)


@given(moment=moments)
def test_staff_are_notified_only_in_business_hours_and_never_earlier(moment: datetime) -> None:
    at = BE.next_business_moment(moment)
    assert at >= moment
    assert BE.in_business_hours(at)
    local = at.astimezone(BE.zone)
    assert 8 <= local.hour < 18
    assert at - moment < timedelta(days=6)


def test_a_friday_evening_escalation_waits_for_monday_morning() -> None:
    friday_evening = datetime(2026, 3, 6, 19, 0, tzinfo=BE.zone)
    monday = BE.next_business_moment(friday_evening).astimezone(BE.zone)
    assert (monday.date(), monday.hour, monday.minute) == (date(2026, 3, 9), 8, 0)


def test_a_calendar_open_day_and_night_notifies_at_once() -> None:
    always = Calendar(workdays=frozenset(range(1, 8)), opens_minute=0, closes_minute=24 * 60)
    midnight = datetime(2026, 12, 25, 0, 0, 30, tzinfo=UTC)
    assert always.next_business_moment(midnight) == midnight
