"""R2/R3 on the tenant's business calendar (the kit's, Belgian public holidays): the promised date, the
reminder before the escalation before the breach, the clock standing still while the complaint waits
on the customer; who is escalated to or takes over an absent owner's work (the organisation); R10:
who a message goes to."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hoera_events.common import Language
from hoera_events.organisation import Absence, CalendarRules, Organisation, Person, Team
from hoera_intake import domain
from hoera_intake.domain import Agreed, Pause, Sla, SlaProgress
from hoera_kit.calendar import BusinessCalendar, Span
from hoera_kit.refusals import Refusal
from hypothesis import given
from hypothesis import strategies as st

BE = BusinessCalendar(CalendarRules())
ALWAYS = BusinessCalendar(CalendarRules(workdays=[1, 2, 3, 4, 5, 6, 7], open_all_day=True))
FIVE_DAYS = Sla(Span.days(5), Span.days(1))


def brussels(y: int, m: int, d: int, h: int = 10, minute: int = 0) -> datetime:
    return datetime(y, m, d, h, minute, tzinfo=BE.zone)


moments = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 1), timezones=st.just(UTC)
)


def test_a_complaint_on_tuesday_is_promised_for_next_tuesday_with_reminder_and_escalation() -> None:
    plan = domain.plan_sla(BE, brussels(2026, 3, 3), FIVE_DAYS)
    assert plan.due_date == date(2026, 3, 10)
    assert plan.reminder_at == brussels(2026, 3, 9, 8)
    assert plan.escalate_at == brussels(2026, 3, 10, 8)
    assert plan.breach_at == brussels(2026, 3, 11, 0)


def test_a_complaint_on_friday_evening_is_never_due_sooner_than_one_on_monday_morning() -> None:
    friday_evening = domain.promised_date(BE, brussels(2026, 3, 6, 18), 5)
    monday_morning = domain.promised_date(BE, brussels(2026, 3, 9, 9), 5)
    assert friday_evening == monday_morning == date(2026, 3, 16)


def test_christmas_and_new_year_are_skipped_from_the_holidays_library() -> None:
    # Thu 24 Dec 2026 at 10:00, one business day: Fri 25 Dec is Christmas, then a weekend.
    assert domain.promised_date(BE, brussels(2026, 12, 24), 1) == date(2026, 12, 28)
    # Thu 31 Dec 2026, one business day: Fri 1 Jan 2027 is New Year's Day.
    assert domain.promised_date(BE, brussels(2026, 12, 31), 1) == date(2027, 1, 4)
    # Years no hand-typed list ever held: Easter Monday 2031 is 14 April.
    assert domain.promised_date(BE, brussels(2031, 4, 11), 1) == date(2031, 4, 15)


@given(received=moments, days=st.integers(min_value=0, max_value=30))
def test_the_promised_date_is_a_business_day_no_sooner_than_the_lead_time(
    received: datetime, days: int
) -> None:
    due = domain.promised_date(BE, received, days)
    assert BE.is_business_day(due)
    start = BE.next_business_moment(received)
    assert BE.business_days_between(BE.local_date(start), due) == days


@given(first=moments, gap=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=20)))
def test_a_later_complaint_is_never_promised_an_earlier_date(first: datetime, gap: timedelta) -> None:
    assert domain.promised_date(BE, first, 5) <= domain.promised_date(BE, first + gap, 5)


@given(
    raised=moments, days=st.integers(min_value=0, max_value=30), lead=st.integers(min_value=0, max_value=5)
)
def test_the_reminder_comes_before_the_escalation_and_both_in_business_hours(
    raised: datetime, days: int, lead: int
) -> None:
    plan = domain.plan_sla(BE, raised, Sla(Span.days(days), Span.days(lead)))
    assert BE.is_business_day(plan.due_date)
    assert BE.in_business_hours(plan.escalate_at)
    assert plan.escalate_at >= raised
    assert plan.breach_at == BE.end_of_day(plan.due_date)
    if plan.reminder_at is not None:
        assert raised <= plan.reminder_at < plan.escalate_at
        assert BE.in_business_hours(plan.reminder_at)


def test_waiting_on_the_customer_for_two_business_days_moves_the_promise_by_two() -> None:
    plan = domain.plan_sla(BE, brussels(2026, 3, 3), FIVE_DAYS)
    resumed = domain.resume_plan(BE, brussels(2026, 3, 6, 9), Pause(plan, brussels(2026, 3, 4, 9)))
    assert resumed.due_date == date(2026, 3, 12)


def test_waiting_within_one_day_keeps_the_promised_date() -> None:
    plan = domain.plan_sla(BE, brussels(2026, 3, 3), FIVE_DAYS)
    resumed = domain.resume_plan(BE, brussels(2026, 3, 4, 16), Pause(plan, brussels(2026, 3, 4, 9)))
    assert resumed.due_date == plan.due_date


def test_a_seconds_rule_breaches_after_that_many_seconds_and_shifts_by_the_wait() -> None:
    raised = datetime(2026, 3, 3, 9, tzinfo=UTC)
    plan = domain.plan_sla(ALWAYS, raised, Sla(Span(seconds=10), Span(seconds=4)))
    assert plan.breach_at == raised + timedelta(seconds=10)
    assert plan.escalate_at == plan.breach_at
    assert plan.reminder_at == raised + timedelta(seconds=6)
    resumed = domain.resume_plan(
        ALWAYS, raised + timedelta(seconds=7), Pause(plan, raised + timedelta(seconds=2))
    )
    assert resumed.breach_at == raised + timedelta(seconds=15)


def test_an_agreed_date_must_be_a_future_business_day() -> None:
    plan = domain.plan_sla(BE, brussels(2026, 3, 3), FIVE_DAYS)
    now = brussels(2026, 3, 4)
    for bad in (date(2026, 3, 7), date(2026, 3, 2), date(2026, 4, 6)):  # a Saturday, the past, Easter Monday
        with pytest.raises(Refusal) as refused:
            domain.agreed_plan(BE, now, Agreed(plan, bad))
        assert (refused.value.status, refused.value.field) == (422, "due_date")
    assert domain.agreed_plan(BE, now, Agreed(plan, date(2026, 3, 13))).due_date == date(2026, 3, 13)


def steps(plan: domain.SlaPlan, now: datetime, **done: bool) -> tuple[list[str], datetime | None]:
    due, later = domain.sla_steps(BE, now, SlaProgress(plan, **done))
    return [s.value for s in due], later


def test_the_clock_reminds_then_escalates_then_breaches_each_once() -> None:
    plan = domain.plan_sla(BE, brussels(2026, 3, 3), FIVE_DAYS)
    assert steps(plan, brussels(2026, 3, 3, 11)) == ([], plan.reminder_at)
    assert steps(plan, brussels(2026, 3, 9, 9)) == (["reminder"], plan.escalate_at)
    assert steps(plan, brussels(2026, 3, 10, 9), reminded=True) == (["escalation"], plan.breach_at)
    assert steps(plan, brussels(2026, 3, 11, 0, 1), reminded=True, escalated=True) == (["breach"], None)
    assert steps(plan, brussels(2026, 3, 12), reminded=True, escalated=True, breached=True) == ([], None)


def test_at_night_the_breach_is_noted_but_people_are_told_in_the_morning() -> None:
    plan = domain.plan_sla(BE, brussels(2026, 3, 6, 21, 59), Sla(Span(seconds=60), Span()))
    due, later = steps(plan, brussels(2026, 3, 6, 23))
    assert due == ["breach"]
    assert later == brussels(2026, 3, 9, 8)  # the escalation waits for Monday 08:00


# ---- the organisation (R3) --------------------------------------------------------------------------


def person(pid: str) -> Person:
    return Person(id=pid, name=pid, email=f"{pid}@staff.test", language=Language.nl)


def organisation(*absent: str, day: date = date(2026, 3, 4)) -> Organisation:
    people = ["sup-sara", "sup-dirk", "sup-els", "mgmt-lena", "agent-anna", "agent-bram", "agent-chris"]
    return Organisation(
        people=[person(p) for p in people],
        teams=[
            Team(
                id="team-nl-1",
                name="NL 1",
                language=Language.nl,
                supervisor="sup-sara",
                deputies=["sup-dirk", "sup-els"],
                members=["agent-anna", "agent-bram", "agent-chris"],
            )
        ],
        management=["mgmt-lena"],
        absences=[Absence(person=p, starts_on=day, ends_on=day) for p in absent],
    )


DAY = date(2026, 3, 4)


def target(org: Organisation, team: str | None, day: date = DAY) -> str | None:
    found = domain.escalation_target(org, team, day)
    return found.id if found is not None else None


def test_the_supervisor_is_escalated_to_else_the_first_deputy_there_else_management() -> None:
    assert target(organisation(), "team-nl-1") == "sup-sara"
    assert target(organisation("sup-sara"), "team-nl-1") == "sup-dirk"
    assert target(organisation("sup-sara", "sup-dirk"), "team-nl-1") == "sup-els"
    assert target(organisation("sup-sara", "sup-dirk", "sup-els"), "team-nl-1") == "mgmt-lena"
    assert target(organisation("sup-sara", "sup-dirk", "sup-els", "mgmt-lena"), "team-nl-1") is None
    assert target(organisation("sup-sara"), "team-nl-1", DAY + timedelta(days=1)) == "sup-sara"
    assert target(organisation(), None) is None


def test_the_present_colleague_with_least_open_work_takes_over_an_absent_owner() -> None:
    work = {"agent-bram": 7, "agent-chris": 2}
    assert (
        domain.colleague_for(organisation("agent-anna"), "team-nl-1", "agent-anna", DAY, work)
        == "agent-chris"
    )
    nobody = organisation("agent-anna", "agent-bram", "agent-chris")
    assert domain.colleague_for(nobody, "team-nl-1", "agent-anna", DAY, work) is None
    assert domain.colleague_for(organisation(), "team-xx-9", "agent-anna", DAY, work) is None


def test_a_complaint_without_a_team_goes_to_the_first_team_speaking_its_language() -> None:
    org = organisation().model_copy(
        update={
            "teams": [
                *organisation().teams,
                Team(id="team-fr-1", name="FR 1", language=Language.fr, supervisor="sup-els"),
            ]
        }
    )
    assert domain.team_for(org, None, None, "fr") == "team-fr-1"
    assert domain.team_for(org, None, None, "en") == "team-nl-1"
    assert domain.team_for(org, None, "team-fr-1", "nl") == "team-fr-1"
    assert domain.team_for(org, "team-nl-1", "team-fr-1", "fr") == "team-nl-1"
    assert domain.team_for(Organisation(), None, None, "nl") is None


def test_the_case_owner_is_whoever_learnt_of_the_death_else_the_supervisor() -> None:
    assert domain.named_owner("agent-bram", organisation(), "team-nl-1") == "agent-bram"
    assert domain.named_owner(None, organisation(), "team-nl-1") == "sup-sara"
    assert domain.named_owner(None, organisation(), None) is None
    assert domain.people_of_team(organisation(), "team-nl-1") == {
        "sup-sara",
        "sup-dirk",
        "sup-els",
        "agent-anna",
        "agent-bram",
        "agent-chris",
    }


# ---- R10: who a message goes to ---------------------------------------------------------------------


def test_nothing_is_addressed_to_a_deceased_customer() -> None:
    to_kin = domain.address_customer(
        deceased=True, email="late@x.be", phone="+32470", prefer_sms=False, next_of_kin_email="kin@x.be"
    )
    assert (to_kin.route, to_kin.recipient, to_kin.to_next_of_kin) == (domain.Route.email, "kin@x.be", True)
    held = domain.address_customer(
        deceased=True, email="late@x.be", phone="+32470", prefer_sms=False, next_of_kin_email=None
    )
    assert held.route is domain.Route.held and held.recipient is None


@pytest.mark.parametrize(
    ("email", "phone", "prefer_sms", "route"),
    [
        ("a@x.be", "+32470", False, domain.Route.email),
        ("a@x.be", "+32470", True, domain.Route.sms),
        (None, "+32470", False, domain.Route.sms),
        (None, None, False, domain.Route.held),
    ],
)
def test_a_living_customer_gets_email_or_sms_where_that_is_all_or_preferred(
    email: str | None, phone: str | None, prefer_sms: bool, route: domain.Route
) -> None:
    found = domain.address_customer(
        deceased=False, email=email, phone=phone, prefer_sms=prefer_sms, next_of_kin_email=None
    )
    assert found.route is route


def test_opening_hours_come_from_the_calendar_rules() -> None:
    late = BusinessCalendar(CalendarRules(opens=time(9, 0), closes=time(17, 0)))
    plan = domain.plan_sla(late, brussels(2026, 3, 3), FIVE_DAYS)
    assert plan.escalate_at == brussels(2026, 3, 10, 9)
