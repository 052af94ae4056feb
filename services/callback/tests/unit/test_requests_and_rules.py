"""R26: what puts a customer in the queue; R27: a complaint's status from events in any order; R8: the
rules document is validated whole, naming the bad field."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from hoera_callback.domain import (
    ComplaintFacts,
    ComplaintState,
    ComplaintTrigger,
    ComplaintTriggers,
    PriorityRules,
    Signal,
    Source,
    complaint_state,
    complaint_wants_callback,
    customer_facts,
    sla_breach_open,
    survey_wants_callback,
)
from hoera_callback.rules import DEFAULT_RULES_DIR, RULES_FILE, CallbackRules, read_seed
from pydantic import ValidationError

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def test_please_contact_me_always_queues_and_an_unhappy_smiley_only_where_the_rules_say_so() -> None:
    kw = {"unhappy_max_smiley": 2}
    assert (
        survey_wants_callback(contact_me=True, satisfaction=5, unhappy_smiley_callback=False, **kw)
        is Source.contact_me
    )
    assert (
        survey_wants_callback(contact_me=False, satisfaction=1, unhappy_smiley_callback=False, **kw) is None
    )
    assert (
        survey_wants_callback(contact_me=False, satisfaction=2, unhappy_smiley_callback=True, **kw)
        is Source.unhappy_smiley
    )
    assert survey_wants_callback(contact_me=False, satisfaction=3, unhappy_smiley_callback=True, **kw) is None


def test_complaint_moments_queue_a_callback_as_the_rules_say() -> None:
    rules = ComplaintTriggers(
        sla_breached=True, reopened=False, raised_categories=frozenset({"deceased.handling"})
    )
    assert complaint_wants_callback(ComplaintTrigger.sla_breached, "refund.late", rules)
    assert not complaint_wants_callback(ComplaintTrigger.reopened, "refund.late", rules)
    assert complaint_wants_callback(ComplaintTrigger.raised, "deceased.handling", rules)
    assert not complaint_wants_callback(ComplaintTrigger.raised, "refund.late", rules)


def test_a_complaints_status_does_not_depend_on_the_order_its_events_arrive_in() -> None:
    moments = {
        "raised_at": T0,
        "breached_at": T0 + timedelta(days=5),
        "resolved_at": T0 + timedelta(days=6),
        "reopened_at": T0 + timedelta(days=8),
    }
    states = set()
    for order in itertools.permutations(moments):
        seen: dict[str, datetime] = {}
        for name in order:
            seen[name] = moments[name]
        states.add((complaint_state(ComplaintFacts(**seen)), sla_breach_open(ComplaintFacts(**seen))))
    assert states == {(ComplaintState.open, False)}, "reopened after the breach: open, the old breach is over"


def test_an_open_complaint_past_its_date_is_an_open_breach_until_resolved() -> None:
    breached = ComplaintFacts(raised_at=T0, breached_at=T0 + timedelta(days=5))
    assert sla_breach_open(breached)
    resolved = breached.model_copy(update={"resolved_at": T0 + timedelta(days=6)})
    assert complaint_state(resolved) is ComplaintState.resolved and not sla_breach_open(resolved)
    closed = resolved.model_copy(update={"closed_at": T0 + timedelta(days=7)})
    assert complaint_state(closed) is ComplaintState.closed


def test_repeated_complaints_count_only_within_the_window() -> None:
    rules = PriorityRules(weights={Signal.repeated_complaints: 20}, complaint_window_days=30)
    old = ComplaintFacts(raised_at=T0 - timedelta(days=90))
    recent = ComplaintFacts(raised_at=T0 - timedelta(days=3))
    facts = customer_facts(
        considering_leaving=False,
        latest_nps=None,
        latest_satisfaction=None,
        complaints=[old, recent, recent],
        now=T0,
        rules=rules,
    )
    assert facts.recent_complaints == 2


def test_the_seed_rules_are_valid() -> None:
    rules = read_seed(DEFAULT_RULES_DIR)
    assert rules.retry.max_attempts == 3
    assert rules.lead_time.business_days == 1
    assert rules.team_for(None, "fr") == "team-fr-1"
    assert rules.team_for("team-x", "fr") == "team-x"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lease_seconds": 0}, "lease_seconds"),
        ({"lead_time": {"business_days": 0}}, "lead_time"),
        ({"priority": {"weights": {"nps_detractor": -1}}}, "priority.weights.nps_detractor"),
        ({"priority": {"weights": {}, "high_from": 50, "urgent_from": 10}}, "priority"),
        ({"calendar": {"timezone": "Mars/Olympus"}}, "calendar.timezone"),
        ({"default_team_by_language": {"nl": "team-nl-1"}}, "default_team_by_language"),
        ({"retry": {"delays": [{"hours": 3}]}}, "retry.delays.0.hours"),
    ],
)
def test_a_bad_rules_document_is_refused_naming_the_field(change: dict[str, object], field: str) -> None:
    body = json.loads((DEFAULT_RULES_DIR / RULES_FILE).read_text())
    body.update(change)
    with pytest.raises(ValidationError) as refused:
        CallbackRules.model_validate(body)
    located = {".".join(str(p) for p in e["loc"]) for e in refused.value.errors()}
    assert any(loc == field or loc.startswith(field + ".") or field.startswith(loc) for loc in located), (
        located
    )


def test_the_same_rules_always_serialize_the_same_so_the_audit_names_only_real_changes() -> None:
    body = json.loads((DEFAULT_RULES_DIR / RULES_FILE).read_text())
    shuffled = json.loads(json.dumps(body))
    shuffled["calendar"]["holidays"].reverse()
    shuffled["priority"]["churn_signals"].reverse()
    first, second = CallbackRules.model_validate(body), CallbackRules.model_validate(shuffled)
    assert first.model_dump_json() == second.model_dump_json()
