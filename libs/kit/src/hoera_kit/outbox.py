"""The transactional outbox: events commit with the state change that caused them; a relay publishes.

Why shards: several relays of one service may run at once. Each row carries shard = crc32(key) % N; a
relay publishes a shard only while it holds that shard's advisory lock (pg_try_advisory_xact_lock, held
for one batch's transaction), reads its rows in sequence order, publishes them with an idempotent
producer (acks=all) and deletes them in the same transaction. So one key is only ever published by one
relay at a time, in commit order, and a row is deleted only after Kafka acknowledged it. A crash between
the acknowledgement and the delete publishes that batch again after restart: consumers de-duplicate on
the event id (the inbox), which is why the envelope id is the de-duplication key everywhere.

A row the broker refuses for good (a record too large for it, a topic it will not take) is parked: moved
to kit_outbox_parked with the error in the same transaction, counted in hoera_outbox_parked, logged, and
listed or retried by an operator (`hoera-kit outbox parked|retry`). The rows behind it go on. Shards are
independent: a pass is one transaction that locks every shard with rows (shards without rows cost
nothing: a skip scan of the index finds the others), sends a batch of each at once and waits for the
acknowledgements once; a shard whose row fails keeps that row and those behind it for the next pass,
and does not hold up the others.

A producer the broker no longer accepts is replaced, never blamed on the row. The broker keeps each
idempotent producer's last sequence number per partition; when a batch is lost in between (a broker
stopping mid-request), aiokafka neither resets its sequence nor bumps its epoch as the Java client does,
so every later batch of that producer to that partition is refused as out of order, for ever. Such a
refusal says nothing about the record: the rows stay and the relay starts a new producer (a new producer
id) for the next pass.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from hoera_events.envelope import Envelope, encode, event_headers
from hoera_events.registry import topic_for
from opentelemetry import propagate, trace

from hoera_kit import kafka, metrics
from hoera_kit.db import Conn
from hoera_kit.retry import Fault, classify

log = logging.getLogger(__name__)
NOTIFY_CHANNEL = "kit_outbox"
# Advisory-lock namespace for outbox shards (first int of the two-int lock key).
_LOCK_SPACE = 0x0B0C
# The shards that have rows, found by a skip scan of the (shard, seq) index (a probe per shard that
# has rows, not a read of the backlog), each locked for this transaction unless another relay holds it.
_LOCK_SHARDS_WITH_ROWS = """
with recursive shards(shard) as (
    (select shard from kit_outbox order by shard limit 1)
    union all
    select (select o.shard from kit_outbox o where o.shard > shards.shard order by o.shard limit 1)
    from shards where shards.shard is not null
)
select coalesce(array_agg(shard order by shard), '{}') from shards
where shard is not null and pg_try_advisory_xact_lock($1, shard)
"""
# A batch of each locked shard in sequence order, from the same index.
_BATCH_OF_EACH_SHARD = """
select r.seq, r.event_id, r.topic, r.key, r.shard, r.payload, r.headers, r.created_at
from unnest($1::int[]) as locked(shard)
cross join lateral (
    select * from kit_outbox o where o.shard = locked.shard order by o.seq limit $2
) as r
order by r.shard, r.seq
"""


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
    sign: Callable[[bytes], tuple[str, bytes]] | None = None,
) -> None:
    """Write events in the caller's transaction; the current trace context travels with them.
    `sign(value)` adds a header computed over each record's exact bytes (a relayed platform event)."""
    items = [envelopes] if isinstance(envelopes, Envelope) else list(envelopes)
    if not items:
        return
    trace_h = _trace_headers()
    rows = []
    for env in items:
        value = encode(env)
        headers = [[k, v.decode()] for k, v in event_headers(env)] + trace_h
        if sign is not None:
            name, signature = sign(value)
            headers.append([name, signature.decode()])
        rows.append(
            (
                env.id,
                topic or topic_for(env.data),
                env.key,
                shard_of(env.key, shards),
                value,
                headers,
            )
        )
    # One statement however many events (a consumer's batch writes hundreds), in the order given, so
    # their seq keeps the order of each key.
    await conn.execute(
        "insert into kit_outbox (event_id, topic, key, shard, payload, headers) "
        "select e, t, k, s, p, h::jsonb from unnest($1::uuid[], $2::text[], $3::text[], $4::int[], "
        "$5::bytea[], $6::text[]) with ordinality as u(e, t, k, s, p, h, n) order by n",
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
        [r[3] for r in rows],
        [r[4] for r in rows],
        [json.dumps(r[5]) for r in rows],
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
        # jsonb holds neither invalid UTF-8 nor NUL: a dead letter's headers are made printable.
        [[k, v.decode("utf-8", "replace").replace("\x00", "\ufffd")] for k, v in headers],
    )
    await conn.execute("select pg_notify($1, '')", NOTIFY_CHANNEL)


def make_producer(client: kafka.Client, **overrides: Any) -> AIOKafkaProducer:
    opts: dict[str, Any] = {
        **kafka.options(client),
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
    """Publishes outbox rows to Kafka; one per process, any number per service (a Loop's step)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        producer: AIOKafkaProducer,
        *,
        service: str,
        shards: int = 16,
        batch_size: int = 500,
        poll_interval_s: float = 1.0,
        renew_producer: Callable[[], Awaitable[AIOKafkaProducer]] | None = None,
    ) -> None:
        """renew_producer: starts a new producer in place of one the broker no longer accepts (and
        stops the old one); without it the relay keeps failing until its process is restarted."""
        self.pool = pool
        self.producer = producer
        self.renew_producer = renew_producer
        self.renewals = 0
        # Set by a batch the broker refused for the producer's sake, even when rows before it went out.
        self._producer_refused = False
        self.service = service
        self.shards = shards
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.published = 0
        self.parked = 0
        self._tracer = trace.get_tracer("hoera_kit.outbox")

    async def _send(self, row: asyncpg.Record) -> asyncio.Future[Any]:
        headers = [(k, v.encode()) for k, v in row["headers"]]
        future: asyncio.Future[Any] = await self.producer.send(
            row["topic"], value=row["payload"], key=row["key"].encode(), headers=headers
        )
        return future

    async def _outcomes(self, rows: Sequence[asyncpg.Record]) -> list[BaseException | None]:
        """Send every row, then wait for every acknowledgement (acks=all); one outcome per row."""
        pending: list[asyncio.Future[Any] | BaseException] = []
        for row in rows:
            try:
                pending.append(await self._send(row))
            except Exception as exc:  # refused before it left, e.g. larger than the producer's limit
                pending.append(exc)
        outcomes: list[BaseException | None] = []
        for item in pending:
            if isinstance(item, BaseException):
                outcomes.append(item)
                continue
            try:
                await item
                outcomes.append(None)
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

    async def publish(self, conn: Conn) -> tuple[int, bool]:
        """One transaction: lock every shard that has rows and that no other relay holds, take a
        batch of each, send them all, wait for the acknowledgements once, delete what went out.
        Returns (rows done, whether a shard had a full batch); raises when rows were waiting and not
        one could be published (the broker is away)."""
        async with conn.transaction():
            shards = await conn.fetchval(_LOCK_SHARDS_WITH_ROWS, _LOCK_SPACE)
            if not shards:
                return 0, False
            # A statement of its own after the locks: its snapshot sees every delete committed by the
            # relay that held a shard before (one statement's snapshot predates its own locks).
            rows = await conn.fetch(_BATCH_OF_EACH_SHARD, shards, self.batch_size)
            done: list[int] = []
            parked: list[tuple[asyncpg.Record, BaseException]] = []
            failures: dict[int, BaseException] = {}
            for row, outcome in zip(rows, await self._outcomes(rows), strict=True):
                shard = row["shard"]
                if shard in failures:
                    continue  # the rows behind a failed one stay, in order, for the next pass
                if outcome is None:
                    done.append(row["seq"])
                elif producer_refused(outcome):
                    self._producer_refused = True
                    failures[shard] = outcome
                elif refused_for_good(outcome):
                    parked.append((row, outcome))
                    done.append(row["seq"])
                else:
                    # Those after it that did go out are published again then; consumers
                    # de-duplicate on the event id.
                    failures[shard] = outcome
            for row, exc in parked:
                await self._park(conn, row, exc)
            if done:
                await conn.execute("delete from kit_outbox where seq = any($1::bigint[])", done)
        for shard, exc in failures.items():
            log.warning("%s: outbox shard %d not published: %r", self.service, shard, exc)
        if failures and not done:
            raise next(iter(failures.values()))
        self.published += len(done) - len(parked)
        per_shard = Counter(row["shard"] for row in rows)
        return len(done), bool(failures) or max(per_shard.values(), default=0) >= self.batch_size

    async def _park(self, conn: Conn, row: asyncpg.Record, exc: BaseException) -> None:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        await conn.execute(
            "insert into kit_outbox_parked (seq, event_id, topic, key, shard, payload, headers, "
            "created_at, error) values ($1, $2, $3, $4, $5, $6, $7, $8, $9) on conflict do nothing",
            row["seq"],
            row["event_id"],
            row["topic"],
            row["key"],
            row["shard"],
            row["payload"],
            row["headers"],
            row["created_at"],
            error,
        )
        self.parked += 1
        log.error(
            "%s: outbox row %s (event %s, %d bytes) for %s refused by the broker, parked: %s",
            self.service,
            row["seq"],
            row["event_id"],
            len(row["payload"]),
            row["topic"],
            error,
        )

    async def _renew(self) -> None:
        self._producer_refused = False
        if self.renew_producer is None:
            return
        log.warning(
            "%s: the broker no longer accepts this producer's sequence; starting a new one", self.service
        )
        self.producer = await self.renew_producer()
        self.renewals += 1

    async def run_once(self) -> int:
        """One pass: a batch from every shard that has rows. Returns the rows done."""
        total, _ = await self._pass()
        return total

    async def _pass(self) -> tuple[int, bool]:
        started = time.perf_counter()
        try:
            async with self.pool.acquire() as conn:
                total, more = await self.publish(conn)
        finally:
            if self._producer_refused:
                await self._renew()
        if total:
            metrics.OUTBOX_PUBLISHED.labels(self.service).inc(total)
            metrics.OUTBOX_RELAY_SECONDS.labels(self.service).observe(time.perf_counter() - started)
        return total, more

    async def step(self) -> bool:
        """The relay's round for a Loop: True while some shard had a full batch."""
        _, more = await self._pass()
        return more

    async def backlog(self) -> int:
        async with self.pool.acquire() as conn:
            return int(await conn.fetchval("select count(*) from kit_outbox"))


def producer_refused(exc: BaseException) -> bool:
    """The broker refuses the producer's state (its sequence, epoch or id), not the record."""
    from aiokafka import errors as kafka_errors

    return isinstance(
        exc,
        kafka_errors.OutOfOrderSequenceNumber
        | kafka_errors.InvalidProducerEpoch
        | kafka_errors.UnknownProducerId
        | kafka_errors.InvalidProducerIdMapping
        | kafka_errors.ProducerFenced,
    )


def refused_for_good(exc: BaseException) -> bool:
    """The broker (or the producer before it) will never take this record as it is."""
    from aiokafka import errors as kafka_errors

    return (
        isinstance(exc, kafka_errors.KafkaError)
        and classify(exc) is not Fault.transient
        and not producer_refused(exc)
    )


async def parked_rows(conn: Conn, *, limit: int = 100) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "select seq, event_id, topic, key, length(payload) as bytes, parked_at, error "
        "from kit_outbox_parked order by seq limit $1",
        limit,
    )
    return [dict(r) for r in rows]


async def retry_parked(conn: Conn, seqs: Sequence[int] | None = None) -> int:
    """Move parked rows back into the outbox (all, or the given ones); the relay tries them again."""
    async with conn.transaction():
        moved = await conn.fetch(
            "with moved as (delete from kit_outbox_parked where $1::bigint[] is null or seq = any($1) "
            "returning event_id, topic, key, shard, payload, headers, created_at) "
            "insert into kit_outbox (event_id, topic, key, shard, payload, headers, created_at) "
            "select event_id, topic, key, shard, payload, headers, created_at from moved "
            "on conflict (event_id) do nothing returning seq",
            list(seqs) if seqs is not None else None,
        )
        await conn.execute("select pg_notify($1, '')", NOTIFY_CHANNEL)
    return len(moved)
