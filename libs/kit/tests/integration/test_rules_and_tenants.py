"""Per-tenant rule documents on real PostgreSQL, and the tenant registry on the real broker."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from hoera_devkit.testing import define_tenant, kafka_bootstrap, platform_headers, platform_signing_key
from hoera_events.envelope import encode, make_envelope
from hoera_events.platform import ContactClosed
from hoera_kit import migrations, signing
from hoera_kit.db import create_pool
from hoera_kit.refusals import Conflict, Invalid
from hoera_kit.retry import PoisonError
from hoera_kit.rules import RuleBook
from hoera_kit.tenants import TenantRegistry, UnknownTenant
from pydantic import BaseModel, Field

pytestmark = pytest.mark.integration


class Mandates(BaseModel):
    agent_limit_cents: int = Field(ge=0)
    approver_limit_cents: int = Field(ge=0)


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    for template, limit in (("nl", 30000), ("fr", 15000)):
        folder = tmp_path / template
        folder.mkdir()
        (folder / "mandates.json").write_text(
            json.dumps({"agent_limit_cents": limit, "approver_limit_cents": 500000})
        )
    return tmp_path


@pytest.fixture
async def pool(fresh_db: str) -> Any:
    await asyncio.to_thread(migrations.apply, fresh_db, None)
    pool = await create_pool(fresh_db, max_size=30)
    yield pool
    await pool.close()


def _book(templates: Path) -> tuple[RuleBook, Any]:
    book = RuleBook(templates, template_of={"partena": "nl", "partenamut": "fr"}.get)
    return book, book.document("mandates", Mandates, description="the agents' mandate (R14)")


async def test_a_tenant_reads_its_template_until_it_writes_its_own_and_tenants_never_mix(
    pool: asyncpg.Pool, templates: Path
) -> None:
    book, mandates = _book(templates)
    async with pool.acquire() as conn:
        assert (await book.read(conn, "partena", mandates)).version == 0
        assert (await book.get(conn, "partena", mandates)).agent_limit_cents == 30000
        assert (await book.get(conn, "partenamut", mandates)).agent_limit_cents == 15000
        written = await book.write(
            conn,
            "partenamut",
            mandates,
            {"agent_limit_cents": 20000, "approver_limit_cents": 500000},
            expected_version=0,
            changed_by="admin-fr",
            reason="board decision",
        )
        assert written.version == 1
        assert (await book.get(conn, "partenamut", mandates)).agent_limit_cents == 20000
        assert (await book.get(conn, "partena", mandates)).agent_limit_cents == 30000
        assert await book.history(conn, "partena", mandates) == []


async def test_of_twenty_concurrent_writers_from_the_same_version_exactly_one_wins(
    pool: asyncpg.Pool, templates: Path
) -> None:
    book, mandates = _book(templates)

    async def write(n: int) -> str:
        async with pool.acquire() as conn, conn.transaction():
            try:
                await book.write(
                    conn,
                    "partena",
                    mandates,
                    {"agent_limit_cents": 1000 + n, "approver_limit_cents": 500000},
                    expected_version=0,
                    changed_by=f"admin-{n}",
                )
            except Conflict:
                return "conflict"
            return "won"

    for _ in range(4):
        book._cache.clear()
        async with pool.acquire() as conn:
            current = (await book.read(conn, "partena", mandates)).version
        if current:
            await pool.execute("delete from kit_rule_versions")
            book._cache.clear()
        outcomes = await asyncio.gather(*(write(n) for n in range(20)))
        assert outcomes.count("won") == 1, outcomes
        assert await pool.fetchval("select count(*) from kit_rule_versions") == 1


async def test_a_bad_document_is_refused_naming_the_field_and_history_and_rollback_keep_the_trail(
    pool: asyncpg.Pool, templates: Path
) -> None:
    book, mandates = _book(templates)
    async with pool.acquire() as conn:
        with pytest.raises(Invalid) as refused:
            await book.write(
                conn,
                "partena",
                mandates,
                {"agent_limit_cents": -1, "approver_limit_cents": 1},
                expected_version=0,
                changed_by="admin",
            )
        assert refused.value.field == "agent_limit_cents"
        assert await pool.fetchval("select count(*) from kit_rule_versions") == 0
        await book.write(
            conn,
            "partena",
            mandates,
            {"agent_limit_cents": 45000, "approver_limit_cents": 500000},
            expected_version=0,
            changed_by="admin-1",
            reason="pilot",
        )
        await book.rollback(conn, "partena", mandates, to_version=0, expected_version=1, changed_by="admin-2")
        history = await book.history(conn, "partena", mandates)
        assert (await book.get(conn, "partena", mandates)).agent_limit_cents == 30000
    assert [(h.version, h.changed_by) for h in history] == [(2, "admin-2"), (1, "admin-1")]
    assert history[0].reason == "rollback to version 0"
    assert history[0].previous == {"agent_limit_cents": 45000, "approver_limit_cents": 500000}


async def test_the_registry_knows_a_tenant_defined_a_moment_ago_and_refuses_unknown_ones() -> None:
    tenant = f"t{uuid.uuid4().hex[:10]}"
    registry = TenantRegistry(kafka_bootstrap())
    try:
        await registry.catch_up()
        assert registry.tenant(tenant) is None
        await define_tenant(tenant, template="fr")
        found = await registry.require(tenant)
        assert found.template.value == "fr"
        assert registry.organisation(tenant).teams[0].supervisor == "sup-sara"
        assert registry.calendar(tenant).is_business_day(
            registry.calendar(tenant).next_business_day(found.defined_at.date())
        )
        with pytest.raises(UnknownTenant):
            await registry.require(f"nobody-{uuid.uuid4().hex[:8]}")
        await define_tenant(tenant, active=False)
        await registry.catch_up()  # a service follows the topic; here the test reads it up
        with pytest.raises(UnknownTenant):
            await registry.require(tenant)
    finally:
        await registry.close()


def test_a_platform_event_is_accepted_only_with_its_own_tenants_key() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from hoera_events.organisation import PlatformKey

    value = encode(make_envelope(ContactClosed.example(), producer="platform", tenant="acme"))
    key = PlatformKey(kid="p1", public_key=signing.public_key_of(platform_signing_key()))
    headers = [signing.signature_header(value, platform_signing_key(), "p1")]
    assert signing.verify(value, headers, [key], "acme") == "p1"
    with pytest.raises(PoisonError, match="without"):
        signing.verify(value, [], [key], "acme")
    with pytest.raises(PoisonError, match="may not publish"):
        signing.verify(value, headers, [], "acme")
    forged = [signing.signature_header(value, Ed25519PrivateKey.generate(), "p1")]
    with pytest.raises(PoisonError, match="does not verify"):
        signing.verify(value, forged, [key], "acme")
    with pytest.raises(PoisonError, match="does not verify"):
        signing.verify(value.replace(b'"acme"', b'"demo"'), headers, [key], "demo")
    assert platform_headers(value)[-1][0] == signing.HEADER
