"""R8: both templates (a Dutch-speaking and a French-speaking insurer) hold valid documents; an
operator's bad document is refused naming the field."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hoera_events.common import Channel
from hoera_events.organisation import Organisation
from hoera_intake import rules
from hoera_intake.domain import SlaUnit
from hoera_kit.rules import RuleBook, RuleDocument, RuleProblem

DOCUMENTS = [*rules.DOCUMENTS, rules.ORGANISATION]


def template(kind: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((rules.TEMPLATES / kind / f"{name}.json").read_text(encoding="utf-8"))
    return copy.deepcopy(data)


def problems(doc: RuleDocument[Any], document: dict[str, Any]) -> list[str]:
    with pytest.raises(RuleProblem) as refused:
        doc.validate(document)
    return [field for field, _ in refused.value.problems]


@pytest.mark.parametrize("kind", ["nl", "fr"])
@pytest.mark.parametrize("doc", DOCUMENTS, ids=lambda d: d.name)
def test_every_template_document_is_valid(kind: str, doc: RuleDocument[Any]) -> None:
    doc.validate(template(kind, doc.name))


def test_the_book_declares_every_document_and_accepts_both_templates() -> None:
    async def publish(conn: Any, written: Any) -> None: ...

    def apply(written: Any) -> None: ...

    book = RuleBook(rules.TEMPLATES)
    rules.declare(book, on_organisation_change=publish, on_organisation_committed=apply)
    assert sorted(d.name for d in book.documents) == sorted(d.name for d in DOCUMENTS)
    assert book.named("organisation").on_change is publish
    assert book.named("organisation").on_committed is apply
    book.check_templates()


def test_the_french_insurer_has_its_own_catalogue_and_texts_french_first() -> None:
    nl, fr = template("nl", "categories"), template("fr", "categories")
    assert {c["code"] for c in fr["categories"]} != {c["code"] for c in nl["categories"]}
    texts = template("fr", "templates")
    assert list(texts["acknowledgement"]) == ["fr", "nl", "en"]
    assert "mutualité" in texts["acknowledgement"]["fr"]["body"]


@pytest.mark.parametrize("kind", ["nl", "fr"])
def test_every_text_exists_in_dutch_french_and_english_and_renders(kind: str) -> None:
    texts = rules.Templates.model_validate(template(kind, "templates"))
    for name in rules.Templates.model_fields:
        for lang in ("nl", "fr", "en"):
            body = getattr(texts, name).get(lang).body
            assert rules.render(body, {**rules.SAMPLE_CONTEXT, "to_next_of_kin": True}).strip()


def test_a_template_naming_an_unknown_variable_is_refused_at_its_place() -> None:
    doc = template("nl", "templates")
    doc["acknowledgement"]["fr"]["body"] = "Bonjour {{ customer_name }}"
    assert problems(rules.TEMPLATES_DOCUMENT, doc) == ["acknowledgement.fr.body"]


def test_a_template_missing_a_language_is_refused() -> None:
    doc = template("fr", "templates")
    del doc["reminder"]["nl"]
    assert problems(rules.TEMPLATES_DOCUMENT, doc) == ["reminder.nl"]


def test_an_sla_in_both_days_and_seconds_is_refused() -> None:
    doc = template("nl", "categories")
    doc["categories"][0]["sla"] = {"business_days": 5, "seconds": 30}
    assert problems(rules.CATEGORIES, doc) == ["categories.0.sla"]


def test_duplicate_category_codes_are_refused() -> None:
    doc = template("nl", "categories")
    doc["categories"].append(doc["categories"][0])
    assert problems(rules.CATEGORIES, doc) == ["categories"]


def test_only_waiting_statuses_can_stop_the_clock() -> None:
    doc = template("nl", "workflow")
    doc["waiting_statuses"] = ["in_progress"]
    assert problems(rules.WORKFLOW, doc) == ["waiting_statuses"]


def test_an_organisation_whose_supervisor_deputises_for_themselves_or_names_strangers_is_refused() -> None:
    doc = template("nl", "organisation")
    doc["teams"][0]["deputies"] = ["sup-sara"]
    doc["teams"][1]["members"] = ["agent-nobody"]
    doc["absences"] = [{"person": "agent-ghost", "starts_on": "2026-03-02", "ends_on": "2026-03-06"}]
    assert problems(rules.ORGANISATION, doc) == ["teams.0.deputies", "teams.1.members", "absences"]


def test_an_organisation_with_an_unknown_time_zone_is_refused() -> None:
    doc = template("fr", "organisation")
    doc["calendar"]["timezone"] = "Europe/Atlantis"
    assert problems(rules.ORGANISATION, doc) == ["calendar.timezone"]


def test_the_nl_template_is_the_demo_organisation_with_an_ordered_deputy() -> None:
    org = Organisation.model_validate(template("nl", "organisation"))
    team = next(t for t in org.teams if t.id == "team-nl-1")
    assert (team.supervisor, team.deputies) == ("sup-sara", ["sup-dirk"])
    assert org.calendar.holidays_country == "BE"


def test_an_sla_per_channel_and_a_seconds_sla_give_the_right_clock() -> None:
    rule = rules.SlaRule(business_days=5, by_channel={Channel.phone: 2})
    assert rule.for_channel(Channel.phone).lead_time.business_days == 2
    assert rule.for_channel(Channel.email).lead_time.business_days == 5
    fast = rules.SlaRule(seconds=8).for_channel(Channel.chat)
    assert (fast.unit, fast.lead_time.seconds, fast.reminder_lead) == (SlaUnit.seconds, 8, 4)


def test_the_console_previews_who_is_mailed_for_each_team_today() -> None:
    from datetime import UTC, datetime

    from hoera_events.organisation import Absence, Organisation

    org = Organisation.model_validate(template("nl", "organisation"))
    team = org.teams[0]
    now = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    lines = dict(rules.stand_ins_today(org, now, "nl"))
    supervisor = next(p for p in org.people if p.id == team.supervisor)
    assert lines[f"{team.name} ({team.id}), 2026-12-07"] == f"{supervisor.name} <{supervisor.email}>"

    away = Absence(person=team.supervisor, starts_on=now.date(), ends_on=now.date())
    shown = dict(rules.stand_ins_today(org.model_copy(update={"absences": [away]}), now, "fr"))
    assert shown[f"{team.name} ({team.id}), 2026-12-07"].endswith(f"(à la place de {team.supervisor})")
