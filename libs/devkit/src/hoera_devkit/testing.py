"""Test support, loaded as a pytest plugin by the root conftest: the real Kafka and PostgreSQL of
deploy/local (or any given by HOERA_* variables), fresh databases and topics per test, and readers.

Nothing here fakes Kafka or PostgreSQL: integration tests talk to the running broker and database.
"""

from __future__ import annotations

import asyncio
import html
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

T = TypeVar("T")

# Tests run in the test environment unless told otherwise (services refuse to start without one).
os.environ.setdefault("HOERA_ENVIRONMENT", "test")


def kafka_bootstrap() -> str:
    return os.environ.get("HOERA_KAFKA_BOOTSTRAP", "127.0.0.1:19092")


def pg_dsn(database: str = "postgres") -> str:
    user = os.environ.get("HOERA_PG_USER", "hoera")
    pw = os.environ.get("HOERA_PG_PASSWORD", "hoera")
    host = os.environ.get("HOERA_PG_HOST", "127.0.0.1")
    port = os.environ.get("HOERA_PG_PORT", "15432")
    return f"postgresql://{user}:{pw}@{host}:{port}/{database}"


async def create_database(prefix: str = "test") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(pg_dsn())
    try:
        await conn.execute(f'create database "{name}"')
    finally:
        await conn.close()
    return name


async def drop_database(name: str) -> None:
    conn = await asyncpg.connect(pg_dsn())
    try:
        await conn.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await conn.close()


async def create_topics(*names: str, partitions: int = 3, bootstrap: str | None = None) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap or kafka_bootstrap())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [NewTopic(n, partitions, 1) for n in names if n not in existing]
        if new:
            await admin.create_topics(new)
    finally:
        await admin.close()


async def read_topic(
    topic: str,
    *,
    until: Callable[[list[Any]], bool],
    timeout: float = 30.0,
    bootstrap: str | None = None,
) -> list[Any]:
    """All records of a topic from the beginning, until `until(records)` holds or time runs out."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap or kafka_bootstrap(), enable_auto_commit=False)
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        assigned = False
        while time.monotonic() < deadline:
            if not assigned:
                parts = consumer.partitions_for_topic(topic)
                if not parts:
                    await consumer._client.force_metadata_update()
                    await asyncio.sleep(0.2)
                    continue
                tps = [TopicPartition(topic, p) for p in parts]
                consumer.assign(tps)
                await consumer.seek_to_beginning(*tps)
                assigned = True
            batch = await consumer.getmany(timeout_ms=300)
            for recs in batch.values():
                records.extend(recs)
            if until(records):
                return records
        return records
    finally:
        await consumer.stop()


async def eventually(
    probe: Callable[[], Awaitable[T]],
    ok: Callable[[T], bool],
    *,
    timeout: float = 30.0,
    interval: float = 0.2,
) -> T:
    """Poll until ok(probe()) holds; return the last value either way (the test asserts on it)."""
    deadline = time.monotonic() + timeout
    value = await probe()
    while not ok(value) and time.monotonic() < deadline:
        await asyncio.sleep(interval)
        value = await probe()
    return value


_DRIVER_QUERY = re.compile(r"typeinfo_tree|current_setting\('jit'\)|set_config\('jit'")


@asynccontextmanager
async def counted_statements(conn: Any) -> AsyncIterator[list[str]]:
    """The SQL statements `conn` sends while the block runs (asyncpg's query logger), in order: how a
    test shows that a consumer's batch costs the same few statements whatever its size. asyncpg's own
    queries are left out: it learns a type's codec once per connection (which pooled connection a
    transaction gets is chance), not per batch."""
    seen: list[str] = []

    def note(query: Any) -> None:
        if not _DRIVER_QUERY.search(query.query):
            seen.append(query.query)

    conn.add_query_logger(note)
    try:
        yield seen
    finally:
        # asyncpg calls its loggers on the loop's next turn: the block's last statement is noted then.
        await asyncio.sleep(0)
        conn.remove_query_logger(note)


def unique_topic(prefix: str = "hoera.test") -> str:
    return f"{prefix}.{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def fresh_db() -> AsyncIterator[str]:
    """A new empty database; its DSN is yielded and it is dropped afterwards."""
    name = await create_database()
    try:
        yield pg_dsn(name)
    finally:
        await drop_database(name)


@pytest.fixture
def artifacts_dir() -> Path:
    path = Path(os.environ.get("HOERA_ARTIFACTS", "artifacts"))
    path.mkdir(parents=True, exist_ok=True)
    return path


# ---- services as real processes ------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServiceProcess:
    """A service started as its own OS process (`python -m <module>`), for tests that run two
    replicas, SIGKILL one, or drive it only through its public edges."""

    def __init__(
        self,
        module: str,
        *,
        env: dict[str, str] | None = None,
        port: int | None = None,
        log_dir: Path | None = None,
        name: str | None = None,
        group_prefix: str | None = None,
    ) -> None:
        """group_prefix: give two replicas of one test the same one, so they share a group."""
        self.module = module
        self.group_prefix = group_prefix or f"test-{uuid.uuid4().hex[:8]}"
        self.port = port or free_port()
        self.env = env or {}
        self.name = name or module.split(".")[0]
        self.log_dir = log_dir or Path(os.environ.get("HOERA_ARTIFACTS", "artifacts")) / "logs"
        self.log_path = self.log_dir / f"{self.name}-{self.port}.log"
        self.proc: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServiceProcess:
        import subprocess
        import sys

        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "HOERA_HTTP_PORT": str(self.port),
            "HOERA_ENVIRONMENT": "test",
            "HOERA_PUBLIC_BASE_URL": self.url,
            "HOERA_OUTBOX_POLL_INTERVAL_S": "0.2",
            "HOERA_TIMER_POLL_INTERVAL_S": "0.2",
            "HOERA_DELIVERY_POLL_INTERVAL_S": "0.2",
            # Tests run beside `make up`: their own consumer groups, so each sees every event.
            "HOERA_CONSUMER_GROUP_PREFIX": self.group_prefix,
            "HOERA_CONSUMER_START": "end",
            "PYTHONUNBUFFERED": "1",
            **self.env,
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module],
            env=env,
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
        )
        return self

    async def wait_ready(self, timeout: float = 60.0) -> ServiceProcess:
        import httpx

        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as http:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.proc.returncode}: {self.log()}")
                try:
                    if (await http.get(f"{self.url}/readyz", timeout=2)).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text()[-4000:] if self.log_path.exists() else ""

    def kill(self) -> None:
        import signal

        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        import signal
        import subprocess

        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


# ---- mail and browser ------------------------------------------------------------------------------


async def mails(*, web_port: int | None = None) -> list[dict[str, Any]]:
    """Mails received by the local SMTP sink (its JSON index), newest last."""
    import httpx

    port = web_port or int(os.environ.get("HOERA_SMTP_WEB_PORT", "8025"))
    async with httpx.AsyncClient() as http:
        resp = await http.get(f"http://127.0.0.1:{port}/api/mails", timeout=5)
        resp.raise_for_status()
        return list(resp.json())


async def mail_text(mail_id: str, *, web_port: int | None = None) -> str:
    """Headers and body of one mail in the local SMTP sink."""
    import httpx

    port = web_port or int(os.environ.get("HOERA_SMTP_WEB_PORT", "8025"))
    async with httpx.AsyncClient() as http:
        resp = await http.get(f"http://127.0.0.1:{port}/mail/{mail_id}", timeout=5)
        resp.raise_for_status()
        return resp.text


CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def form_value(page: str, name: str) -> str:
    """The value of a page's (hidden) form field, as a browser would post it."""
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found is not None, f"no {name} field on the page"
    return html.unescape(found.group(1))


@asynccontextmanager
async def page_session(app: Any, home: str, token: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A client signed in on a service's staff pages as a browser does with a pasted token
    (development and test only), and the CSRF value its forms post. `home` is the pages' home."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://pages") as http:
        form = await http.get(f"{home}/sign-in")
        signed_in = await http.post(
            f"{home}/sign-in", data={"csrf": form_value(form.text, "csrf"), "token": token}
        )
        assert signed_in.status_code == 303, signed_in.text
        page = await http.get(home)
        yield http, form_value(page.text, "csrf")


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Debian's headless Chromium driven by Playwright (no browser download)."""
    from playwright.async_api import async_playwright

    executable = os.environ.get("HOERA_CHROMIUM", "/usr/bin/chromium")
    async with async_playwright() as pw:
        instance = await pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            await instance.close()


# ---- tenants and the platform's signature -----------------------------------------------------------
# What intake would publish for a tenant, and how a test publishes as the contact-centre platform does:
# services accept events only for tenants they know, and platform events only with the tenant's
# platform signature (hoera_kit.signing).

TEST_TENANTS = ("demo", "acme")
TEST_PLATFORM_KID = "test-platform"


def demo_platform_key() -> Any:
    """The demo contact-centre platform's Ed25519 key (`make up`): fixed, development only."""
    import hashlib

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"hoera demo platform").digest())


def platform_signing_key() -> Any:
    """The test platform's Ed25519 key: fixed, so every test process signs alike (never in production)."""
    import hashlib

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"hoera test platform").digest())


def platform_headers(value: bytes, headers: list[tuple[str, bytes]] | None = None) -> list[tuple[str, bytes]]:
    """The headers a platform record needs: its own plus the signature of its value."""
    from hoera_kit.signing import signature_header

    return [*(headers or []), signature_header(value, platform_signing_key(), TEST_PLATFORM_KID)]


def demo_organisation(tenant: str = "demo") -> Any:
    """The demo organisation: two teams, their supervisors and a deputy, management, a back office, and
    the feedback vocabulary (reasons for an unhappy answer, comment topics) of the templates."""
    from hoera_events.organisation import (
        CommentTopic,
        Feedback,
        FeedbackReason,
        Labels,
        Organisation,
        Person,
        Team,
        TopicTerms,
    )

    def person(pid: str, name: str, lang: str) -> Person:
        local = name.lower().replace(" ", ".").replace("(", "").replace(")", "")
        return Person(id=pid, name=name, email=f"{local}@{tenant}.staff.hoera.test", language=lang)

    return Organisation(
        people=[
            person("sup-sara", "Sara Janssens", "nl"),
            person("sup-dirk", "Dirk Claes", "nl"),
            person("sup-marc", "Marc Lambert", "fr"),
            person("mgmt-lena", "Lena Wouters", "en"),
            person("back-office", "Back office", "nl"),
            person("agent-anna", "Anna Peeters", "nl"),
            person("agent-luc", "Luc Dubois", "fr"),
        ],
        teams=[
            Team(
                id="team-nl-1",
                name="Klantendienst NL 1",
                language="nl",
                supervisor="sup-sara",
                deputies=["sup-dirk"],
                members=["agent-anna"],
            ),
            Team(
                id="team-fr-1",
                name="Service clientèle FR 1",
                language="fr",
                supervisor="sup-marc",
                members=["agent-luc"],
            ),
        ],
        management=["mgmt-lena"],
        back_office="back-office",
        feedback=Feedback(
            reasons=[
                FeedbackReason(
                    code="waiting-time",
                    labels=Labels(
                        nl="Ik moest te lang wachten",
                        fr="J'ai dû attendre trop longtemps",
                        en="I had to wait too long",
                    ),
                ),
                FeedbackReason(
                    code="not-solved",
                    labels=Labels(
                        nl="Mijn vraag is niet opgelost",
                        fr="Ma question n'est pas résolue",
                        en="My question was not solved",
                    ),
                ),
                FeedbackReason(
                    code="other", labels=Labels(nl="Iets anders", fr="Autre chose", en="Something else")
                ),
            ],
            topics=[
                CommentTopic(
                    code="waiting",
                    labels=Labels(nl="Wachttijd", fr="Temps d'attente", en="Waiting"),
                    terms=TopicTerms(
                        nl=["wachten", "wachttijd", "lang duren"], fr=["attendre", "attente"], en=["wait"]
                    ),
                ),
                CommentTopic(
                    code="payment",
                    labels=Labels(nl="Terugbetaling", fr="Remboursement", en="Payment"),
                    terms=TopicTerms(
                        nl=["terugbetaling", "betalen", "factuur"],
                        fr=["remboursement", "rembourser", "payer"],
                        en=["refund", "pay"],
                    ),
                ),
            ],
        ),
    )


async def define_tenant(
    tenant: str = "demo",
    *,
    template: str = "nl",
    organisation: Any = None,
    active: bool = True,
    bootstrap: str | None = None,
) -> None:
    """Publish a tenant's definition and organisation as intake does (the compacted topics)."""
    from datetime import UTC, datetime

    from aiokafka import AIOKafkaProducer
    from hoera_events.envelope import encode, event_headers, make_envelope
    from hoera_events.organisation import OrganisationChanged, PlatformKey, TenantDefined
    from hoera_events.registry import topic_for
    from hoera_kit.signing import public_key_of

    now = datetime.now(UTC)
    definition = TenantDefined(
        tenant_id=tenant,
        name=f"{tenant.title()} (test)",
        template=template,
        language=template,
        mail_from=f"{tenant.title()} <no-reply@{tenant}.hoera.test>",
        platform_keys=[PlatformKey(kid=TEST_PLATFORM_KID, public_key=public_key_of(platform_signing_key()))],
        active=active,
        defined_at=now,
    )
    org = OrganisationChanged(
        tenant_id=tenant,
        version=1,
        organisation=organisation if organisation is not None else demo_organisation(tenant),
        changed_at=now,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap or kafka_bootstrap(), acks="all")
    await producer.start()
    try:
        for event in (definition, org):
            env = make_envelope(event, producer="intake", tenant=tenant, key=tenant)
            await producer.send_and_wait(
                topic_for(event), encode(env), key=tenant.encode(), headers=event_headers(env)
            )
    finally:
        await producer.stop()


@pytest.fixture(scope="session")
async def test_tenants() -> tuple[str, ...]:
    """The tenants "demo" and "acme", defined once per test session (for services started in tests)."""
    for tenant, template in zip(TEST_TENANTS, ("nl", "fr"), strict=True):
        await define_tenant(tenant, template=template)
    return TEST_TENANTS
