"""The local stack creates every topic with the registry's partition count (what the AsyncAPI document
states), caps it only when asked, and grows topics an older run made smaller; its readiness probes
always answer."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from hoera_events.asyncapi import build
from hoera_events.registry import BUSY, QUIET, all_topics, dlq_topic, topics_to_create
from hoera_local import config, ready


def _config(cap: int | None) -> config.LocalConfig:
    return dataclasses.replace(config.load(), partition_cap=cap)


def test_without_a_cap_every_topic_gets_the_partitions_the_asyncapi_document_states() -> None:
    topics = ready.project_topics(_config(None))
    assert topics == dict(topics_to_create())
    channels = build()["channels"]
    for spec in all_topics():
        assert topics[spec.topic] == channels[spec.topic]["bindings"]["kafka"]["partitions"]
        assert topics[dlq_topic(spec.topic)] == 1
    assert topics["hoera.contact.closed.v1"] == BUSY


def test_a_cap_lowers_only_the_topics_above_it() -> None:
    capped = ready.project_topics(_config(8))
    assert capped["hoera.contact.closed.v1"] == 8
    assert capped["hoera.complaint.raised.v1"] == QUIET
    assert capped["hoera.complaint.raised.v1.dlq"] == 1
    assert ready.project_topics(_config(1))["hoera.contact.closed.v1"] == 1


def test_the_broker_default_for_a_topic_created_without_a_count_is_the_quiet_size_capped() -> None:
    assert _config(None).default_partitions == QUIET
    assert _config(2).default_partitions == 2


def test_the_cap_is_off_unless_hoera_kafka_partitions_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOERA_KAFKA_PARTITIONS", raising=False)
    assert config.load().partition_cap is None
    monkeypatch.setenv("HOERA_KAFKA_PARTITIONS", "")
    assert config.load().partition_cap is None
    monkeypatch.setenv("HOERA_KAFKA_PARTITIONS", "4")
    assert config.load().partition_cap == 4


@pytest.mark.parametrize("value", ["0", "-1", "six", "2.5"])
def test_a_cap_that_is_not_a_count_stops_the_stack_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("HOERA_KAFKA_PARTITIONS", value)
    with pytest.raises(SystemExit, match="HOERA_KAFKA_PARTITIONS"):
        config.load()


async def _partitions(cfg: config.LocalConfig, topics: list[str]) -> dict[str, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=cfg.kafka_bootstrap)
    await admin.start()
    try:
        return {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(topics)}
    finally:
        await admin.close()


@pytest.fixture
async def two_topics() -> AsyncIterator[tuple[str, str]]:
    """Two fresh topics, 2 and 8 partitions, deleted afterwards."""
    cfg = config.load()
    small, large = (f"hoera.test.grow.{uuid.uuid4().hex[:8]}" for _ in range(2))
    await ready.create_topics(cfg, {small: 2, large: 8})
    yield small, large
    admin = AIOKafkaAdminClient(bootstrap_servers=cfg.kafka_bootstrap)
    await admin.start()
    try:
        await admin.delete_topics([small, large])
    finally:
        await admin.close()


@pytest.mark.integration
async def test_a_topic_with_fewer_partitions_grows_and_one_with_more_is_never_shrunk(
    two_topics: tuple[str, str],
) -> None:
    small, large = two_topics
    cfg = config.load()
    grown = await ready.grow_topics(cfg, {small: 5, large: 4})
    assert grown == {small: (2, 5)}
    assert await _partitions(cfg, [small, large]) == {small: 5, large: 8}
    assert await ready.grow_topics(cfg, {small: 5, large: 4}) == {}


@pytest.mark.integration
async def test_the_running_stack_has_the_partition_counts_it_was_asked_for() -> None:
    cfg = config.load()
    wanted = ready.project_topics(cfg)
    assert await _partitions(cfg, list(wanted)) == wanted


async def _silent_server() -> tuple[asyncio.Server, int]:
    """A port that accepts connections and never answers: a broker or database that is stopping."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client goes; never a byte back
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_the_readiness_probes_answer_no_when_a_server_accepts_and_stays_silent() -> None:
    server, port = await _silent_server()
    async with server:
        cfg = dataclasses.replace(config.load(), pg_host="127.0.0.1", pg_port=port)
        # The probes bound themselves; the outer bound only turns a hang into this test's failure.
        async with asyncio.timeout(60):
            assert await ready.kafka_ready(f"127.0.0.1:{port}") is False
            assert await ready.pg_ready(cfg) is False
