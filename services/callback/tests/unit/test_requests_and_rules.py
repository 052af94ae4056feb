"""R26: what puts a customer in the queue, and whose queue; R27: a complaint's status from events in any
order; R8: the rule documents and their templates are validated whole, naming the bad field."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta

import pytest
from hoera_callback.domain import (
    ComplaintFacts,
    ComplaintState,
    ComplaintTrigger,
    PriorityRules,
    Signal,
    Source,
    TriggerRules,
    callback_language,
    complaint_state,
    complaint_wants_callback,
    customer_facts,
    queue_team,
    sla_breach_open,
    survey_wants_callback,
)
from hoera_callback.rules import DOCUMENTS, PRIORITY, QUEUE, TEMPLATES, TRIGGERS
from hoera_devkit.testing import demo_organisation
from hoera_events.common import Language
from hoera_events.organisation import Organisation
from hoera_kit.rules import RuleBook, RuleProblem

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
    rules = TriggerRules(
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


def _template(template: str, name: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((TEMPLATES / template / f"{name}.json").read_text())
    return loaded


def test_both_templates_have_every_document_and_they_are_valid() -> None:
    book = RuleBook(TEMPLATES)
    for doc in DOCUMENTS:
        book.document(doc.name, doc.model, description=doc.description, check=doc.check)
    book.check_templates()
    assert book.templates() == ["fr", "nl"]
    for template in book.templates():
        assert {p.stem for p in (TEMPLATES / template).iterdir()} == {d.name for d in DOCUMENTS}
    nl, fr = book.template_document(QUEUE, "nl"), book.template_document(QUEUE, "fr")
    assert (nl.max_attempts, nl.lead_time.business_days) == (3, 1)
    assert fr.lead_time.business_days > nl.lead_time.business_days, "a larger insurer, a longer target"
    assert book.template_document(TRIGGERS, "fr").unhappy_smiley_callback


def test_a_callback_joins_the_team_its_cause_names_else_one_speaking_the_customers_language() -> None:
    org = demo_organisation()
    assert queue_team(org, "team-x", "fr") == "team-x"
    assert queue_team(org, None, "fr") == "team-fr-1"
    assert queue_team(org, None, "nl") == "team-nl-1"
    assert queue_team(org, None, "en") == "team-nl-1", "nobody speaks English: the first team"
    assert queue_team(Organisation(), None, "nl") is None
    assert callback_language("fr", Language.nl) is Language.fr
    assert callback_language(None, Language.fr) is Language.fr
    assert callback_language("de", Language.nl) is Language.nl


@pytest.mark.parametrize(
    ("name", "change", "field"),
    [
        ("queue", {"lease_seconds": 0}, "lease_seconds"),
        ("queue", {"lead_time": {"business_days": 0}}, "lead_time"),
        ("queue", {"retries": [{"hours": 3}]}, "retries.0.hours"),
        ("queue", {"lead_time": {"business_days": 1, "seconds": 60}}, "lead_time"),
        ("priority", {"weights": {"nps_detractor": -1}}, "weights.nps_detractor"),
        ("priority", {"weights": {}, "high_from": 50, "urgent_from": 10}, "urgent_from"),
        ("triggers", {"raised_categories": ["Not A Code"]}, "raised_categories"),
        ("triggers", {"calendar": {"timezone": "Mars/Olympus"}}, "calendar"),
    ],
)
def test_a_bad_rule_document_is_refused_naming_the_field(
    name: str, change: dict[str, object], field: str
) -> None:
    doc = next(d for d in DOCUMENTS if d.name == name)
    with pytest.raises(RuleProblem) as refused:
        doc.validate({**_template("nl", name), **change})
    assert refused.value.status == 422
    located = [f for f, _ in refused.value.problems]
    assert any(loc == field or loc.startswith(field + ".") for loc in located), located


def test_the_same_rules_always_serialize_the_same_so_the_history_names_only_real_changes() -> None:
    body = _template("fr", "priority")
    shuffled = json.loads(json.dumps(body))
    shuffled["churn_signals"].reverse()
    first, second = PRIORITY.validate(body), PRIORITY.validate(shuffled)
    assert first.model_dump_json() == second.model_dump_json()
