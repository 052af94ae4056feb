"""R13: each template's catalogue is complete and sound, searchable by type or keyword in any
language; R8: every template document fits its model, and an operator's bad entry is refused naming
the field."""

from __future__ import annotations

import json

import pytest
from hoera_compensation import domain, rules
from hoera_compensation.domain import Catalogue, CatalogueEntry
from hoera_kit.rules import RuleBook, RuleProblem
from pydantic import ValidationError

TEMPLATES = rules.TEMPLATES


def seeded(template: str = "nl") -> list[CatalogueEntry]:
    return Catalogue.model_validate_json((TEMPLATES / template / "catalogue.json").read_text()).entries


def test_every_template_holds_every_document_and_each_fits_its_model() -> None:
    book = RuleBook(TEMPLATES)
    rules.declare(book)
    assert book.templates() == ["fr", "nl"]
    book.check_templates()
    for template in book.templates():
        assert {p.stem for p in (TEMPLATES / template).iterdir()} == {d.name for d in rules.DOCUMENTS}


@pytest.mark.parametrize("template", ["nl", "fr"])
def test_each_template_s_catalogue_holds_about_ten_sound_entries_in_three_languages(template: str) -> None:
    entries = seeded(template)
    assert len(entries) >= 10
    assert domain.catalogue_document_problems(Catalogue(entries=entries)) == []
    assert any(e.financial_allowed for e in entries) and any(not e.financial_allowed for e in entries)
    mandate = json.loads((TEMPLATES / template / "mandates.json").read_text())["agent"]["amount_cents"]
    assert any((e.max_amount_cents or 0) > mandate for e in entries), (
        "some answers exceed the agent's mandate"
    )


def test_the_french_speaking_template_is_its_own_catalogue_written_in_french_first() -> None:
    french = seeded("fr")
    assert {e.code for e in french}.isdisjoint({e.code for e in seeded("nl")})
    raw = json.loads((TEMPLATES / "fr" / "catalogue.json").read_text())
    for entry in raw["entries"]:
        for texts in (entry["title"], entry["answer"], entry["apology"]):
            assert next(iter(texts)) == "fr", entry["code"]
    late = domain.Catalogue(entries=french).for_category("refund.late")
    assert late is not None and late.apology.fr.startswith("Nous sommes sincèrement désolés")


@pytest.mark.parametrize(
    ("q", "category", "expected"),
    [
        ("terugbetaling", None, {"refund-late", "refund-wrong-amount"}),
        ("hopital", None, {"hospital-cover-refused"}),
        ("remboursement retard", None, {"refund-late"}),
        (None, "service", {"waiting-time", "callback-missed", "attitude", "wrong-information"}),
        ("telefoon", "service", {"waiting-time"}),
        (None, "refund.late", {"refund-late"}),
        ("nothing-like-this", None, set()),
    ],
)
def test_the_catalogue_is_searched_by_type_or_keyword_in_any_language(
    q: str | None, category: str | None, expected: set[str]
) -> None:
    assert {e.code for e in domain.search_catalogue(seeded(), q=q, category=category)} == expected


def test_an_entry_with_a_suggestion_above_its_maximum_is_refused_naming_the_field() -> None:
    entry = seeded()[0].model_copy(update={"suggested_amount_cents": 20000, "max_amount_cents": 10000})
    assert domain.catalogue_problems(entry)[0][0] == "suggested_amount_cents"


def test_an_entry_without_money_may_not_carry_amounts() -> None:
    entry = seeded()[0].model_copy(update={"financial_allowed": False})
    assert {f for f, _ in domain.catalogue_problems(entry)} == {"suggested_amount_cents", "max_amount_cents"}


def test_an_entry_missing_a_language_or_with_a_float_amount_is_refused() -> None:
    data = seeded()[0].model_dump()
    with pytest.raises(ValidationError) as missing:
        CatalogueEntry.model_validate({**data, "apology": {"nl": "Sorry", "en": "Sorry"}})
    assert missing.value.errors()[0]["loc"] == ("apology", "fr")
    with pytest.raises(ValidationError) as floating:
        CatalogueEntry.model_validate({**data, "max_amount_cents": 150.0})
    assert floating.value.errors()[0]["loc"] == ("max_amount_cents",)


def test_a_catalogue_document_with_a_code_twice_or_an_unsound_entry_is_refused_naming_the_entry() -> None:
    entries = [e.model_dump(mode="json") for e in seeded()]
    twice = {"entries": [*entries, entries[0]]}
    with pytest.raises(RuleProblem) as refused:
        rules.CATALOGUE.validate(twice)
    assert refused.value.problems == [
        (f"entries.{len(entries)}.code", "code refund-late is used by another entry")
    ]
    unsound = {"entries": [{**entries[0], "suggested_amount_cents": 99999}, *entries[1:]]}
    with pytest.raises(RuleProblem) as refused:
        rules.CATALOGUE.validate(unsound)
    assert refused.value.problems[0][0] == "entries.0.suggested_amount_cents"
