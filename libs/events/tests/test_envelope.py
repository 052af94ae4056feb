"""The envelope: structured CloudEvents JSON out, a typed event back in, poison refused by name."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hoera_events.compensation import CompensationDecided
from hoera_events.complaints import ComplaintRaised
from hoera_events.envelope import (
    CONTENT_TYPE,
    Envelope,
    EventDecodeError,
    decode,
    encode,
    event_headers,
    make_envelope,
)
from hoera_events.registry import TopicSpec, all_topics
from hoera_events.surveys import SurveyAnswered
from pydantic import ValidationError


def _envelope(**overrides: Any) -> Envelope:
    return make_envelope(
        CompensationDecided.example(), producer="compensation", tenant="partena", **overrides
    )


def _wire(env: Envelope | None = None) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(encode(env or _envelope()))
    return message


def _decode_error(message: dict[str, Any]) -> EventDecodeError:
    with pytest.raises(EventDecodeError) as caught:
        decode(json.dumps(message).encode())
    return caught.value


@pytest.mark.parametrize("spec", all_topics(), ids=lambda s: s.topic)
def test_every_registered_event_survives_encode_and_decode_unchanged(spec: TopicSpec) -> None:
    env = make_envelope(
        spec.model.example(),
        producer=str(spec.producer),
        tenant="partena",
        correlation_id=uuid.uuid4(),
        causation_id=uuid.uuid4(),
    )
    back = decode(encode(env))
    assert back == env
    assert type(back.data) is spec.model


def test_the_wire_message_is_a_structured_cloudevent_with_the_documented_attributes() -> None:
    event = ComplaintRaised.example()
    at = datetime(2025, 3, 3, 9, 30, 15, 123456, tzinfo=UTC)
    env = make_envelope(event, producer="intake", tenant="partena", occurred_at=at)
    message = _wire(env)
    assert message == {
        "specversion": "1.0",
        "id": str(env.id),
        "source": "intake",
        "type": "hoera.complaint.raised",
        "subject": str(event.complaint_id),
        "time": "2025-03-03T09:30:15.123456Z",
        "datacontenttype": "application/json",
        "dataschema": "urn:hoera:schema:hoera.complaint.raised.v1",
        "dataversion": 1,
        "tenant": "partena",
        "data": event.model_dump(mode="json"),
    }


def test_correlation_and_causation_travel_as_lower_case_extension_attributes() -> None:
    correlation, causation = uuid.uuid4(), uuid.uuid4()
    message = _wire(_envelope(correlation_id=correlation, causation_id=causation))
    assert message["correlationid"] == str(correlation)
    assert message["causationid"] == str(causation)


def test_the_key_is_the_registered_aggregate_id_unless_given() -> None:
    event = CompensationDecided.example()
    assert _envelope().key == str(event.compensation_id)
    assert _envelope(key="other-key").key == "other-key"


def test_make_envelope_refuses_a_naive_occurred_at() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        _envelope(occurred_at=datetime(2025, 3, 3, 9, 30))


def test_occurred_at_in_another_timezone_is_stored_and_sent_as_utc() -> None:
    brussels = timezone(timedelta(hours=1))
    env = _envelope(occurred_at=datetime(2025, 3, 3, 10, 30, tzinfo=brussels))
    assert env.occurred_at == datetime(2025, 3, 3, 9, 30, tzinfo=UTC)
    assert env.occurred_at.utcoffset() == timedelta(0)
    assert _wire(env)["time"] == "2025-03-03T09:30:00Z"


def test_the_envelope_refuses_a_type_that_does_not_match_its_data() -> None:
    env = _envelope()
    with pytest.raises(ValidationError, match="do not match"):
        Envelope(**{**dict(env), "type": "complaint.raised"})


def test_a_missing_id_is_refused_naming_the_field() -> None:
    message = _wire()
    del message["id"]
    error = _decode_error(message)
    assert error.field == "id"
    assert str(error).startswith("id: Field required")


def test_a_naive_time_is_refused_naming_the_field() -> None:
    message = _wire()
    message["time"] = "2025-03-03T09:30:00"
    error = _decode_error(message)
    assert error.field == "time"
    assert "time: Input should have timezone info" in str(error)


def test_a_naive_datetime_inside_the_data_is_refused_naming_the_field() -> None:
    message = _wire()
    message["data"]["decided_at"] = "2025-03-03T09:30:00"
    error = _decode_error(message)
    assert error.field == "data.decided_at"
    assert "data.decided_at:" in str(error)


@pytest.mark.parametrize("amount", [12.5, 1200.0, "1200"])
def test_a_float_amount_is_refused_naming_the_field(amount: object) -> None:
    message = _wire()
    message["data"]["amount"]["amount_cents"] = amount
    error = _decode_error(message)
    assert error.field == "data.amount.amount_cents"
    assert "data.amount.amount_cents: Input should be a valid integer" in str(error)


def test_a_float_amount_is_refused_in_the_raw_bytes_too() -> None:
    raw = encode(_envelope()).replace(b'"amount_cents":2500', b'"amount_cents":2500.0')
    assert b"2500.0" in raw
    with pytest.raises(EventDecodeError, match=r"data\.amount\.amount_cents"):
        decode(raw)


@pytest.mark.parametrize("event_type", ["hoera.complaint.exploded", "complaint.raised", ""])
def test_an_unknown_type_is_refused_naming_the_field(event_type: str) -> None:
    message = _wire()
    message["type"] = event_type
    error = _decode_error(message)
    assert error.field == "type"
    assert str(error).startswith("type:")


def test_an_unknown_version_of_a_known_type_is_refused_naming_dataversion() -> None:
    message = _wire()
    message["dataversion"] = 7
    error = _decode_error(message)
    assert error.field == "dataversion"
    assert "compensation.decided has no version 7 (known: 1)" in str(error)


def test_a_missing_required_data_field_is_refused_naming_it() -> None:
    message = _wire()
    del message["data"]["category"]
    error = _decode_error(message)
    assert error.field == "data.category"
    assert "data.category: Field required" in str(error)


def test_every_offending_field_is_named_not_only_the_first() -> None:
    message = _wire()
    del message["id"]
    message["tenant"] = "Not A Slug"
    error = _decode_error(message)
    assert "id: Field required" in str(error)
    assert "tenant:" in str(error)


@pytest.mark.parametrize(
    "raw", [b"{not json", b"", b"[1, 2]", b'"text"', b"\xff\xfe", b'{"specversion": NaN}']
)
def test_a_message_that_is_not_a_json_object_is_refused_as_a_decode_error(raw: bytes) -> None:
    with pytest.raises(EventDecodeError):
        decode(raw)


def test_a_decode_error_is_a_value_error_so_it_is_classified_as_poison() -> None:
    assert issubclass(EventDecodeError, ValueError)


def test_unknown_attributes_and_data_fields_are_ignored_when_reading() -> None:
    env = _envelope()
    message = _wire(env)
    message["partitionkey"] = "ignored"
    message["somefutureattribute"] = {"nested": True}
    message["data"]["a_field_added_in_a_later_minor_release"] = "ignored"
    message["data"]["amount"]["exchange_rate_note"] = "ignored too"
    assert decode(json.dumps(message).encode()) == env


def test_the_hoera_prefix_of_the_cloudevents_type_is_dropped_when_reading() -> None:
    env = decode(encode(_envelope()))
    assert env.type == "compensation.decided"


def test_event_headers_are_the_structured_content_type_alone_with_no_ce_header() -> None:
    # A ce_ header makes CloudEvents readers take the message for binary mode.
    assert event_headers(_envelope()) == [("content-type", CONTENT_TYPE.encode())]
    assert CONTENT_TYPE == "application/cloudevents+json; charset=UTF-8"


def test_data_as_gives_the_typed_event_and_refuses_another_model() -> None:
    env = _envelope()
    assert env.data_as(CompensationDecided).amount is not None
    with pytest.raises(TypeError, match="not a SurveyAnswered"):
        env.data_as(SurveyAnswered)


def test_an_envelope_cannot_be_built_around_a_plain_dict() -> None:
    env = _envelope()
    with pytest.raises(ValidationError, match="registered event model"):
        Envelope(**{**dict(env), "data": {"compensation_id": str(uuid.uuid4())}})


def test_a_data_content_type_other_than_json_is_refused_naming_the_field() -> None:
    env = _envelope()
    message = _wire(env)
    message["datacontenttype"] = "application/xml"
    assert _decode_error(message).field == "datacontenttype"
    message["datacontenttype"] = "application/json; charset=utf-8"
    assert decode(json.dumps(message).encode()) == env
