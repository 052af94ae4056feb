"""R8: the seeded rules are valid; an operator's bad document is refused naming the field."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hoera_events.common import Channel
from hoera_intake import rules
from hoera_intake.domain import SlaUnit
from pydantic import ValidationError


def seed(kind: str) -> dict[str, Any]:
    return copy.deepcopy(rules.seed_document(kind))


@pytest.mark.parametrize("kind", list(rules.KINDS))
def test_every_seeded_rules_document_is_valid(kind: str) -> None:
    rules.KINDS[kind].model_validate(seed(kind))


def test_every_template_exists_in_dutch_french_and_english_and_renders() -> None:
    templates = rules.Templates.model_validate(seed("templates"))
    for kind in rules.Templates.model_fields:
        for lang in ("nl", "fr", "en"):
            template = getattr(templates, kind).get(lang)
            text = rules.render(template.body, {**rules.SAMPLE_CONTEXT, "to_next_of_kin": True})
            assert "14 May 2026" in text or kind in ("closed", "resolved", "escalation", "reminder")


def _errors(model: type[Any], document: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as refused:
        model.model_validate(document)
    return [".".join(str(p) for p in e["loc"]) for e in refused.value.errors()]


def test_a_template_naming_an_unknown_variable_is_refused_at_its_place() -> None:
    doc = seed("templates")
    doc["acknowledgement"]["fr"]["body"] = "Bonjour {{ customer_name }}"
    assert _errors(rules.Templates, doc) == ["acknowledgement.fr.body"]


def test_a_template_missing_a_language_is_refused() -> None:
    doc = seed("templates")
    del doc["reminder"]["nl"]
    assert _errors(rules.Templates, doc) == ["reminder.nl"]


def test_an_sla_in_both_days_and_seconds_is_refused() -> None:
    doc = seed("categories")
    doc["categories"][0]["sla"] = {"business_days": 5, "seconds": 30}
    assert _errors(rules.Categories, doc) == ["categories.0.sla"]


def test_duplicate_category_codes_are_refused() -> None:
    doc = seed("categories")
    doc["categories"].append(doc["categories"][0])
    assert _errors(rules.Categories, doc) == ["categories"]


def test_a_calendar_with_an_unknown_time_zone_or_bad_hours_is_refused() -> None:
    doc = seed("calendar")
    doc["timezone"] = "Europe/Atlantis"
    doc["business_hours"] = {"opens": "18:00", "closes": "08:00"}
    assert sorted(_errors(rules.CalendarRules, doc)) == ["business_hours", "timezone"]


def test_only_waiting_statuses_can_stop_the_clock() -> None:
    doc = seed("workflow")
    doc["waiting_statuses"] = ["in_progress"]
    assert _errors(rules.Workflow, doc) == ["waiting_statuses"]


def test_an_sla_per_channel_and_a_seconds_sla_give_the_right_clock() -> None:
    rule = rules.SlaRule(business_days=5, by_channel={Channel.phone: 2})
    assert rule.for_channel(Channel.phone).amount == 2
    assert rule.for_channel(Channel.email).amount == 5
    fast = rules.SlaRule(seconds=8).for_channel(Channel.chat)
    assert (fast.unit, fast.amount, fast.reminder_lead) == (SlaUnit.seconds, 8, 4)
