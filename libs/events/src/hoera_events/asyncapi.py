"""The AsyncAPI 3.0 document of every Hoera topic, generated from the registry (never hand-written).

One channel per topic, its message (a structured CloudEvent: the envelope attributes plus the
event model as ``data``), one ``send`` operation for the producing service and one ``receive``
operation per consuming service. The schemas are pydantic's, placed under ``components/schemas``
so that every ``$ref`` resolves inside this one document. Committed as
``libs/events/asyncapi.json``.
"""

from __future__ import annotations

import json
import uuid
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from pydantic.json_schema import models_json_schema

from hoera_events import examples as ex
from hoera_events.envelope import CONTENT_TYPE, CloudEvent, encode, event_headers, make_envelope
from hoera_events.registry import TopicSpec, all_topics

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING_VERSION = "0.5.0"
_REF = "#/components/schemas/{model}"


def default_path() -> Path:
    """``libs/events/asyncapi.json`` of the source tree this package is installed from."""
    return Path(__file__).resolve().parents[2] / "asyncapi.json"


def _package_version() -> str:
    try:
        return version("hoera-events")
    except PackageNotFoundError:
        return "0.0.0"


def _summary(spec: TopicSpec) -> str:
    doc = (spec.model.__doc__ or spec.model.__name__).strip()
    return " ".join(doc.split("\n\n")[0].split())


def _message_id(spec: TopicSpec) -> str:
    return f"{spec.model.__name__}V{spec.version}"


def _example(spec: TopicSpec) -> dict[str, Any]:
    """The model's example in an envelope with a fixed id and time: a reproducible document."""
    env = make_envelope(
        spec.model.example(),
        producer=spec.producer,
        tenant=ex.TENANT,
        id=uuid.uuid5(uuid.NAMESPACE_URL, spec.schema_uri),
        correlation_id=uuid.uuid5(uuid.NAMESPACE_URL, "hoera:example-correlation"),
        occurred_at=ex.AT,
    )
    return {
        "name": f"{spec.type}-example",
        "headers": {k: v.decode() for k, v in event_headers(env)},
        "payload": json.loads(encode(env)),
    }


def _headers_schema() -> dict[str, Any]:
    text = {"type": "string"}
    return {
        "type": "object",
        "description": "Structured content mode of the CloudEvents Kafka binding: every attribute is in "
        "the payload, and no ce_ header is sent (a reader that finds one takes the message for binary "
        "mode). Besides content-type, the W3C trace context (traceparent, tracestate) is added by the "
        "kit's outbox relay.",
        "properties": {
            "content-type": {"const": CONTENT_TYPE},
            "traceparent": text,
            "tracestate": text,
        },
        "required": ["content-type"],
    }


def _payload(spec: TopicSpec, envelope_ref: Any, data_ref: Any) -> dict[str, Any]:
    """The CloudEvent attributes, with ``type``, ``dataversion`` and ``data`` of this event."""
    return {
        "allOf": [
            envelope_ref,
            {
                "type": "object",
                "properties": {
                    "type": {"const": f"hoera.{spec.type}"},
                    "subject": {"description": f"The partition key: data.{spec.key_field}."},
                    "dataschema": {"const": spec.schema_uri},
                    "dataversion": {"const": spec.version},
                    "data": data_ref,
                },
            },
        ]
    }


def build() -> dict[str, Any]:
    """The whole AsyncAPI document as a JSON-ready dict."""
    specs = all_topics()
    # pydantic names the shared definitions (and disambiguates equal class names); keep its refs.
    refs, top = models_json_schema(
        [(CloudEvent, "validation"), *[(spec.model, "validation") for spec in specs]],
        ref_template=_REF,
    )
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for spec in specs:
        message_id = _message_id(spec)
        messages[message_id] = {
            "name": spec.model.__name__,
            "title": f"{spec.model.__name__} (v{spec.version})",
            "summary": _summary(spec),
            "contentType": CONTENT_TYPE.split(";")[0],
            "headers": _headers_schema(),
            "payload": _payload(spec, refs[(CloudEvent, "validation")], refs[(spec.model, "validation")]),
            "bindings": {
                "kafka": {
                    "key": {"type": "string", "description": f"data.{spec.key_field}"},
                    "bindingVersion": KAFKA_BINDING_VERSION,
                }
            },
            "examples": [_example(spec)],
        }
        channel_ref = f"#/channels/{spec.topic}"
        message_ref = {"$ref": f"{channel_ref}/messages/{message_id}"}
        channels[spec.topic] = {
            "address": spec.topic,
            "title": spec.model.__name__,
            "description": f"{_summary(spec)} Partition key: {spec.key_field}, over "
            f"{spec.partitions} partitions. Poison messages go to {spec.topic}.dlq.",
            "messages": {message_id: {"$ref": f"#/components/messages/{message_id}"}},
            "bindings": {
                "kafka": {
                    "topic": spec.topic,
                    "partitions": spec.partitions,
                    "bindingVersion": KAFKA_BINDING_VERSION,
                }
            },
            "x-hoera-producer": str(spec.producer),
            "x-hoera-consumers": [str(c) for c in spec.consumers],
            "x-hoera-relayed-by": [str(r) for r in spec.relayed_by],
            "x-hoera-also-produced-by": [str(p) for p in spec.also_produced_by],
        }
        operations[f"{spec.producer}.send.{spec.topic}"] = {
            "action": "send",
            "channel": {"$ref": channel_ref},
            "messages": [message_ref],
            "summary": f"{spec.producer} publishes {spec.model.__name__}.",
            "tags": [{"name": str(spec.producer)}],
        }
        for relay in spec.relayed_by:
            operations[f"{relay}.send.{spec.topic}"] = {
                "action": "send",
                "channel": {"$ref": channel_ref},
                "messages": [message_ref],
                "summary": f"{relay} passes on {spec.model.__name__} in {spec.producer}'s name "
                "(signed with its relay key).",
                "tags": [{"name": str(relay)}],
            }
        for also in spec.also_produced_by:
            operations[f"{also}.send.{spec.topic}"] = {
                "action": "send",
                "channel": {"$ref": channel_ref},
                "messages": [message_ref],
                "summary": f"{also} publishes {spec.model.__name__} for itself.",
                "tags": [{"name": str(also)}],
            }
        for consumer in spec.consumers:
            operations[f"{consumer}.receive.{spec.topic}"] = {
                "action": "receive",
                "channel": {"$ref": channel_ref},
                "messages": [message_ref],
                "summary": f"{consumer} consumes {spec.model.__name__}.",
                "tags": [{"name": str(consumer)}],
            }
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Hoera events",
            "version": _package_version(),
            "description": "Every Kafka topic of Hoera: one topic per event type and major "
            "version, structured-mode CloudEvents JSON, partitioned by the aggregate id. "
            "Partition counts are the registry's, which the deploy scripts create; a deployment on a "
            "small machine may cap them (the local stack's HOERA_KAFKA_PARTITIONS), so a consumer "
            "sizes itself from the broker's metadata. "
            "Generated by `uv run hoera-events asyncapi` from libs/events; do not edit.",
        },
        "defaultContentType": CONTENT_TYPE.split(";")[0],
        "channels": channels,
        "operations": operations,
        "components": {"schemas": top.get("$defs", {}), "messages": messages},
    }


def write(path: Path) -> None:
    path.write_text(json.dumps(build(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def is_current(path: Path) -> bool:
    """Whether the committed document equals what the registry generates now."""
    return path.exists() and json.loads(path.read_text(encoding="utf-8")) == build()
