"""The kit under hostile input, stuck partitions, refused outbox rows and restarts, on real Kafka and
PostgreSQL through the probe service (libs/kit/tests/support/probe_app.py)."""

from __future__ import annotations

import asyncio
import re
import sys
import uuid
from collections import Counter
from contextlib import suppress
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from hoera_devkit.testing import (
    counted_statements,
    create_topics,
    eventually,
    kafka_bootstrap,
    read_topic,
    unique_topic,
)
from hoera_events.envelope import decode, encode, make_envelope
from hoera_events.registry import dlq_topic
from hoera_kit import migrations, outbox
from hoera_kit.db import create_pool
from hoera_kit.outbox import OutboxRelay, make_producer

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from probe_app import MIGRATIONS, ProbeSettings, contact_event, create_app
from processes import ProbeProcess

pytestmark = pytest.mark.integration

PARTITIONS = 3


@pytest.fixture
async def probe_topic() -> str:
    topic = unique_topic("hoera.test.probe")
    await create_topics(topic, dlq_topic(topic), partitions=PARTITIONS)
    return topic


async def _fetch(dsn: str, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def _count(dsn: str, sql: str, *args: object) -> int:
    return int((await _fetch(dsn, sql, *args))[0][0])


def _valid(key: str) -> tuple[uuid.UUID, bytes]:
    env = make_envelope(contact_event(key), producer="test", tenant="demo", key=key)
    return env.id, encode(env)


def _poisons() -> list[tuple[str, bytes | None, bytes, list[tuple[str, bytes]]]]:
    """(kind, key, value, headers) of every kind of record that can never be an event."""
    _, good = _valid("poison-carrier")
    return [
        ("deep JSON", b"p-deep", b"[" * 100_000, []),
        ("over the size limit", b"p-huge", b'{"pad":"' + b"x" * 100_000 + b'"}', []),
        ("value not UTF-8", b"p-utf8", b"\xff\xfe\xfd{}", []),
        ("header not UTF-8", b"p-header", good, [("x-origin", b"\xff\xfe")]),
        ("NUL in a header", b"p-header-nul", good, [("x-origin", b"a\x00b")]),
        ("NUL in the key", b"p-key\x00", good, []),
        ("key not UTF-8", b"\xff\xfe", good, []),
        ("NUL byte in the value", b"p-nul", good.replace(b'"data":{', b'"data":{"x\x00":1,', 1), []),
        (
            "escaped NUL in a field",
            b"p-esc",
            good.replace(b'"data":{', b'"data":{"note":"a\\u0000b",', 1),
            [],
        ),
        ("unknown type", b"p-type", good.replace(b'"type":"hoera.', b'"type":"hoera.no_such.', 1), []),
        ("unknown version", b"p-version", good.replace(b'"dataversion":1', b'"dataversion":99', 1), []),
        ("not JSON", b"p-text", b"x", []),
        ("JSON but not an object", b"p-list", b"[1,2]", []),
        ("no value at all", b"p-tombstone", None, []),  # type: ignore[list-item]
    ]


def _metric(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


async def test_every_kind_of_poison_is_dead_lettered_once_and_every_partition_moves_on(
    fresh_db: str, probe_topic: str, tmp_path: Path
) -> None:
    probe = ProbeProcess(fresh_db, probe_topic).start(
        tmp_path, HOERA_MAX_RECORD_BYTES="65536", HOERA_LAG_POLL_INTERVAL_S="0.5"
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap(), acks="all", max_request_size=2**21)
    await producer.start()
    poisons = _poisons()
    valid: list[uuid.UUID] = []
    try:
        probe.wait_ready()
        for i, (_, key, value, headers) in enumerate(poisons):
            # Valid events before and after each poison record, on its partition and on the next.
            for partition in (i % PARTITIONS, (i + 1) % PARTITIONS):
                event_id, raw = _valid(f"valid-{i}-{partition}")
                valid.append(event_id)
                await producer.send_and_wait(probe_topic, raw, key=b"v", partition=partition)
            await producer.send_and_wait(
                probe_topic, value, key=key, headers=headers, partition=i % PARTITIONS
            )
            event_id, raw = _valid(f"valid-{i}-after")
            valid.append(event_id)
            await producer.send_and_wait(probe_topic, raw, key=b"v", partition=i % PARTITIONS)

        seen = await eventually(
            lambda: _count(fresh_db, "select count(*) from probe_seen"),
            lambda n: n >= len(valid),
            timeout=60,
        )
        letters = await read_topic(
            dlq_topic(probe_topic), until=lambda rs: len(rs) >= len(poisons), timeout=60
        )
        async with httpx.AsyncClient(base_url=probe.url) as http:

            async def caught_up() -> tuple[int, Any]:
                metrics = (await http.get("/metrics")).text
                ready = await http.get("/readyz")
                return ready.status_code, _metric(metrics, "hoera_consumer_lag", topic=probe_topic)

            ready_and_lag = await eventually(caught_up, lambda r: r == (200, 0.0), timeout=30)
            metrics = (await http.get("/metrics")).text
        await asyncio.sleep(1.0)  # time for a wrong repeat to show
        letters = await read_topic(dlq_topic(probe_topic), until=lambda rs: False, timeout=3)
        rows = await _fetch(fresh_db, "select event_id, count(*) as n from probe_seen group by event_id")
    finally:
        await producer.stop()
        probe.stop()

    assert seen == len(valid)
    assert {r["event_id"]: r["n"] for r in rows} == dict.fromkeys(valid, 1), "each valid event once"
    assert Counter(r.value for r in letters) == Counter(v or b"" for _, _, v, _ in poisons), (
        "each poison record in the dead-letter topic exactly once, its value byte for byte"
    )
    assert len({(r.headers, r.offset) for r in letters}) == len(poisons)
    for letter in letters:
        headers = dict(letter.headers)
        assert headers["hoera-dlq-topic"] == probe_topic.encode()
        assert headers["hoera-dlq-error"]
        for value in headers.values():
            value.decode("utf-8")  # the headers of a dead letter are printable
            assert b"\x00" not in value
    assert ready_and_lag == (200, 0.0)
    assert _metric(metrics, "hoera_dead_letters_total", topic=probe_topic) == len(poisons)
    logged = len(re.findall(r"dead-lettering", probe.log_path.read_text() if probe.log_path else ""))
    assert 0 < logged <= len(poisons), "at most one line per poison record, however often it is read"


async def test_a_failing_partition_is_rewound_and_retried_while_the_others_go_on_and_readyz_says_so(
    fresh_db: str, probe_topic: str, tmp_path: Path
) -> None:
    probe = ProbeProcess(fresh_db, probe_topic).start(
        tmp_path, HOERA_CONSUMER_STALL_AFTER_S="2", HOERA_LAG_POLL_INTERVAL_S="0.5"
    )
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap(), acks="all")
    await producer.start()
    try:
        probe.wait_ready()
        conn = await asyncpg.connect(fresh_db)
        try:
            await conn.execute("insert into probe_failing values ('stuck')")
        finally:
            await conn.close()
        stuck_id, stuck = _valid("stuck")
        behind_id, behind = _valid("behind-the-stuck-one")
        await producer.send_and_wait(probe_topic, stuck, key=b"stuck", partition=0)
        await producer.send_and_wait(probe_topic, behind, key=b"stuck", partition=0)
        others = []
        for partition in (1, 2):
            event_id, raw = _valid(f"free-{partition}")
            others.append(event_id)
            await producer.send_and_wait(probe_topic, raw, key=b"free", partition=partition)

        async def seen_ids() -> set[uuid.UUID]:
            return {r["event_id"] for r in await _fetch(fresh_db, "select event_id from probe_seen")}

        async with httpx.AsyncClient(base_url=probe.url) as http:
            free = await eventually(seen_ids, lambda ids: set(others) <= ids, timeout=30)
            unready = await eventually(
                lambda: http.get("/readyz"), lambda r: r.status_code == 503, timeout=30
            )
            stalled = _metric((await http.get("/metrics")).text, "hoera_consumer_stalled")
            assert stuck_id not in await seen_ids() and behind_id not in await seen_ids()

            conn = await asyncpg.connect(fresh_db)
            try:
                await conn.execute("delete from probe_failing")
            finally:
                await conn.close()
            after = await eventually(seen_ids, lambda ids: {stuck_id, behind_id} <= ids, timeout=60)
            ready = await eventually(lambda: http.get("/readyz"), lambda r: r.status_code == 200, timeout=30)
        order = [
            r["event_id"] for r in await _fetch(fresh_db, "select event_id from probe_seen order by seq")
        ]
    finally:
        await producer.stop()
        probe.stop()

    assert set(others) <= free, "the other partitions did not wait for the failing one"
    assert unready.json()["consumers"] is False
    assert stalled == 1.0
    assert {stuck_id, behind_id} <= after
    assert order.index(stuck_id) < order.index(behind_id), "a partition's order is kept"
    assert Counter(order) == dict.fromkeys(order, 1), "nothing twice"
    assert ready.json()["consumers"] is True


async def test_an_outbox_row_the_broker_refuses_is_parked_and_every_shard_goes_on(
    fresh_db: str, probe_topic: str
) -> None:
    await asyncio.to_thread(migrations.apply, fresh_db, MIGRATIONS)
    pool = await create_pool(fresh_db)
    producer = make_producer(kafka_bootstrap())
    await producer.start()
    try:
        envelopes = [
            make_envelope(contact_event(f"c-{n}"), producer="test", tenant="demo", key=f"c-{n}")
            for n in range(12)
        ]
        async with pool.acquire() as conn, conn.transaction():
            await outbox.add(conn, envelopes[:6], shards=4, topic=probe_topic)
            # Larger than the producer will ever send: refused for good, in the middle of a shard.
            await outbox.add_raw(
                conn,
                event_id=uuid.uuid4(),
                topic=probe_topic,
                key="c-0",
                payload=b"x" * (2 * 1024 * 1024),
                headers=[],
                shards=4,
            )
            await outbox.add(conn, envelopes[6:], shards=4, topic=probe_topic)
        relay = OutboxRelay(pool, producer, service="probe", shards=4, batch_size=500)
        done = await relay.run_once()
        records = await read_topic(probe_topic, until=lambda rs: len(rs) >= 12, timeout=30)
        left = await pool.fetchval("select count(*) from kit_outbox")
        async with pool.acquire() as conn:
            parked = await outbox.parked_rows(conn)
            moved = await outbox.retry_parked(conn)
        back = await pool.fetchval("select count(*) from kit_outbox")
    finally:
        await producer.stop()
        await pool.close()

    assert done == 13
    assert sorted(decode(r.value).id for r in records) == sorted(e.id for e in envelopes)
    assert left == 0
    assert len(parked) == 1 and parked[0]["key"] == "c-0" and "TooLarge" in parked[0]["error"]
    assert moved == 1 and back == 1, "an operator can send a parked row back to the outbox"


async def _relay_pass(pool: asyncpg.Pool, relay: OutboxRelay) -> tuple[int, int]:
    async with pool.acquire() as conn, counted_statements(conn) as seen:
        done, _ = await relay.publish(conn)
    return done, len(seen)


async def test_a_relay_pass_over_every_shard_is_one_transaction_of_the_same_statements_whatever_the_rows(
    fresh_db: str, probe_topic: str
) -> None:
    """Rows in all 16 shards, 40 keys with several events each: one pass locks the shards that have
    rows, reads a batch of each, deletes what went out, in the statements a pass over two rows costs;
    every event on Kafka once and each key's events in the order they were added."""
    await asyncio.to_thread(migrations.apply, fresh_db, MIGRATIONS)
    pool = await create_pool(fresh_db)
    producer = make_producer(kafka_bootstrap())
    await producer.start()
    try:
        relay = OutboxRelay(pool, producer, service="probe", shards=16, batch_size=500)
        for key in ("k-warm", "k-one"):
            one = make_envelope(contact_event(key), producer="test", tenant="demo", key=key)
            async with pool.acquire() as conn:
                await outbox.add(conn, [one], shards=16, topic=probe_topic)
            # The first pass also has asyncpg ask the server for the types; the second is counted.
            small = await _relay_pass(pool, relay)
        empty = await _relay_pass(pool, relay)
        envelopes = [
            make_envelope(contact_event(f"k-{i % 40}"), producer="test", tenant="demo", key=f"k-{i % 40}")
            for i in range(400)
        ]
        async with pool.acquire() as conn:
            await outbox.add(conn, envelopes, shards=16, topic=probe_topic)
            shards = await conn.fetchval("select count(distinct shard) from kit_outbox")
        large = await _relay_pass(pool, relay)
        records = await read_topic(probe_topic, until=lambda rs: len(rs) >= 402, timeout=30)
        left = await pool.fetchval("select count(*) from kit_outbox")
    finally:
        await producer.stop()
        await pool.close()

    assert shards == 16
    assert empty == (0, 3), "nothing waiting: a transaction around one probe"
    assert small[0] == 1 and large[0] == 400
    assert large[1] == small[1] == 5, f"{large[1]} statements for 400 rows in 16 shards, {small[1]} for one"
    assert left == 0
    published = [e for e in (decode(r.value) for r in records) if e.key not in ("k-warm", "k-one")]
    assert sorted(e.id for e in published) == sorted(e.id for e in envelopes), "each once"
    for key in {e.key for e in envelopes}:
        assert [e.id for e in published if e.key == key] == [e.id for e in envelopes if e.key == key]


async def test_a_producer_the_broker_refuses_as_out_of_order_is_replaced_and_nothing_is_parked_or_lost(
    fresh_db: str, probe_topic: str
) -> None:
    """A batch lost while a broker stopped leaves aiokafka's idempotent producer a sequence number
    ahead of what the broker holds: every later batch to that partition is refused for ever. Here the
    gap is made on purpose, against the real broker, by moving the producer's sequence on."""
    await asyncio.to_thread(migrations.apply, fresh_db, MIGRATIONS)
    pool = await create_pool(fresh_db)
    first = make_producer(kafka_bootstrap())
    await first.start()
    renewed: list[AIOKafkaProducer] = []

    async def renew() -> AIOKafkaProducer:
        fresh = make_producer(kafka_bootstrap())
        await fresh.start()
        renewed.append(fresh)
        return fresh

    try:
        envelopes = [
            make_envelope(contact_event("same-key"), producer="test", tenant="demo", key="same-key")
            for _ in range(5)
        ]
        # One record, so the broker knows this producer's sequence on the key's partition.
        sent = await first.send_and_wait(probe_topic, b"warm-up", key=b"same-key")
        partition = TopicPartition(probe_topic, sent.partition)
        first._txn_manager.increment_sequence_number(partition, 3)  # the lost batches' numbers
        async with pool.acquire() as conn, conn.transaction():
            await outbox.add(conn, envelopes, shards=4, topic=probe_topic)
        relay = OutboxRelay(pool, first, service="probe", shards=4, batch_size=500, renew_producer=renew)
        outcomes: list[int | str] = []
        for _ in range(3):
            try:
                outcomes.append(await relay.run_once())
            except Exception as exc:
                outcomes.append(type(exc).__name__)
        records = await read_topic(probe_topic, until=lambda rs: len(rs) >= 6, timeout=30)
        left = await pool.fetchval("select count(*) from kit_outbox")
        parked = await pool.fetchval("select count(*) from kit_outbox_parked")
    finally:
        for producer in (first, *renewed):
            with suppress(Exception):
                await asyncio.wait_for(producer.stop(), 10)
        await pool.close()

    assert outcomes[0] == "OutOfOrderSequenceNumber", outcomes
    assert 5 in outcomes, f"the new producer publishes the rows: {outcomes}"
    assert relay.renewals == 1 and relay.producer is renewed[0]
    published = [decode(r.value).id for r in records if r.value != b"warm-up"]
    assert published == [e.id for e in envelopes], "every row once, in order"
    assert left == 0 and parked == 0, "nothing parked: the producer was refused, not the rows"


async def test_a_service_starts_and_stops_fifty_times_under_traffic_without_a_hang_or_a_leaked_connection(
    fresh_db: str, probe_topic: str
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap(), acks="all")
    await producer.start()
    sent: list[uuid.UUID] = []
    stop_traffic = asyncio.Event()

    async def traffic() -> None:
        n = 0
        while not stop_traffic.is_set():
            event_id, raw = _valid(f"traffic-{n % 7}")
            sent.append(event_id)
            await producer.send_and_wait(probe_topic, raw, key=f"traffic-{n % 7}".encode())
            n += 1
            await asyncio.sleep(0.01)

    async def held_connections() -> int:
        return await _count(
            fresh_db,
            "select count(*) from pg_stat_activity where datname = current_database() "
            "and pid <> pg_backend_pid()",
        )

    settings = ProbeSettings(
        database_url=fresh_db,
        environment="test",
        probe_topic=probe_topic,
        shutdown_grace_s=3,
        outbox_poll_interval_s=0.1,
        log_json=False,
    )
    running = asyncio.create_task(traffic())
    leaks: list[int] = []
    emitted: list[str] = []
    try:
        for cycle in range(50):
            svc = create_app(settings)
            await asyncio.wait_for(svc.start(), timeout=60)
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=svc.api), base_url="http://probe"
            ) as http:
                resp = await http.post("/things", json={"key": f"cycle-{cycle}", "count": 3})
                assert resp.status_code == 201
                emitted += resp.json()["event_ids"]
            await asyncio.sleep(0.05 * (cycle % 4))  # stop at different moments of the work
            await asyncio.wait_for(svc.stop(), timeout=30)  # a hang fails here
            leaks.append(await held_connections())
        stop_traffic.set()
        await running
        last = create_app(settings)
        await last.start()
        try:
            total = await eventually(
                lambda: _count(fresh_db, "select count(distinct event_id) from probe_seen"),
                lambda n: n >= len(sent) + len(emitted),
                timeout=60,
            )
            await eventually(
                lambda: _count(fresh_db, "select count(*) from kit_outbox"), lambda n: n == 0, timeout=30
            )
            repeats = await _count(
                fresh_db,
                "select count(*) from (select event_id from probe_seen group by event_id "
                "having count(*) > 1) as twice",
            )
        finally:
            await last.stop()
    finally:
        stop_traffic.set()
        await producer.stop()

    assert leaks == [0] * 50, "every connection is released when the service stops"
    assert total == len(sent) + len(emitted), "nothing lost across fifty restarts"
    assert repeats == 0, "nothing done twice"


async def test_sigterm_while_the_database_is_unreachable_at_start_ends_the_process(tmp_path: Path) -> None:
    unreachable = "postgresql://hoera:hoera@127.0.0.1:9/nowhere"
    probe = ProbeProcess(unreachable, unique_topic("hoera.test.probe")).start(tmp_path)
    try:
        await eventually(
            lambda: asyncio.sleep(0, probe.log().count("not reachable yet")), lambda n: n >= 2, timeout=30
        )
        assert probe.proc is not None
        probe.proc.terminate()
        code = await asyncio.to_thread(probe.proc.wait, 20)  # a hang fails here
    finally:
        probe.kill()
    assert code is not None


async def test_sigterm_under_load_finishes_the_work_in_hand_and_loses_nothing(
    fresh_db: str, probe_topic: str, tmp_path: Path
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap(), acks="all")
    await producer.start()
    sent: list[uuid.UUID] = []
    emitted: list[str] = []
    probe = ProbeProcess(fresh_db, probe_topic).start(tmp_path, HOERA_SHUTDOWN_GRACE_S="6")
    try:
        probe.wait_ready()
        async with httpx.AsyncClient(base_url=probe.url, timeout=10) as http:
            for n in range(300):
                event_id, raw = _valid(f"load-{n % 11}")
                sent.append(event_id)
                await producer.send(probe_topic, raw, key=f"load-{n % 11}".encode())
                if n % 30 == 0:
                    resp = await http.post("/things", json={"key": f"load-{n}", "count": 5})
                    emitted += resp.json()["event_ids"]
        await producer.flush()
        assert probe.proc is not None
        probe.proc.terminate()  # while the batches are being worked
        code = await asyncio.to_thread(probe.proc.wait, 20)
        restarted = ProbeProcess(fresh_db, probe_topic, port=probe.port).start(tmp_path)
        try:
            restarted.wait_ready()
            seen = await eventually(
                lambda: _count(fresh_db, "select count(distinct event_id) from probe_seen"),
                lambda n: n >= len(sent) + len(emitted),
                timeout=60,
            )
            twice = await _count(
                fresh_db,
                "select count(*) from (select event_id from probe_seen group by event_id "
                "having count(*) > 1) as t",
            )
        finally:
            restarted.stop()
    finally:
        await producer.stop()
        probe.kill()
    # uvicorn re-raises the SIGTERM it handled once it has shut down, so a clean exit reads -15.
    assert code in (0, -15), code
    assert probe.log_path is not None and "Application shutdown complete" in probe.log_path.read_text()
    assert seen == len(sent) + len(emitted), "nothing lost"
    assert twice == 0, "nothing done twice"
