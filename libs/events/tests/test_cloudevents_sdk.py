"""The official CloudEvents SDK reads what Hoera produces, and Hoera reads what the SDK produces.

``from_kafka_event`` is the SDK's reader for a Kafka message of unknown mode: it picks binary mode as
soon as any ``ce_`` header is present, and structured mode otherwise. So a structured message must
carry no ``ce_`` header at all, or every other platform using the SDK misreads it.
"""

from __future__ import annotations

import json
import uuid

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_kafka_event, to_structured_event
from cloudevents.core.v1.event import CloudEvent as SdkCloudEvent
from hoera_events.asyncapi import build
from hoera_events.envelope import Envelope, decode, encode, event_headers, make_envelope
from hoera_events.registry import TopicSpec, all_topics


def _envelope(spec: TopicSpec) -> Envelope:
    return make_envelope(
        spec.model.example(),
        producer=str(spec.producer),
        tenant="partena",
        correlation_id=uuid.uuid4(),
        causation_id=uuid.uuid4(),
    )


def _as_produced(env: Envelope) -> KafkaMessage:
    """The record the kit's outbox relay sends: encode() as value, event_headers() as headers."""
    return KafkaMessage(headers=dict(event_headers(env)), key=env.key.encode(), value=encode(env))


@pytest.mark.parametrize("spec", all_topics(), ids=lambda s: s.topic)
def test_the_sdk_reads_every_produced_event_with_its_automatic_mode_detection(spec: TopicSpec) -> None:
    env = _envelope(spec)
    event = from_kafka_event(_as_produced(env))
    assert event.get_id() == str(env.id)
    assert event.get_type() == f"hoera.{spec.type}"
    assert event.get_source() == env.producer
    assert event.get_subject() == env.key
    assert event.get_time() == env.occurred_at
    assert event.get_data() == env.data.model_dump(mode="json")
    assert spec.model.model_validate(event.get_data()) == env.data
    assert event.get_extension("tenant") == "partena"
    assert event.get_extension("dataversion") == spec.version
    assert event.get_extension("correlationid") == str(env.correlation_id)


@pytest.mark.parametrize("spec", all_topics(), ids=lambda s: s.topic)
def test_the_asyncapi_example_of_every_channel_is_a_structured_message_the_sdk_reads(
    spec: TopicSpec,
) -> None:
    message = build()["components"]["messages"][f"{spec.model.__name__}V{spec.version}"]
    example = message["examples"][0]
    record = KafkaMessage(
        headers={name: value.encode() for name, value in example["headers"].items()},
        key=example["payload"]["subject"].encode(),
        value=json.dumps(example["payload"]).encode(),
    )
    event = from_kafka_event(record)
    assert event.get_id() == example["payload"]["id"]
    assert event.get_type() == f"hoera.{spec.type}"
    assert event.get_data() == example["payload"]["data"]


def test_a_structured_message_written_by_the_sdk_is_read_by_hoera() -> None:
    # Another platform publishing a contact with the SDK, from the attributes the AsyncAPI documents.
    env = _envelope(all_topics()[0])
    attributes = json.loads(encode(env))
    data = attributes.pop("data")
    attributes["time"] = env.occurred_at  # the SDK takes a datetime and writes RFC 3339
    foreign = to_structured_event(SdkCloudEvent(attributes, data))
    assert foreign.headers == {"content-type": b"application/cloudevents+json"}
    assert decode(foreign.value) == env
