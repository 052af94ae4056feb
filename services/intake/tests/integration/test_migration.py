"""The migration to per-tenant rule documents carries an existing deployment's rules and organisation
over as tenant demo's version 1 (valid for today's models), makes demo a tenant, and puts the tenant
in every key; a fresh database gets none of it."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from hoera_events.organisation import Organisation
from hoera_intake import app, rules
from hoera_kit import migrations

pytestmark = pytest.mark.integration

BEFORE = ("0001_intake.sql", "0002_deceased_audit.sql", "0003_tenants.sql")

OLD_RULES: dict[str, Any] = {
    "categories": {
        "categories": [
            {
                "code": "refund.late",
                "names": {"nl": "Laattijdig", "fr": "Tardif", "en": "Late"},
                "sla": {"business_days": 5, "by_channel": {"email": 4}},
            }
        ]
    },
    "root-causes": {"departments": [{"code": "billing", "names": {"nl": "F", "fr": "F", "en": "B"}}]},
    "templates": json.loads((rules.TEMPLATES / "nl" / "templates.json").read_text(encoding="utf-8")),
    "workflow": {
        "waiting_statuses": ["waiting_on_customer"],
        "inform_customer_on": ["resolved"],
        "default_sla_business_days": 7,
        "default_team_by_language": {"nl": "team-nl-1"},
    },
    "teams": {
        "teams": [
            {
                "team_id": "team-nl-1",
                "lead": {"agent_id": "sup-sara", "email": "sara@x.test", "language": "nl"},
                "deputy": {"agent_id": "sup-dirk", "email": "dirk@x.test", "language": "nl"},
                "members": [{"agent_id": "agent-anna", "email": "anna@x.test"}, {"agent_id": "agent-bram"}],
            },
            {
                "team_id": "team-fr-1",
                "lead": {"agent_id": "sup-marc", "email": "marc@x.test", "language": "fr"},
                "members": [{"agent_id": "agent-anna", "email": "anna@x.test"}],
            },
        ]
    },
    "absences": {"absences": [{"agent_id": "sup-sara", "first_day": "2026-03-02", "last_day": "2026-03-06"}]},
    "calendar": {
        "timezone": "Europe/Brussels",
        "workdays": [1, 2, 3, 4, 5, 6, 7],
        "business_hours": {"opens": "00:00", "closes": "24:00"},
        "holidays": [{"date": "2026-12-25", "name": "Kerstmis"}],
    },
}


def _apply(dsn: str, files: tuple[str, ...] | None) -> None:
    if files is None:
        migrations.apply(dsn, app.MIGRATIONS)
        return
    folder = Path(f"/tmp/intake-migrations-{uuid.uuid4().hex[:8]}")
    folder.mkdir()
    try:
        for name in files:
            shutil.copy(app.MIGRATIONS / name, folder / name)
        migrations.apply(dsn, folder)
    finally:
        shutil.rmtree(folder)


async def _old_deployment(conn: asyncpg.Connection) -> uuid.UUID:
    for kind, document in OLD_RULES.items():
        await conn.execute(
            "insert into rules (kind, version, document, changed_by) "
            "values ($1, 3, $2::text::jsonb, 'admin-ops')",
            kind,
            json.dumps(document),
        )
    complaint = uuid.uuid4()
    now = datetime.now(UTC)
    await conn.execute(
        "insert into complaints (id, tenant, customer_id, channel, category, language, summary, status, "
        "status_since, received_via, raised_at, due_date, sla_unit, sla_reminder_lead, escalate_at, "
        "breach_at) values ($1, 'demo', 'CUST-1', 'phone', 'refund.late', 'nl', 's', 'open', $2, 'http', "
        "$2, $3, 'business_days', 1, $2, $2)",
        complaint,
        now,
        now.date(),
    )
    await conn.execute("insert into complainants (complaint_id, email) values ($1, 'c@x.test')", complaint)
    await conn.execute("insert into timeline (complaint_id, what, who) values ($1, 'raised', 'p')", complaint)
    await conn.execute(
        "insert into status_periods (complaint_id, tenant, status, category, started_at) "
        "values ($1, 'demo', 'open', 'refund.late', $2)",
        complaint,
        now,
    )
    await conn.execute(
        "insert into kit_timers (kind, key, due_at, payload) values ('sla', $1, $2, '{}')",
        str(complaint),
        now,
    )
    return complaint


async def test_an_existing_deployments_rules_and_teams_become_demos_documents_and_organisation(
    fresh_db: str,
) -> None:
    await asyncio.to_thread(_apply, fresh_db, BEFORE)
    conn = await asyncpg.connect(fresh_db)
    try:
        complaint = await _old_deployment(conn)
        await asyncio.to_thread(_apply, fresh_db, None)
        rows = await conn.fetch(
            "select tenant, name, version, document::text as document, changed_by from kit_rule_versions"
        )
        documents = {r["name"]: json.loads(r["document"]) for r in rows}
        assert {(r["tenant"], r["version"], r["changed_by"]) for r in rows} == {("demo", 1, "migration")}
        assert sorted(documents) == ["categories", "organisation", "root-causes", "templates", "workflow"]
        for doc in (*rules.DOCUMENTS, rules.ORGANISATION):
            doc.validate(documents[doc.name])
        assert documents["categories"] == OLD_RULES["categories"]
        assert "default_team_by_language" not in documents["workflow"]

        org = Organisation.model_validate(documents["organisation"])
        nl = next(t for t in org.teams if t.id == "team-nl-1")
        assert (nl.supervisor, nl.deputies, nl.members) == (
            "sup-sara",
            ["sup-dirk"],
            ["agent-anna", "agent-bram"],
        )
        assert sorted(p.id for p in org.people) == [
            "agent-anna",
            "agent-bram",
            "sup-dirk",
            "sup-marc",
            "sup-sara",
        ]
        assert next(p for p in org.people if p.id == "agent-bram").email == "agent-bram@unknown.invalid"
        assert [(a.person, a.starts_on.isoformat()) for a in org.absences] == [("sup-sara", "2026-03-02")]
        assert (org.calendar.open_all_day, org.calendar.workdays, org.calendar.holidays_country) == (
            True,
            [1, 2, 3, 4, 5, 6, 7],
            "BE",
        )
        tenant = await conn.fetchrow("select id, template, updated_by from tenants")
        assert tuple(tenant) == ("demo", "nl", "migration")

        assert await conn.fetchval("select to_regclass('rules')") is None
        assert (
            await conn.fetchval("select tenant from complainants where complaint_id = $1", complaint)
            == "demo"
        )
        assert await conn.fetchval("select tenant from timeline where complaint_id = $1", complaint) == "demo"
        assert await conn.fetchval("select key from kit_timers where kind = 'sla'") == f"demo/{complaint}"
        keys = await conn.fetch(
            "select c.relname, pg_get_constraintdef(k.oid) as def from pg_constraint k "
            "join pg_class c on c.oid = k.conrelid where k.contype = 'p' and c.relname = any($1::text[])",
            ["complaints", "complainants", "timeline", "status_periods", "deceased_audit", "contacts"],
        )
        assert all("tenant" in k["def"] for k in keys) and len(keys) == 6
    finally:
        await conn.close()


async def test_a_fresh_database_gets_no_tenant_and_no_documents(fresh_db: str) -> None:
    await asyncio.to_thread(_apply, fresh_db, None)
    conn = await asyncpg.connect(fresh_db)
    try:
        assert await conn.fetchval("select count(*) from kit_rule_versions") == 0
        assert await conn.fetchval("select count(*) from tenants") == 0
    finally:
        await conn.close()
