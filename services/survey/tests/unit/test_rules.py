"""R8: the operator's rule documents are validated whole, naming every bad field; both templates (a
Dutch-speaking and a French-speaking insurer) are complete and differ where organisations do."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hoera_events.common import Language
from hoera_kit.rules import RuleBook, RuleProblem
from hoera_survey.rules import CAPS, TEMPLATES, TEXTS, TRIGGERS, TextRules, TriggerRules, declare


def _template(name: str, template: str = "nl") -> dict[str, Any]:
    document: dict[str, Any] = json.loads((TEMPLATES / template / f"{name}.json").read_text())
    return document


def _problems(doc: Any, document: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(RuleProblem) as refused:
        doc.validate(document)
    problems: list[tuple[str, str]] = refused.value.problems
    return problems


def test_every_template_is_valid_for_every_document() -> None:
    book = RuleBook(TEMPLATES)
    declare(book)
    assert book.templates() == ["fr", "nl"]
    book.check_templates()  # a broken template would stop the service at start, naming the file


def test_the_french_speaking_template_speaks_french_first_and_is_its_own_organisations() -> None:
    french, dutch = TEXTS.validate(_template("texts", "fr")), TEXTS.validate(_template("texts", "nl"))
    assert isinstance(french, TextRules) and isinstance(dutch, TextRules)
    assert next(iter(_template("texts", "fr"))) == "fr"
    assert french.fr.submit == "Envoyer mon avis" and french.fr.submit != dutch.fr.submit
    assert {language: french.for_language(language).submit for language in Language} == {
        Language.fr: "Envoyer mon avis",
        Language.nl: "Verstuur mijn mening",
        Language.en: "Send my opinion",
    }
    triggers = TRIGGERS.validate(_template("triggers", "fr"))
    assert isinstance(triggers, TriggerRules)
    window = triggers.contact_closed.send_window
    assert window is not None and window.business_days_only
    assert [c.name for c in CAPS.validate(_template("caps", "fr")).caps] != [
        c.name for c in CAPS.validate(_template("caps", "nl")).caps
    ]


def test_a_mail_without_the_link_is_refused_by_its_field() -> None:
    doc = _template("texts")
    doc["fr"]["mail_body"] = "Bonjour, merci !"
    assert _problems(TEXTS, doc) == [("fr.mail_body", "must contain {link}")]


def test_an_unknown_placeholder_is_refused_and_the_allowed_ones_named() -> None:
    doc = _template("texts")
    doc["nl"]["sms_body"] = "Hallo {name}: {link}"
    [(field, problem)] = _problems(TEXTS, doc)
    assert field == "nl.sms_body" and "unknown placeholder ['name']" in problem
    assert "expires_on" in problem and "organisation" in problem


def test_every_problem_of_a_document_is_named_at_once() -> None:
    doc = _template("texts")
    doc["en"]["mail_body"] = "No link here {"
    doc["nl"]["mail_subject"] = "{customer}"
    assert [field for field, _ in _problems(TEXTS, doc)] == ["nl.mail_subject", "en.mail_body"]


def test_a_language_missing_a_text_is_refused_by_name() -> None:
    doc = _template("texts")
    del doc["en"]["thanks_title"]
    assert [field for field, _ in _problems(TEXTS, doc)] == ["en.thanks_title"]


def test_a_letter_is_refused_as_survey_delivery() -> None:
    doc = _template("triggers")
    doc["contact_closed"]["delivery"]["phone"] = "letter"
    [(field, problem)] = _problems(TRIGGERS, doc)
    assert field == "contact_closed.delivery.phone" and "letter" in problem


def test_the_attributes_question_without_attributes_is_refused() -> None:
    doc = _template("triggers", "fr")
    doc["contact_closed"]["attributes"] = []
    assert _problems(TRIGGERS, doc) == [
        ("contact_closed.attributes", "name at least one when the attributes question is asked")
    ]


def test_a_link_that_never_works_is_refused() -> None:
    doc = _template("triggers")
    doc["callback_completed"]["link_valid_for"] = {"business_days": 0}
    assert [field for field, _ in _problems(TRIGGERS, doc)] == ["callback_completed.link_valid_for"]


def test_a_send_window_that_closes_before_it_opens_is_refused() -> None:
    doc = _template("triggers")
    doc["complaint_closed"]["send_window"] = {"opens": "21:00", "closes": "08:00"}
    [(field, problem)] = _problems(TRIGGERS, doc)
    assert field == "complaint_closed.send_window" and "closes must be after opens" in problem


def test_two_caps_with_one_name_are_refused() -> None:
    doc = _template("caps")
    doc["caps"][1]["name"] = doc["caps"][0]["name"]
    [(field, _)] = _problems(CAPS, doc)
    assert field == "caps.1.name"


def test_a_negative_delay_is_refused() -> None:
    doc = _template("triggers")
    doc["complaint_closed"]["delay_minutes"] = -1
    assert [field for field, _ in _problems(TRIGGERS, doc)] == ["complaint_closed.delay_minutes"]


def test_a_caps_kinds_are_written_in_one_order_whatever_the_order_given() -> None:
    """A set's order follows the process's string hashes: written sorted, a document posted back
    through the console's form, stored or diffed reads the same in every process."""
    from hoera_survey.domain import Cap

    def kinds(given: list[str]) -> list[str]:
        cap = Cap.model_validate({"name": "x", "kinds": given, "max_contacts": 1, "period_days": 7})
        return list(cap.model_dump(mode="json")["kinds"])

    assert kinds(["survey", "proactive", "recovery"]) == kinds(["recovery", "proactive", "survey"])
    assert kinds(["survey", "proactive"]) == ["proactive", "survey"]
