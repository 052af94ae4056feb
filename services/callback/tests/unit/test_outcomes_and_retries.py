"""R28: outcomes from a fixed list, unreachable customers retried on a schedule in business days on the
tenant's calendar, then closed as unreachable; only the holder of a running lease records (R26)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hoera_callback.domain import (
    REACHED,
    AgentOutcome,
    Outcome,
    QueueEntry,
    QueueRules,
    Status,
    callback_due_at,
    check_may_claim,
    check_may_record,
    decide_outcome,
    next_attempt_at,
    queue_problems,
    retry_schedule,
)
from hoera_events.callbacks import CallbackOutcome
from hoera_events.organisation import CalendarRules
from hoera_kit.calendar import BusinessCalendar, Span
from hoera_kit.refusals import Conflict, Invalid
from hypothesis import given, settings
from hypothesis import strategies as st

BRUSSELS = ZoneInfo("Europe/Brussels")
CALENDAR = BusinessCalendar(CalendarRules())  # Belgium's public holidays, 08:00-18:00 on weekdays
NOW = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)

spans = st.one_of(
    st.integers(1, 5).map(Span.days),
    st.integers(1, 3 * 86400).map(lambda s: Span(seconds=s)),
)
moments = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2031, 12, 31), timezones=st.just(UTC)
)
calendars = st.builds(
    lambda workdays, closed: BusinessCalendar(CalendarRules(workdays=sorted(workdays), closed_days=closed)),
    st.frozensets(st.integers(1, 7), min_size=1),
    st.lists(st.dates(min_value=date(2024, 1, 1), max_value=date(2032, 3, 1)), max_size=20),
)


@settings(deadline=None)  # a calendar loads its country's holidays on first use
@given(moments, spans, calendars)
def test_a_lead_time_or_a_wait_always_lands_later_and_business_days_land_in_business_hours(
    start: datetime, span: Span, calendar: BusinessCalendar
) -> None:
    for rule in (callback_due_at, next_attempt_at):
        end = rule(calendar, start, span)
        assert end > start
        if span.business_days:
            assert calendar.is_business_day(calendar.local_date(end))
            assert (
                calendar.opening(calendar.local_date(end))
                <= end
                <= calendar.closing(calendar.local_date(end))
            )


@given(moments, moments, spans)
def test_a_later_request_is_never_due_sooner(first: datetime, second: datetime, span: Span) -> None:
    early, late = sorted((first, second))
    assert callback_due_at(CALENDAR, early, span) <= callback_due_at(CALENDAR, late, span)


def test_one_business_day_from_friday_afternoon_is_monday_afternoon_and_skips_easter_monday() -> None:
    friday = datetime(2025, 3, 7, 16, 0, tzinfo=BRUSSELS)
    assert callback_due_at(CALENDAR, friday, Span.days(1)) == datetime(2025, 3, 10, 16, 0, tzinfo=BRUSSELS)
    before_easter = datetime(2025, 4, 18, 9, 0, tzinfo=BRUSSELS)  # Friday before Easter Monday
    assert callback_due_at(CALENDAR, before_easter, Span.days(1)) == datetime(
        2025, 4, 22, 9, 0, tzinfo=BRUSSELS
    )


def test_a_request_on_friday_evening_counts_from_monday_morning() -> None:
    friday_evening = datetime(2025, 3, 7, 20, 30, tzinfo=BRUSSELS)
    monday_morning = datetime(2025, 3, 10, 8, 0, tzinfo=BRUSSELS)
    assert callback_due_at(CALENDAR, friday_evening, Span.days(1)) == callback_due_at(
        CALENDAR, monday_morning, Span.days(1)
    )


@given(
    st.lists(spans, max_size=6),
    st.sampled_from([o for o in AgentOutcome if o is not AgentOutcome.not_reachable]),
    moments,
)
def test_not_reachable_is_retried_once_per_planned_wait_then_closed_as_unreachable(
    delays: list[Span], final: AgentOutcome, at: datetime
) -> None:
    retry = QueueRules(lead_time=Span.days(1), lease_seconds=60, retries=delays)
    attempt, moment, decisions = 1, at, []
    while True:
        decision = decide_outcome(
            AgentOutcome.not_reachable, attempt=attempt, at=moment, retries=retry.retries, calendar=CALENDAR
        )
        decisions.append(decision)
        if decision.final:
            break
        assert decision.retry_at is not None and decision.retry_at > moment
        moment, attempt = decision.retry_at, attempt + 1
    assert attempt == retry.max_attempts == len(delays) + 1
    assert [d.outcome for d in decisions] == [Outcome.not_reachable] * len(delays) + [
        Outcome.unreachable_final
    ]
    assert decisions[-1].retry_at is None
    # Any other outcome closes the callback at once, whatever attempt it is.
    for n in range(1, retry.max_attempts + 1):
        other = decide_outcome(
            final, attempt=n, at=at, retries=retry.retries, calendar=CALENDAR, note="said so"
        )
        assert other.final and other.retry_at is None and other.outcome.value == final.value


@given(st.lists(spans, min_size=1, max_size=6), moments)
def test_the_retry_schedule_is_increasing_and_has_one_time_per_attempt(
    delays: list[Span], at: datetime
) -> None:
    times = retry_schedule(at, delays, CALENDAR)
    assert len(times) == len(delays) + 1
    assert times == sorted(times) and len(set(times)) == len(times)


def test_three_attempts_over_two_business_days_from_the_dutch_template() -> None:
    thursday = datetime(2025, 3, 6, 11, 0, tzinfo=BRUSSELS)
    assert retry_schedule(thursday, [Span.days(1), Span.days(1)], CALENDAR) == [
        thursday,
        datetime(2025, 3, 7, 11, 0, tzinfo=BRUSSELS),
        datetime(2025, 3, 10, 11, 0, tzinfo=BRUSSELS),
    ]


def test_other_needs_a_note() -> None:
    with pytest.raises(Invalid) as refused:
        decide_outcome(AgentOutcome.other, attempt=1, at=NOW, retries=[], calendar=CALENDAR, note="  ")
    assert (refused.value.status, refused.value.field) == (422, "note")


def test_a_lead_time_or_a_wait_of_nothing_is_refused_naming_it() -> None:
    rules = QueueRules(lead_time=Span(), lease_seconds=60, retries=[Span.days(1), Span(seconds=0)])
    assert queue_problems(rules) == [
        ("lead_time", "give business_days or seconds above zero"),
        ("retries.1", "give business_days or seconds above zero"),
    ]


def test_the_outcomes_are_the_event_contracts_outcomes() -> None:
    assert {o.value for o in Outcome} == {o.value for o in CallbackOutcome}
    assert {o.value for o in AgentOutcome} == {o.value for o in CallbackOutcome} - {"unreachable_final"}
    assert Outcome.not_reachable not in REACHED and Outcome.unreachable_final not in REACHED


def _held(by: str, *, lease_s: int) -> QueueEntry:
    return QueueEntry(
        callback_id=uuid.uuid4(),
        status=Status.claimed,
        score=0,
        requested_at=NOW - timedelta(hours=1),
        claimed_by=by,
        claim_id=uuid.uuid4(),
        lease_until=NOW + timedelta(seconds=lease_s),
    )


def test_only_the_holder_of_a_running_lease_records_an_outcome() -> None:
    held = _held("agent-a", lease_s=60)
    check_may_record(held, "agent-a", held.claim_id, NOW)
    refusals: dict[str, Callable[[], None]] = {
        "another agent holds this callback": lambda: check_may_record(held, "agent-b", None, NOW),
        "your claim on this callback lapsed; take it again": lambda: check_may_record(
            _held("agent-a", lease_s=-1), "agent-a", None, NOW
        ),
        "this claim was replaced by a newer one": lambda: check_may_record(
            held, "agent-a", uuid.uuid4(), NOW
        ),
        "claim this callback before recording an outcome": lambda: check_may_record(
            held.model_copy(update={"status": Status.queued, "claimed_by": None}), "agent-a", None, NOW
        ),
    }
    for message, attempt in refusals.items():
        with pytest.raises(Conflict) as refused:
            attempt()
        assert (refused.value.status, refused.value.message) == (409, message)


def test_a_callback_held_by_another_agent_cannot_be_claimed_until_the_lease_lapses() -> None:
    with pytest.raises(Conflict):
        check_may_claim(_held("agent-a", lease_s=60), "agent-b", NOW)
    check_may_claim(_held("agent-a", lease_s=-1), "agent-b", NOW)
    done = _held("agent-a", lease_s=60).model_copy(update={"status": Status.done})
    with pytest.raises(Conflict) as refused:
        check_may_claim(done, "agent-a", NOW)
    assert refused.value.message == "this callback is done, not in the queue"
