"""The operator console's forms: a document shown as a form and posted back is the same document;
rows are added and removed; a refused value is placed at its own input."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import pytest
from hoera_kit import schema_forms
from hoera_kit.rules import RuleDocument, RuleProblem
from hoera_kit.schema_forms import posted_unchanged
from pydantic import BaseModel, ConfigDict, Field


class Channel(StrEnum):
    phone = "phone"
    email = "email"


class Names(BaseModel):
    model_config = ConfigDict(extra="forbid")
    nl: str = Field(min_length=1, max_length=200)
    en: str = Field(min_length=1, max_length=200)


class Sla(BaseModel):
    model_config = ConfigDict(extra="forbid")
    business_days: int | None = Field(default=None, ge=0, le=365)
    by_channel: dict[Channel, int] = Field(default_factory=dict)
    remind: bool = True


class Category(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(max_length=64, pattern=r"^[a-z.]+$")
    names: Names
    sla: Sla
    channel: Channel | None = None
    tags: list[str] = Field(default_factory=list)


class Categories(BaseModel):
    model_config = ConfigDict(extra="forbid")
    categories: list[Category] = Field(min_length=1)


DOC = RuleDocument("categories", Categories, "test categories")
SCHEMA = Categories.model_json_schema()
DOCUMENT: dict[str, Any] = {
    "categories": [
        {
            "code": "refund.late",
            "names": {"nl": "Laattijdige terugbetaling", "en": "Late refund"},
            "sla": {"business_days": 5, "by_channel": {"email": 3}, "remind": True},
            "channel": None,
            "tags": ["money", "slow"],
        },
        {
            "code": "invoice.wrong",
            "names": {"nl": "Foute factuur", "en": "Wrong invoice"},
            "sla": {"business_days": None, "by_channel": {}, "remind": False},
            "channel": "phone",
            "tags": [],
        },
    ]
}


def test_a_document_shown_and_posted_back_unchanged_is_the_same_document() -> None:
    form = schema_forms.build(SCHEMA, DOCUMENT)
    reading = schema_forms.read(SCHEMA, schema_forms.Posted(posted_unchanged(form)))
    assert DOC.validate(reading.document).model_dump(mode="json") == DOCUMENT


def test_rows_are_removed_and_the_blank_row_adds_one() -> None:
    fields = posted_unchanged(schema_forms.build(SCHEMA, DOCUMENT))
    fields["doc/categories/0/@remove"] = "1"
    # The blank row after the two categories, filled in.
    fields.update(
        {
            "doc/categories/2/code": "info.unclear",
            "doc/categories/2/names/nl": "Onduidelijk",
            "doc/categories/2/names/en": "Unclear",
            "doc/categories/2/sla/business_days": "3",
            "doc/categories/2/sla/by_channel/0/@key": "phone",
            "doc/categories/2/sla/by_channel/0/@value": "2",
            "doc/categories/2/sla/remind/@bool": "1",
        }
    )
    fields.pop("doc/categories/2/sla/remind")  # the blank row shows the default (on): unchecked
    # An extra tag on the second category through its blank row; the blank map row stays out.
    fields["doc/categories/1/tags/0"] = "paper"
    value = DOC.validate(schema_forms.read(SCHEMA, schema_forms.Posted(fields)).document)
    assert [c.code for c in value.categories] == ["invoice.wrong", "info.unclear"]
    assert value.categories[0].tags == ["paper"]
    added = value.categories[1]
    assert added.sla.business_days == 3 and added.sla.by_channel == {Channel.phone: 2}
    assert added.sla.remind is False  # the box was on the form and not checked


def test_a_refused_value_is_placed_at_its_input_after_removed_rows_are_gone() -> None:
    fields = posted_unchanged(schema_forms.build(SCHEMA, DOCUMENT))
    fields["doc/categories/0/@remove"] = "1"
    fields["doc/categories/1/sla/business_days"] = "vijf"
    fields["doc/categories/1/names/en"] = ""
    reading = schema_forms.read(SCHEMA, schema_forms.Posted(fields))
    with pytest.raises(RuleProblem) as refused:
        DOC.validate(reading.document)
    placed = {reading.place(location) for location, _ in refused.value.problems}
    # The second category is the first one now: shown again as row 0.
    assert placed == {"doc/categories/0/sla/business_days", "doc/categories/0/names/en"}
    shown = schema_forms.build(SCHEMA, reading.document, errors={p: "wrong" for p in placed if p})
    sla = shown.children[0].children[0].children[2]
    assert sla.children[0].name == "doc/categories/0/sla/business_days"
    assert sla.children[0].error == "wrong" and sla.children[0].text == "vijf"


def test_a_map_key_the_model_refuses_is_placed_at_the_key() -> None:
    fields = posted_unchanged(schema_forms.build(SCHEMA, DOCUMENT))
    fields["doc/categories/0/sla/by_channel/0/@key"] = "pigeon"
    reading = schema_forms.read(SCHEMA, schema_forms.Posted(fields))
    with pytest.raises(RuleProblem) as refused:
        DOC.validate(reading.document)
    assert {reading.place(loc) for loc, _ in refused.value.problems} == {
        "doc/categories/0/sla/by_channel/0/@key"
    }


def test_a_forged_row_count_is_bounded() -> None:
    fields = posted_unchanged(schema_forms.build(SCHEMA, DOCUMENT))
    fields["doc/categories/@count"] = "99999999"
    assert len(schema_forms.read(SCHEMA, schema_forms.Posted(fields)).document["categories"]) == 2
