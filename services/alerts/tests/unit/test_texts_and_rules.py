"""R8, R22, R23: the seeded operator data is valid, every mail exists in nl, fr and en, and a bad
change is refused with the field named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hoera_alerts.domain import (
    PLACEHOLDERS,
    AbsenceCalendar,
    AcknowledgementRefused,
    AlertStatus,
    Links,
    Organisation,
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
from hoera_alerts.rules import DOCUMENTS, parse
from hoera_events.alerts import AlertAction, RecipientRole
from hoera_events.common import Language
from hoera_events.surveys import SurveyAnswered
from hoera_kit.errors import DomainError

RULES = Path(__file__).parents[2] / "rules"


def seed(name: str) -> Any:
    return json.loads((RULES / f"{name}.json").read_text())


TEXTS = Texts.model_validate(seed("texts"))
ORG = Organisation.model_validate(seed("organisation"))


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_every_seed_document_is_valid(name: str) -> None:
    assert parse(name, seed(name)) is not None


@pytest.mark.parametrize("kind", sorted(PLACEHOLDERS))
@pytest.mark.parametrize("language", list(Language))
def test_every_mail_exists_in_every_language_and_fills_every_placeholder(
    kind: str, language: Language
) -> None:
    values = {name: f"<{name}>" for name in PLACEHOLDERS[kind]}
    mail = compose(TEXTS, kind, language, values)
    assert "{" not in mail.subject + mail.body
    assert mail.subject and "\n" not in mail.subject


def test_the_unhappy_mail_says_what_the_customer_answered_and_wrote() -> None:
    answer = SurveyAnswered.example()
    labels = TEXTS.labels[Language.fr]
    block = answers_block(answer, labels, unhappy_findings(answer, UnhappyRule()))
    assert "- Satisfaction: 2/5  <<" in block
    assert "- Aimable: 5/5" in block
    assert "- Recommandation: 4/10  <<" in block


def test_a_deputy_is_told_whom_they_stand_in_for() -> None:
    sara, dirk = ORG.person("sup-sara"), ORG.person("sup-dirk")
    assert sara and dirk
    note = deputy_note(
        TEXTS.labels[Language.nl], Recipient(person=dirk, role=RecipientRole.deputy, deputy_for=sara)
    )
    assert "Sara Janssens" in note
    assert deputy_note(TEXTS.labels[Language.nl], Recipient(person=sara, role=RecipientRole.supervisor)) == ""


def test_an_unknown_placeholder_in_a_mail_text_is_refused_naming_where() -> None:
    body = seed("texts")
    body["mails"]["unhappy_smiley"]["fr"]["body"] += "{customer_email}"
    with pytest.raises(DomainError) as refused:
        parse("texts", body)
    assert refused.value.status == 422
    assert refused.value.field == "mails.unhappy_smiley.fr.body"
    assert "customer_email" in refused.value.message


def test_a_missing_language_is_refused() -> None:
    body = seed("texts")
    del body["mails"]["threshold"]["en"]
    with pytest.raises(DomainError) as refused:
        parse("texts", body)
    assert refused.value.field == "mails.threshold.en"


def test_a_bad_value_is_refused_with_its_field() -> None:
    body = seed("threshold")
    body["window_kind"] = "weeks"
    with pytest.raises(DomainError) as refused:
        parse("threshold", body)
    assert (refused.value.status, refused.value.field) == (422, "window_kind")


def test_an_absence_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(DomainError) as refused:
        parse(
            "absences",
            {"absences": [{"person": "sup-sara", "first_day": "2025-07-08", "last_day": "2025-07-01"}]},
        )
    assert refused.value.field == "absences.0.last_day"


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
    with pytest.raises(AcknowledgementRefused) as twice:
        check_acknowledgement(AlertStatus.acknowledged, AlertAction.coached, None)
    assert twice.value.conflict
    with pytest.raises(AcknowledgementRefused) as info:
        check_acknowledgement(AlertStatus.info, AlertAction.coached, None)
    assert info.value.conflict
    with pytest.raises(AcknowledgementRefused) as unnamed:
        check_acknowledgement(AlertStatus.open, AlertAction.other_department_at_fault, None)
    assert unnamed.value.field == "root_cause_department"
    with pytest.raises(AcknowledgementRefused):
        check_acknowledgement(AlertStatus.open, AlertAction.coached, "claims")


def test_an_absence_of_someone_outside_the_organisation_is_found() -> None:
    calendar = AbsenceCalendar.model_validate(
        {"absences": [{"person": "sup-ghost", "first_day": "2025-07-01", "last_day": "2025-07-02"}]}
    )
    assert calendar.unknown_people(ORG) == [(0, "sup-ghost")]
