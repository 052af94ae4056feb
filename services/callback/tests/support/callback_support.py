"""Helpers of the callback service's integration tests: the service in-process against a fresh
database and the real Kafka, admitting only the test tenants ("demo", "acme"), rule documents changed
through the kit's admin routes, tokens for people, and events published as the platform (signed) and
the other services would."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from hoera_callback.app import create_app
from hoera_callback.settings import CallbackSettings
from hoera_devkit.testing import kafka_bootstrap, page_session, platform_headers
from hoera_devkit.tokens import mint_token
from hoera_events.base import Event
from hoera_events.envelope import Envelope, EventDecodeError, decode, encode, event_headers, make_envelope
from hoera_events.registry import Service as Producer
from hoera_events.registry import spec_for, topic_for
from hoera_kit.service import Service
from hoera_kit.settings import DEV_ISSUER, DEV_SIGNING_SECRET


def token(
    subject: str, *roles: str, teams: Iterable[str] = (), lang: str | None = None, tenant: str = "demo"
) -> str:
    return mint_token(
        subject=subject,
        roles=roles,
        teams=teams,
        tenant=tenant,
        language=lang,
        secret=DEV_SIGNING_SECRET,
        issuer=DEV_ISSUER,
        audience="hoera",
    )


def bearer(subject: str, *roles: str, teams: Iterable[str] = (), tenant: str = "demo") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(subject, *roles, teams=teams, tenant=tenant)}"}


@asynccontextmanager
async def agent_page(running: Running, tok: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A client signed in on the agent page as a browser does, and the CSRF value its forms post."""
    async with page_session(running.svc.api, "/agent", tok) as signed_in:
        yield signed_in


async def change_rules(
    http: httpx.AsyncClient, name: str, *, tenant: str = "demo", reason: str = "test", **changes: Any
) -> dict[str, Any]:
    """Change top-level fields of one of the tenant's rule documents as its administrator does."""
    admin = bearer(f"admin-{tenant}", "admin", tenant=tenant)
    current = await http.get(f"/admin/rules/{name}", headers=admin)
    assert current.status_code == 200, current.text
    body = current.json()
    written = await http.put(
        f"/admin/rules/{name}",
        json={
            "document": {**body["document"], **changes},
            "expected_version": body["version"],
            "reason": reason,
        },
        headers=admin,
    )
    assert written.status_code == 200, written.text
    return dict(written.json())


@dataclass
class Running:
    svc: Service[CallbackSettings]
    http: httpx.AsyncClient
    dsn: str


StartService = Callable[..., Awaitable[Running]]


@pytest.fixture
async def start_service(fresh_db: str, test_tenants: tuple[str, ...]) -> AsyncIterator[StartService]:
    """Start the service in this process (FastAPI through ASGI, the real broker and database), then
    change demo's rule documents as given: start_service(queue={"lease_seconds": 1})."""
    async with AsyncExitStack() as stack:

        async def start(**documents: dict[str, Any]) -> Running:
            settings = CallbackSettings(
                database_url=fresh_db,
                environment="test",
                consumer_group_prefix=f"test-{uuid.uuid4().hex[:8]}",
                consumer_start="end",
                pool_max_size=30,
                timer_poll_interval_s=0.2,
                outbox_poll_interval_s=0.2,
                log_json=False,
                log_level="WARNING",
            )
            svc = create_app(settings)
            await stack.enter_async_context(svc.api.router.lifespan_context(svc.api))
            http = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=svc.api), base_url="http://callback")
            )
            for name, changes in documents.items():
                await change_rules(http, name, **changes)
            return Running(svc=svc, http=http, dsn=fresh_db)

        yield start


# ---- the service as its own process, and events from the outside ---------------------------------------


def process_env(dsn: str) -> dict[str, str]:
    return {"HOERA_DATABASE_URL": dsn, "HOERA_LOG_LEVEL": "WARNING"}


async def publish(*envelopes: Envelope) -> None:
    """Publish as the platform and the other services would: to the registry's topic, by key."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap(), acks="all")
    await producer.start()
    try:
        for env in envelopes:
            value, headers = encode(env), event_headers(env)
            if spec_for(env.type, env.version).producer is Producer.platform:
                headers = platform_headers(value, headers)
            await producer.send_and_wait(
                topic_for(type(env.data)), value, key=env.key.encode(), headers=headers
            )
    finally:
        await producer.stop()


def envelope(event: Event, *, producer: str, tenant: str = "demo") -> Envelope:
    return make_envelope(event, producer=producer, tenant=tenant)


def decoded(records: list[Any], model: type[Event], key_in: set[str]) -> list[Any]:
    """The events of one type among records read from a shared topic, for our own keys only."""
    out = []
    for record in records:
        try:
            env = decode(record.value or b"")
        except (EventDecodeError, RecursionError):
            continue  # the poison other suites put on shared topics on purpose
        if isinstance(env.data, model) and env.key in key_in:
            out.append(env.data)
    return out


async def fetch(dsn: str, query: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(query, *args))
    finally:
        await conn.close()
