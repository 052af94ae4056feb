"""Survey comments kept as long as the tenant's retention rules say (a clock the test sets), then purged:
the answer stays with its smileys, only the customer's words go."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from hoera_events.organisation import Retention
from hoera_kit import migrations
from hoera_survey.privacy import purge_comments

pytestmark = pytest.mark.integration

NOW = datetime(2027, 6, 1, 3, 0, tzinfo=UTC)
MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


async def _answered(conn: asyncpg.Connection, tenant: str, words: str, age: timedelta) -> uuid.UUID:
    survey_id = uuid.uuid4()
    at = NOW - age
    await conn.execute(
        "insert into surveys (survey_id, tenant, customer_id, trigger, trigger_ref, channel, language, "
        "state, requested_at, due_at, answered_at) "
        "values ($1, $2, 'CUST-1', 'contact_closed', $3, 'phone', 'nl', 'answered', $4, $4, $4)",
        survey_id,
        tenant,
        f"contact:{survey_id}",
        at,
    )
    await conn.execute(
        "insert into survey_answers (survey_id, tenant, answered_at, language, satisfaction, comment) "
        "values ($1, $2, $3, 'nl', 2, $4)",
        survey_id,
        tenant,
        at,
        words,
    )
    return survey_id


async def test_comments_older_than_the_rule_are_purged_and_younger_ones_kept(fresh_db: str) -> None:
    await asyncio.to_thread(migrations.apply, fresh_db, MIGRATIONS)
    conn = await asyncpg.connect(fresh_db)
    try:
        old = await _answered(conn, "demo", "te lang bewaard", timedelta(days=181))
        young = await _answered(conn, "demo", "nog binnen de termijn", timedelta(days=179))
        other = await _answered(conn, "acme", "een andere organisatie", timedelta(days=181))
        rules = Retention(survey_comments_days=180)
        async with conn.transaction():
            assert await purge_comments(conn, "demo", rules, NOW) == {"survey_comments": 1}
        kept = {
            r["survey_id"]: (r["comment"], r["satisfaction"])
            for r in await conn.fetch("select survey_id, comment, satisfaction from survey_answers")
        }
        assert kept == {
            old: (None, 2),
            young: ("nog binnen de termijn", 2),
            other: ("een andere organisatie", 2),
        }
        async with conn.transaction():
            assert await purge_comments(conn, "demo", rules, NOW) == {"survey_comments": 0}
    finally:
        await conn.close()
