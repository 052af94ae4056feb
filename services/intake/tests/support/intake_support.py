"""Shared pieces of intake's integration tests: tokens, a running service in-process, request bodies,
tenants, and readers of its database and of the real Kafka topics.

Tests run with tenant admission (always on), as a deployment serving many contact
centres does: "demo" (template nl) and "acme" (template fr) are defined once per session on the tenant
topics (hoera_devkit.testing's `test_tenants`). A test that changes an organisation (absences, the
calendar) creates a tenant of its own through intake's POST /tenants, as an operator would, so what it
publishes never changes what other tests read of demo."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from hoera_devkit.testing import TEST_PLATFORM_KID, platform_signing_key, read_topic
from hoera_devkit.tokens import mint_token
from hoera_events.base import Event
from hoera_events.envelope import Envelope, decode
from hoera_events.registry import topic_for
from hoera_intake.app import create_app
from hoera_intake.settings import IntakeSettings
from hoera_kit.service import Service
from hoera_kit.settings import DEV_ISSUER, DEV_SIGNING_SECRET
from hoera_kit.signing import public_key_of


def bearer(
    subject: str, roles: tuple[str, ...], teams: tuple[str, ...] = (), tenant: str = "demo"
) -> dict[str, str]:
    token = mint_token(
        subject=subject,
        roles=roles,
        teams=teams,
        tenant=tenant,
        secret=DEV_SIGNING_SECRET,
        issuer=DEV_ISSUER,
        audience="hoera",
    )
    return {"Authorization": f"Bearer {token}"}


PLATFORM = bearer("contact-platform", ("platform",))
ANNA = bearer("agent-anna", ("agent",), ("team-nl-1",))
LUC = bearer("agent-luc", ("agent",), ("team-fr-1",))
SARA = bearer("sup-sara", ("supervisor",), ("team-nl-1",))
ADMIN = bearer("admin-ops", ("admin",))
OPERATOR = bearer("platform-operator", ("operator",))
ACME_ADMIN = bearer("admin-ops", ("admin",), tenant="acme")


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def customer() -> str:
    return f"CUST-{uuid.uuid4().hex[:10]}"


def submission(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer_id": customer(),
        "channel": "phone",
        "category": "refund.late",
        "language": "nl",
        "summary": "Terugbetaling van maart twee keer beloofd, na zes weken nog niets.",
        "received_at": datetime.now(UTC).isoformat(),
        "platform_ref": f"PLT-{uuid.uuid4().hex[:12]}",
        "team_id": "team-nl-1",
        "agent_id": "agent-anna",
    }
    body.update(changes)
    return body


ALWAYS_OPEN = {
    "timezone": "Europe/Brussels",
    "workdays": [1, 2, 3, 4, 5, 6, 7],
    "open_all_day": True,
    "holidays_country": None,
}
"""A calendar in which reminders and escalations go out at once, whatever the hour of the test."""


def new_tenant_body(template: str = "nl") -> dict[str, Any]:
    """A tenant of the test's own, whose platform signs with the test platform's key."""
    tenant = f"t-{uuid.uuid4().hex[:10]}"
    return {
        "id": tenant,
        "name": f"Test {tenant}",
        "template": template,
        "language": template,
        "mail_from": f"Klachten {tenant} <klachten@{tenant}.hoera.test>",
        "platform_keys": [{"kid": TEST_PLATFORM_KID, "public_key": public_key_of(platform_signing_key())}],
    }


async def create_tenant(http: httpx.AsyncClient, template: str = "nl") -> str:
    created = await http.post("/tenants", json=new_tenant_body(template), headers=OPERATOR)
    assert created.status_code == 201, created.text
    tenant: str = created.json()["id"]
    return tenant


async def change_document(
    http: httpx.AsyncClient, name: str, change: Any, headers: dict[str, str], reason: str = "test"
) -> dict[str, Any]:
    """Read a rule document, change it (a function of the document, or a whole new one), write it
    against the version read."""
    current = await http.get(f"/admin/rules/{name}", headers=headers)
    assert current.status_code == 200, current.text
    document = change(current.json()["document"]) if callable(change) else change
    written = await http.put(
        f"/admin/rules/{name}",
        json={"document": document, "expected_version": current.json()["version"], "reason": reason},
        headers=headers,
    )
    assert written.status_code == 200, written.text
    result: dict[str, Any] = written.json()
    return result


def with_category(category: dict[str, Any]) -> Any:
    def change(document: dict[str, Any]) -> dict[str, Any]:
        others = [c for c in document["categories"] if c["code"] != category["code"]]
        return {**document, "categories": [*others, category]}

    return change


def fast_category(code: str, seconds: int, team: str = "team-nl-1") -> dict[str, Any]:
    return {
        "code": code,
        "names": {"nl": "Snel", "fr": "Rapide", "en": "Fast"},
        "sla": {"seconds": seconds, "reminder_seconds_before": max(1, seconds // 2)},
        "default_team": team,
    }


@dataclass
class Running:
    svc: Service
    http: httpx.AsyncClient
    dsn: str

    async def fetchval(self, sql: str, *args: Any) -> Any:
        conn = await asyncpg.connect(self.dsn)
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.dsn)
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    async def events(self, key: str | None = None) -> list[Envelope]:
        """Every event written to the outbox (kept by a test trigger after the relay deletes it)."""
        rows = await self.fetch("select payload from test_outbox_log order by id")
        envs = [decode(r["payload"]) for r in rows]
        return [e for e in envs if key is None or e.key == key]

    async def event_types(self, key: str | None = None) -> list[str]:
        return [e.type for e in await self.events(key)]

    async def timeline(self, complaint_id: str) -> list[str]:
        rows = await self.fetch(
            "select what from timeline where complaint_id = $1 order by id", uuid.UUID(complaint_id)
        )
        return [r["what"] for r in rows]

    async def submit(self, **changes: Any) -> dict[str, Any]:
        resp = await self.http.post("/complaints", json=submission(**changes), headers={**PLATFORM, **key()})
        assert resp.status_code == 201, resp.text
        body: dict[str, Any] = resp.json()
        return body


async def keep_outbox(dsn: str) -> None:
    """The relay deletes published rows; a copy lets a test see every event ever written (and that a
    refused request wrote none)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "create table if not exists test_outbox_log (id bigserial primary key, topic text, key text, "
            "payload bytea);"
            "create or replace function test_keep_outbox() returns trigger language plpgsql as $$ begin "
            "insert into test_outbox_log (topic, key, payload) values (new.topic, new.key, new.payload); "
            "return new; end $$;"
            "create or replace trigger test_keep_outbox after insert on kit_outbox "
            "for each row execute function test_keep_outbox();"
        )
    finally:
        await conn.close()


def settings_for(dsn: str, **changes: Any) -> IntakeSettings:
    values: dict[str, Any] = {
        "database_url": dsn,
        "environment": "test",
        "consumer_group_prefix": f"test-{uuid.uuid4().hex[:8]}",
        "log_json": False,
        "log_level": "WARNING",
        "timer_poll_interval_s": 0.2,
        "delivery_poll_interval_s": 0.2,
        "outbox_poll_interval_s": 0.2,
        "consumers_enabled": False,
    }
    values.update(changes)
    return IntakeSettings(**values)


@pytest.fixture
async def running(fresh_db: str, test_tenants: tuple[str, ...]) -> AsyncIterator[Running]:
    """Intake in-process on a fresh database, HTTP through ASGI, Kafka producing but not consuming."""
    svc = create_app(settings_for(fresh_db))
    async with svc.api.router.lifespan_context(svc.api):
        await keep_outbox(fresh_db)
        transport = httpx.ASGITransport(app=svc.api)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake") as http:
            yield Running(svc, http, fresh_db)


async def events_on(model: type[Event], key: str, *, at_least: int = 1, timeout: float = 20.0) -> list[Any]:
    """The envelopes of one event type on its real topic whose key is ours."""

    def ours(records: list[Any]) -> list[Any]:
        return [decode(r.value) for r in records if r.key and r.key.decode() == key]

    records = await read_topic(topic_for(model), until=lambda rs: len(ours(rs)) >= at_least, timeout=timeout)
    return ours(records)


async def events_about(
    model: type[Event], keys: list[str], *, each: int = 1, timeout: float = 30.0
) -> list[Any]:
    """The envelopes of one event type whose key is one of ours, once each key has `each` of them
    (or time runs out): one read of the topic for many dossiers."""
    wanted = set(keys)

    def ours(records: list[Any]) -> list[Any]:
        return [decode(r.value) for r in records if r.key and r.key.decode() in wanted]

    def enough(records: list[Any]) -> bool:
        counts = Counter(e.key for e in ours(records))
        return all(counts[k] >= each for k in wanted)

    return ours(await read_topic(topic_for(model), until=enough, timeout=timeout))
