"""The forward-only migration to tenants, on a database as the previous release left it: today's
operator data becomes version 1 of tenant demo's rule documents (each fitting its model), the old rule
tables go, and every row keeps its data under a key that names its tenant."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from hoera_compensation import rules
from hoera_compensation.app import MIGRATIONS
from hoera_kit import migrations
from yoyo import get_backend, read_migrations
from yoyo.migrations import MigrationList

pytestmark = pytest.mark.integration


def _apply_until(dsn: str, last: str) -> None:
    """The kit's migrations and the service's up to `last`: the previous release's schema."""
    backend = get_backend(dsn)
    try:
        with backend.lock():
            backend.apply_migrations(backend.to_apply(read_migrations(str(migrations.KIT_MIGRATIONS))))
            earlier = MigrationList(m for m in read_migrations(str(MIGRATIONS)) if m.id <= last)
            backend.apply_migrations(backend.to_apply(earlier))
    finally:
        backend.connection.close()


async def _previous_release_data(conn: asyncpg.Connection) -> tuple[uuid.UUID, uuid.UUID]:
    entry = json.loads((rules.TEMPLATES / "nl" / "catalogue.json").read_text())["entries"][0]
    kept = {**entry, "code": "kept-entry"}
    retired = {**entry, "code": "retired-entry"}
    for value, gone in ((kept, False), (retired, True)):
        await conn.execute(
            "insert into catalogue_entries (code, categories, entry, retired) values ($1, $2, $3::jsonb, $4)",
            value["code"],
            value["categories"],
            json.dumps(value),
            gone,
        )
    for tenant, role, cents in (("*", "agent", 30000), ("*", "supervisor", 50000), ("demo", "agent", 25000)):
        await conn.execute(
            "insert into mandates (tenant, role, limit_cents, currency) values ($1, $2, $3, 'EUR')",
            tenant,
            role,
            cents,
        )
    await conn.execute(
        "insert into policies values ('approval_deadline', '{\"business_days\": 3}'), "
        '(\'abuse_watch\', \'{"threshold": 3, "window_days": 200, "flagged_needs_approval": true}\')'
    )
    complaint, compensation = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    await conn.execute(
        "insert into complaints (complaint_id, tenant, customer_id, category) "
        "values ($1, 'demo', 'c-1', 'refund.late')",
        complaint,
    )
    await conn.execute(
        "insert into apologies values ($1, 'nl', 'Sorry', null, 'agent-anna', $2)", complaint, now
    )
    await conn.execute(
        "insert into compensations (compensation_id, complaint_id, tenant, customer_id, kind, status, "
        "amount_cents, currency, category, proposed_by, proposed_at, deadline_at) "
        "values ($1, $2, 'demo', 'c-1', 'financial', 'awaiting_approval', 40000, 'EUR', 'refund.late', "
        "'agent-anna', $3, $3)",
        compensation,
        complaint,
        now,
    )
    await conn.execute(
        "insert into kit_timers (kind, key, due_at, payload) "
        "values ('compensation.approval_deadline', $1, $2, $3)",
        str(compensation),
        now,
        json.dumps({"compensation_id": str(compensation)}),
    )
    return complaint, compensation


async def test_today_s_rule_data_becomes_demo_s_first_version_and_every_key_names_the_tenant(
    fresh_db: str,
) -> None:
    await asyncio.to_thread(_apply_until, fresh_db, "0003_deceased_mark_withdrawn")
    conn = await asyncpg.connect(fresh_db)
    try:
        complaint, compensation = await _previous_release_data(conn)
        await asyncio.to_thread(migrations.apply, fresh_db, MIGRATIONS)

        rows = await conn.fetch(
            "select tenant, name, version, document::text, changed_by from kit_rule_versions"
        )
        found = {r["name"]: json.loads(r["document"]) for r in rows}
        assert {(r["tenant"], r["version"], r["changed_by"]) for r in rows} == {("demo", 1, "migration")}
        assert [e["code"] for e in found["catalogue"]["entries"]] == ["kept-entry"]
        assert found["mandates"] == {
            "agent": {"amount_cents": 25000, "currency": "EUR"},
            "supervisor": {"amount_cents": 50000, "currency": "EUR"},
        }
        assert found["approval-deadline"] == {"business_days": 3}
        assert found["abuse-watch"] == {"threshold": 3, "window_days": 200}
        for doc in rules.DOCUMENTS:
            doc.validate(found[doc.name])

        for table in ("catalogue_entries", "mandates", "policies", "rules_audit"):
            assert await conn.fetchval("select to_regclass($1)", table) is None, table
        assert (
            await conn.fetchval("select tenant from apologies where complaint_id = $1", complaint) == "demo"
        )
        payload = await conn.fetchval("select payload from kit_timers where key = $1", str(compensation))
        assert json.loads(payload)["tenant"] == "demo"
        # The same complaint id from another tenant is another row, not this one.
        await conn.execute(
            "insert into complaints (complaint_id, tenant, customer_id, category) "
            "values ($1, 'acme', 'c-9', 'x')",
            complaint,
        )
        assert await conn.fetchval("select customer_id from complaints where tenant = 'demo'") == "c-1"
    finally:
        await conn.close()


async def test_a_fresh_database_carries_nothing_and_its_tenants_read_their_templates(fresh_db: str) -> None:
    await asyncio.to_thread(migrations.apply, fresh_db, MIGRATIONS)
    conn = await asyncpg.connect(fresh_db)
    try:
        assert await conn.fetchval("select count(*) from kit_rule_versions") == 0
    finally:
        await conn.close()
