"""The poison matrix: every kind of poison record on every topic a service consumes, into several
partitions, between valid events; then every valid event has had its one effect in every consumer,
every poison record is in the topic's dead-letter twin exactly once per consumer, and every consumer
group's lag is back to 0.

The five services run as processes on fresh databases (tests/conftest.py `running_system`); the test
talks to them only through Kafka, their databases' kit tables and their /metrics and /readyz.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from hoera_devkit.testing import define_tenant, eventually, kafka_bootstrap, platform_headers, read_topic
from hoera_events.envelope import encode, event_headers, make_envelope
from hoera_events.registry import Service, TopicSpec, all_topics, dlq_topic

from tests.conftest import SERVICES, System, running_system

pytestmark = pytest.mark.integration

PARTITIONS = (0, 1, 2)
MAX_RECORD_BYTES = 262_144
TENANT = "demo"


@dataclass(frozen=True)
class Poison:
    kind: str
    make: Callable[[bytes], tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]]
    """From a valid record value of the topic: (key, value, headers) of the poison record."""


def _signed(value: bytes, extra: list[tuple[str, bytes]] | None = None) -> list[tuple[str, bytes]]:
    return platform_headers(value, extra)


POISONS = [
    Poison("deep JSON", lambda v: (b"p", b"[" * 100_000, [])),
    Poison("over the size limit", lambda v: (b"p", b'{"pad":"' + b"x" * (MAX_RECORD_BYTES + 10) + b'"}', [])),
    Poison("value not UTF-8", lambda v: (b"p", b"\xff\xfe" + v[2:], _signed(b"\xff\xfe" + v[2:]))),
    Poison("header not UTF-8", lambda v: (b"p", v, _signed(v, [("x-origin", b"\xff\xfe")]))),
    Poison("NUL in a header", lambda v: (b"p", v, _signed(v, [("x-origin", b"a\x00b")]))),
    Poison("NUL in the key", lambda v: (b"p\x00", v, _signed(v))),
    Poison(
        "NUL byte in the value",
        lambda v: (b"p", v.replace(b'"data":{', b'"data":{"x\x00":1,', 1), []),
    ),
    Poison(
        "escaped NUL in a field",
        lambda v: (
            b"p",
            v.replace(b'"data":{', b'"data":{"note":"a\\u0000b",', 1),
            _signed(v.replace(b'"data":{', b'"data":{"note":"a\\u0000b",', 1)),
        ),
    ),
    Poison("unknown type", lambda v: (b"p", v.replace(b'"type":"hoera.', b'"type":"hoera.no_such.', 1), [])),
    Poison(
        "unknown version",
        lambda v: (b"p", re.sub(rb'"dataversion":\d+', b'"dataversion":99', v, count=1), []),
    ),
    Poison("not JSON", lambda v: (b"p", b"not json at all", [])),
    Poison("no value", lambda v: (b"p", None, [])),
]


def consumed_topics() -> list[TopicSpec]:
    return [s for s in all_topics() if s.consumers and not s.compacted]


def _valid(spec: TopicSpec) -> tuple[uuid.UUID, bytes, list[tuple[str, bytes]]]:
    env = make_envelope(spec.model.example(), producer=spec.producer.value, tenant=TENANT)
    value = encode(env)
    headers = event_headers(env)
    if spec.producer is Service.platform:
        headers = platform_headers(value, headers)
    return env.id, value, headers


def _wrong_topic(spec: TopicSpec) -> Poison:
    """A valid event of another type, on this topic."""
    other = next(s for s in all_topics() if s.topic != spec.topic and not s.compacted)

    def make(_: bytes) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]:
        _, value, headers = _valid(other)
        return b"p", value, headers

    return Poison("a valid event of another type", make)


@dataclass
class Sent:
    valid: dict[str, list[uuid.UUID]]
    poison: dict[str, list[tuple[int, int, str]]]
    """topic -> (partition, offset, kind)"""


@pytest.fixture(scope="module")
async def system(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[System]:
    for tenant, template in (("demo", "nl"), ("acme", "fr")):
        await define_tenant(tenant, template=template)
    env = {"HOERA_MAX_RECORD_BYTES": str(MAX_RECORD_BYTES), "HOERA_LAG_POLL_INTERVAL_S": "1"}
    async with running_system(Path(tmp_path_factory.mktemp("poison-logs")), extra_env=env) as running:
        yield running


@pytest.fixture(scope="module")
async def sent(system: System) -> Sent:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap(), acks="all", max_request_size=2**21)
    await producer.start()
    valid: dict[str, list[uuid.UUID]] = defaultdict(list)
    poison: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    try:
        for spec in consumed_topics():
            kinds = [*POISONS, _wrong_topic(spec)]
            for i, poison_kind in enumerate(kinds):
                partition = PARTITIONS[i % len(PARTITIONS)]
                event_id, value, headers = _valid(spec)
                valid[spec.topic].append(event_id)
                await producer.send_and_wait(
                    spec.topic, value, key=b"v", headers=headers, partition=partition
                )
                key, bad, bad_headers = poison_kind.make(value)
                meta = await producer.send_and_wait(
                    spec.topic, bad, key=key, headers=bad_headers, partition=partition
                )
                poison[spec.topic].append((meta.partition, meta.offset, poison_kind.kind))
            for partition in PARTITIONS:
                event_id, value, headers = _valid(spec)
                valid[spec.topic].append(event_id)
                await producer.send_and_wait(
                    spec.topic, value, key=b"v", headers=headers, partition=partition
                )
    finally:
        await producer.stop()
    return Sent(valid, poison)


async def _inbox(system: System, service: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(system.dsn(service))
    try:
        return list(await conn.fetch("select consumer, event_id, topic, outcome from kit_inbox"))
    finally:
        await conn.close()


def _consumers_of(rows: list[asyncpg.Record], topic: str) -> set[str]:
    return {r["consumer"] for r in rows if r["topic"] == topic}


@pytest.mark.parametrize("spec", consumed_topics(), ids=lambda s: s.topic)
async def test_every_valid_event_has_one_effect_in_every_consumer(
    system: System, sent: Sent, spec: TopicSpec
) -> None:
    expected = {str(i) for i in sent.valid[spec.topic]}
    for service in spec.consumers:

        async def handled(service: str = service) -> dict[str, Counter[str]]:
            per_consumer: dict[str, Counter[str]] = defaultdict(Counter)
            for row in await _inbox(system, service.value if isinstance(service, Service) else service):
                if row["topic"] == spec.topic and row["event_id"] in expected:
                    per_consumer[row["consumer"]][row["outcome"]] += 1
            return per_consumer

        found = await eventually(
            handled,
            lambda c: bool(c) and all(sum(n.values()) >= len(expected) for n in c.values()),
            timeout=90,
        )
        assert found, f"{service} handled none of the valid events on {spec.topic}"
        for consumer, outcomes in found.items():
            assert outcomes == Counter(processed=len(expected)), (
                f"{consumer}: each valid event processed exactly once, none dead-lettered: {outcomes}"
            )


@pytest.mark.parametrize("spec", consumed_topics(), ids=lambda s: s.topic)
async def test_every_poison_record_is_dead_lettered_once_per_consumer(
    system: System, sent: Sent, spec: TopicSpec
) -> None:
    poisons = sent.poison[spec.topic]
    consumers: set[str] = set()
    for service in spec.consumers:
        rows = await eventually(
            lambda service=service: _inbox(system, service.value),
            lambda rs: bool(_consumers_of(rs, spec.topic)),
            timeout=90,
        )
        consumers |= _consumers_of(rows, spec.topic)
    wanted = len(poisons) * len(consumers)
    prefix = system.group_prefix + "."
    letters = await read_topic(
        dlq_topic(spec.topic), until=lambda rs: len(_ours(rs, poisons, prefix)) >= wanted, timeout=90
    )
    await asyncio.sleep(1.0)  # a wrong second dead letter would show now
    letters = _ours(
        await read_topic(dlq_topic(spec.topic), until=lambda rs: False, timeout=2), poisons, prefix
    )
    seen = Counter(
        (h["hoera-dlq-consumer"], int(h["hoera-dlq-partition"]), int(h["hoera-dlq-offset"])) for h in letters
    )
    expected = Counter({(c, p, o): 1 for c in consumers for p, o, _ in poisons})
    missing = [(c, kind) for c in consumers for p, o, kind in poisons if seen[(c, p, o)] == 0]
    assert not missing, f"not dead-lettered: {missing}"
    assert seen == expected, "each poison record exactly once per consumer"


def _ours(records: list[Any], poisons: list[tuple[int, int, str]], group_prefix: str) -> list[dict[str, str]]:
    """This system's dead letters of these records (other systems on the broker read the topics too)."""
    wanted = {(p, o) for p, o, _ in poisons}
    out = []
    for record in records:
        headers = {k: v.decode("utf-8", "replace") for k, v in record.headers}
        if not headers.get("hoera-dlq-group", "").startswith(group_prefix):
            continue
        if (int(headers.get("hoera-dlq-partition", -1)), int(headers.get("hoera-dlq-offset", -1))) in wanted:
            out.append(headers)
    return out


async def test_afterwards_every_group_is_caught_up_and_ready(system: System, sent: Sent) -> None:
    async with httpx.AsyncClient(timeout=10) as http:

        async def lags() -> dict[str, Any]:
            out: dict[str, Any] = {}
            for service in SERVICES:
                metrics = (await http.get(f"{system.url(service)}/metrics")).text
                values = [
                    float(line.rsplit(" ", 1)[1])
                    for line in metrics.splitlines()
                    if line.startswith("hoera_consumer_lag{")
                ]
                ready = (await http.get(f"{system.url(service)}/readyz")).status_code
                out[service] = (ready, sum(values), len(values))
            return out

        found = await eventually(
            lags, lambda r: all(v[0] == 200 and v[1] == 0 and v[2] for v in r.values()), timeout=90
        )
    assert all(v[0] == 200 for v in found.values()), found
    assert {s: v[1] for s, v in found.items()} == dict.fromkeys(SERVICES, 0.0), "every group's lag back to 0"
