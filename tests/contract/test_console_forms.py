"""Every rule document of every service, in every template, survives the operator console's form:
shown as the form generated from its schema and posted back unchanged, it is the same document. A
document whose shape the form generator does not understand fails here, not in an operator's hands."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from hoera_kit import schema_forms
from hoera_kit.rules import RuleBook, RuleDocument

SERVICES = ("intake", "compensation", "survey", "alerts", "callback")


def _books() -> list[tuple[str, RuleBook]]:
    books = []
    for service in SERVICES:
        rules: Any = importlib.import_module(f"hoera_{service}.rules")
        book = RuleBook(rules.TEMPLATES)
        if service == "intake":
            rules.declare(book, on_organisation_change=None, on_organisation_committed=None)
        else:
            rules.declare(book)
        books.append((service, book))
    return books


CASES = [
    (service, book, doc, template)
    for service, book in _books()
    for doc in book.documents
    for template in book.templates()
]


@pytest.mark.parametrize(
    ("service", "book", "doc", "template"), CASES, ids=[f"{s}-{d.name}-{t}" for s, _, d, t in CASES]
)
def test_a_document_posted_back_unchanged_through_its_form_is_the_same(
    service: str, book: RuleBook, doc: RuleDocument[Any], template: str
) -> None:
    document = book.template_document(doc, template).model_dump(mode="json")
    schema = doc.model.model_json_schema()
    form = schema_forms.build(schema, document)
    reading = schema_forms.read(schema, schema_forms.Posted(schema_forms.posted_unchanged(form)))
    assert not reading.problems
    assert doc.validate(reading.document).model_dump(mode="json") == document


def _field_names(node: Any) -> set[str]:
    names: set[str] = set()
    if isinstance(node, dict):
        names |= set(node.get("properties", {}))
        for value in node.values():
            names |= _field_names(value)
    elif isinstance(node, list):
        for value in node:
            names |= _field_names(value)
    return names


def test_every_field_of_every_document_has_its_words_in_three_languages() -> None:
    """The console labels each field in the page's language: a new field needs its words."""
    from hoera_kit.console import FIELD_WORDS

    fields = set().union(
        *(_field_names(d.model.model_json_schema()) for _, b in _books() for d in b.documents)
    )
    for language in ("nl", "fr", "en"):
        missing = sorted(fields - set(FIELD_WORDS[language]))
        assert not missing, f"no {language} words in hoera_kit/pages/fields.json for {missing}"
