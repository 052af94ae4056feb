"""Durable timers: SLA due dates, callback retries, claim leases, approval deadlines.

A timer is a row (kind, key, due time, payload). A scanner in every replica locks due rows with
FOR UPDATE SKIP LOCKED, runs the kind's handler in the same transaction, and deletes the row; so each
timer fires once however many replicas scan, and a restart loses none (the row is still there).
Scheduling the same (kind, key) again moves the timer rather than adding a second one.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from opentelemetry import trace

from hoera_kit import metrics
from hoera_kit.db import Conn
from hoera_kit.retry import Fault, backoff_delay, classify

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Timer:
    id: int
    kind: str
    key: str
    due_at: datetime
    payload: dict[str, Any]
    attempts: int


TimerHandler = Callable[[Conn, Timer], Awaitable[None]]


async def schedule(
    conn: Conn,
    kind: str,
    key: str,
    due_at: datetime,
    payload: dict[str, Any] | None = None,
) -> None:
    if due_at.tzinfo is None:
        raise ValueError("due_at must be timezone-aware")
    await conn.execute(
        "insert into kit_timers (kind, key, due_at, payload) values ($1, $2, $3, $4) "
        "on conflict (kind, key) do update set due_at = excluded.due_at, "
        "payload = excluded.payload, attempts = 0, last_error = null",
        kind,
        key,
        due_at,
        payload or {},
    )


async def schedule_many(
    conn: Conn,
    kind: str,
    due: Sequence[tuple[str, datetime]],
    payloads: Mapping[str, dict[str, Any]] | None = None,
) -> None:
    """`schedule` for many (key, due_at) of one kind in one statement (a consumer's batch), each with
    its payload from `payloads` (by key; none: {}); a key given twice keeps its last moment."""
    if any(at.tzinfo is None for _, at in due):
        raise ValueError("due_at must be timezone-aware")
    last = dict(due)
    if not last:
        return
    carried = payloads or {}
    await conn.execute(
        "insert into kit_timers (kind, key, due_at, payload) "
        "select $1, k, d, p::jsonb from unnest($2::text[], $3::timestamptz[], $4::text[]) as u(k, d, p) "
        "on conflict (kind, key) do update set due_at = excluded.due_at, "
        "payload = excluded.payload, attempts = 0, last_error = null",
        kind,
        list(last),
        list(last.values()),
        [json.dumps(carried.get(key, {})) for key in last],
    )


async def cancel(conn: Conn, kind: str, key: str) -> bool:
    status = await conn.execute("delete from kit_timers where kind = $1 and key = $2", kind, key)
    return bool(status.endswith(" 1"))


async def cancel_many(conn: Conn, timers: Sequence[tuple[str, str]]) -> None:
    """cancel for many (kind, key) at once: one statement, in a fixed order (concurrent batches that
    cancel overlapping timers lock them in the same order)."""
    if not timers:
        return
    ordered = sorted(set(timers))
    await conn.execute(
        "delete from kit_timers where (kind, key) in (select * from unnest($1::text[], $2::text[]))",
        [kind for kind, _ in ordered],
        [key for _, key in ordered],
    )


async def pending(conn: Conn, kind: str, key: str) -> Timer | None:
    row = await conn.fetchrow("select * from kit_timers where kind = $1 and key = $2", kind, key)
    return _timer(row) if row else None


def _timer(row: asyncpg.Record) -> Timer:
    return Timer(
        id=row["id"],
        kind=row["kind"],
        key=row["key"],
        due_at=row["due_at"],
        payload=row["payload"],
        attempts=row["attempts"],
    )


class TimerScanner:
    def __init__(
        self,
        pool: asyncpg.Pool,
        handlers: dict[str, TimerHandler],
        *,
        service: str,
        batch_size: int = 100,
        poll_interval_s: float = 0.5,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.pool = pool
        self.handlers = handlers
        self.service = service
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.instance = f"{socket.gethostname()}:{os.getpid()}"
        self._now = now or (lambda: datetime.now(UTC))
        self._tracer = trace.get_tracer("hoera_kit.timers")

    async def run_once(self) -> int:
        fired = 0
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "select * from kit_timers where due_at <= $1 and kind = any($2::text[]) "
                "order by due_at limit $3 for update skip locked",
                self._now(),
                list(self.handlers),
                self.batch_size,
            )
            for row in rows:
                timer = _timer(row)
                try:
                    async with conn.transaction():
                        with self._tracer.start_as_current_span(
                            f"timer {timer.kind}", attributes={"hoera.timer.key": timer.key}
                        ):
                            # Deleted first: a handler that reschedules the key makes a new row.
                            await conn.execute("delete from kit_timers where id = $1", timer.id)
                            await self.handlers[timer.kind](conn, timer)
                            await conn.execute(
                                "insert into kit_timers_fired (kind, key, due_at, fired_by) "
                                "values ($1, $2, $3, $4)",
                                timer.kind,
                                timer.key,
                                timer.due_at,
                                self.instance,
                            )
                    fired += 1
                    metrics.TIMERS_FIRED.labels(self.service, timer.kind).inc()
                except Exception as exc:
                    if classify(exc) is Fault.transient:
                        raise
                    delay = backoff_delay(timer.attempts, base=1.0, cap=600.0)
                    log.exception("timer %s/%s failed; retry in %.0fs", timer.kind, timer.key, delay)
                    await conn.execute(
                        "update kit_timers set attempts = attempts + 1, last_error = $2, "
                        "due_at = $3 where id = $1",
                        timer.id,
                        repr(exc)[:2000],
                        self._now() + timedelta(seconds=delay),
                    )
        return fired

    async def due_count(self) -> int:
        async with self.pool.acquire() as conn:
            return int(await conn.fetchval("select count(*) from kit_timers where due_at <= now()"))

    async def step(self) -> bool:
        """The scanner's round for a Loop: True while a full batch fired (more may be due)."""
        return await self.run_once() >= self.batch_size
