"""Intake's main paths: complaints accepted per second over HTTP (idempotency key, dossier, timeline,
timers, acknowledgement and outbox rows in one transaction) as a ratio to the same process's /livez,
and ComplaintReceived events consumed per second from a platform topic (the inbox, the same use case).

The acknowledgements go to an SMTP sink of the benchmark's own that keeps nothing, so the shared sink
of deploy/local is not flooded; the platform events go to a topic of the benchmark's own, so the real
platform topic (that every test replays from the beginning) stays small. The complaints are the bench
tenant's (defined as bench/system_e2e.py does), the platform events signed with its platform's key.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer
from hoera_devkit.smtp_sink import MailStore, SmtpSink
from hoera_devkit.testing import ServiceProcess, platform_headers
from hoera_events.common import Channel, Language
from hoera_events.envelope import encode, event_headers, make_envelope
from hoera_events.platform import ComplaintReceived
from hoera_intake import consumers
from hoera_intake.app import create_app
from hoera_intake.settings import IntakeSettings

from bench.ceilings import make_topic
from bench.common import (
    Figure,
    Report,
    bearer,
    bootstrap,
    define_bench_tenant,
    percentile,
    pg_dsn,
    quiet_logs,
    rate,
)
from bench.system_e2e import TENANT

CONCURRENCY = 32
LIVEZ = f"intake GET /livez, {CONCURRENCY} concurrent (no database)"


class _Discard(MailStore):
    """Accepts every mail and keeps nothing."""

    def save(self, mail_from: str, rcpt_tos: list[str], raw: bytes) -> dict[str, Any]:
        return {}


async def _fresh_db() -> str:
    name = f"bench_intake_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(pg_dsn())
    try:
        await conn.execute(f'create database "{name}"')
    finally:
        await conn.close()
    return name


async def _drop_db(name: str) -> None:
    conn = await asyncpg.connect(pg_dsn())
    try:
        await conn.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await conn.close()


def _complaint(n: int) -> dict[str, Any]:
    return {
        "customer_id": f"BENCH-{n % 5000}",
        "channel": ("phone", "email", "chat")[n % 3],
        "category": "refund.late",
        "language": ("nl", "fr", "en")[n % 3],
        "summary": "Refund of the March invoice promised twice, still not received after six weeks.",
        "received_at": datetime.now(UTC).isoformat(),
        "platform_ref": f"BENCH-{uuid.uuid4().hex}",
        "team_id": "team-nl-1",
        "agent_id": "agent-anna",
    }


async def _load(n: int, request: Callable[[int], Awaitable[float]]) -> tuple[float, list[float]]:
    """n requests, CONCURRENCY at a time; returns (seconds, latencies)."""
    latencies: list[float] = []
    todo = iter(range(n))

    async def worker() -> None:
        for i in todo:
            latencies.append(await request(i))

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.perf_counter() - started, latencies


async def http_path(report: Report, n: int, sink_port: int) -> None:
    db = await _fresh_db()
    process = ServiceProcess(
        "hoera_intake",
        env={
            "HOERA_DATABASE_URL": pg_dsn(db),
            "HOERA_SMTP_PORT": str(sink_port),
            "HOERA_CONSUMERS_ENABLED": "false",
            "HOERA_LOG_LEVEL": "WARNING",
            "HOERA_POOL_MAX_SIZE": "20",
        },
        log_dir=Path(tempfile.gettempdir()) / "hoera-bench",
    ).start()
    try:
        await process.wait_ready()
        limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
        platform = bearer(TENANT, "platform", subject="bench-platform")
        async with httpx.AsyncClient(base_url=process.url, limits=limits, timeout=30) as http:

            async def submit(i: int) -> float:
                t = time.perf_counter()
                headers = {**platform, "Idempotency-Key": uuid.uuid4().hex}
                resp = await http.post("/complaints", json=_complaint(i), headers=headers)
                if resp.status_code != 201:
                    raise RuntimeError(f"complaint refused: {resp.status_code} {resp.text[:300]}")
                return time.perf_counter() - t

            async def livez(i: int) -> float:
                t = time.perf_counter()
                (await http.get("/livez")).raise_for_status()
                return time.perf_counter() - t

            await _load(min(100, n), submit)  # warm-up: rules parsed, pool filled, JIT-free paths hot
            await _load(min(100, n), livez)
            live_s, _ = await _load(n, livez)
            report.add(Figure(LIVEZ, rate(n, live_s), "req/s"))
            took, latencies = await _load(n, submit)
        p50, p95 = (percentile(latencies, p) * 1e3 for p in (50, 95))
        fig = Figure(
            f"intake POST /complaints, {CONCURRENCY} concurrent (dossier + outbox)",
            rate(n, took),
            "req/s",
            note=f"p50 {p50:.0f} ms, p95 {p95:.0f} ms",
        )
        report.add(report.ratio_to(fig, LIVEZ))
    finally:
        process.stop()
        await _drop_db(db)


async def _produce(topic: str, n: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap(), acks="all", linger_ms=10)
    await producer.start()
    try:
        sends = []
        for i in range(n):
            event = ComplaintReceived(
                platform_ref=f"BENCH-{uuid.uuid4().hex}",
                customer_id=f"BENCH-{i % 5000}",
                channel=Channel.phone,
                category="refund.late",
                language=Language.nl,
                received_at=datetime.now(UTC),
                summary="Refund of the March invoice promised twice, still not received after six weeks.",
                team_id="team-nl-1",
                agent_id="agent-anna",
            )
            env = make_envelope(event, producer="platform", tenant=TENANT)
            value = encode(env)
            # Signed as the tenant's platform signs (checked only on the platform's own topic).
            headers = platform_headers(value, event_headers(env))
            sends.append(await producer.send(topic, value, key=env.key.encode(), headers=headers))
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


async def consumer_path(report: Report, n: int, sink_port: int) -> None:
    db = await _fresh_db()
    topic = await make_topic(f"bench.intake.received.{uuid.uuid4().hex[:6]}")
    try:
        await _produce(topic, n)
        settings = IntakeSettings(
            database_url=pg_dsn(db),
            environment="test",
            consumer_group_prefix=f"bench-{uuid.uuid4().hex[:8]}",
            consumers_enabled=False,
            smtp_port=sink_port,
            log_level="WARNING",
            log_json=False,
        )
        svc = create_app(settings)
        consumers.platform_complaints(svc, svc.api.state.deps, topic=topic)
        async with svc.api.router.lifespan_context(svc.api):
            started = time.perf_counter()
            conn = await asyncpg.connect(pg_dsn(db))
            try:
                while await conn.fetchval("select count(*) from complaints") < n:
                    if time.perf_counter() - started > 300:
                        raise TimeoutError("the platform events were not all consumed in 300 s")
                    await asyncio.sleep(0.05)
            finally:
                await conn.close()
            took = time.perf_counter() - started
        fig = Figure(
            f"intake ComplaintReceived consumed (batch, inbox, dossier), {n:,} events", rate(n, took), "ev/s"
        )
        report.add(report.ratio_to(fig, "kit FastStream consumer + inbox + one-row effect"))
    finally:
        await _drop_db(db)


async def _run(report: Report, scale: float) -> None:
    await define_bench_tenant(TENANT)
    with tempfile.TemporaryDirectory() as folder:
        sink = SmtpSink("127.0.0.1", 0, _Discard(Path(folder)))
        await sink.up()
        try:
            await http_path(report, max(100, int(600 * scale)), sink.port)
            await consumer_path(report, max(300, int(1500 * scale)), sink.port)
        finally:
            await sink.down()


def run(report: Report, scale: float) -> None:
    asyncio.run(_run(report, scale))


if __name__ == "__main__":
    quiet_logs()
    run(Report(), float(sys.argv[1]) if len(sys.argv) > 1 else 1.0)
