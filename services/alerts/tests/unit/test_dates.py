"""R4, R25: the alerts' dates, every one through the tenant's business calendar (hoera_kit.calendar):
when management's digest goes out, and which days the dashboard's trend shows."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from hoera_alerts.domain import DashboardRule, NoticeRule, dashboard_window, digest_due
from hoera_events.organisation import CalendarRules
from hoera_kit.calendar import BusinessCalendar, Span
from hypothesis import given
from hypothesis import strategies as st

BRUSSELS = BusinessCalendar(CalendarRules())  # Mon-Fri 08:00-18:00, Belgian public holidays
TOKYO = BusinessCalendar(CalendarRules(timezone="Asia/Tokyo", holidays_country="JP"))
CALENDARS = st.sampled_from([BRUSSELS, TOKYO])
MOMENTS = st.datetimes(datetime(2025, 1, 1), datetime(2030, 12, 31), timezones=st.just(UTC))
SPANS = st.one_of(
    st.builds(Span, seconds=st.integers(1, 10 * 86_400)),
    st.builds(Span, business_days=st.integers(1, 20)),
)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), BRUSSELS.zone).astimezone(UTC)


def test_a_digest_goes_out_its_period_after_the_first_notice_within_office_hours() -> None:
    hourly = NoticeRule(management="digest", digest_every=Span(seconds=3600))
    tuesday = date(2026, 3, 10)
    assert digest_due(BRUSSELS, at(tuesday, 10, 15), hourly) == at(tuesday, 11, 15)


def test_the_notices_of_a_night_wait_for_the_morning() -> None:
    hourly = NoticeRule(management="digest", digest_every=Span(seconds=3600))
    assert digest_due(BRUSSELS, at(date(2026, 3, 10), 17, 30), hourly) == at(date(2026, 3, 11), 8)
    # Friday evening: Monday morning.
    assert digest_due(BRUSSELS, at(date(2026, 3, 13), 21), hourly) == at(date(2026, 3, 16), 8)


def test_a_daily_digest_skips_a_public_holiday() -> None:
    daily = NoticeRule(management="digest", digest_every=Span(business_days=1))
    # Easter Monday 2026 is 6 April: a notice on Friday the 3rd at 14:00 is in Tuesday's digest.
    assert digest_due(BRUSSELS, at(date(2026, 4, 3), 14), daily) == at(date(2026, 4, 7), 14)


@given(CALENDARS, MOMENTS, SPANS)
def test_a_digest_is_never_early_and_always_in_business_hours(
    calendar: BusinessCalendar, start: datetime, every: Span
) -> None:
    due = digest_due(calendar, start, NoticeRule(management="digest", digest_every=every))
    assert due >= start + timedelta(seconds=every.seconds, days=every.business_days)
    assert calendar.in_business_hours(due)


@given(CALENDARS, MOMENTS, st.integers(0, 5 * 86_400), SPANS)
def test_a_later_first_notice_never_gives_an_earlier_digest(
    calendar: BusinessCalendar, start: datetime, later_s: int, every: Span
) -> None:
    rule = NoticeRule(management="digest", digest_every=every)
    assert digest_due(calendar, start, rule) <= digest_due(calendar, start + timedelta(seconds=later_s), rule)


def test_the_trend_ends_today_in_the_tenants_time_zone() -> None:
    late = datetime(2026, 7, 7, 22, 30, tzinfo=UTC)  # 00:30 on the 8th in Brussels
    window = dashboard_window(BRUSSELS, late, DashboardRule(period_days=30, trend_days=3))
    assert window.days == (date(2026, 7, 6), date(2026, 7, 7), date(2026, 7, 8))
    assert window.trend_since == datetime(2026, 7, 5, 22, 0, tzinfo=UTC)  # midnight in Brussels
    assert window.since == late - timedelta(days=30)


@given(CALENDARS, MOMENTS, st.integers(1, 366), st.integers(2, 120))
def test_the_trend_shows_whole_consecutive_local_days_up_to_today(
    calendar: BusinessCalendar, now: datetime, period: int, trend: int
) -> None:
    window = dashboard_window(calendar, now, DashboardRule(period_days=period, trend_days=trend))
    assert len(window.days) == trend
    assert window.days[-1] == calendar.local_date(now)
    assert all(b - a == timedelta(days=1) for a, b in zip(window.days, window.days[1:], strict=False))
    local_start = window.trend_since.astimezone(calendar.zone)
    assert (local_start.date(), local_start.time()) == (window.days[0], time(0))
    assert window.trend_since <= now and window.since <= now
