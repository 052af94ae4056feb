"""One calendar and one deputy rule across the services.

Every service computes its dates with hoera_kit.calendar and chooses a stand-in for an absent
supervisor with hoera_kit.organisation.stand_in. These properties call each service's own named date
rule (its domain.py) on random tenant calendars, starts and spans, and check that all of them agree with
the kit — and so with each other: one customer is never promised different dates by different services.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace

from hoera_alerts import domain as alerts
from hoera_callback import domain as callback
from hoera_compensation import domain as compensation
from hoera_events.organisation import Absence, CalendarRules, Organisation, Person, Team
from hoera_intake import domain as intake
from hoera_kit.calendar import BusinessCalendar, Span
from hoera_kit.organisation import stand_in
from hoera_survey import domain as survey
from hypothesis import given, settings
from hypothesis import strategies as st

calendars = st.builds(
    lambda workdays, opens, hours, country, closed: BusinessCalendar(
        CalendarRules(
            timezone="Europe/Brussels",
            workdays=sorted(workdays),
            opens=time(opens),
            closes=time(min(opens + hours, 23)),
            holidays_country=country,
            closed_days=closed,
        )
    ),
    st.sets(st.integers(1, 7), min_size=1),
    st.integers(6, 11),
    st.integers(4, 12),
    st.sampled_from(["BE", "NL", "FR", None]),
    st.lists(st.dates(min_value=date(2026, 1, 1), max_value=date(2028, 12, 31)), max_size=10),
)
starts = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 6, 30), timezones=st.just(UTC))
days = st.integers(min_value=1, max_value=20)


@settings(max_examples=200, deadline=None)
@given(calendar=calendars, start=starts, n=days)
def test_every_service_computes_the_same_due_moment_for_the_same_tenant_start_and_span(
    calendar: BusinessCalendar, start: datetime, n: int
) -> None:
    span = Span.days(n)
    expected = calendar.after(start, span)
    answers = {
        "callback lead time": callback.callback_due_at(calendar, start, span),
        "callback retry": callback.next_attempt_at(calendar, start, span),
        "compensation approval deadline": compensation.approval_deadline(
            calendar, start, compensation.ApprovalDeadline(business_days=min(n, 30))
        ),
        "alerts digest": alerts.digest_due(calendar, start, SimpleNamespace(digest_every=span)),
    }
    assert answers == dict.fromkeys(answers, expected)
    # The promised date (intake, R2) and a survey link's last day fall on that moment's date.
    assert intake.promised_date(calendar, start, n) == calendar.local_date(expected)
    link = SimpleNamespace(link_valid_for=span, delay_minutes=0, send_window=None)
    assert survey.link_expiry(calendar, start, link) == calendar.end_of_day(calendar.local_date(expected))


@settings(max_examples=200, deadline=None)
@given(calendar=calendars, start=starts, n=days, later=st.integers(0, 7 * 86400))
def test_a_later_start_is_never_due_sooner_in_any_service(
    calendar: BusinessCalendar, start: datetime, n: int, later: int
) -> None:
    after = start + timedelta(seconds=later)
    span = Span.days(n)
    assert callback.callback_due_at(calendar, start, span) <= callback.callback_due_at(calendar, after, span)
    assert intake.promised_date(calendar, start, n) <= intake.promised_date(calendar, after, n)


def test_a_complaint_received_on_friday_evening_is_not_due_before_one_of_monday_morning() -> None:
    calendar = BusinessCalendar(CalendarRules())
    zone = calendar.zone
    friday_evening = datetime.combine(date(2026, 12, 4), time(18, 0), zone)
    monday_morning = datetime.combine(date(2026, 12, 7), time(9, 0), zone)
    assert intake.promised_date(calendar, friday_evening, 2) >= intake.promised_date(
        calendar, monday_morning, 2
    )
    assert callback.callback_due_at(calendar, friday_evening, Span.days(2)) <= callback.callback_due_at(
        calendar, monday_morning, Span.days(2)
    )


people = [f"p{i}" for i in range(6)]


@st.composite
def organisations(draw: st.DrawFn) -> tuple[Organisation, date]:
    supervisor, *rest = draw(st.permutations(people))
    deputies = rest[: draw(st.integers(0, 3))]
    management = [p for p in rest if p not in deputies][:1]
    day = date(2026, 12, 7)
    away = draw(st.sets(st.sampled_from(people)))
    org = Organisation(
        people=[Person(id=p, name=p, email=f"{p}@x.test", language="nl") for p in people],
        teams=[Team(id="team-1", name="Team 1", language="nl", supervisor=supervisor, deputies=deputies)],
        management=management,
        absences=[Absence(person=p, starts_on=day, ends_on=day) for p in away],
    )
    return org, day


@settings(max_examples=200, deadline=None)
@given(case=organisations())
def test_the_same_stand_in_is_chosen_wherever_a_supervisor_is_absent(case: tuple[Organisation, date]) -> None:
    org, day = case
    chosen = stand_in(org, "team-1", day)
    mailed = alerts.team_recipient(org, "team-1", day)
    assert mailed is not None
    # Alerts mails whoever stands in; when nobody is there, the supervisor still gets it in their inbox.
    assert mailed.person == (chosen or next(p for p in org.people if p.id == org.teams[0].supervisor))
    assert intake.escalation_target(org, "team-1", day) == chosen
