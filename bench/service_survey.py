"""The survey service's main paths: invitations decided per second from Kafka, answers per second over
HTTP (as a ratio to the same app's /livez).

Both run the service's own code (handlers, store, rules, the kit's inbox, outbox and deliveries)
against the real Kafka and PostgreSQL, in this process, on a fresh database. Two things are kept off
the shared stack so that a bench run leaves no trace other tests would read: the trigger events go
to a bench topic (not the platform's), and the outbox relay stays idle (SurveyInvited and
SurveyAnswered rows are written, as in production, but not published). The delivery worker runs
with a sender that accepts every mail, so its database work is measured without flooding the sink.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvicorn
from aiokafka import AIOKafkaProducer
from hoera_events.common import Channel, Language
from hoera_events.envelope import Envelope, encode, make_envelope
from hoera_events.platform import ContactClosed
from hoera_kit import deliveries, migrations, outbox
from hoera_kit.db import Conn
from hoera_kit.directory import DemoDirectory
from hoera_kit.service import Service
from hoera_survey import api, handlers, rules, survey_page
from hoera_survey.handlers import Deps
from hoera_survey.links import LinkClaims
from hoera_survey.settings import SurveySettings

from bench.ceilings import make_topic
from bench.common import Figure, Report, bootstrap, pg_dsn, rate

MIGRATIONS = Path(handlers.__file__).parents[2] / "migrations"
KIT_CONSUMER = "kit FastStream consumer + inbox + one-row effect"


class _IdleRelay(outbox.OutboxRelay):
    """Keeps the outbox rows: the bench must not publish thousands of events on shared topics."""

    async def run(self, stop: asyncio.Event) -> None:
        await stop.wait()


class _AcceptingSender:
    async def send(self, msg: deliveries.DeliveryRecord) -> str | None:
        return None


async def _fresh_db() -> str:
    name = f"bench_survey_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(pg_dsn())
    try:
        await conn.execute(f'create database "{name}"')
    finally:
        await conn.close()
    await asyncio.to_thread(migrations.apply, pg_dsn(name), MIGRATIONS)
    return name


async def _drop_db(name: str) -> None:
    conn = await asyncpg.connect(pg_dsn())
    try:
        await conn.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await conn.close()


def _settings(db: str, **extra: Any) -> SurveySettings:
    return SurveySettings(
        database_url=pg_dsn(db),
        environment="test",
        consumer_group_prefix=f"bench-{uuid.uuid4().hex[:6]}",
        pool_max_size=20,
        **extra,
    )


def _service(settings: SurveySettings) -> tuple[Service, Deps]:
    """The survey service's pieces without its platform subscriptions (the bench adds its own)."""
    svc = Service(settings, title="survey bench", migrations_dir=MIGRATIONS)
    svc.relay_class = _IdleRelay
    svc._senders = lambda: {deliveries.Channel.email: _AcceptingSender()}  # type: ignore[method-assign]
    deps = Deps(svc=svc, settings=settings, directory=DemoDirectory())
    svc.api.state.deps = deps
    svc.api.include_router(api.router)
    svc.api.include_router(survey_page.router)
    return svc, deps


async def _no_delay(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        current = await rules.load(conn)
        doc = current.triggers.model_dump(mode="json")
        doc["contact_closed"]["delay_minutes"] = 0
        await rules.change(conn, "triggers", rules.TriggerRules.model_validate(doc), "bench")


def _contacts(n: int, customers: int) -> list[Envelope]:
    now = datetime.now(UTC)
    return [
        make_envelope(
            ContactClosed(
                contact_id=f"CNT-{uuid.uuid4().hex[:12]}",
                customer_id=f"BENCH-{i % customers}",
                channel=Channel.phone,
                agent_id="AGT-1",
                team_id=f"team-{i % 7}",
                closed_at=now,
                language=(Language.nl, Language.fr)[i % 2],
            ),
            producer="bench",
            tenant="demo",
        )
        for i in range(n)
    ]


async def _decided(pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn:
        surveys = await conn.fetchval("select count(*) from surveys")
        duplicates = await conn.fetchval("select count(*) from suppressions where survey_id is null")
    return int(surveys) + int(duplicates)


async def _poll(probe: Callable[[], Awaitable[int]], at_least: int, *, timeout: float) -> None:
    for _ in range(int(timeout / 0.05)):
        if await probe() >= at_least:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"survey bench: fewer than {at_least} after {timeout}s")


async def _started(server: uvicorn.Server) -> int:
    return int(server.started)


async def invitations_from_kafka(report: Report, n: int) -> None:
    db = await _fresh_db()
    settings = _settings(db, consumer_batch_size=500)
    svc, deps = _service(settings)
    topic = await make_topic(f"bench.survey.triggers.{uuid.uuid4().hex[:6]}", partitions=12)

    @svc.consumer(topic, name="triggers", batch=True)
    async def triggers(conn: Conn, envelopes: list[Envelope]) -> None:
        await handlers.request_surveys(deps, conn, envelopes)

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap(), acks="all", linger_ms=10)
    await producer.start()
    await svc.start()
    try:
        await _no_delay(svc.pool)
        # Warm up: the group has joined and been assigned its partitions once one event is decided.
        for env in _contacts(1, 1):
            await producer.send_and_wait(topic, encode(env), key=env.key.encode())
        await _poll(lambda: _decided(svc.pool), 1, timeout=60)
        # Two contacts per customer: with the seed's one survey per 30 days, half are invited and
        # half suppressed, each decided under the customer's row lock.
        events = _contacts(n, n // 2)
        started = time.perf_counter()
        sends = [await producer.send(topic, encode(e), key=e.key.encode()) for e in events]
        await asyncio.gather(*sends)
        await _poll(lambda: _decided(svc.pool), n + 1, timeout=300)
        elapsed = time.perf_counter() - started
        async with svc.pool.acquire() as conn:
            invited = await conn.fetchval("select count(*) from surveys where state = 'invited'")
        report.add(
            report.ratio_to(
                Figure(
                    f"survey: invitations decided from Kafka ({n:,} contacts, {invited:,} invited)",
                    rate(n, elapsed),
                    "ev/s",
                    note="produce -> inbox -> budget lock -> invitation/suppression + outbox + mail row",
                ),
                KIT_CONSUMER,
            )
        )
    finally:
        await producer.stop()
        await svc.stop()
        await _drop_db(db)


async def _hammer(
    http: httpx.AsyncClient, requests: list[tuple[str, str, dict[str, str] | None]], workers: int
) -> tuple[float, dict[int, int]]:
    queue = list(reversed(requests))
    statuses: dict[int, int] = {}

    async def worker() -> None:
        while queue:
            method, url, form = queue.pop()
            response = await http.request(method, url, data=form)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return time.perf_counter() - started, statuses


async def answers_over_http(report: Report, n: int, workers: int = 32) -> None:
    db = await _fresh_db()
    port = _free_port()
    settings = _settings(db, http_port=port, public_base_url=f"http://127.0.0.1:{port}")
    svc, deps = _service(settings)
    server = uvicorn.Server(
        uvicorn.Config(svc.api, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    serving = asyncio.create_task(server.serve())
    try:
        await _poll(lambda: _started(server), 1, timeout=60)
        await _no_delay(svc.pool)
        events = _contacts(n, n)
        for start in range(0, n, 500):
            async with svc.pool.acquire() as conn, conn.transaction():
                await handlers.request_surveys(deps, conn, events[start : start + 500])
        async with svc.pool.acquire() as conn:
            rows = await conn.fetch(
                "select survey_id, expires_at, link_nonce from surveys where state = 'invited'"
            )
        answers = []
        for r in rows:
            link = handlers.survey_link(settings, _claims(r))
            path, _, query = link.partition("?")
            form = {
                "t": query.removeprefix("t="),
                "satisfaction": "4",
                "effort": "5",
                "nps": "9",
                "attr_friendly": "5",
                "comment": "Vlot geholpen.",
            }
            answers.append(("POST", path, form))
        limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
        async with httpx.AsyncClient(limits=limits, timeout=30) as http:
            livez_time, _ = await _hammer(
                http, [("GET", f"{settings.base_url}/livez", None)] * len(answers), workers
            )
            answer_time, answered = await _hammer(http, answers, workers)
        livez_fig = report.add(
            Figure(
                "survey: /livez over HTTP (same app, same client)", rate(len(answers), livez_time), "req/s"
            )
        )
        fig = Figure(
            f"survey: answers over HTTP ({answered.get(303, 0):,} recorded)",
            rate(len(answers), answer_time),
            "req/s",
            note=f"link check + answer + SurveyAnswered outbox row in one transaction; statuses {answered}",
        )
        fig.ceiling, fig.ratio = livez_fig.name, fig.value / livez_fig.value if livez_fig.value else None
        report.add(fig)
    finally:
        server.should_exit = True
        await serving
        await _drop_db(db)


def _claims(row: Any) -> LinkClaims:
    return LinkClaims(row["survey_id"], row["expires_at"], row["link_nonce"])


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(report: Report, scale: float) -> None:
    # One log line per request of the load generator would measure the logger, not the service.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    asyncio.run(invitations_from_kafka(report, max(200, int(3_000 * scale))))
    asyncio.run(answers_over_http(report, max(100, int(1_000 * scale))))
