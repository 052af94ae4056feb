"""The forward-only move to tenants (migrations/0002_tenants.sql) on a database as the service left it
before: the operator data of the one tenant, demo, becomes its version 1 of the kit's rule documents
(the organisation and absences are not carried: they are the tenant's organisation now), the old
rule tables go, and the tenant becomes part of the key of every table that holds a tenant's rows."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg
import pytest
from hoera_alerts.app import MIGRATIONS
from hoera_alerts.rules import DOCUMENTS, TEMPLATES
from hoera_kit import migrations
from yoyo import get_backend, read_migrations

pytestmark = pytest.mark.integration


def _apply_up_to_0001(dsn: str) -> None:
    backend = get_backend(dsn)
    try:
        with backend.lock():
            backend.apply_migrations(backend.to_apply(read_migrations(str(migrations.KIT_MIGRATIONS))))
            first = read_migrations(str(MIGRATIONS)).filter(lambda m: m.id == "0001_alerts")
            backend.apply_migrations(backend.to_apply(first))
    finally:
        backend.connection.close()


def _template(name: str) -> Any:
    return json.loads((TEMPLATES / "nl" / f"{name}.json").read_text())


async def _keys(conn: asyncpg.Connection, table: str) -> list[str]:
    rows = await conn.fetch(
        "select a.attname from pg_index i join pg_attribute a on a.attrelid = i.indrelid "
        "and a.attnum = any(i.indkey) where i.indrelid = $1::regclass and i.indisprimary",
        table,
    )
    return sorted(r["attname"] for r in rows)


async def test_demos_rules_become_its_first_versions_and_every_key_names_the_tenant(fresh_db: str) -> None:
    await asyncio.to_thread(_apply_up_to_0001, fresh_db)
    old_notices = {"management": "digest", "digest_every_seconds": 600}
    threshold = {**_template("threshold"), "alert_below": 5.5}
    old = {
        "unhappy": _template("unhappy"),
        "threshold": threshold,
        "notices": old_notices,
        "links": _template("links"),
        "dashboard": _template("dashboard"),
        "texts": _template("texts"),
        "organisation": {"people": [], "teams": []},
        "absences": {"absences": []},
    }
    alert_id = uuid.uuid4()
    conn = await asyncpg.connect(fresh_db)
    try:
        for name, body in old.items():
            await conn.execute(
                "insert into rules (name, body, version, changed_by) "
                "values ($1, $2::text::jsonb, 3, 'admin-ops')",
                name,
                json.dumps(body),
            )
        await conn.execute(
            "insert into alerts (alert_id, tenant, kind, severity, status, team_id, raised_at) "
            "values ($1, 'demo', 'unhappy_smiley', 'warning', 'open', 'team-nl-1', now())",
            alert_id,
        )
        await conn.execute(
            "insert into alert_recipients (alert_id, recipient_id, role, delivery_id) "
            "values ($1, 'sup-sara', 'supervisor', $2)",
            alert_id,
            uuid.uuid4(),
        )
    finally:
        await conn.close()

    applied = await asyncio.to_thread(migrations.apply, fresh_db, MIGRATIONS)
    assert "0002_tenants" in applied

    conn = await asyncpg.connect(fresh_db)
    try:
        carried = {
            r["name"]: r
            for r in await conn.fetch(
                "select name, version, document::text as document, changed_by, reason "
                "from kit_rule_versions where tenant = 'demo'"
            )
        }
        gone = await conn.fetchval(
            "select to_regclass('rules') is null and to_regclass('rules_audit') is null"
        )
        recipient_tenant = await conn.fetchval(
            "select tenant from alert_recipients where alert_id = $1", alert_id
        )
        keys = {
            t: await _keys(conn, t)
            for t in (
                "alerts",
                "alert_recipients",
                "pending_notices",
                "answers",
                "invitations",
                "complaints",
                "contacts",
                "threshold_state",
            )
        }
    finally:
        await conn.close()

    assert sorted(carried) == sorted(doc.name for doc in DOCUMENTS)
    assert {(r["version"], r["changed_by"]) for r in carried.values()} == {(1, "migration")}
    assert "version 3 by admin-ops" in carried["threshold"]["reason"]
    for doc in DOCUMENTS:  # each carried document fits today's model and checks
        doc.validate(json.loads(carried[doc.name]["document"]))
    assert json.loads(carried["threshold"]["document"])["alert_below"] == 5.5
    assert json.loads(carried["notices"]["document"]) == {
        "management": "digest",
        "digest_every": {"seconds": 600},
    }
    assert gone
    assert recipient_tenant == "demo"
    for table, key in keys.items():
        assert "tenant" in key, (table, key)
