"""R8: the operator's rules are validated whole, naming the bad field."""

from __future__ import annotations

import json

import pytest
from hoera_survey.rules import RULES_DIR, CapsRules, TextRules, TriggerRules, seed_documents
from hoera_survey.settings import DEV_LINK_SECRET, SurveySettings
from pydantic import ValidationError


def _seed(name: str) -> dict:  # type: ignore[type-arg]
    return json.loads((RULES_DIR / f"{name}.json").read_text())  # type: ignore[no-any-return]


def test_the_seed_rules_are_valid_and_speak_three_languages() -> None:
    docs = seed_documents()
    texts = docs["texts"]
    assert isinstance(texts, TextRules)
    assert texts.fr.submit != texts.nl.submit != texts.en.submit


def test_a_mail_without_the_link_is_refused() -> None:
    doc = _seed("texts")
    doc["fr"]["mail_body"] = "Bonjour, merci !"
    with pytest.raises(ValidationError, match=r"must contain \{link\}"):
        TextRules.model_validate(doc)


def test_an_unknown_placeholder_is_refused() -> None:
    doc = _seed("texts")
    doc["nl"]["sms_body"] = "Hallo {name}: {link}"
    with pytest.raises(ValidationError, match="unknown placeholder"):
        TextRules.model_validate(doc)


def test_a_language_missing_a_text_is_refused_by_name() -> None:
    doc = _seed("texts")
    del doc["en"]["thanks_title"]
    with pytest.raises(ValidationError) as err:
        TextRules.model_validate(doc)
    assert err.value.errors()[0]["loc"] == ("en", "thanks_title")


def test_a_letter_is_refused_as_survey_delivery() -> None:
    doc = _seed("triggers")
    doc["contact_closed"]["delivery"]["phone"] = "letter"
    with pytest.raises(ValidationError, match="letter"):
        TriggerRules.model_validate(doc)


def test_two_caps_with_one_name_are_refused() -> None:
    doc = _seed("caps")
    doc["caps"][1]["name"] = doc["caps"][0]["name"]
    with pytest.raises(ValidationError, match="own name"):
        CapsRules.model_validate(doc)


def test_a_negative_delay_is_refused() -> None:
    doc = _seed("triggers")
    doc["complaint_closed"]["delay_minutes"] = -1
    with pytest.raises(ValidationError) as err:
        TriggerRules.model_validate(doc)
    assert err.value.errors()[0]["loc"] == ("complaint_closed", "delay_minutes")


def test_the_development_link_secret_is_refused_in_production() -> None:
    production = {
        "environment": "production",
        "jwt_secret": "x" * 40,
        "jwt_issuer": "https://idp.example",
        "database_url": "postgresql://u:p@h/db",
        "customer_directory_url": "https://platform.example/{tenant}/{customer_id}",
    }
    with pytest.raises(ValidationError, match="HOERA_SURVEY_LINK_SECRET"):
        SurveySettings(**production)
    with pytest.raises(ValidationError, match="at least 32"):
        SurveySettings(**production, survey_link_secret="short")
    ok = SurveySettings(**production, survey_link_secret="s" * 40)
    assert ok.link_secret != DEV_LINK_SECRET
    assert SurveySettings().link_secret == DEV_LINK_SECRET  # development may use it
