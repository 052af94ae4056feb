"""The kit's delivery guarantees, proven on real Kafka and PostgreSQL through the probe service."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from hoera_devkit.testing import create_topics, eventually, kafka_bootstrap, read_topic, unique_topic
from hoera_events.envelope import decode, encode, make_envelope
from hoera_events.registry import dlq_topic

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from probe_app import contact_event
from processes import ProbeProcess

pytestmark = pytest.mark.integration


@pytest.fixture
async def probe_topic() -> str:
    topic = unique_topic("hoera.test.probe")
    await create_topics(topic, dlq_topic(topic), partitions=3)
    return topic


async def _count(dsn: str, sql: str, *args: object) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(sql, *args))
    finally:
        await conn.close()


async def _events_on(topic: str, expected: int, timeout: float = 30) -> list[object]:
    return await read_topic(topic, until=lambda rs: len(rs) >= expected, timeout=timeout)


async def test_a_crash_after_commit_and_before_publish_publishes_the_event_once_after_restart(
    fresh_db: str, probe_topic: str, tmp_path: Path
) -> None:
    crashing = ProbeProcess(fresh_db, probe_topic).start(tmp_path, HOERA_PROBE_CRASH_BEFORE_PUBLISH="true")
    crashing.wait_ready()
    async with httpx.AsyncClient(base_url=crashing.url) as http:
        resp = await http.post("/things", json={"key": "customer-1"})
    assert resp.status_code == 201
    event_id = resp.json()["event_ids"][0]
    assert crashing.proc is not None
    assert crashing.proc.wait(20) == -9  # the relay killed its process before publishing
    assert await _count(fresh_db, "select count(*) from kit_outbox") == 1

    restarted = ProbeProcess(fresh_db, probe_topic, port=crashing.port).start(tmp_path)
    try:
        restarted.wait_ready()
        await eventually(lambda: _count(fresh_db, "select count(*) from kit_outbox"), lambda n: n == 0)
        await asyncio.sleep(1.0)  # give a wrong second publish the time to show up
        records = await _events_on(probe_topic, 2, timeout=5)
    finally:
        restarted.stop()
    ids = [str(decode(r.value).id) for r in records]
    assert ids == [event_id]


async def test_the_same_event_delivered_twice_has_one_effect_and_poison_goes_to_the_dlq(
    fresh_db: str, probe_topic: str, tmp_path: Path
) -> None:
    probe = ProbeProcess(fresh_db, probe_topic).start(tmp_path)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap(), acks="all")
    await producer.start()
    try:
        probe.wait_ready()
        good = make_envelope(contact_event("customer-2"), producer="test", tenant="demo", key="customer-2")
        raw = encode(good)
        await producer.send_and_wait(probe_topic, raw, key=b"customer-2")
        await producer.send_and_wait(probe_topic, raw, key=b"customer-2")  # redelivered
        await producer.send_and_wait(probe_topic, b"{not json", key=b"customer-2")  # poison
        bad_schema = raw.replace(b'"channel":"', b'"channel":"carrier-pigeon-')
        await producer.send_and_wait(probe_topic, bad_schema, key=b"customer-2")  # schema-invalid
        after = encode(
            make_envelope(contact_event("customer-2"), producer="test", tenant="demo", key="customer-2")
        )
        await producer.send_and_wait(probe_topic, after, key=b"customer-2")
        seen = await eventually(lambda: _count(fresh_db, "select count(*) from probe_seen"), lambda n: n >= 2)
        await asyncio.sleep(1.0)
        assert await _count(fresh_db, "select count(*) from probe_seen") == seen == 2
        assert await _count(fresh_db, "select count(*) from probe_seen where event_id = $1", good.id) == 1
        letters = await _events_on(dlq_topic(probe_topic), 2)
    finally:
        await producer.stop()
        probe.stop()
    assert after
    assert len(letters) == 2
    values = sorted(r.value for r in letters)
    assert values == sorted([b"{not json", bad_schema])
    for letter in letters:
        headers = {k: v.decode() for k, v in letter.headers}
        assert headers["hoera-dlq-topic"] == probe_topic
        assert headers["hoera-dlq-consumer"] == "probe.seen"
        assert headers["hoera-dlq-partition"].isdigit()
        assert headers["hoera-dlq-offset"].isdigit()
        assert headers["hoera-dlq-error"]


async def test_postgresql_down_for_ten_seconds_loses_nothing_and_dead_letters_nothing(
    fresh_db: str, probe_topic: str, tmp_path: Path
) -> None:
    probe = ProbeProcess(fresh_db, probe_topic).start(tmp_path)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap(), acks="all")
    await producer.start()
    sent: list[uuid.UUID] = []

    async def send(n: int) -> None:
        for _ in range(n):
            env = make_envelope(contact_event("c-pg"), producer="test", tenant="demo", key="c-pg")
            sent.append(env.id)
            await producer.send_and_wait(probe_topic, encode(env), key=b"c-pg")
            await asyncio.sleep(0.02)

    try:
        probe.wait_ready()
        await send(20)
        stop = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "hoera_local.cli", "pg", "stop"], capture_output=True
        )
        assert stop.returncode == 0, stop.stderr
        try:
            await send(50)  # while the database is down
            await asyncio.sleep(10)
        finally:
            start = await asyncio.to_thread(
                subprocess.run, [sys.executable, "-m", "hoera_local.cli", "pg", "start"], capture_output=True
            )
        assert start.returncode == 0, start.stderr
        await send(20)
        seen = await eventually(
            lambda: _count(fresh_db, "select count(distinct event_id) from probe_seen"),
            lambda n: n >= len(sent),
            timeout=60,
        )
        total = await _count(fresh_db, "select count(*) from probe_seen")
        dead = await _count(fresh_db, "select count(*) from kit_inbox where outcome = 'dead_lettered'")
    finally:
        await producer.stop()
        probe.stop()
    assert seen == len(sent) == total
    assert dead == 0
    letters = await read_topic(dlq_topic(probe_topic), until=lambda rs: False, timeout=2)
    assert letters == []


async def test_two_relays_two_scanners_two_consumers_publish_once_in_key_order_and_fire_once(
    fresh_db: str, probe_topic: str, tmp_path: Path
) -> None:
    one = ProbeProcess(fresh_db, probe_topic, instance=1).start(tmp_path)
    one.wait_ready()  # the first applies the migrations; the second then finds them current
    two = ProbeProcess(fresh_db, probe_topic, instance=2).start(tmp_path)
    try:
        two.wait_ready()
        keys = [f"cust-{i}" for i in range(12)]
        expected: dict[str, list[str]] = defaultdict(list)
        async with httpx.AsyncClient(timeout=30) as http:

            async def post(url: str, key: str) -> None:
                resp = await http.post(f"{url}/things", json={"key": key, "count": 5})
                assert resp.status_code == 201
                expected[key].extend(resp.json()["event_ids"])

            # Sequential per key (so the expected order is the commit order), alternating replicas.
            for round_ in range(4):
                await asyncio.gather(*(post((one, two)[(i + round_) % 2].url, k) for i, k in enumerate(keys)))
            for i in range(30):
                await http.post(f"{(one, two)[i % 2].url}/timers", json={"key": f"t-{i}", "due_in_s": 0.5})
        total = sum(len(v) for v in expected.values())
        records = await _events_on(probe_topic, total, timeout=60)
        fired = await eventually(
            lambda: _count(fresh_db, "select count(*) from probe_fired"), lambda n: n >= 30
        )
        await asyncio.sleep(1.5)
        seen_total = await _count(fresh_db, "select count(*) from probe_seen")
        distinct_fired = await _count(fresh_db, "select count(distinct key) from probe_fired")
        fired_by = await _count(fresh_db, "select count(distinct fired_by) from probe_fired")
    finally:
        one.stop()
        two.stop()
    ids = [str(decode(r.value).id) for r in records]
    assert len(ids) == total and len(set(ids)) == total  # nothing published twice
    by_key: dict[str, list[str]] = defaultdict(list)
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        env = decode(r.value)
        by_key[env.key].append(str(env.id))
    for key in keys:
        assert by_key[key] == expected[key]  # per-key order kept
    assert fired == 30 and distinct_fired == 30
    assert seen_total == total  # consumed once across the two consumers
    assert fired_by >= 1
    counts = Counter(ids)
    assert max(counts.values()) == 1
