"""Deliveries in order and on hold, against the real PostgreSQL of deploy/local: many recorded in one
statement once each; the deliveries of one ordering key go one after the other however often the first
fails; a reference on hold has nothing claimed, new deliveries wait with it, and a release sends the
backlog in order."""

from __future__ import annotations

import asyncio
import json
import os
import random
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import hoera_kit
import pytest
from hoera_devkit.testing import pg_dsn
from hoera_kit import deliveries
from hoera_kit.db import create_pool
from hoera_kit.deliveries import (
    Channel,
    DeliveryRecord,
    DeliveryState,
    DeliveryWorker,
    OutgoingMessage,
    TransientDeliveryError,
)

pytestmark = pytest.mark.integration

ADMIN_DSN = os.environ.get("HOERA_TEST_PG_ADMIN_DSN", pg_dsn())
MIGRATIONS = [
    Path(hoera_kit.__file__).parent / "migrations" / name
    for name in (
        "kit_0003_deliveries.sql",
        "kit_0006_delivery_sender.sql",
        "kit_0007_privacy.sql",
        "kit_0009_webhooks.sql",
    )
]


class _Top(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.fixture(scope="module")
async def pool() -> AsyncIterator[asyncpg.Pool]:
    name = f"test_delivery_order_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'create database "{name}"')
    finally:
        await admin.close()
    url = f"{ADMIN_DSN.rsplit('/', 1)[0]}/{name}"
    conn = await asyncpg.connect(url)
    try:
        for migration in MIGRATIONS:
            await conn.execute(migration.read_text())
    finally:
        await conn.close()
    pool = await create_pool(url, min_size=2, max_size=10)
    yield pool
    await pool.close()
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await admin.close()


@pytest.fixture(autouse=True)
async def empty(pool: asyncpg.Pool) -> None:
    await pool.execute("truncate kit_deliveries, kit_delivery_holds")


class Partner:
    """A webhook receiver in the test: refuses the keys it is told to, records what it took."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.refuse: set[str] = set()

    async def send(self, record: DeliveryRecord) -> str | None:
        await asyncio.sleep(random.uniform(0, 0.01))
        if record.idempotency_key in self.refuse:
            raise TransientDeliveryError("http 503: busy")
        self.received.append(record.idempotency_key)
        return None


def _hook(key: str, reference: str = "webhook:e1", ordering_key: str | None = None) -> OutgoingMessage:
    return OutgoingMessage(
        channel=Channel.webhook,
        recipient="https://partner.example.org/hook",
        subject="survey.answered",
        body_text=json.dumps({"id": key}),
        idempotency_key=key,
        reference=reference,
        headers={"webhook-id": key},
        tenant="demo",
        ordering_key=ordering_key,
    )


def _worker(pool: asyncpg.Pool, partner: Partner, **kw: Any) -> DeliveryWorker:
    options: dict[str, Any] = {"base_delay_s": 0.05, "max_delay_s": 0.2, "rng": _Top(), "max_attempts": 50}
    options.update(kw)
    return DeliveryWorker(pool, {Channel.webhook: partner}, **options)


async def _drain(worker: DeliveryWorker, partner: Partner, until: int, within: float = 20.0) -> None:
    async with asyncio.timeout(within):
        while len(partner.received) < until:
            if await worker.run_once() == 0:
                await asyncio.sleep(0.02)


async def test_many_are_recorded_in_one_statement_once_each_in_the_order_given(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        assert await deliveries.enqueue_many(conn, [_hook("a"), _hook("b"), _hook("a"), _hook("c")]) == 3
    async with pool.acquire() as conn, conn.transaction():
        # A redelivered batch adds only what is new.
        assert await deliveries.enqueue_many(conn, [_hook("c"), _hook("d")]) == 1
        assert await deliveries.enqueue_many(conn, []) == 0
    rows = await pool.fetch("select idempotency_key from kit_deliveries order by seq")
    assert [r[0] for r in rows] == ["a", "b", "c", "d"]
    with pytest.raises(RuntimeError):
        async with pool.acquire() as conn, conn.transaction():
            await deliveries.enqueue_many(conn, [_hook("e")])
            raise RuntimeError("the batch rolls back")
    assert await pool.fetchval("select count(*) from kit_deliveries") == 4


async def test_the_deliveries_of_one_key_go_in_order_however_often_the_first_fails(
    pool: asyncpg.Pool,
) -> None:
    keys = {k: [f"{k}{i}" for i in range(1, 6)] for k in ("x", "y", "z")}
    async with pool.acquire() as conn, conn.transaction():
        # Interleaved, as a consumer's batch of several aggregates records them.
        batch = [_hook(keys[k][i], ordering_key=f"e1:{k}") for i in range(5) for k in keys]
        await deliveries.enqueue_many(conn, batch)
    partner = Partner()
    partner.refuse = {"x1", "y3"}
    worker = _worker(pool, partner, max_concurrency=10)
    # While x1 and y3 fail, nothing behind them of their key goes; z goes through; the rest wait.
    for _ in range(40):
        await worker.run_once()
        await asyncio.sleep(0.02)
    assert [k for k in partner.received if k[0] == "x"] == []
    assert [k for k in partner.received if k[0] == "y"] == ["y1", "y2"]
    assert [k for k in partner.received if k[0] == "z"] == keys["z"]
    x1 = await pool.fetchrow("select attempts, state from kit_deliveries where idempotency_key = 'x1'")
    assert x1 is not None and x1["attempts"] > 1 and x1["state"] == "failed"
    assert (
        await pool.fetchval("select max(attempts) from kit_deliveries where idempotency_key in ('x2', 'x5')")
        == 0
    )

    partner.refuse = set()
    await _drain(worker, partner, until=15)
    for k, expected in keys.items():
        assert [r for r in partner.received if r[0] == k] == expected
    assert len(partner.received) == 15


async def test_a_reference_on_hold_is_not_claimed_waits_with_its_new_deliveries_and_goes_in_order_on_release(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await deliveries.enqueue_many(
            conn,
            [_hook("h1", ordering_key="e1:k"), _hook("h2", ordering_key="e1:k"), _hook("o1", "webhook:e2")],
        )
        await deliveries.hold(conn, "webhook:e1", "endpoint disabled")
    async with pool.acquire() as conn, conn.transaction():
        # Recorded while the hold lasts (a batch of the consumer, and a single one).
        await deliveries.enqueue_many(conn, [_hook("h3", ordering_key="e1:k"), _hook("o2", "webhook:e2")])
        await deliveries.enqueue(conn, _hook("h4", ordering_key="e1:k"))
        assert await deliveries.is_held(conn, "webhook:e1")
    partner = Partner()
    worker = _worker(pool, partner)
    for _ in range(10):
        await worker.run_once()
    assert sorted(partner.received) == ["o1", "o2"]
    waiting = await pool.fetch(
        "select state, attempts, next_attempt_at = 'infinity' as parked from kit_deliveries "
        "where reference = 'webhook:e1'"
    )
    assert len(waiting) == 4 and all(
        r["state"] == "pending" and r["attempts"] == 0 and r["parked"] for r in waiting
    )

    async with pool.acquire() as conn, conn.transaction():
        assert await deliveries.release(conn, "webhook:e1") == 4
        assert not await deliveries.is_held(conn, "webhook:e1")
    await _drain(worker, partner, until=6)
    assert [k for k in partner.received if k.startswith("h")] == ["h1", "h2", "h3", "h4"]
    async with pool.acquire() as conn:
        page = await deliveries.history(conn, "webhook:e1", limit=3)
        assert [r.idempotency_key for r in page] == ["h4", "h3", "h2"]
        assert all(r.state is DeliveryState.sent for r in page)
        rest = await deliveries.history(conn, "webhook:e1", limit=3, before_seq=page[-1].seq)
        assert [r.idempotency_key for r in rest] == ["h1"]


async def test_giving_up_a_reference_ends_its_hold_and_its_unsent_deliveries(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await deliveries.enqueue_many(conn, [_hook("g1"), _hook("g2")])
        await deliveries.hold(conn, "webhook:e1", "disabled")
        assert await deliveries.give_up_all(conn, "webhook:e1", "endpoint deleted") == 2
        assert not await deliveries.is_held(conn, "webhook:e1")
    states = await pool.fetch("select state, last_error from kit_deliveries")
    assert {(r["state"], r["last_error"]) for r in states} == {("given_up", "endpoint deleted")}
