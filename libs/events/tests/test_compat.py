"""The compatibility checker fails on breaking changes and lets additive ones pass.

The fixture models stand for one event before (``Before``) and after a change; the checker compares
the JSON Schemas pydantic generates for them, as ``hoera-events schemas``/``check`` do.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any
from uuid import UUID

import pytest
from hoera_events.compat import breaking_changes
from hoera_events.schemas import default_dir
from pydantic import BaseModel, Field


class Kind(StrEnum):
    emotional = "emotional"
    financial = "financial"


class KindWithoutFinancial(StrEnum):
    emotional = "emotional"


class KindWidened(StrEnum):
    emotional = "emotional"
    financial = "financial"
    symbolic = "symbolic"


class Amount(BaseModel):
    cents: int


class AmountAsText(BaseModel):
    cents: str


class Before(BaseModel):
    complaint_id: UUID
    category: str
    kind: Kind
    amount: Amount
    note: str | None = None
    summary: Annotated[str, Field(max_length=4000)]
    scores: dict[str, Annotated[int, Field(ge=1, le=5)]] = {}
    tags: list[str] = []


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema()


def _changes(after: type[BaseModel]) -> list[str]:
    return [str(c) for c in breaking_changes(_schema(Before), _schema(after))]


# ---- breaking ------------------------------------------------------------------------------


class RemovedField(BaseModel):
    complaint_id: UUID
    kind: Kind
    amount: Amount
    note: str | None = None
    summary: Annotated[str, Field(max_length=4000)]
    scores: dict[str, Annotated[int, Field(ge=1, le=5)]] = {}
    tags: list[str] = []


class NarrowedType(BaseModel):
    complaint_id: UUID
    category: int
    kind: Kind
    amount: Amount
    note: str | None = None
    summary: Annotated[str, Field(max_length=4000)]
    scores: dict[str, Annotated[int, Field(ge=1, le=5)]] = {}
    tags: list[str] = []


class OptionalMadeRequired(BaseModel):
    complaint_id: UUID
    category: str
    kind: Kind
    amount: Amount
    note: str | None
    summary: Annotated[str, Field(max_length=4000)]
    scores: dict[str, Annotated[int, Field(ge=1, le=5)]] = {}
    tags: list[str] = []


class NewRequiredField(BaseModel):
    complaint_id: UUID
    category: str
    kind: Kind
    amount: Amount
    note: str | None = None
    summary: Annotated[str, Field(max_length=4000)]
    scores: dict[str, Annotated[int, Field(ge=1, le=5)]] = {}
    tags: list[str] = []
    team_id: str


class EnumValueRemoved(BaseModel):
    complaint_id: UUID
    category: str
    kind: KindWithoutFinancial
    amount: Amount
    note: str | None = None
    summary: Annotated[str, Field(max_length=4000)]
    scores: dict[str, Annotated[int, Field(ge=1, le=5)]] = {}
    tags: list[str] = []


class UnionNarrowed(BaseModel):
    complaint_id: UUID
    category: str
    kind: Kind
    amount: Amount
    note: str = ""
    summary: Annotated[str, Field(max_length=4000)]
    scores: dict[str, Annotated[int, Field(ge=1, le=5)]] = {}
    tags: list[str] = []


class MaxLengthReduced(BaseModel):
    complaint_id: UUID
    category: str
    kind: Kind
    amount: Amount
    note: str | None = None
    summary: Annotated[str, Field(max_length=1000)]
    scores: dict[str, Annotated[int, Field(ge=1, le=5)]] = {}
    tags: list[str] = []


class NestedModelNarrowed(BaseModel):
    complaint_id: UUID
    category: str
    kind: Kind
    amount: AmountAsText
    note: str | None = None
    summary: Annotated[str, Field(max_length=4000)]
    scores: dict[str, Annotated[int, Field(ge=1, le=5)]] = {}
    tags: list[str] = []


class DictValuesNarrowed(BaseModel):
    complaint_id: UUID
    category: str
    kind: Kind
    amount: Amount
    note: str | None = None
    summary: Annotated[str, Field(max_length=4000)]
    scores: dict[str, Annotated[int, Field(ge=1, le=4)]] = {}
    tags: list[str] = []


class ListItemsNarrowed(BaseModel):
    complaint_id: UUID
    category: str
    kind: Kind
    amount: Amount
    note: str | None = None
    summary: Annotated[str, Field(max_length=4000)]
    scores: dict[str, Annotated[int, Field(ge=1, le=5)]] = {}
    tags: list[Annotated[str, Field(pattern=r"^[a-z]+$")]] = []


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (RemovedField, "category: field removed"),
        (NarrowedType, "category: type narrowed from string to integer"),
        (OptionalMadeRequired, "note: optional field made required"),
        (NewRequiredField, "team_id: new required field"),
        (EnumValueRemoved, "kind: values removed: 'financial'"),
        (UnionNarrowed, "note: no longer accepts null"),
        (MaxLengthReduced, "summary: maxLength tightened from 4000 to 1000"),
        (NestedModelNarrowed, "amount.cents: type narrowed from integer to string"),
        (DictValuesNarrowed, "scores.*: maximum tightened from 5 to 4"),
        (ListItemsNarrowed, "tags[]: pattern changed from none to '^[a-z]+$'"),
    ],
    ids=lambda v: v.__name__ if isinstance(v, type) else "",
)
def test_the_checker_fails_a_breaking_change_naming_the_field(after: type[BaseModel], expected: str) -> None:
    assert _changes(after) == [expected]


# ---- compatible ----------------------------------------------------------------------------


class AddedOptionalField(BaseModel):
    complaint_id: UUID
    category: str
    kind: Kind
    amount: Amount
    note: str | None = None
    summary: Annotated[str, Field(max_length=4000)]
    scores: dict[str, Annotated[int, Field(ge=1, le=5)]] = {}
    tags: list[str] = []
    team_id: str | None = None
    """A documented, optional addition."""


class EnumWidened(BaseModel):
    complaint_id: UUID
    category: str
    kind: KindWidened
    amount: Amount
    note: str | None = None
    summary: Annotated[str, Field(max_length=4000)]
    scores: dict[str, Annotated[int, Field(ge=1, le=5)]] = {}
    tags: list[str] = []


class LoosenedAndWidened(BaseModel):
    complaint_id: UUID
    category: str | int
    kind: Kind
    amount: Amount
    note: str | None = None
    summary: Annotated[str, Field(max_length=8000, description="now described")]
    scores: dict[str, Annotated[float, Field(ge=0, le=10)]] = {}
    tags: list[str] | None = None


@pytest.mark.parametrize(
    "after", [Before, AddedOptionalField, EnumWidened, LoosenedAndWidened], ids=lambda m: m.__name__
)
def test_the_checker_passes_an_additive_or_widening_change(after: type[BaseModel]) -> None:
    assert _changes(after) == []


def test_a_changed_partition_key_is_breaking() -> None:
    old = {**_schema(Before), "x-hoera-key": "complaint_id"}
    new = {**_schema(Before), "x-hoera-key": "customer_id"}
    assert [str(c) for c in breaking_changes(old, new)] == [
        "(partition key): changed from 'complaint_id' to 'customer_id'"
    ]


def test_a_field_that_accepted_anything_and_now_has_a_type_is_narrowed() -> None:
    old = {"type": "object", "properties": {"extra": {}}}
    new = {"type": "object", "properties": {"extra": {"type": "string"}}}
    assert [str(c) for c in breaking_changes(old, new)] == ["extra: was anything, now only string"]


def test_an_integer_widened_to_a_number_passes_and_the_reverse_fails() -> None:
    integer = {"type": "object", "properties": {"n": {"type": "integer"}}}
    number = {"type": "object", "properties": {"n": {"type": "number"}}}
    assert breaking_changes(integer, number) == []
    assert [str(c) for c in breaking_changes(number, integer)] == ["n: type narrowed from number to integer"]


def test_every_committed_snapshot_is_compatible_with_itself() -> None:
    for path in sorted(default_dir().glob("*.json")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        assert breaking_changes(schema, schema) == [], path.name
