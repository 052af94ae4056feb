"""The idempotent consumer: the event id is recorded in the same transaction as the effect.

A batch of Kafka records becomes one PostgreSQL transaction: inbox rows for every record (so a
redelivered event finds its id and changes nothing), the handler's effect for the new ones, and dead
letters for poison, written to the outbox so that they too are published exactly when the transaction
commits. The Kafka offset is committed only after that (FastStream's ack after the handler returns), so
a crash anywhere redelivers the batch and the inbox turns the redelivery into a no-op.

What counts as poison is decided here, before any handler runs, from the record as it came off the wire:
a value larger than the limit (never parsed), a key or header that is not UTF-8 or holds a NUL, a value
that is not a valid event (not JSON, nested too deep, unknown type or version, schema-invalid) or whose
text holds a NUL (PostgreSQL cannot store one). Each is dead-lettered once, with its value kept byte for
byte and its headers and key made printable, and logged once; the batch goes on.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg
from hoera_events.envelope import Envelope, decode
from hoera_events.registry import all_topics, dlq_topic, spec_for
from opentelemetry import propagate, trace
from opentelemetry.trace import Link

from hoera_kit import metrics, outbox
from hoera_kit.db import Conn
from hoera_kit.retry import Fault, PoisonError, classify
from hoera_kit.telemetry import KEEP_TRACE

log = logging.getLogger(__name__)

Handler = Callable[[Conn, Envelope], Awaitable[None]]
BatchHandler = Callable[[Conn, list[Envelope]], Awaitable[None]]
Admit = Callable[["Record", Envelope], Awaitable[None]]
"""Judges a decoded event before any handler sees it (its tenant, its signature): PoisonError refuses it."""

# An event whose handler keeps failing for a reason that is not transient (a bug, a refused rule) is
# tried this many times within one delivery before it is dead-lettered with its error.
UNKNOWN_FAULT_ATTEMPTS = 3
DEFAULT_MAX_RECORD_BYTES = 1_048_576


class Record(Protocol):
    """What the inbox needs of a Kafka record (aiokafka's ConsumerRecord has it)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


@dataclass
class _Item:
    record: Record
    inbox_id: str
    envelope: Envelope | None = None
    error: str | None = None

    @property
    def replayed(self) -> bool:
        return any(k == "hoera-replayed-from" for k, _ in (self.record.headers or []))


def printable(raw: bytes | None) -> str:
    """Bytes as text PostgreSQL and every Kafka tool can hold: invalid UTF-8 and NUL become U+FFFD."""
    return (raw or b"").decode("utf-8", "replace").replace("\x00", "\ufffd")


def dead_letter_headers(
    record: Record, error: str, consumer: str, group: str | None = None
) -> list[tuple[str, bytes]]:
    # A poison record's own headers may be what made it poison: they travel on, made printable.
    original = [
        (printable(k.encode("utf-8", "surrogateescape") if isinstance(k, str) else k), printable(v).encode())
        for k, v in (record.headers or [])
        if not (isinstance(k, str) and k.startswith("hoera-dlq-"))
    ]
    return [
        *original,
        ("hoera-dlq-error", error[:2000].encode()),
        ("hoera-dlq-topic", record.topic.encode()),
        ("hoera-dlq-partition", str(record.partition).encode()),
        ("hoera-dlq-offset", str(record.offset).encode()),
        ("hoera-dlq-consumer", consumer.encode()),
        # Which deployment's group it was (several may read one broker: staging beside production).
        ("hoera-dlq-group", (group or consumer).encode()),
        ("hoera-dlq-at", datetime.now(UTC).isoformat().encode()),
    ]


_MAX_LINKS = 128
"""The links a span keeps (the SDK's default OTEL_SPAN_LINK_COUNT_LIMIT): reading more is waste."""


def _about_a_complaint(item: _Item) -> bool:
    return item.envelope is not None and item.envelope.type.startswith("complaint.")


def _context_of(record: Record) -> Any:
    carrier = {k: (v or b"").decode("latin-1") for k, v in (record.headers or [])}
    return propagate.extract(carrier)


def _has_nul(value: Any, where: str = "") -> str | None:
    """The path of the first string (key or value) holding a NUL character, or None."""
    if isinstance(value, str):
        return (where or "(value)") if "\x00" in value else None
    if isinstance(value, dict):
        for k, v in value.items():
            path = f"{where}.{k}" if where else str(k)
            if "\x00" in str(k):
                return path
            found = _has_nul(v, path)
            if found:
                return found
    if isinstance(value, list):
        for i, v in enumerate(value):
            found = _has_nul(v, f"{where}[{i}]")
            if found:
                return found
    return None


def poison_reason(record: Record, *, max_bytes: int) -> str | None:
    """Why a record can never be an event, judged on its bytes alone; None when that is not known yet."""
    value = record.value
    if value is None:
        return "the record has no value"
    if len(value) > max_bytes:
        return f"the value is {len(value)} bytes, over the limit of {max_bytes}"
    if record.key is not None:
        try:
            key = record.key.decode("utf-8")
        except UnicodeDecodeError:
            return "the key is not UTF-8"
        if "\x00" in key:
            return "the key holds a NUL character"
    for name, header in record.headers or []:
        if "\x00" in name:
            return "a header name holds a NUL character"
        try:
            text = (header or b"").decode("utf-8")
        except UnicodeDecodeError:
            return f"header {printable(name.encode())!r} is not UTF-8"
        if "\x00" in text:
            return f"header {name!r} holds a NUL character"
    if b"\x00" in value:
        return "the value holds a NUL byte"
    return None


_REGISTERED = frozenset(spec.topic for spec in all_topics())


def read_event(record: Record, *, max_bytes: int = DEFAULT_MAX_RECORD_BYTES) -> Envelope:
    """The record's event, or PoisonError/EventDecodeError saying why it can never be one."""
    reason = poison_reason(record, max_bytes=max_bytes)
    if reason is not None:
        raise PoisonError(reason)
    value = record.value or b""
    try:
        env = decode(value)
    except RecursionError:
        raise PoisonError("the JSON is nested too deeply to read") from None
    if b"\\u0000" in value:
        # Rare, so the event is walked only when an escaped NUL may be in it.
        where = _has_nul(json.loads(value))
        if where is not None:
            raise PoisonError(f"{where}: text holds a NUL character")
    if record.topic in _REGISTERED and spec_for(env.type, env.version).topic != record.topic:
        # A valid event on the wrong topic would reach a handler written for another type.
        raise PoisonError(f"a {env.type} v{env.version} event does not belong on {record.topic}")
    return env


class _Isolate(Exception):
    """A batch failed as a whole for a reason other than a transient one: do it again carefully."""


class InboxConsumer:
    """Applies one handler to batches of records, exactly once per event id and consumer."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        service: str,
        name: str,
        handler: Handler | None = None,
        batch_handler: BatchHandler | None = None,
        shards: int = 16,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
        admit: Admit | None = None,
        group: str | None = None,
    ) -> None:
        if (handler is None) == (batch_handler is None):
            raise ValueError("give exactly one of handler or batch_handler")
        self.pool = pool
        self.service = service
        self.name = name
        self.consumer_id = f"{service}.{name}"
        self.handler = handler
        self.batch_handler = batch_handler
        self.shards = shards
        self.max_record_bytes = max_record_bytes
        self.admit = admit
        self.group = group
        self._tracer = trace.get_tracer("hoera_kit.inbox")

    async def _decode(self, records: Sequence[Record]) -> list[_Item]:
        items = []
        for rec in records:
            try:
                env = read_event(rec, max_bytes=self.max_record_bytes)
                if self.admit is not None:
                    await self.admit(rec, env)
                items.append(_Item(rec, str(env.id), envelope=env))
            except Exception as exc:
                if classify(exc) is not Fault.poison:
                    raise
                where = f"{rec.topic}:{rec.partition}:{rec.offset}"
                items.append(_Item(rec, f"poison:{where}", error=f"{type(exc).__name__}: {exc}"))
        return items

    async def process(self, records: Sequence[Record]) -> None:
        """Handle a batch in one transaction, once. A transient fault is raised (the caller rewinds
        and retries the batch later, never dead-letters it); poison and refused events are
        dead-lettered inside the transaction, so a commit of the offsets after it loses nothing.

        The batch is tried first as it should go: its handler over every event, without a savepoint.
        Only when that fails for a reason other than a transient one is the transaction rolled back and
        the batch done again carefully, each event in a savepoint, so the one at fault is found and
        dead-lettered (two round trips per event that the usual case does not pay)."""
        if not records:
            return
        started = time.perf_counter()
        items = await self._decode(records)
        try:
            try:
                await self._transaction(items, careful=False)
            except _Isolate as exc:
                log.warning(
                    "%s: batch of %d failed (%r); isolating the event at fault",
                    self.consumer_id,
                    len(items),
                    exc.__cause__,
                )
                await self._transaction(items, careful=True)
        except Exception as exc:
            if classify(exc) is Fault.transient:
                metrics.TRANSIENT_RETRIES.labels(self.service, self.consumer_id).inc()
            raise
        metrics.HANDLER_SECONDS.labels(self.service, self.consumer_id).observe(time.perf_counter() - started)

    async def _transaction(self, items: list[_Item], *, careful: bool) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            fresh_ids = set(
                await conn.fetchval(
                    "with ins as (insert into kit_inbox (consumer, event_id, topic, tenant) "
                    "select $1, e, t, n from unnest($2::text[], $3::text[], $4::text[]) as u(e, t, n) "
                    "on conflict do nothing returning event_id) select array_agg(event_id) from ins",
                    self.consumer_id,
                    [i.inbox_id for i in items],
                    [i.record.topic for i in items],
                    [i.envelope.tenant if i.envelope is not None else None for i in items],
                )
                or []
            )
            retry = [i.inbox_id for i in items if i.replayed and i.inbox_id not in fresh_ids]
            if retry:
                # A replay from the dead-letter topic gets one more chance; a plain redelivery not.
                fresh_ids |= set(
                    await conn.fetchval(
                        "with upd as (update kit_inbox set outcome = 'replayed', processed_at = now()"
                        " where consumer = $1 and event_id = any($2::text[])"
                        " and outcome = 'dead_lettered' returning event_id)"
                        " select array_agg(event_id) from upd",
                        self.consumer_id,
                        retry,
                    )
                    or []
                )
            fresh = [i for i in items if i.inbox_id in fresh_ids]
            # The same event twice inside one batch: the first occurrence is the one that counts.
            unique: dict[str, _Item] = {}
            for item in fresh:
                unique.setdefault(item.inbox_id, item)
            fresh = list(unique.values())
            duplicates = len(items) - len(fresh)
            if duplicates:
                metrics.EVENTS_HANDLED.labels(self.service, self.consumer_id, "duplicate").inc(duplicates)
            good = [i for i in fresh if i.envelope is not None]
            for item in fresh:
                if item.envelope is None:
                    await self._dead_letter(conn, item, item.error or "undecodable")
            if good and not careful:
                await self._apply_all(conn, good)
            elif good:
                for item in good:
                    await self._apply_one(conn, item)

    async def _apply_all(self, conn: Conn, items: list[_Item]) -> None:
        """Every event's effect in the batch's transaction, no savepoint: a fault other than a
        transient one is raised as _Isolate (the caller does the batch again, carefully)."""
        envelopes = [i.envelope for i in items if i.envelope is not None]
        try:
            with self._span(items):
                if self.batch_handler is not None:
                    await self.batch_handler(conn, envelopes)
                else:
                    assert self.handler is not None
                    for env in envelopes:
                        await self.handler(conn, env)
        except Exception as exc:
            if classify(exc) is Fault.transient:
                raise
            raise _Isolate from exc
        metrics.EVENTS_HANDLED.labels(self.service, self.consumer_id, "processed").inc(len(items))

    async def _apply_one(self, conn: Conn, item: _Item) -> None:
        assert item.envelope is not None
        env = item.envelope
        last: BaseException | None = None
        for _ in range(UNKNOWN_FAULT_ATTEMPTS):
            try:
                async with conn.transaction():
                    with self._span([item]):
                        if self.handler is not None:
                            await self.handler(conn, env)
                        else:
                            assert self.batch_handler is not None
                            await self.batch_handler(conn, [env])
                metrics.EVENTS_HANDLED.labels(self.service, self.consumer_id, "processed").inc()
                return
            except Exception as exc:
                fault = classify(exc)
                if fault is Fault.transient:
                    raise
                last = exc
                if fault is Fault.poison:
                    break
        log.error("%s: dead-lettering event %s (%s): %r", self.consumer_id, env.id, env.type, last)
        await self._dead_letter(conn, item, f"{type(last).__name__}: {last}")

    async def _dead_letter(self, conn: Conn, item: _Item, error: str) -> None:
        rec = item.record
        if item.envelope is None:
            # Once per record: a redelivery finds the inbox row and never gets here again.
            log.error(
                "%s: dead-lettering %s[%d]@%d: %s",
                self.consumer_id,
                rec.topic,
                rec.partition,
                rec.offset,
                error[:500],
            )
        await conn.execute(
            "update kit_inbox set outcome = 'dead_lettered' where consumer = $1 and event_id = $2",
            self.consumer_id,
            item.inbox_id,
        )
        await outbox.add_raw(
            conn,
            event_id=uuid.uuid5(
                uuid.NAMESPACE_URL,
                f"dlq/{self.consumer_id}/{item.inbox_id}/{rec.topic}/{rec.offset}",
            ),
            topic=dlq_topic(rec.topic),
            key=printable(rec.key) or item.inbox_id,
            payload=rec.value or b"",
            headers=dead_letter_headers(rec, error, self.consumer_id, self.group),
            shards=self.shards,
        )
        metrics.DEAD_LETTERS.labels(self.service, rec.topic).inc()
        metrics.EVENTS_HANDLED.labels(self.service, self.consumer_id, "dead_lettered").inc()

    def _span(self, items: list[_Item]) -> AbstractContextManager[Any]:
        """The handler's span continues the producer's trace and links the others' (as many as the SDK
        keeps). The trace it continues is a complaint's when the batch holds one (the first such): that
        trace is kept whole whatever the sampling ratio (telemetry.KeepComplaints); else the first event's."""
        if not items:
            return nullcontext()
        lead = next((i for i in items if _about_a_complaint(i)), items[0])
        parent = _context_of(lead.record)
        links: list[Link] = []
        for i in items:
            if len(links) >= _MAX_LINKS:
                break
            if i is lead:
                continue
            span_ctx = trace.get_current_span(_context_of(i.record)).get_span_context()
            if span_ctx.is_valid:
                links.append(Link(span_ctx))
        first = lead.envelope
        return self._tracer.start_as_current_span(
            f"{self.consumer_id} handle {first.type if first else 'event'}",
            context=parent,
            kind=trace.SpanKind.CONSUMER,
            links=links,
            attributes={
                KEEP_TRACE: _about_a_complaint(lead),
                "messaging.system": "kafka",
                "messaging.destination.name": lead.record.topic,
                "messaging.consumer.group.name": self.consumer_id,
                "messaging.batch.message_count": len(items),
            },
        )
