"""The transactional outbox: events commit with the state change that caused them; a relay publishes.

Why shards: several relays of one service may run at once. Each row carries shard = crc32(key) % N; a
relay publishes a shard only while it holds that shard's advisory lock (pg_try_advisory_xact_lock, held
for one batch's transaction), reads its rows in sequence order, publishes them with an idempotent
producer (acks=all) and deletes them in the same transaction. So one key is only ever published by one
relay at a time, in commit order, and a row is deleted only after Kafka acknowledged it. A crash between
the acknowledgement and the delete publishes that batch again after restart: consumers de-duplicate on
the event id (the inbox), which is why the envelope id is the de-duplication key everywhere.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from hoera_events.envelope import Envelope, encode, event_headers
from hoera_events.registry import topic_for
from opentelemetry import propagate, trace

from hoera_kit import metrics
from hoera_kit.db import Conn
from hoera_kit.retry import Fault, backoff_delay, classify

log = logging.getLogger(__name__)
NOTIFY_CHANNEL = "kit_outbox"
# Advisory-lock namespace for outbox shards (first int of the two-int lock key).
_LOCK_SPACE = 0x0B0C


def shard_of(key: str, shards: int) -> int:
    return zlib.crc32(key.encode()) % shards


def _trace_headers() -> list[list[str]]:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return [[k, v] for k, v in carrier.items()]


async def add(
    conn: Conn,
    envelopes: Envelope | Sequence[Envelope],
    *,
    shards: int = 16,
    topic: str | None = None,
) -> None:
    """Write events in the caller's transaction; the current trace context travels with them."""
    items = [envelopes] if isinstance(envelopes, Envelope) else list(envelopes)
    if not items:
        return
    trace_h = _trace_headers()
    rows = []
    for env in items:
        headers = [[k, v.decode()] for k, v in event_headers(env)] + trace_h
        rows.append(
            (
                env.id,
                topic or topic_for(env.data),
                env.key,
                shard_of(env.key, shards),
                encode(env),
                headers,
            )
        )
    await conn.executemany(
        "insert into kit_outbox (event_id, topic, key, shard, payload, headers) "
        "values ($1, $2, $3, $4, $5, $6)",
        rows,
    )
    await conn.execute("select pg_notify($1, '')", NOTIFY_CHANNEL)


async def add_raw(
    conn: Conn,
    *,
    event_id: Any,
    topic: str,
    key: str,
    payload: bytes,
    headers: list[tuple[str, bytes]],
    shards: int = 16,
) -> None:
    """A message that is not (or no longer) a valid envelope: used for dead letters."""
    await conn.execute(
        "insert into kit_outbox (event_id, topic, key, shard, payload, headers) "
        "values ($1, $2, $3, $4, $5, $6) on conflict (event_id) do nothing",
        event_id,
        topic,
        key,
        shard_of(key, shards),
        payload,
        [[k, v.decode("utf-8", "replace")] for k, v in headers],
    )
    await conn.execute("select pg_notify($1, '')", NOTIFY_CHANNEL)


def make_producer(bootstrap: str, **overrides: Any) -> AIOKafkaProducer:
    opts: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "enable_idempotence": True,
        "acks": "all",
        "linger_ms": 5,
        "max_batch_size": 512 * 1024,
        "request_timeout_ms": 30000,
        "compression_type": None,
    }
    opts.update(overrides)
    return AIOKafkaProducer(**opts)


class OutboxRelay:
    """Publishes outbox rows to Kafka; one per process, any number per service."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        *,
        service: str,
        shards: int = 16,
        batch_size: int = 500,
        poll_interval_s: float = 1.0,
    ) -> None:
        self.pool = pool
        self.producer = producer
        self.service = service
        self.shards = shards
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self._wake = asyncio.Event()
        self.published = 0
        self._tracer = trace.get_tracer("hoera_kit.outbox")

    async def publish_shard(self, conn: Conn, shard: int) -> int:
        """Publish one batch of one shard, if no other relay holds it. Returns rows published."""
        async with conn.transaction():
            got = await conn.fetchval("select pg_try_advisory_xact_lock($1, $2)", _LOCK_SPACE, shard)
            if not got:
                return 0
            rows = await conn.fetch(
                "select seq, topic, key, payload, headers from kit_outbox "
                "where shard = $1 order by seq limit $2",
                shard,
                self.batch_size,
            )
            if not rows:
                return 0
            futures = []
            for row in rows:
                headers = [(k, v.encode()) for k, v in row["headers"]]
                futures.append(
                    await self.producer.send(
                        row["topic"], value=row["payload"], key=row["key"].encode(), headers=headers
                    )
                )
            # Every send must be acknowledged (acks=all) before the rows go; a failure raises here
            # and the transaction rolls back, so the rows stay for the next attempt.
            await asyncio.gather(*futures)
            await conn.execute(
                "delete from kit_outbox where seq = any($1::bigint[])", [r["seq"] for r in rows]
            )
        return len(rows)

    async def run_once(self) -> int:
        """One pass over every shard; returns how many rows were published."""
        total = 0
        async with self.pool.acquire() as conn:
            for shard in range(self.shards):
                while True:
                    n = await self.publish_shard(conn, shard)
                    total += n
                    if n < self.batch_size:
                        break
        self.published += total
        return total

    async def backlog(self) -> int:
        async with self.pool.acquire() as conn:
            return int(await conn.fetchval("select count(*) from kit_outbox"))

    async def _listen(self, stop: asyncio.Event) -> None:
        """Wake on NOTIFY; if the listening connection drops, re-listen (polling covers the gap)."""
        attempt = 0
        while not stop.is_set():
            try:
                conn = await self.pool.acquire()

                def wake(*_: object) -> None:
                    self._wake.set()

                try:
                    await conn.add_listener(NOTIFY_CHANNEL, wake)
                    attempt = 0
                    while not stop.is_set() and not conn.is_closed():
                        await asyncio.sleep(1.0)
                        await conn.fetchval("select 1")
                finally:
                    with suppress(Exception):
                        await conn.remove_listener(NOTIFY_CHANNEL, wake)
                    await self.pool.release(conn)
            except Exception as exc:
                if classify(exc) is not Fault.transient:
                    log.exception("outbox listener failed")
                await asyncio.sleep(backoff_delay(attempt, base=0.2, cap=5.0))
                attempt += 1

    async def run(self, stop: asyncio.Event) -> None:
        listener = asyncio.create_task(self._listen(stop))
        attempt = 0
        try:
            while not stop.is_set():
                self._wake.clear()
                try:
                    started = time.perf_counter()
                    n = await self.run_once()
                    attempt = 0
                    if n:
                        metrics.OUTBOX_PUBLISHED.labels(self.service).inc(n)
                        metrics.OUTBOX_RELAY_SECONDS.labels(self.service).observe(
                            time.perf_counter() - started
                        )
                        continue
                except Exception as exc:
                    fault = classify(exc)
                    delay = backoff_delay(attempt, base=0.2, cap=10.0)
                    log.warning("outbox relay: %s fault, retry in %.2fs: %r", fault, delay, exc)
                    attempt += 1
                    await asyncio.sleep(delay)
                    continue
                waiter = asyncio.create_task(self._wake.wait())
                stopper = asyncio.create_task(stop.wait())
                await asyncio.wait(
                    {waiter, stopper},
                    timeout=self.poll_interval_s,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                waiter.cancel()
                stopper.cancel()
        finally:
            listener.cancel()
