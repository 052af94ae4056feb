"""The event models keep the contract rules: integer money, aware times, enums, ids not people."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hoera_events.alerts import AlertKind, AlertRaised
from hoera_events.common import Currency, Money
from hoera_events.compensation import CompensationKind, CompensationProposed
from hoera_events.complaints import ComplaintRaised
from hoera_events.organisation import OrganisationChanged, TenantDefined
from hoera_events.platform import ComplaintReceived, ContactClosed
from hoera_events.registry import TopicSpec, all_topics
from hoera_events.surveys import AgentAttribute, SurveyAnswered
from pydantic import ValidationError


@pytest.mark.parametrize("cents", [12.5, 1200.0, "1200", True])
def test_money_refuses_anything_but_an_integer_amount_of_cents(cents: object) -> None:
    with pytest.raises(ValidationError, match="amount_cents"):
        Money.model_validate({"amount_cents": cents, "currency": "EUR"})


def test_money_refuses_a_negative_amount_and_an_unknown_currency() -> None:
    with pytest.raises(ValidationError, match="amount_cents"):
        Money(amount_cents=-1, currency=Currency.EUR)
    with pytest.raises(ValidationError, match="currency"):
        Money.model_validate({"amount_cents": 100, "currency": "BEF"})


def test_a_naive_datetime_is_refused() -> None:
    data = ContactClosed.example().model_dump()
    data["closed_at"] = datetime(2025, 3, 3, 9, 30)
    with pytest.raises(ValidationError, match="closed_at"):
        ContactClosed.model_validate(data)


def test_an_aware_datetime_is_normalised_to_utc() -> None:
    data = ContactClosed.example().model_dump()
    data["closed_at"] = datetime(2025, 3, 3, 11, 30, tzinfo=timezone(timedelta(hours=2)))
    closed = ContactClosed.model_validate(data)
    assert closed.closed_at.utcoffset() == timedelta(0)
    assert closed.closed_at.hour == 9


def test_events_are_frozen() -> None:
    event = ComplaintRaised.example()
    with pytest.raises(ValidationError, match="frozen"):
        event.category = "something.else"  # type: ignore[misc]


@pytest.mark.parametrize("customer_id", ["jan.peeters@example.be", "+32 470 12 34 56", "Jan Peeters", ""])
def test_an_id_field_refuses_an_email_address_a_phone_number_or_a_name(customer_id: str) -> None:
    data = ContactClosed.example().model_dump()
    data["customer_id"] = customer_id
    with pytest.raises(ValidationError, match="customer_id"):
        ContactClosed.model_validate(data)


def test_a_channel_outside_the_enum_is_refused() -> None:
    data = ContactClosed.example().model_dump()
    data["channel"] = "pigeon"
    with pytest.raises(ValidationError, match="channel"):
        ContactClosed.model_validate(data)


def test_the_complaint_summary_is_bounded() -> None:
    data = ComplaintReceived.example().model_dump()
    data["summary"] = "x" * 4001
    with pytest.raises(ValidationError, match="summary"):
        ComplaintReceived.model_validate(data)


def test_a_financial_compensation_needs_an_amount_and_an_emotional_one_does_not() -> None:
    data = CompensationProposed.example().model_dump()
    data["amount"] = None
    with pytest.raises(ValidationError, match="needs an amount"):
        CompensationProposed.model_validate(data)
    data["kind"] = CompensationKind.emotional
    assert CompensationProposed.model_validate(data).amount is None


def test_a_threshold_alert_needs_its_reading() -> None:
    data = AlertRaised.example().model_dump()
    data["kind"] = AlertKind.threshold
    with pytest.raises(ValidationError, match="reading"):
        AlertRaised.model_validate(data)


@pytest.mark.parametrize(
    ("field", "value"),
    [("satisfaction", 0), ("satisfaction", 6), ("effort", 4.5), ("nps", 11), ("nps", -1)],
)
def test_a_score_outside_its_scale_is_refused(field: str, value: object) -> None:
    data = SurveyAnswered.example().model_dump()
    data[field] = value
    with pytest.raises(ValidationError, match=field):
        SurveyAnswered.model_validate(data)


def test_an_agent_attribute_outside_the_list_or_the_scale_is_refused() -> None:
    data = SurveyAnswered.example().model_dump()
    data["attributes"] = {"handsome": 5}
    with pytest.raises(ValidationError, match="attributes"):
        SurveyAnswered.model_validate(data)
    data["attributes"] = {AgentAttribute.friendly: 9}
    with pytest.raises(ValidationError, match="attributes"):
        SurveyAnswered.model_validate(data)


def test_a_survey_with_every_question_skipped_is_still_an_answer() -> None:
    full = SurveyAnswered.example()
    skipped = SurveyAnswered(
        survey_id=full.survey_id,
        customer_id=full.customer_id,
        trigger=full.trigger,
        channel=full.channel,
        language=full.language,
        answered_at=full.answered_at,
    )
    assert (skipped.satisfaction, skipped.effort, skipped.nps) == (None, None, None)
    assert skipped.attributes == {}
    assert skipped.contact_me is None
    assert not skipped.has_comment
    assert full.has_comment


@pytest.mark.parametrize("spec", all_topics(), ids=lambda s: s.topic)
def test_every_event_model_is_frozen_and_ignores_unknown_fields(spec: TopicSpec) -> None:
    assert spec.model.model_config.get("frozen") is True
    assert spec.model.model_config.get("extra") == "ignore"
    data = spec.model.example().model_dump(mode="json")
    assert spec.model.model_validate({**data, "added_later": 1}) == spec.model.example()


def _properties(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every (path, property schema) of a model's JSON Schema, nested models ($defs) included:
    pydantic puts every nested model in $defs, so two levels cover them all."""
    for name, prop in schema.get("properties", {}).items():
        yield name, prop
    for model, definition in schema.get("$defs", {}).items():
        for name, prop in definition.get("properties", {}).items():
            yield f"{model}.{name}", prop


def _allows_float(schema: Any) -> bool:
    if isinstance(schema, dict):
        return schema.get("type") == "number" or any(_allows_float(v) for v in schema.values())
    if isinstance(schema, list):
        return any(_allows_float(v) for v in schema)
    return False


PERSONAL_WORDS = ("name", "email", "e_mail", "phone", "mobile", "address", "birth", "iban")


ORGANISATION_CONFIGURATION = {OrganisationChanged, TenantDefined}
"""The organisation's own configuration names the organisation and its staff with their work
addresses (hoera_events.organisation says why); customers' personal data never travels."""


@pytest.mark.parametrize(
    "spec", [s for s in all_topics() if s.model not in ORGANISATION_CONFIGURATION], ids=lambda s: s.topic
)
def test_no_event_field_is_named_like_personal_data(spec: TopicSpec) -> None:
    schema = spec.model.model_json_schema()
    names = [path.rsplit(".", 1)[-1] for path, _ in _properties(schema)]
    assert [n for n in names if any(word in n for word in PERSONAL_WORDS)] == []


@pytest.mark.parametrize("spec", all_topics(), ids=lambda s: s.topic)
def test_no_event_field_is_a_float_except_statistics(spec: TopicSpec) -> None:
    # Money and counts are integers; the only floats are averages in a threshold reading (R24).
    schema = spec.model.model_json_schema()
    floats = [p for p, prop in _properties(schema) if _allows_float(prop)]
    assert all(p.startswith("ThresholdReading.") for p in floats), floats
