"""R17 on the tenant's business calendar: when an invitation goes out (the delay, then the send window)
and until when its link works; R22: which language it speaks. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hoera_events.common import Language
from hoera_events.organisation import CalendarRules
from hoera_kit.calendar import BusinessCalendar, Span
from hoera_survey.domain import (
    SendWindow,
    invitation_moment,
    link_expiry,
    link_last_day,
    survey_language,
)
from hypothesis import given, settings
from hypothesis import strategies as st

BRUSSELS = ZoneInfo("Europe/Brussels")
CALENDAR = BusinessCalendar(CalendarRules())  # Brussels, Monday to Friday, Belgian public holidays
EVENINGS = SendWindow(opens=time(8), closes=time(21))
OFFICE_DAYS = SendWindow(opens=time(9), closes=time(20), business_days_only=True)
FIVE_DAYS = Span(business_days=5)


@dataclass(frozen=True)
class Rule:
    delay_minutes: int = 10
    send_window: SendWindow | None = EVENINGS
    link_valid_for: Span = FIVE_DAYS


def local(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BRUSSELS).astimezone(UTC)


moments = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)
windows = st.builds(
    lambda opens, hours, business: SendWindow(
        opens=time(opens), closes=time(min(opens + hours, 23), 59), business_days_only=business
    ),
    st.integers(4, 20),  # not in the night hour a change of the clocks skips or repeats
    st.integers(1, 12),
    st.booleans(),
)
rules = st.builds(Rule, st.integers(0, 7 * 24 * 60), st.none() | windows)


def test_a_contact_in_the_afternoon_is_surveyed_after_the_delay() -> None:
    assert invitation_moment(CALENDAR, local(2026, 3, 4, 14, 0), Rule()) == local(2026, 3, 4, 14, 10)


def test_a_contact_late_in_the_evening_is_surveyed_the_next_morning() -> None:
    assert invitation_moment(CALENDAR, local(2026, 3, 4, 20, 55), Rule()) == local(2026, 3, 5, 8, 0)


def test_without_a_window_an_invitation_goes_out_at_any_hour() -> None:
    rule = Rule(delay_minutes=0, send_window=None)
    assert invitation_moment(CALENDAR, local(2026, 3, 4, 3, 0), rule) == local(2026, 3, 4, 3, 0)


def test_office_days_only_waits_over_the_weekend_and_a_public_holiday() -> None:
    friday_evening = local(2026, 11, 6, 19, 55)  # Wednesday 11 November is Armistice Day
    rule = Rule(delay_minutes=15, send_window=OFFICE_DAYS)
    assert invitation_moment(CALENDAR, friday_evening, rule) == local(2026, 11, 9, 9, 0)
    tuesday_night = local(2026, 11, 10, 22, 0)
    assert invitation_moment(CALENDAR, tuesday_night, rule) == local(2026, 11, 12, 9, 0)


def test_the_window_is_the_tenants_wall_clock_across_a_change_to_summer_time() -> None:
    saturday_night = local(2026, 3, 28, 23, 30)  # the clocks go forward that night
    assert invitation_moment(CALENDAR, saturday_night, Rule()) == datetime(2026, 3, 29, 6, 0, tzinfo=UTC)


def test_the_window_follows_the_tenants_time_zone() -> None:
    lisbon = BusinessCalendar(CalendarRules(timezone="Europe/Lisbon", holidays_country="PT"))
    start = datetime(2026, 3, 4, 7, 30, tzinfo=UTC)  # 08:30 in Brussels, 07:30 in Lisbon
    assert invitation_moment(CALENDAR, start, Rule(delay_minutes=0)) == start
    assert invitation_moment(lisbon, start, Rule(delay_minutes=0)) == datetime(2026, 3, 4, 8, 0, tzinfo=UTC)


@settings(max_examples=300, deadline=None)  # the holiday tables of a new year load once
@given(moments, rules)
def test_an_invitation_never_goes_out_before_the_delay_and_only_inside_its_window(
    start: datetime, rule: Rule
) -> None:
    moment = invitation_moment(CALENDAR, start, rule)
    earliest = start + timedelta(minutes=rule.delay_minutes)
    assert moment >= earliest
    window = rule.send_window
    if window is None:
        assert moment == earliest
        return
    wall = moment.astimezone(BRUSSELS)
    assert window.opens <= wall.time() < window.closes
    if window.business_days_only:
        assert CALENDAR.is_business_day(wall.date())
    if moment > earliest:  # it waited: for the window's opening, never longer
        assert wall.time() == window.opens


@settings(max_examples=200, deadline=None)
@given(moments, st.integers(0, 3 * 24 * 3600), rules)
def test_a_later_contact_is_never_invited_sooner(start: datetime, later_by: int, rule: Rule) -> None:
    later = start + timedelta(seconds=later_by)
    assert invitation_moment(CALENDAR, later, rule) >= invitation_moment(CALENDAR, start, rule)


def test_a_link_works_until_the_end_of_its_last_business_day() -> None:
    friday_morning = local(2026, 3, 6, 10, 0)
    expires = link_expiry(CALENDAR, friday_morning, Rule())
    assert expires == local(2026, 3, 14, 0, 0)  # 5 business days later: Friday the 13th, to midnight
    assert link_last_day(CALENDAR, expires) == date(2026, 3, 13)


def test_a_link_span_in_seconds_still_ends_with_its_day() -> None:
    rule = Rule(link_valid_for=Span(seconds=7 * 86400))
    expires = link_expiry(CALENDAR, local(2026, 3, 6, 10, 0), rule)
    assert expires == local(2026, 3, 14, 0, 0) and link_last_day(CALENDAR, expires) == date(2026, 3, 13)


@settings(max_examples=200, deadline=None)
@given(moments, st.integers(1, 30), st.integers(0, 5 * 24 * 3600))
def test_a_link_lasts_at_least_its_span_and_a_later_one_never_ends_sooner(
    start: datetime, days: int, later_by: int
) -> None:
    rule = Rule(link_valid_for=Span(business_days=days))
    expires = link_expiry(CALENDAR, start, rule)
    assert expires > CALENDAR.after(start, rule.link_valid_for)
    assert expires.astimezone(BRUSSELS).time() == time(0)
    assert link_expiry(CALENDAR, start + timedelta(seconds=later_by), rule) >= expires


def test_the_customers_own_language_wins_then_the_contacts_then_the_organisations() -> None:
    assert survey_language("fr", Language.nl, Language.nl) is Language.fr
    assert survey_language("nl-BE", Language.fr, Language.fr) is Language.nl
    assert survey_language("de", Language.fr, Language.nl) is Language.fr
    assert survey_language(None, None, Language.fr) is Language.fr
    assert survey_language("de", None, Language.en) is Language.en
