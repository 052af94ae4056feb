"""What a Kafka cluster must hold for Hoera, generated from the registry: the Helm chart's ``kafka.json``.

The chart (deploy/helm/hoera) declares a Strimzi KafkaTopic for every topic and its dead-letter twin
and a KafkaUser per service whose ACLs allow exactly what the service reads and writes. Both are read
from this file, written by ``hoera-events helm``, so that neither is typed by hand and a new event
reaches the cluster with the release that brings it. A test compares the committed file with what
the registry generates now.

Per service (and for the platform, and for an operator who replays dead letters):
- ``consumes``: the topics whose registered consumers include it;
- ``produces``: the topics it is the registered producer of, and those it relays (``relayed_by``);
- ``deadLetters``: the ``.dlq`` twins it writes poison messages to, one per topic it reads in a
  consumer group (the kit's inbox);
- ``groupPrefix``: its consumer groups are ``<HOERA_CONSUMER_GROUP_PREFIX>.<groupPrefix><consumer>``;
- ``maxConsumerPartitions``: the most partitions of a topic it reads, past which more replicas of
  the service would sit idle in every consumer group (the autoscaler's ceiling).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hoera_events.registry import (
    DLQ_PARTITIONS,
    Service,
    TopicSpec,
    all_topics,
    dlq_topic,
    topic_configs,
)

FORMAT_VERSION = 1

OPERATOR = "operator"
"""Not a service: whoever runs ``hoera-kit dlq list|replay``, reading every dead-letter topic and
writing a letter back to the topic it came from."""


def default_path() -> Path:
    """``deploy/helm/hoera/files/kafka.json`` of the source tree this package is installed from."""
    return Path(__file__).resolve().parents[4] / "deploy" / "helm" / "hoera" / "files" / "kafka.json"


def resource_name(topic: str) -> str:
    """A Kubernetes name for a topic: names allow no underscore, so it becomes a hyphen. Topic names
    hold no hyphen (registry.TOPIC_PATTERN), so two topics never share a name."""
    return topic.replace("_", "-")


def _reads_in_a_group(spec: TopicSpec) -> bool:
    """Compacted topics (the tenants and organisations) are read whole, without a consumer group, by
    every service's tenant replica (hoera_kit.tenants), which dead-letters nothing."""
    return not spec.compacted


def _topics() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for spec in all_topics():
        out.append(
            {
                "topic": spec.topic,
                "name": resource_name(spec.topic),
                "partitions": spec.partitions,
                "config": topic_configs(spec.topic),
                "deadLetters": False,
            }
        )
        dlq = dlq_topic(spec.topic)
        out.append(
            {
                "topic": dlq,
                "name": resource_name(dlq),
                "partitions": DLQ_PARTITIONS,
                "config": topic_configs(dlq),
                "deadLetters": True,
            }
        )
    return out


def _service(service: Service) -> dict[str, Any]:
    specs = all_topics()
    read = [spec for spec in specs if service in spec.consumers]
    relayed = {spec.topic for spec in specs if service in spec.relayed_by or service in spec.also_produced_by}
    produces = {spec.topic for spec in specs if spec.producer is service} | relayed
    in_groups = [spec for spec in read if _reads_in_a_group(spec)]
    return {
        "consumes": sorted(spec.topic for spec in read),
        "produces": sorted(produces),
        "deadLetters": sorted(dlq_topic(spec.topic) for spec in in_groups),
        "groupPrefix": f"{service.value}." if in_groups else None,
        "maxConsumerPartitions": max((spec.partitions for spec in read), default=0),
    }


def _operator() -> dict[str, Any]:
    return {
        "consumes": sorted(dlq_topic(spec.topic) for spec in all_topics()),
        "produces": sorted(spec.topic for spec in all_topics()),
        "deadLetters": [],
        "groupPrefix": None,
        "maxConsumerPartitions": 0,
    }


def build() -> dict[str, Any]:
    """The whole plan, as the chart reads it."""
    users = {service.value: _service(service) for service in Service}
    users[OPERATOR] = _operator()
    return {
        "generatedBy": "hoera-events helm (from hoera_events.registry); do not edit by hand",
        "formatVersion": FORMAT_VERSION,
        "topics": _topics(),
        "users": users,
    }


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def write(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(), encoding="utf-8")


def is_current(path: Path) -> bool:
    """Whether the committed file is exactly what the registry generates now."""
    return path.exists() and path.read_text(encoding="utf-8") == render()
