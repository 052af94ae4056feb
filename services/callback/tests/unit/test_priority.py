"""R29: churn-risk signals raise a callback's priority, the reasons are kept, and the queue serves
priority first, then age (R26)."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta

from hoera_callback.domain import (
    CustomerFacts,
    Priority,
    PriorityRules,
    QueueEntry,
    Signal,
    Status,
    assess_priority,
    is_claimable,
    next_in_queue,
    queue_key,
    signals_of,
)
from hypothesis import given
from hypothesis import strategies as st

NOW = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
DEFAULT = PriorityRules(
    weights={
        Signal.considering_leaving: 60,
        Signal.open_sla_breach: 30,
        Signal.nps_detractor: 25,
        Signal.repeated_complaints: 20,
        Signal.lead_time_missed: 15,
        Signal.unhappy_smiley: 10,
    }
)

facts = st.builds(
    CustomerFacts,
    considering_leaving=st.booleans(),
    latest_nps=st.none() | st.integers(0, 10),
    latest_satisfaction=st.none() | st.integers(1, 5),
    recent_complaints=st.integers(0, 6),
    open_sla_breach=st.booleans(),
    lead_time_missed=st.booleans(),
)


@st.composite
def rules(draw: st.DrawFn) -> PriorityRules:
    high = draw(st.integers(1, 100))
    return PriorityRules(
        weights={s: draw(st.integers(0, 100)) for s in Signal},
        high_from=high,
        urgent_from=draw(st.integers(high, 200)),
        detractor_max_nps=draw(st.integers(0, 10)),
        unhappy_max_smiley=draw(st.integers(1, 5)),
        repeated_complaints_min=draw(st.integers(2, 5)),
    )


def _more(f: CustomerFacts, g: CustomerFacts) -> CustomerFacts:
    """f with every signal of g added (worse scores, more complaints): never fewer signals."""
    return CustomerFacts(
        considering_leaving=f.considering_leaving or g.considering_leaving,
        latest_nps=min((x for x in (f.latest_nps, g.latest_nps) if x is not None), default=None),
        latest_satisfaction=min(
            (x for x in (f.latest_satisfaction, g.latest_satisfaction) if x is not None), default=None
        ),
        recent_complaints=max(f.recent_complaints, g.recent_complaints),
        open_sla_breach=f.open_sla_breach or g.open_sla_breach,
        lead_time_missed=f.lead_time_missed or g.lead_time_missed,
    )


@given(facts, facts, rules())
def test_another_churn_signal_never_lowers_the_score_or_the_level(
    f: CustomerFacts, g: CustomerFacts, r: PriorityRules
) -> None:
    worse = _more(f, g)
    assert signals_of(worse, r) >= signals_of(f, r)
    before, after = assess_priority(f, r), assess_priority(worse, r)
    assert after.score >= before.score
    assert after.level >= before.level


@given(facts, rules())
def test_the_level_follows_the_thresholds_and_every_signal_is_a_shown_reason(
    f: CustomerFacts, r: PriorityRules
) -> None:
    assessment = assess_priority(f, r)
    assert set(assessment.reasons) == signals_of(f, r)
    assert assessment.score == sum(r.weights.get(s, 0) for s in assessment.reasons)
    if assessment.score >= r.urgent_from:
        assert assessment.level is Priority.urgent
    elif assessment.score >= r.high_from:
        assert assessment.level is Priority.high
    else:
        assert assessment.level is Priority.normal
    weights = [r.weights.get(s, 0) for s in assessment.reasons]
    assert weights == sorted(weights, reverse=True), "the strongest reason is shown first"


def test_a_customer_considering_leaving_is_urgent_and_a_churn_risk() -> None:
    assessment = assess_priority(CustomerFacts(considering_leaving=True), DEFAULT)
    assert assessment.level is Priority.urgent
    assert assessment.churn_risk
    assert assessment.reasons == (Signal.considering_leaving,)


def test_an_nps_detractor_with_an_open_breach_is_urgent_and_says_why() -> None:
    assessment = assess_priority(
        CustomerFacts(latest_nps=6, open_sla_breach=True, latest_satisfaction=2), DEFAULT
    )
    assert assessment.level is Priority.urgent
    assert assessment.reasons == (Signal.open_sla_breach, Signal.nps_detractor, Signal.unhappy_smiley)


def test_a_passive_nps_of_seven_is_not_a_detractor_and_one_complaint_is_not_repeated() -> None:
    assessment = assess_priority(CustomerFacts(latest_nps=7, recent_complaints=1), DEFAULT)
    assert assessment.level is Priority.normal
    assert assessment.reasons == ()
    assert not assessment.churn_risk


entries = st.builds(
    QueueEntry,
    callback_id=st.uuids(),
    status=st.sampled_from([Status.queued, Status.claimed, Status.waiting_retry]),
    score=st.integers(0, 200),
    requested_at=st.integers(0, 10_000).map(lambda s: NOW - timedelta(minutes=s)),
    claimed_by=st.sampled_from(["agent-a", "agent-b"]),
    claim_id=st.just(uuid.uuid4()),
    lease_until=st.integers(-30, 30).map(lambda m: NOW + timedelta(minutes=m)),
)


@given(st.lists(entries, max_size=30))
def test_the_queue_serves_higher_priority_first_then_the_oldest(items: list[QueueEntry]) -> None:
    ordered = sorted(items, key=queue_key)
    for a, b in itertools.pairwise(ordered):
        assert a.score > b.score or (a.score == b.score and a.requested_at <= b.requested_at)


@given(st.lists(entries, max_size=30))
def test_take_next_never_gives_a_callback_under_a_running_lease_nor_a_waiting_retry(
    items: list[QueueEntry],
) -> None:
    chosen = next_in_queue(items, NOW)
    claimable = [e for e in items if is_claimable(e, NOW)]
    if chosen is None:
        assert claimable == []
        return
    assert chosen.status is Status.queued or (chosen.lease_until is not None and chosen.lease_until <= NOW)
    assert all(queue_key(chosen) <= queue_key(e) for e in claimable)


def test_a_lapsed_lease_puts_the_callback_back_in_the_queue() -> None:
    held = QueueEntry(
        callback_id=uuid.uuid4(),
        status=Status.claimed,
        score=0,
        requested_at=NOW - timedelta(hours=1),
        claimed_by="agent-a",
        claim_id=uuid.uuid4(),
        lease_until=NOW + timedelta(seconds=1),
    )
    assert not is_claimable(held, NOW)
    assert is_claimable(held, NOW + timedelta(seconds=1))
