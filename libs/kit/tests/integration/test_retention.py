"""Retention against the real PostgreSQL of deploy/local, with a clock the test sets: the kit's records of a
tenant older than its rules are purged, younger ones and other tenants' are kept."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from hoera_events.organisation import Retention
from hoera_kit import migrations
from hoera_kit.db import create_pool
from hoera_kit.retention import PURGED, purge_kit

pytestmark = pytest.mark.integration

NOW = datetime(2027, 6, 1, 3, 0, tzinfo=UTC)
RULES = Retention(delivery_contents_days=90, inbox_days=30, parked_days=10)


@pytest.fixture
async def pool(fresh_db: str) -> AsyncIterator[asyncpg.Pool]:
    await asyncio.to_thread(migrations.apply, fresh_db, None)
    pool = await create_pool(fresh_db)
    yield pool
    await pool.close()


async def _delivery(conn: Any, tenant: str, key: str, state: str, updated: datetime) -> None:
    await conn.execute(
        "insert into kit_deliveries (idempotency_key, channel, recipient, subject, body_text, reference, "
        "tenant, state, updated_at) "
        "values ($1, 'email', $2, 'Uw enquête', 'https://survey/s/1', $1, $3, $4, $5)",
        key,
        f"{key}@customers.test",
        tenant,
        state,
        updated,
    )


async def _parked(conn: Any, seq: int, tenant: str, parked: datetime) -> None:
    payload = json.dumps({"id": str(uuid.uuid4()), "tenant": tenant}).encode()
    await conn.execute(
        "insert into kit_outbox_parked "
        "(seq, event_id, topic, key, shard, payload, created_at, parked_at, error) "
        "values ($1, $2, 't', 'k', 0, $3, $4, $4, 'too large')",
        seq,
        uuid.uuid4(),
        payload,
        parked,
    )


async def test_records_older_than_the_tenants_rules_are_purged_and_younger_ones_kept(
    pool: asyncpg.Pool,
) -> None:
    day = timedelta(days=1)
    async with pool.acquire() as conn:
        await _delivery(conn, "demo", "old-sent", "sent", NOW - 91 * day)
        await _delivery(conn, "demo", "old-given-up", "given_up", NOW - 91 * day)
        await _delivery(conn, "demo", "old-pending", "pending", NOW - 91 * day)  # still to send: kept
        await _delivery(conn, "demo", "young-sent", "sent", NOW - 89 * day)
        await _delivery(conn, "acme", "acme-old-sent", "sent", NOW - 91 * day)
        for event, tenant, age in (
            ("e-old", "demo", 31),
            ("e-young", "demo", 29),
            ("e-old-untold", None, 31),  # a record too broken to name its tenant: the default tenant's
            ("e-acme-old", "acme", 31),
        ):
            await conn.execute(
                "insert into kit_inbox (consumer, event_id, topic, tenant, processed_at) "
                "values ('c', $1, 't', $2, $3)",
                event,
                tenant,
                NOW - age * day,
            )
        await _parked(conn, 1, "demo", NOW - 11 * day)
        await _parked(conn, 2, "demo", NOW - 9 * day)
        await _parked(conn, 3, "acme", NOW - 11 * day)

        async with conn.transaction():
            purged = await purge_kit(conn, "demo", RULES, NOW, default_tenant="demo")
        assert purged == {"delivery_contents": 2, "inbox": 2, "parked": 1}

        rows = {
            r["idempotency_key"]: (r["recipient"], r["body_text"])
            for r in await conn.fetch("select idempotency_key, recipient, body_text from kit_deliveries")
        }
        assert rows["old-sent"] == rows["old-given-up"] == (PURGED, "")
        assert rows["old-pending"] == ("old-pending@customers.test", "https://survey/s/1")
        assert rows["young-sent"] == ("young-sent@customers.test", "https://survey/s/1")
        assert rows["acme-old-sent"] == ("acme-old-sent@customers.test", "https://survey/s/1")
        assert {r["event_id"] for r in await conn.fetch("select event_id from kit_inbox")} == {
            "e-young",
            "e-acme-old",
        }
        assert [r["seq"] for r in await conn.fetch("select seq from kit_outbox_parked order by seq")] == [
            2,
            3,
        ]

        # Purged once: the next run finds nothing more; the other tenant's go on its own rules' day.
        async with conn.transaction():
            assert await purge_kit(conn, "demo", RULES, NOW, default_tenant="demo") == {
                "delivery_contents": 0,
                "inbox": 0,
                "parked": 0,
            }
            assert await purge_kit(conn, "acme", RULES, NOW - 2 * day, default_tenant="demo") == {
                "delivery_contents": 0,
                "inbox": 0,
                "parked": 0,
            }
            assert await purge_kit(conn, "acme", RULES, NOW, default_tenant="demo") == {
                "delivery_contents": 1,
                "inbox": 1,
                "parked": 1,
            }
