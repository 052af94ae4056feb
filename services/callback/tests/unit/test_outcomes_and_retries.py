"""R28: outcomes from a fixed list, unreachable customers retried on a schedule in business days, then
closed as unreachable; only the holder of a running lease records (R26)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hoera_callback.domain import (
    REACHED,
    AgentOutcome,
    BusinessCalendar,
    Duration,
    InvalidInput,
    Outcome,
    QueueEntry,
    Refusal,
    RefusalReason,
    RetryRules,
    Status,
    add_duration,
    check_may_claim,
    check_may_record,
    decide_outcome,
    retry_schedule,
)
from hoera_events.callbacks import CallbackOutcome
from hypothesis import given
from hypothesis import strategies as st

BRUSSELS = ZoneInfo("Europe/Brussels")
CALENDAR = BusinessCalendar(holidays=frozenset({date(2025, 4, 21)}))  # Easter Monday
NOW = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)

durations = (
    st.tuples(st.integers(0, 5), st.integers(0, 3 * 86400))
    .filter(lambda t: t[0] or t[1])
    .map(lambda t: Duration(business_days=t[0], seconds=t[1]))
)
moments = st.datetimes(
    min_value=datetime(2024, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)
calendars = st.builds(
    BusinessCalendar,
    working_days=st.frozensets(st.integers(1, 7), min_size=1),
    holidays=st.frozensets(st.dates(min_value=date(2024, 1, 1), max_value=date(2028, 3, 1)), max_size=20),
)


@given(moments, durations, calendars)
def test_a_duration_always_lands_later_and_business_days_land_on_a_business_day(
    start: datetime, span: Duration, calendar: BusinessCalendar
) -> None:
    end = add_duration(start, span, calendar)
    assert end > start
    if span.business_days and not span.seconds:
        zone = ZoneInfo(calendar.timezone)
        day = end.astimezone(zone).date()
        assert calendar.is_business_day(day)
        between = [
            start.astimezone(zone).date() + timedelta(days=i)
            for i in range(1, (day - start.astimezone(zone).date()).days + 1)
        ]
        assert sum(calendar.is_business_day(d) for d in between) == span.business_days


def test_one_business_day_from_friday_afternoon_is_monday_afternoon_and_skips_easter_monday() -> None:
    friday = datetime(2025, 3, 7, 16, 0, tzinfo=BRUSSELS)
    assert add_duration(friday, Duration(business_days=1), CALENDAR) == datetime(
        2025, 3, 10, 16, 0, tzinfo=BRUSSELS
    )
    before_easter = datetime(2025, 4, 18, 9, 0, tzinfo=BRUSSELS)  # Friday before Easter Monday
    assert add_duration(before_easter, Duration(business_days=1), CALENDAR) == datetime(
        2025, 4, 22, 9, 0, tzinfo=BRUSSELS
    )


@given(
    st.lists(durations, max_size=6),
    st.sampled_from([o for o in AgentOutcome if o is not AgentOutcome.not_reachable]),
    moments,
)
def test_not_reachable_is_retried_once_per_planned_wait_then_closed_as_unreachable(
    delays: list[Duration], final: AgentOutcome, at: datetime
) -> None:
    retry = RetryRules(delays=delays)
    attempt, moment, decisions = 1, at, []
    while True:
        decision = decide_outcome(
            AgentOutcome.not_reachable, attempt=attempt, at=moment, retry=retry, calendar=CALENDAR
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
        other = decide_outcome(final, attempt=n, at=at, retry=retry, calendar=CALENDAR, note="said so")
        assert other.final and other.retry_at is None and other.outcome.value == final.value


@given(st.lists(durations, min_size=1, max_size=6), moments)
def test_the_retry_schedule_is_increasing_and_has_one_time_per_attempt(
    delays: list[Duration], at: datetime
) -> None:
    times = retry_schedule(at, RetryRules(delays=delays), CALENDAR)
    assert len(times) == len(delays) + 1
    assert times == sorted(times) and len(set(times)) == len(times)


def test_three_attempts_over_two_business_days_from_the_seed_rules() -> None:
    retry = RetryRules(delays=[Duration(business_days=1), Duration(business_days=1)])
    thursday = datetime(2025, 3, 6, 11, 0, tzinfo=BRUSSELS)
    assert retry_schedule(thursday, retry, CALENDAR) == [
        thursday,
        datetime(2025, 3, 7, 11, 0, tzinfo=BRUSSELS),
        datetime(2025, 3, 10, 11, 0, tzinfo=BRUSSELS),
    ]


def test_other_needs_a_note() -> None:
    retry = RetryRules(delays=[])
    with pytest.raises(InvalidInput) as refused:
        decide_outcome(AgentOutcome.other, attempt=1, at=NOW, retry=retry, calendar=CALENDAR, note="  ")
    assert refused.value.field == "note"


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
    with pytest.raises(Refusal) as other:
        check_may_record(held, "agent-b", None, NOW)
    assert other.value.reason is RefusalReason.held_by_other
    with pytest.raises(Refusal) as lapsed:
        check_may_record(_held("agent-a", lease_s=-1), "agent-a", None, NOW)
    assert lapsed.value.reason is RefusalReason.lease_lapsed
    with pytest.raises(Refusal) as stale:
        check_may_record(held, "agent-a", uuid.uuid4(), NOW)
    assert stale.value.reason is RefusalReason.stale_claim
    queued = held.model_copy(update={"status": Status.queued, "claimed_by": None})
    with pytest.raises(Refusal) as unclaimed:
        check_may_record(queued, "agent-a", None, NOW)
    assert unclaimed.value.reason is RefusalReason.not_claimed


def test_a_callback_held_by_another_agent_cannot_be_claimed_until_the_lease_lapses() -> None:
    with pytest.raises(Refusal):
        check_may_claim(_held("agent-a", lease_s=60), "agent-b", NOW)
    check_may_claim(_held("agent-a", lease_s=-1), "agent-b", NOW)
    done = _held("agent-a", lease_s=60).model_copy(update={"status": Status.done})
    with pytest.raises(Refusal) as refused:
        check_may_claim(done, "agent-a", NOW)
    assert refused.value.reason is RefusalReason.not_open
