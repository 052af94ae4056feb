"""The survey service's main paths: invitations decided per second from Kafka, answers per second over
HTTP (as a ratio to the same app's /livez).

Both run the service's own code (handlers, store, rules, the kit's inbox, outbox and deliveries)
against the real Kafka and PostgreSQL, in this process, on a fresh database. Two things are kept off
the shared stack so that a bench run leaves no trace other tests would read: the trigger events go
to a bench topic (not the platform's), and the outbox relay stays idle (SurveyInvited and
SurveyAnswered rows are written, as in production, but not published). The delivery worker runs
with a sender that accepts every mail, so its database work is measured without flooding the sink.
The contacts are the bench tenant's (bench/system_e2e.py defines it), signed as its platform signs.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
import uvicorn
from aiokafka import AIOKafkaProducer
from hoera_devkit.testing import create_database, drop_database, free_port, platform_headers
from hoera_events.common import Channel, Language
from hoera_events.envelope import Envelope, encode, event_headers, make_envelope
from hoera_events.platform import ContactClosed
from hoera_kit import deliveries, outbox
from hoera_kit.db import Conn
from hoera_kit.service import Service
from hoera_survey import handlers, rules
from hoera_survey.app import create_app
from hoera_survey.handlers import Deps
from hoera_survey.handlers.invitations import survey_link
from hoera_survey.links import LinkClaims
from hoera_survey.settings import SurveySettings

from bench.ceilings import make_topic
from bench.common import Figure, Report, bootstrap, define_bench_tenant, pg_dsn, quiet_logs, rate
from bench.system_e2e import TENANT

KIT_CONSUMER = "kit FastStream consumer + inbox + one-row effect"
TEAMS = {Language.nl: "team-nl-1", Language.fr: "team-fr-1"}
Request = tuple[str, str, dict[str, str] | None]


class _IdleRelay(outbox.OutboxRelay):
    """Keeps the outbox rows: the bench must not publish thousands of events on shared topics."""

    async def step(self) -> bool:
        return False


class _AcceptingSender:
    async def send(self, msg: deliveries.DeliveryRecord) -> str | None:
        return None


def _settings(db: str, **extra: Any) -> SurveySettings:
    return SurveySettings(
        database_url=pg_dsn(db),
        environment="test",
        consumer_group_prefix=f"bench-{uuid.uuid4().hex[:6]}",
        consumer_start="end",
        pool_max_size=20,
        # The platform's trigger topics are not read here: the bench subscribes to its own topic.
        survey_run_consumers=False,
        log_level="WARNING",
        log_json=False,
        **extra,
    )


def _service(settings: SurveySettings) -> tuple[Service[SurveySettings], Deps]:
    """The survey service as its app builds it (routes, rule book, timers), without its platform
    subscriptions (the bench adds its own), its relay idle and its mail accepted unsent."""
    svc = create_app(settings)
    svc.relay_class = _IdleRelay
    svc._senders = lambda: {deliveries.Channel.email: _AcceptingSender()}  # type: ignore[method-assign]
    deps: Deps = svc.api.state.deps
    return svc, deps


async def _no_delay(svc: Service[SurveySettings]) -> None:
    """The bench tenant's contacts are surveyed at once, at any hour (operator data: its rules)."""
    async with svc.pool.acquire() as conn, conn.transaction():
        current = await svc.rules.read(conn, TENANT, rules.TRIGGERS)
        doc = current.document.model_dump(mode="json")
        doc["contact_closed"]["delay_minutes"] = 0
        doc["contact_closed"]["send_window"] = None
        written = await svc.rules.write(
            conn,
            TENANT,
            rules.TRIGGERS,
            doc,
            expected_version=current.version,
            changed_by="bench",
            reason="bench: invite at once",
        )
    svc.rules.committed(written)


def _contacts(n: int, customers: int) -> list[Envelope]:
    now = datetime.now(UTC)
    run = uuid.uuid4().hex[:6]
    envelopes = []
    for i in range(n):
        language = (Language.nl, Language.fr)[i % 2]
        contact = ContactClosed(
            contact_id=f"CNT-{uuid.uuid4().hex[:12]}",
            customer_id=f"BENCH-{run}-{i % customers}",
            channel=Channel.phone,
            agent_id="agent-anna" if language is Language.nl else "agent-luc",
            team_id=TEAMS[language],
            closed_at=now,
            language=language,
        )
        envelopes.append(make_envelope(contact, producer="platform", tenant=TENANT))
    return envelopes


async def _send(producer: AIOKafkaProducer, topic: str, env: Envelope) -> asyncio.Future[Any]:
    """As the platform publishes: keyed, signed with the tenant's platform key."""
    value = encode(env)
    headers = platform_headers(value, event_headers(env))
    future: asyncio.Future[Any] = await producer.send(topic, value, key=env.key.encode(), headers=headers)
    return future


async def _decided(svc: Service[SurveySettings]) -> int:
    """Triggers decided: surveys invited or suppressed (a cap, a repeat), and suppressions of
    triggers screened out before any survey was made."""
    async with svc.pool.acquire() as conn:
        surveys = await conn.fetchval("select count(*) from surveys where state <> 'scheduled'")
        screened = await conn.fetchval("select count(*) from suppressions where survey_id is null")
    return int(surveys) + int(screened)


async def _poll(probe: Callable[[], Awaitable[int]], at_least: int, *, timeout: float) -> None:
    for _ in range(int(timeout / 0.05)):
        if await probe() >= at_least:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"survey bench: fewer than {at_least} after {timeout}s")


async def _started(server: uvicorn.Server) -> int:
    return int(server.started)


async def invitations_from_kafka(report: Report, n: int) -> None:
    db = await create_database("bench_survey")
    settings = _settings(db, consumer_batch_size=500)
    svc, deps = _service(settings)
    topic = await make_topic(f"bench.survey.triggers.{uuid.uuid4().hex[:6]}", partitions=12)

    @svc.consumer(topic, name="triggers", batch=True)
    async def triggers(conn: Conn, envelopes: list[Envelope]) -> None:
        await handlers.request_surveys(deps, conn, envelopes)

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap(), acks="all", linger_ms=10)
    await producer.start()
    try:
        await svc.start()
        await _no_delay(svc)
        # Warm up: the group has joined and been assigned its partitions once one event is decided.
        for env in _contacts(1, 1):
            await (await _send(producer, topic, env))
        await _poll(lambda: _decided(svc), 1, timeout=60)
        # Two contacts per customer: with the template's one survey per 30 days, half are invited
        # and half suppressed, each decided under the customer's row lock.
        events = _contacts(n, n // 2)
        started = time.perf_counter()
        sends = [await _send(producer, topic, e) for e in events]
        await asyncio.gather(*sends)
        await _poll(lambda: _decided(svc), n + 1, timeout=300)
        elapsed = time.perf_counter() - started
        async with svc.pool.acquire() as conn:
            invited = await conn.fetchval("select count(*) from surveys where state = 'invited'") - 1
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
        await drop_database(db)


async def _hammer(
    http: httpx.AsyncClient, requests: Sequence[Request], workers: int
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


async def _answers(svc: Service[SurveySettings], deps: Deps, n: int) -> list[Request]:
    """n surveys invited (the use case the trigger consumer calls), and the answer each customer
    would post through the link of their invitation."""
    events = _contacts(n, n)
    for start in range(0, n, 500):
        async with svc.pool.acquire() as conn, conn.transaction():
            await handlers.request_surveys(deps, conn, events[start : start + 500])
    async with svc.pool.acquire() as conn:
        key = await handlers.signing_key(deps, conn, TENANT)
        rows = await conn.fetch(
            "select survey_id, expires_at, link_nonce from surveys where tenant = $1 and state = 'invited'",
            TENANT,
        )
    answers: list[Request] = []
    for r in rows:
        claims = LinkClaims(r["survey_id"], r["expires_at"], r["link_nonce"])
        url, _, query = survey_link(svc.settings.base_url, claims, key).partition("?")
        form = {
            "t": query.removeprefix("t="),
            "satisfaction": "4",
            "effort": "5",
            "nps": "9",
            "attr_friendly": "5",
            "comment": "Vlot geholpen.",
        }
        answers.append(("POST", url, form))
    return answers


async def answers_over_http(report: Report, n: int, workers: int = 32) -> None:
    db = await create_database("bench_survey")
    port = free_port()
    settings = _settings(db, http_port=port, public_base_url=f"http://127.0.0.1:{port}")
    svc, deps = _service(settings)
    server = uvicorn.Server(
        uvicorn.Config(svc.api, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    serving = asyncio.create_task(server.serve())
    try:
        await _poll(lambda: _started(server), 1, timeout=60)
        await _no_delay(svc)
        answers = await _answers(svc, deps, n)
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
        await drop_database(db)


async def _run(report: Report, scale: float) -> None:
    await define_bench_tenant(TENANT)
    await invitations_from_kafka(report, max(200, int(3_000 * scale)))
    await answers_over_http(report, max(100, int(1_000 * scale)))


def run(report: Report, scale: float) -> None:
    # One log line per request of the load generator would measure the logger, not the service.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    asyncio.run(_run(report, scale))


if __name__ == "__main__":
    quiet_logs()
    run(Report(), float(sys.argv[1]) if len(sys.argv) > 1 else 1.0)
