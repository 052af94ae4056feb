"""R13: the seeded catalogue is complete and sound, searchable by type or keyword; R8: an operator's
bad entry is refused naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hoera_compensation import domain
from hoera_compensation.domain import CatalogueEntry
from hoera_compensation.rules import CatalogueFile, MandatesFile
from pydantic import ValidationError

RULES = Path(__file__).parents[2] / "rules"


def seeded() -> list[CatalogueEntry]:
    data = json.loads((RULES / "catalogue.json").read_text())
    return CatalogueFile.model_validate({"entries": data["entries"]}).entries


def test_the_seeded_catalogue_holds_about_ten_sound_entries_in_three_languages() -> None:
    entries = seeded()
    assert len(entries) >= 10
    assert len({e.code for e in entries}) == len(entries)
    for e in entries:
        assert domain.catalogue_problems(e) == [], e.code
        assert all(getattr(e.apology, lang) for lang in ("nl", "fr", "en"))
    assert any(e.financial_allowed for e in entries) and any(not e.financial_allowed for e in entries)
    assert any((e.max_amount_cents or 0) > 30000 for e in entries), "some answers exceed the agent's mandate"


def test_the_seeded_mandates_file_is_valid() -> None:
    data = json.loads((RULES / "mandates.json").read_text())
    assert MandatesFile.model_validate(data).approval_deadline.business_days == 2


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
