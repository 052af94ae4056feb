"""The kit's hot paths: the outbox relay, a FastStream consumer with the inbox, a bare subscriber."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import uuid

import asyncpg
from aiokafka import AIOKafkaProducer
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from hoera_events.envelope import Envelope, decode, encode, make_envelope
from hoera_events.platform import ContactClosed
from hoera_kit import migrations, outbox
from hoera_kit.db import Conn, create_pool
from hoera_kit.inbox import InboxConsumer

from bench.ceilings import make_topic
from bench.common import Figure, Report, bootstrap, pg_dsn, quiet_logs, rate


async def _fresh_db() -> str:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(pg_dsn())
    try:
        await conn.execute(f'create database "{name}"')
    finally:
        await conn.close()
    await asyncio.to_thread(migrations.apply, pg_dsn(name), None)
    return name


async def _drop_db(name: str) -> None:
    conn = await asyncpg.connect(pg_dsn())
    try:
        await conn.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await conn.close()


def _events(n: int) -> list[Envelope]:
    base = ContactClosed.example()
    return [
        make_envelope(
            base.model_copy(update={"contact_id": uuid.uuid4().hex, "customer_id": f"c-{i % 1000}"}),
            producer="bench",
            tenant="demo",
        )
        for i in range(n)
    ]


async def _fill_outbox(pool: asyncpg.Pool, topic: str, n: int) -> None:
    envs = _events(n)
    for start in range(0, n, 2000):
        async with pool.acquire() as conn, conn.transaction():
            await outbox.add(conn, envs[start : start + 2000], topic=topic)


async def relay(report: Report, rows: int, one_by_one_rows: int) -> None:
    db = await _fresh_db()
    pool = await create_pool(pg_dsn(db), max_size=4)
    producer = outbox.make_producer(bootstrap())
    await producer.start()
    try:
        topic = await make_topic(f"bench.relay.{uuid.uuid4().hex[:6]}")
        await _fill_outbox(pool, topic, rows)
        r = outbox.OutboxRelay(pool, producer, service="bench", batch_size=1000)
        started = time.perf_counter()
        while await r.run_once():
            pass
        batched = rate(rows, time.perf_counter() - started)
        fig = report.add(
            report.ratio_to(
                Figure(f"kit outbox relay, {rows:,} backlog, batch 1000", batched, "ev/s"),
                "C raw aiokafka produce 1KB acks=all",
            )
        )
        await _fill_outbox(pool, topic, one_by_one_rows)
        single = outbox.OutboxRelay(pool, producer, service="bench", batch_size=1)
        started = time.perf_counter()
        while await single.run_once():
            pass
        one = rate(one_by_one_rows, time.perf_counter() - started)
        report.add(Figure("kit outbox relay, one row per transaction", one, "ev/s"))
        report.add(
            Figure(
                "relay batch vs one-by-one",
                batched / one if one else 0,
                "x",
                note=f"(batched {fig.value:,.0f} / single {one:,.0f})",
            )
        )
    finally:
        await producer.stop()
        await pool.close()
        await _drop_db(db)


async def _produce_events(topic: str, n: int) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap(), acks="all", linger_ms=10, max_batch_size=1024 * 1024
    )
    await producer.start()
    try:
        futures = [await producer.send(topic, encode(env), key=env.key.encode()) for env in _events(n)]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def consumer_with_inbox(report: Report, n: int) -> None:
    db = await _fresh_db()
    pool = await create_pool(pg_dsn(db), max_size=4)
    try:
        async with pool.acquire() as conn:
            await conn.execute("create table effect (event_id uuid primary key, key text)")
        topic = await make_topic(f"bench.inbox.{uuid.uuid4().hex[:6]}")
        await _produce_events(topic, n)

        async def effect(conn: Conn, envs: list[Envelope]) -> None:
            await conn.executemany("insert into effect values ($1, $2)", [(e.id, e.key) for e in envs])

        inbox = InboxConsumer(pool, service="bench", name=f"inbox-{topic}", batch_handler=effect)
        broker = KafkaBroker(bootstrap(), logger=logging.getLogger("faststream"))
        done = asyncio.Event()
        counted = 0
        first = 0.0

        @broker.subscriber(
            topic,
            group_id=f"bench-{topic}",
            batch=True,
            max_records=1000,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
        )
        async def on_batch(msg: KafkaMessage) -> None:
            nonlocal counted, first
            first = first or time.perf_counter()
            records = list(msg.raw_message) if isinstance(msg.raw_message, tuple) else [msg.raw_message]
            await inbox.process(records)
            counted += len(records)
            if counted >= n:
                done.set()

        await broker.start()
        await asyncio.wait_for(done.wait(), 600)
        elapsed = time.perf_counter() - first
        await broker.stop()
        report.add(
            report.ratio_to(
                Figure("kit FastStream consumer + inbox + one-row effect", rate(n, elapsed), "ev/s"),
                "C raw aiokafka consume (getmany) 1KB",
            )
        )
    finally:
        await pool.close()
        await _drop_db(db)


async def bare_subscriber(report: Report, n: int) -> None:
    topic = await make_topic(f"bench.bare.{uuid.uuid4().hex[:6]}")
    await _produce_events(topic, n)
    broker = KafkaBroker(bootstrap(), logger=logging.getLogger("faststream"))
    done = asyncio.Event()
    counted = 0
    first = 0.0

    @broker.subscriber(
        topic,
        group_id=f"bench-{topic}",
        batch=True,
        max_records=1000,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )
    async def on_batch(msg: KafkaMessage) -> None:
        nonlocal counted, first
        first = first or time.perf_counter()
        records = list(msg.raw_message) if isinstance(msg.raw_message, tuple) else [msg.raw_message]
        for r in records:
            decode(r.value)  # full envelope + data validation, no I/O
        counted += len(records)
        if counted >= n:
            done.set()

    await broker.start()
    await asyncio.wait_for(done.wait(), 600)
    elapsed = time.perf_counter() - first
    await broker.stop()
    report.add(
        report.ratio_to(
            Figure(
                "FastStream batch subscriber + envelope validation, no I/O",
                rate(n, elapsed),
                "ev/s",
            ),
            "C raw aiokafka consume (getmany) 1KB",
        )
    )


def run(report: Report, scale: float) -> None:
    """The kit's paths at this scale (the relay's backlog is the issue's 100,000 rows, never scaled)."""

    def n(base: int) -> int:
        return max(100, int(base * scale))

    asyncio.run(relay(report, 100_000, n(3_000)))
    asyncio.run(consumer_with_inbox(report, n(50_000)))
    asyncio.run(bare_subscriber(report, n(50_000)))


if __name__ == "__main__":
    quiet_logs()
    run(Report(), float(sys.argv[1]) if len(sys.argv) > 1 else 1.0)
