"""The forward-only migration to many tenants (0003), on a database as the previous release left it:
its rule data becomes version 1 of tenant demo's documents (nothing a customer sees changes), the
old rule tables go, every table's key starts with the tenant, and waiting timers name their tenant."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from hoera_kit import migrations
from hoera_survey.rules import CAPS, TEMPLATES, TEXTS, TRIGGERS
from yoyo import get_backend, read_migrations

pytestmark = pytest.mark.integration

SURVEY_MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
NEW = "0003_tenants"


def _apply(dsn: str, *, without: set[str]) -> None:
    backend = get_backend(dsn)
    try:
        with backend.lock():
            for source in (migrations.KIT_MIGRATIONS, SURVEY_MIGRATIONS):
                todo = backend.to_apply(read_migrations(str(source)))
                backend.apply_migrations(todo.filter(lambda m: m.id not in without))
    finally:
        backend.connection.close()


def _previous_release_triggers() -> dict[str, Any]:
    """Triggers as the previous release stored them: days of link validity, no send window."""
    doc: dict[str, Any] = json.loads((TEMPLATES / "nl" / "triggers.json").read_text())
    for days, rule in zip((7, 14, 7), doc.values(), strict=True):
        del rule["send_window"], rule["link_valid_for"]
        rule["expiry_days"] = days
    return doc


async def test_the_previous_releases_rules_and_rows_carry_over_to_tenant_demo(fresh_db: str) -> None:
    await asyncio.to_thread(_apply, fresh_db, without={NEW})
    triggers = _previous_release_triggers()
    caps = json.loads((TEMPLATES / "nl" / "caps.json").read_text())
    texts = json.loads((TEMPLATES / "nl" / "texts.json").read_text())
    survey_id, now = uuid.uuid4(), datetime.now(UTC)
    conn = await asyncpg.connect(fresh_db)
    try:
        for name, document, version in (("caps", caps, 3), ("triggers", triggers, 2), ("texts", texts, 1)):
            await conn.execute(
                "insert into survey_rules (name, version, document, changed_by) "
                "values ($1, $2, $3::jsonb, 'op')",
                name,
                version,
                json.dumps(document),
            )
        await conn.execute(
            "insert into surveys (survey_id, tenant, customer_id, trigger, trigger_ref, channel, language, "
            "state, requested_at, due_at) values ($1, 'demo', 'C-1', 'contact_closed', 'contact:1', 'phone', "
            "'nl', 'answered', $2, $2)",
            survey_id,
            now,
        )
        await conn.execute(
            "insert into survey_answers (survey_id, answered_at, language, satisfaction) "
            "values ($1, $2, 'nl', 4)",
            survey_id,
            now,
        )
        waiting = uuid.uuid4()
        await conn.execute(
            "insert into kit_timers (kind, key, due_at) values ('survey.invite', $1, $2)",
            str(waiting),
            now + timedelta(minutes=10),
        )
        await conn.execute(
            "insert into surveys (survey_id, tenant, customer_id, trigger, trigger_ref, channel, language, "
            "state, requested_at, due_at) values ($1, 'demo', 'C-2', 'contact_closed', 'contact:2', 'phone', "
            "'nl', 'scheduled', $2, $2)",
            waiting,
            now,
        )

        await asyncio.to_thread(_apply, fresh_db, without=set())

        carried = {
            r["name"]: r
            for r in await conn.fetch(
                "select name, version, document::text as document, changed_by from kit_rule_versions "
                "where tenant = 'demo'"
            )
        }
        assert {n: (r["version"], r["changed_by"]) for n, r in carried.items()} == {
            "caps": (1, "migration"),
            "triggers": (1, "migration"),
            "texts": (1, "migration"),
        }
        migrated = TRIGGERS.validate(json.loads(carried["triggers"]["document"]))
        assert migrated.contact_closed.link_valid_for.seconds == 7 * 86400
        assert migrated.complaint_closed.link_valid_for.seconds == 14 * 86400
        assert migrated.contact_closed.send_window is None  # at any hour, as before
        assert CAPS.validate(json.loads(carried["caps"]["document"])) == CAPS.validate(caps)
        assert TEXTS.validate(json.loads(carried["texts"]["document"])).nl.submit == texts["nl"]["submit"]
        tables = {r["tablename"] for r in await conn.fetch("select tablename from pg_tables")}
        assert not tables & {"survey_rules", "survey_rules_audit"} and "link_keys" in tables
        keys = {
            r["table"]: r["columns"]
            for r in await conn.fetch(
                "select c.conrelid::regclass::text as table, "
                "array_agg(a.attname order by array_position(c.conkey, a.attnum)) as columns "
                "from pg_constraint c "
                "join pg_attribute a on a.attrelid = c.conrelid and a.attnum = any(c.conkey) "
                "where c.contype = 'p' and c.conrelid::regclass::text = any($1) group by 1",
                [
                    "surveys",
                    "survey_answers",
                    "customers",
                    "budget_spends",
                    "suppressions",
                    "deceased_mark_history",
                    "link_keys",
                ],
            )
        }
        assert all(columns[0] == "tenant" for columns in keys.values()) and len(keys) == 7, keys
        assert (
            await conn.fetchval("select tenant from survey_answers where survey_id = $1", survey_id) == "demo"
        )
        assert (
            await conn.fetchval("select key from kit_timers where kind = 'survey.invite'")
            == f"demo/{waiting}"
        )
    finally:
        await conn.close()
