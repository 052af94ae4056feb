"""R3: the SLA plan (reminder before escalation before breach, the clock standing still while the
complaint waits on the customer), who is escalated to or stands in; R10: who a message goes to."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hoera_intake import domain, rules
from hoera_intake.domain import Person, Sla, SlaUnit
from hypothesis import given
from hypothesis import strategies as st

BE = rules.CalendarRules.model_validate(rules.seed_document("calendar")).calendar()
FIVE_DAYS = Sla(SlaUnit.business_days, 5, 1)


def brussels(y: int, m: int, d: int, h: int = 10, minute: int = 0) -> datetime:
    return datetime(y, m, d, h, minute, tzinfo=BE.zone)


def test_a_complaint_on_tuesday_is_promised_for_next_tuesday_with_reminder_and_escalation() -> None:
    plan = domain.plan_sla(FIVE_DAYS, brussels(2026, 3, 3), BE)
    assert plan.due_date == date(2026, 3, 10)
    assert plan.reminder_at == brussels(2026, 3, 9, 8)
    assert plan.escalate_at == brussels(2026, 3, 10, 8)
    assert plan.breach_at == brussels(2026, 3, 11, 0)


@given(
    raised=st.datetimes(
        min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 1), timezones=st.just(UTC)
    ),
    days=st.integers(min_value=0, max_value=30),
    lead=st.integers(min_value=0, max_value=5),
)
def test_the_reminder_comes_before_the_escalation_and_both_in_business_hours(
    raised: datetime, days: int, lead: int
) -> None:
    plan = domain.plan_sla(Sla(SlaUnit.business_days, days, lead), raised, BE)
    assert BE.is_business_day(plan.due_date)
    assert BE.in_business_hours(plan.escalate_at)
    assert plan.escalate_at >= raised
    assert plan.breach_at == BE.end_of_day(plan.due_date)
    if plan.reminder_at is not None:
        assert raised <= plan.reminder_at < plan.escalate_at
        assert BE.in_business_hours(plan.reminder_at)


def test_waiting_on_the_customer_for_two_business_days_moves_the_promise_by_two() -> None:
    plan = domain.plan_sla(FIVE_DAYS, brussels(2026, 3, 3), BE)
    resumed = domain.resume_plan(plan, brussels(2026, 3, 4, 9), brussels(2026, 3, 6, 9), BE)
    assert resumed.due_date == date(2026, 3, 12)


def test_waiting_within_one_day_keeps_the_promised_date() -> None:
    plan = domain.plan_sla(FIVE_DAYS, brussels(2026, 3, 3), BE)
    resumed = domain.resume_plan(plan, brussels(2026, 3, 4, 9), brussels(2026, 3, 4, 16), BE)
    assert resumed.due_date == plan.due_date


def test_a_seconds_rule_breaches_after_that_many_seconds_and_shifts_by_the_wait() -> None:
    always = domain.Calendar(workdays=frozenset(range(1, 8)), opens_minute=0, closes_minute=1440)
    raised = datetime(2026, 3, 3, 9, tzinfo=UTC)
    plan = domain.plan_sla(Sla(SlaUnit.seconds, 10, 4), raised, always)
    assert plan.breach_at == raised + timedelta(seconds=10)
    assert plan.escalate_at == plan.breach_at
    assert plan.reminder_at == raised + timedelta(seconds=6)
    resumed = domain.resume_plan(plan, raised + timedelta(seconds=2), raised + timedelta(seconds=7), always)
    assert resumed.breach_at == raised + timedelta(seconds=15)


def test_an_agreed_date_must_be_a_future_business_day() -> None:
    plan = domain.plan_sla(FIVE_DAYS, brussels(2026, 3, 3), BE)
    now = brussels(2026, 3, 4)
    for bad in (date(2026, 3, 7), date(2026, 3, 2)):  # a Saturday, the past
        try:
            domain.agreed_plan(plan, bad, now, BE)
        except domain.RuleViolation as refused:
            assert refused.field == "due_date"
        else:
            raise AssertionError(f"{bad} accepted")
    assert domain.agreed_plan(plan, date(2026, 3, 13), now, BE).due_date == date(2026, 3, 13)


def steps(plan: domain.SlaPlan, now: datetime, **done: bool) -> tuple[list[str], datetime | None]:
    flags = {"reminded": False, "escalated": False, "breached": False, **done}
    due, later = domain.sla_steps(plan, now=now, calendar=BE, **flags)
    return [s.value for s in due], later


def test_the_clock_reminds_then_escalates_then_breaches_each_once() -> None:
    plan = domain.plan_sla(FIVE_DAYS, brussels(2026, 3, 3), BE)
    assert steps(plan, brussels(2026, 3, 3, 11)) == ([], plan.reminder_at)
    assert steps(plan, brussels(2026, 3, 9, 9)) == (["reminder"], plan.escalate_at)
    assert steps(plan, brussels(2026, 3, 10, 9), reminded=True) == (["escalation"], plan.breach_at)
    assert steps(plan, brussels(2026, 3, 11, 0, 1), reminded=True, escalated=True) == (["breach"], None)
    assert steps(plan, brussels(2026, 3, 12), reminded=True, escalated=True, breached=True) == ([], None)


def test_at_night_the_breach_is_noted_but_people_are_told_in_the_morning() -> None:
    friday_night = brussels(2026, 3, 6, 22)
    plan = domain.plan_from_breach(SlaUnit.seconds, 0, friday_night, brussels(2026, 3, 6, 21), BE)
    due, later = steps(plan, brussels(2026, 3, 6, 23))
    assert due == ["breach"]
    assert later == brussels(2026, 3, 9, 8)  # the escalation waits for Monday 08:00
    # A reminder that fell due in the night is not sent at night either.
    late = domain.SlaPlan(
        SlaUnit.seconds, 1, date(2026, 3, 9), brussels(2026, 3, 9, 12), brussels(2026, 3, 9, 9), friday_night
    )
    assert steps(late, brussels(2026, 3, 7, 3)) == ([], brussels(2026, 3, 9, 8))


LEAD, DEPUTY = Person("sup-sara"), Person("sup-dirk")


def test_the_lead_is_escalated_to_unless_absent_then_the_deputy_never_everyone() -> None:
    assert domain.escalation_target(LEAD, DEPUTY, frozenset()) == LEAD
    assert domain.escalation_target(LEAD, DEPUTY, frozenset({"sup-sara"})) == DEPUTY
    assert domain.escalation_target(LEAD, DEPUTY, frozenset({"sup-sara", "sup-dirk"})) == LEAD
    assert domain.escalation_target(LEAD, None, frozenset({"sup-sara"})) == LEAD


def test_the_present_colleague_with_least_open_work_stands_in_for_an_absent_owner() -> None:
    team = [Person("agent-anna"), Person("agent-bram"), Person("agent-chris")]
    work = {"agent-bram": 7, "agent-chris": 2}
    chosen = domain.stand_in(team, frozenset({"agent-anna"}), work, exclude="agent-anna")
    assert chosen == Person("agent-chris")
    assert domain.stand_in(team, frozenset({"agent-bram", "agent-chris"}), work, exclude="agent-anna") is None


def test_absences_cover_their_first_and_last_day() -> None:
    off = [domain.Absence("agent-anna", date(2026, 3, 2), date(2026, 3, 6))]
    assert domain.absent_on(off, date(2026, 3, 2)) == {"agent-anna"}
    assert domain.absent_on(off, date(2026, 3, 6)) == {"agent-anna"}
    assert domain.absent_on(off, date(2026, 3, 7)) == frozenset()


def test_nothing_is_addressed_to_a_deceased_customer() -> None:
    to_kin = domain.address_customer(
        deceased=True, email="late@x.be", phone="+32470", prefer_sms=False, next_of_kin_email="kin@x.be"
    )
    assert (to_kin.route, to_kin.recipient, to_kin.to_next_of_kin) == (domain.Route.email, "kin@x.be", True)
    held = domain.address_customer(
        deceased=True, email="late@x.be", phone="+32470", prefer_sms=False, next_of_kin_email=None
    )
    assert held.route is domain.Route.held and held.recipient is None


def test_a_living_customer_gets_email_or_sms_where_that_is_all_or_preferred() -> None:
    assert (
        domain.address_customer(
            deceased=False, email="a@x.be", phone="+32470", prefer_sms=False, next_of_kin_email=None
        ).route
        is domain.Route.email
    )
    assert (
        domain.address_customer(
            deceased=False, email="a@x.be", phone="+32470", prefer_sms=True, next_of_kin_email=None
        ).route
        is domain.Route.sms
    )
    assert (
        domain.address_customer(
            deceased=False, email=None, phone="+32470", prefer_sms=False, next_of_kin_email=None
        ).route
        is domain.Route.sms
    )
    assert (
        domain.address_customer(
            deceased=False, email=None, phone=None, prefer_sms=False, next_of_kin_email=None
        ).route
        is domain.Route.held
    )
