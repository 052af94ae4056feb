"""The one business calendar: business hours honoured, holidays from the library, monotonic due dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from hoera_events.organisation import CalendarRules
from hoera_kit.calendar import BusinessCalendar, Span
from hypothesis import given, settings
from hypothesis import strategies as st

BRUSSELS = BusinessCalendar(CalendarRules())
moments = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2031, 12, 31), timezones=st.just(UTC)
)
spans = st.one_of(
    st.integers(min_value=0, max_value=40).map(Span.days),
    st.integers(min_value=1, max_value=10 * 86400).map(lambda s: Span(seconds=s)),
)


def _brussels(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(date(year, month, day), time(hour, minute), BRUSSELS.zone).astimezone(UTC)


def test_a_complaint_received_on_friday_evening_is_due_with_one_received_on_monday_morning() -> None:
    friday_evening = _brussels(2026, 12, 4, 18, 0)
    monday_morning = _brussels(2026, 12, 7, 9, 0)
    assert BRUSSELS.due_date(friday_evening, 2) == BRUSSELS.due_date(monday_morning, 2) == date(2026, 12, 9)
    assert BRUSSELS.after(friday_evening, Span.days(2)) <= BRUSSELS.after(monday_morning, Span.days(2))


def test_public_holidays_come_from_the_library_for_any_year_and_the_operator_can_add_and_remove() -> None:
    assert not BRUSSELS.is_business_day(date(2026, 12, 25))
    assert not BRUSSELS.is_business_day(date(2031, 7, 21)), "no list runs out"
    assert BRUSSELS.holiday_name(date(2026, 12, 25)) == "Christmas Day"
    own = BusinessCalendar(CalendarRules(closed_days=[date(2026, 12, 24)], open_days=[date(2026, 12, 25)]))
    assert not own.is_business_day(date(2026, 12, 24))
    assert own.is_business_day(date(2026, 12, 25))


@settings(max_examples=300, deadline=None)
@given(start=moments, span=spans, later=st.integers(min_value=0, max_value=20 * 86400))
def test_a_later_start_is_never_due_sooner(start: datetime, span: Span, later: int) -> None:
    assert BRUSSELS.after(start, span) <= BRUSSELS.after(start + timedelta(seconds=later), span)


@settings(max_examples=300, deadline=None)
@given(start=moments, days=st.integers(min_value=1, max_value=30))
def test_business_days_land_on_a_business_day_within_business_hours(start: datetime, days: int) -> None:
    due = BRUSSELS.after(start, Span.days(days))
    assert BRUSSELS.in_business_hours(due)
    assert BRUSSELS.business_days_between(BRUSSELS.local_date(start), BRUSSELS.local_date(due)) >= days - 1


@settings(max_examples=200, deadline=None)
@given(start=moments)
def test_outside_business_hours_the_clock_starts_at_the_next_opening(start: datetime) -> None:
    opening = BRUSSELS.next_business_moment(start)
    for n in (1, 3):
        assert BRUSSELS.after(start, Span.days(n)) == BRUSSELS.after(opening, Span.days(n))


@given(
    day=st.dates(min_value=date(2025, 1, 1), max_value=date(2031, 1, 1)),
    n=st.integers(0, 20),
    m=st.integers(0, 20),
)
def test_adding_business_days_composes(day: date, n: int, m: int) -> None:
    start = BRUSSELS.next_business_day(day)
    assert BRUSSELS.add_business_days(BRUSSELS.add_business_days(start, n), m) == BRUSSELS.add_business_days(
        start, n + m
    )
    if n:
        assert BRUSSELS.subtract_business_days(BRUSSELS.add_business_days(start, n), n) == start


def test_seconds_are_plain_elapsed_time_and_a_span_has_one_unit() -> None:
    start = _brussels(2026, 12, 5, 23, 0)  # a Saturday night
    assert BRUSSELS.after(start, Span(seconds=30)) == start + timedelta(seconds=30)
    try:
        Span(business_days=1, seconds=1)
    except ValueError:
        return
    raise AssertionError("a span with two units was accepted")
