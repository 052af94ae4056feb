"""R8, R22, R23: every template's documents are valid, every mail exists in nl, fr and en, and a bad
document is refused with the field named (the kit's RuleProblem, a 422)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hoera_alerts.domain import (
    PLACEHOLDERS,
    AlertStatus,
    Links,
    Recipient,
    Texts,
    UnhappyRule,
    answers_block,
    check_acknowledgement,
    compose,
    deputy_note,
    fill,
    unhappy_findings,
)
from hoera_alerts.rules import DOCUMENTS, NOTICES, TEMPLATES, TEXTS, THRESHOLD
from hoera_events.alerts import AlertAction, RecipientRole
from hoera_events.common import Language
from hoera_events.organisation import Person
from hoera_events.surveys import SurveyAnswered
from hoera_kit.refusals import Conflict, Invalid
from hoera_kit.rules import RuleProblem

TEMPLATE_NAMES = ("nl", "fr")


def template(name: str, kind: str = "nl") -> Any:
    return json.loads((TEMPLATES / kind / f"{name}.json").read_text())


def refusal(doc: Any, body: Any) -> RuleProblem:
    with pytest.raises(RuleProblem) as refused:
        doc.validate(body)
    assert refused.value.status == 422
    return refused.value


SARA = Person(id="sup-sara", name="Sara Janssens", email="sara@demo.hoera.test", language="nl")
DIRK = Person(id="sup-dirk", name="Dirk Claes", email="dirk@demo.hoera.test", language="nl")


def test_every_template_holds_every_document_and_nothing_else() -> None:
    names = sorted(doc.name for doc in DOCUMENTS)
    for kind in TEMPLATE_NAMES:
        assert sorted(p.stem for p in (TEMPLATES / kind).glob("*.json")) == names
    assert sorted(p.name for p in TEMPLATES.iterdir() if p.is_dir()) == sorted(TEMPLATE_NAMES)


@pytest.mark.parametrize("kind", TEMPLATE_NAMES)
@pytest.mark.parametrize("name", sorted(doc.name for doc in DOCUMENTS))
def test_every_template_document_is_valid(kind: str, name: str) -> None:
    doc = next(d for d in DOCUMENTS if d.name == name)
    assert doc.validate(template(name, kind)) is not None


def test_the_french_speaking_template_is_its_own_organisation() -> None:
    """A large French-speaking insurer: its own thresholds, digest, recording links and words."""
    for name in ("unhappy", "threshold", "notices", "links", "dashboard", "texts"):
        assert template(name, "fr") != template(name, "nl"), name
    fr = Texts.model_validate(template("texts", "fr"))
    assert list(template("texts", "fr")["mails"]["unhappy_smiley"]) == ["fr", "nl", "en"]
    assert "membre" in fr.mails.unhappy_smiley.fr.body


@pytest.mark.parametrize("kind", TEMPLATE_NAMES)
@pytest.mark.parametrize("mail", sorted(PLACEHOLDERS))
@pytest.mark.parametrize("language", list(Language))
def test_every_mail_exists_in_every_language_and_fills_every_placeholder(
    kind: str, mail: str, language: Language
) -> None:
    texts = Texts.model_validate(template("texts", kind))
    values = {name: f"<{name}>" for name in PLACEHOLDERS[mail]}
    composed = compose(texts, mail, language, values)
    assert "{" not in composed.subject + composed.body
    assert composed.subject and "\n" not in composed.subject


def test_the_unhappy_mail_says_what_the_customer_answered_and_wrote() -> None:
    answer = SurveyAnswered.example()
    labels = Texts.model_validate(template("texts")).labels[Language.fr]
    block = answers_block(answer, labels, unhappy_findings(answer, UnhappyRule()))
    assert "- Satisfaction: 2/5  <<" in block
    assert "- Aimable: 5/5" in block
    assert "- Recommandation: 4/10  <<" in block


def test_whoever_stands_in_is_told_whom_they_stand_in_for() -> None:
    labels = Texts.model_validate(template("texts")).labels[Language.nl]
    note = deputy_note(labels, Recipient(person=DIRK, role=RecipientRole.deputy, deputy_for=SARA))
    assert "Sara Janssens" in note
    assert deputy_note(labels, Recipient(person=SARA, role=RecipientRole.supervisor)) == ""


def test_an_unknown_placeholder_in_a_mail_text_is_refused_naming_where() -> None:
    body = template("texts")
    body["mails"]["unhappy_smiley"]["fr"]["body"] += "{customer_email}"
    refused = refusal(TEXTS, body)
    assert refused.field == "mails.unhappy_smiley.fr.body"
    assert "customer_email" in refused.message


def test_an_unknown_placeholder_in_a_label_is_refused_naming_where() -> None:
    body = template("texts")
    body["labels"]["en"]["deputy_note"] = "Standing in for {supervisor_email}."
    assert refusal(TEXTS, body).field == "labels.en.deputy_note"


def test_a_missing_language_or_label_is_refused() -> None:
    body = template("texts")
    del body["mails"]["threshold"]["en"]
    assert refusal(TEXTS, body).field == "mails.threshold.en"
    body = template("texts")
    del body["labels"]["fr"]
    assert refusal(TEXTS, body).field == "labels.fr"
    body = template("texts")
    del body["labels"]["nl"]["attributes"]["expert"]
    refused = refusal(TEXTS, body)
    assert refused.field == "labels.nl.attributes" and "expert" in refused.message


def test_a_bad_value_is_refused_with_its_field() -> None:
    body = template("threshold")
    body["window_kind"] = "weeks"
    assert refusal(THRESHOLD, body).field == "window_kind"


def test_recovery_below_the_alert_level_is_refused() -> None:
    body = {**template("threshold"), "alert_below": 6.0, "recovered_at": 5.0}
    assert refusal(THRESHOLD, body).field == "recovered_at"


def test_a_digest_needs_a_period() -> None:
    assert refusal(NOTICES, {"management": "digest", "digest_every": {}}).field == "digest_every"
    both = {"management": "digest", "digest_every": {"seconds": 60, "business_days": 1}}
    assert (refusal(NOTICES, both).field or "").startswith("digest_every")


def test_the_recording_link_quotes_the_reference_into_the_template() -> None:
    links = Links(recording_url_template="https://pbx.example/play?ref={recording_ref}&t={tenant}")
    assert (
        links.recording("acme corp", "rec:2025/03/03/CNT 1", "CNT-1")
        == "https://pbx.example/play?ref=rec:2025/03/03/CNT%201&t=acme%20corp"
    )
    assert links.recording("demo", None, "CNT-1") is None


def test_an_operators_text_cannot_reach_python_attributes() -> None:
    assert fill("{a} {a.__class__} {b}", {"a": "x"}) == "x {a.__class__} {b}"


def test_only_an_open_alert_is_acknowledged_and_blaming_a_department_names_it() -> None:
    check_acknowledgement(AlertStatus.open, AlertAction.coached, None)
    check_acknowledgement(AlertStatus.open, AlertAction.other_department_at_fault, "claims")
    with pytest.raises(Conflict):
        check_acknowledgement(AlertStatus.acknowledged, AlertAction.coached, None)
    with pytest.raises(Conflict):
        check_acknowledgement(AlertStatus.info, AlertAction.coached, None)
    with pytest.raises(Invalid) as unnamed:
        check_acknowledgement(AlertStatus.open, AlertAction.other_department_at_fault, None)
    assert unnamed.value.field == "root_cause_department"
    with pytest.raises(Invalid):
        check_acknowledgement(AlertStatus.open, AlertAction.coached, "claims")
