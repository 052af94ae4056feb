"""Migration 0003 carries a deployment's rules into tenant demo's rule documents (version 1, by
"migration"), puts the tenant into the keys of callbacks, outcomes and timers, and drops the old rule
tables; the service then reads and works on what was there."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from hoera_callback.app import MIGRATIONS
from hoera_callback.rules import DOCUMENTS
from hoera_kit.migrations import KIT_MIGRATIONS
from yoyo import get_backend, read_migrations

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from callback_support import StartService, bearer, fetch

pytestmark = pytest.mark.integration

NEW = "0003_tenant_rules_and_keys"
OLD_RULES = {
    "lead_time": {"business_days": 2},
    "lease_seconds": 600,
    "retry": {"delays": [{"seconds": 90}, {"business_days": 1, "seconds": 0}]},
    "calendar": {"timezone": "Europe/Brussels", "working_days": [1, 2, 3, 4, 5], "holidays": ["2026-12-25"]},
    "priority": {
        "weights": {"considering_leaving": 70, "nps_detractor": 25},
        "high_from": 20,
        "urgent_from": 60,
        "detractor_max_nps": 5,
        "unhappy_max_smiley": 2,
        "repeated_complaints_min": 2,
        "complaint_window_days": 180,
        "churn_signals": ["considering_leaving"],
    },
    "complaint_triggers": {"sla_breached": False, "reopened": True, "raised_categories": ["refund.late"]},
    "unhappy_smiley_callback": True,
    "default_language": "nl",
    "default_team_by_language": {"nl": "team-nl-1", "fr": "team-fr-1", "en": "team-nl-1"},
}


def _migrate_before_tenants(dsn: str) -> None:
    backend = get_backend(dsn)
    try:
        with backend.lock():
            backend.apply_migrations(backend.to_apply(read_migrations(str(KIT_MIGRATIONS))))
            older = read_migrations(str(MIGRATIONS)).filter(lambda m: m.id != NEW)
            backend.apply_migrations(backend.to_apply(older))
    finally:
        backend.connection.close()


async def test_the_old_rules_become_demos_documents_and_old_callbacks_keep_working(
    fresh_db: str, start_service: StartService
) -> None:
    await asyncio.to_thread(_migrate_before_tenants, fresh_db)
    cid, team = uuid.uuid4(), "team-nl-1"
    now = datetime.now(UTC)
    conn = await asyncpg.connect(fresh_db)
    try:
        await conn.execute(
            "insert into callback_rules (id, version, body, changed_by) "
            "values (1, 4, $1::text::jsonb, 'admin-ops')",
            json.dumps(OLD_RULES),
        )
        await conn.execute(
            "insert into callbacks (callback_id, tenant, request_ref, customer_id, team_id, source, "
            "language, requested_at, due_at, priority, priority_score, status, attempt) "
            "values ($1, 'demo', 'agent:old', 'CUST-OLD', $2, 'agent', 'nl', $3, $4, 'normal', 0, "
            "'waiting_retry', 1)",
            cid,
            team,
            now - timedelta(hours=1),
            now + timedelta(days=1),
        )
        await conn.execute(
            "insert into callback_outcomes (callback_id, attempt, tenant, team_id, agent_id, outcome, "
            "reached, recorded_at) values ($1, 1, 'demo', $2, 'agent-anna', 'not_reachable', false, $3)",
            cid,
            team,
            now,
        )
        await conn.execute(
            "insert into kit_timers (kind, key, due_at, payload) "
            "values ('callback.retry', $1, $2, '{\"attempt\": 1}')",
            str(cid),
            now + timedelta(days=1),
        )
    finally:
        await conn.close()

    running = await start_service()  # applies 0003 at start

    admin = bearer("admin-ops", "admin")
    documents = {d["name"]: d for d in (await running.http.get("/admin/rules", headers=admin)).json()}
    assert {n: (d["version"], d["changed_by"]) for n, d in documents.items()} == {
        "queue": (1, "migration"),
        "priority": (1, "migration"),
        "triggers": (1, "migration"),
        "recovery": (0, None),  # new since: the template's document until an administrator changes it
    }
    read = {
        doc.name: (await running.http.get(f"/admin/rules/{doc.name}", headers=admin)).json()["document"]
        for doc in DOCUMENTS
    }
    for doc in DOCUMENTS:
        doc.validate(read[doc.name])
    assert read["queue"] == {
        "lead_time": {"business_days": 2, "seconds": 0},
        "lease_seconds": 600,
        "retries": [{"business_days": 0, "seconds": 90}, {"business_days": 1, "seconds": 0}],
    }
    assert read["priority"]["weights"] == {"considering_leaving": 70, "nps_detractor": 25}
    assert read["priority"]["complaint_window_days"] == 180
    assert read["triggers"] == {
        "sla_breached": False,
        "reopened": True,
        "raised_categories": ["refund.late"],
        "unhappy_smiley_callback": True,
    }
    reason = (await running.http.get("/admin/rules/queue", headers=admin)).json()["reason"]
    assert reason == "callback_rules version 4, changed by admin-ops"
    acme = bearer("admin-ops", "admin", tenant="acme")
    assert (await running.http.get("/admin/rules/queue", headers=acme)).json()["version"] == 0

    assert await fetch(fresh_db, "select 1 from pg_tables where tablename like 'callback_rules%'") == []
    keys = await fetch(
        fresh_db,
        "select conrelid::regclass::text as t, pg_get_constraintdef(oid) as def from pg_constraint "
        "where contype = 'p' and conrelid::regclass::text in ('callbacks', 'callback_outcomes') order by 1",
    )
    assert [(k["t"], k["def"]) for k in keys] == [
        ("callback_outcomes", "PRIMARY KEY (tenant, callback_id, attempt)"),
        ("callbacks", "PRIMARY KEY (tenant, callback_id)"),
    ]
    timers = await fetch(fresh_db, "select key from kit_timers where kind = 'callback.retry'")
    assert [t["key"] for t in timers] == [f"demo/{cid}"]

    seen = await running.http.get(f"/callbacks/{cid}", headers=bearer("sup-sara", "supervisor", teams=[team]))
    assert seen.status_code == 200, seen.text
    assert [a["outcome"] for a in seen.json()["context"]["attempts"]] == ["not_reachable"]
