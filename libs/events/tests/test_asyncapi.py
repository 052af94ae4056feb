"""The AsyncAPI document is generated from the registry and committed; it is complete and sound."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hoera_events.asyncapi import build, default_path, is_current
from hoera_events.envelope import decode
from hoera_events.registry import TopicSpec, all_topics

DOCUMENT = build()


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return own + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def _follow(pointer: str) -> Any:
    target: Any = DOCUMENT
    for part in pointer.removeprefix("#/").split("/"):
        target = target[part]
    return target


def test_the_committed_document_is_what_the_registry_generates() -> None:
    assert is_current(default_path()), "run `uv run hoera-events asyncapi`"


def test_the_document_is_asyncapi_3() -> None:
    assert DOCUMENT["asyncapi"] == "3.0.0"
    assert DOCUMENT["defaultContentType"] == "application/cloudevents+json"


@pytest.mark.parametrize("spec", all_topics(), ids=lambda s: s.topic)
def test_every_topic_has_a_channel_sent_by_its_producer_and_received_by_its_consumers(
    spec: TopicSpec,
) -> None:
    channel = DOCUMENT["channels"][spec.topic]
    assert channel["address"] == spec.topic
    assert channel["bindings"]["kafka"]["partitions"] == spec.partitions
    operations = {
        (op["action"], name.split(".")[0])
        for name, op in DOCUMENT["operations"].items()
        if op["channel"]["$ref"] == f"#/channels/{spec.topic}"
    }
    expected = (
        {("send", spec.producer)}
        | {("send", r) for r in spec.relayed_by}
        | {("send", p) for p in spec.also_produced_by}
        | {("receive", c) for c in spec.consumers}
    )
    assert operations == expected


def test_every_reference_in_the_document_resolves() -> None:
    refs = _refs(DOCUMENT)
    assert refs
    for ref in refs:
        assert ref.startswith("#/")
        _follow(ref)


@pytest.mark.parametrize("spec", all_topics(), ids=lambda s: s.topic)
def test_every_message_example_is_a_message_the_decoder_accepts(spec: TopicSpec) -> None:
    message = _follow(DOCUMENT["channels"][spec.topic]["messages"][f"{spec.model.__name__}V1"]["$ref"])
    example = message["examples"][0]
    env = decode(json.dumps(example["payload"]).encode())
    assert env.data == spec.model.example()
    assert example["headers"] == {"content-type": "application/cloudevents+json; charset=UTF-8"}


def test_the_documented_headers_are_the_content_type_and_trace_context_with_no_ce_header() -> None:
    for message in DOCUMENT["components"]["messages"].values():
        headers = message["headers"]
        assert set(headers["properties"]) == {"content-type", "traceparent", "tracestate"}
        assert headers["required"] == ["content-type"]
