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
