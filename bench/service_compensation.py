"""The compensation service's main path: an agent's decision within the mandate through the API.

The service runs as its own process (uvicorn, as in production) against a fresh database. Each
decision is one POST /complaints/{id}/proposals on its own complaint (apology and damage recorded
beforehand, unmeasured): a row lock, the catalogue, the mandate, the abuse watch, the compensation
row, CompensationProposed and CompensationDecided in the outbox, one transaction. The same client
drives the same process's /livez (no database) at the same concurrency, so the figure is a ratio.
The complaints and the agent are the bench tenant's (defined as bench/system_e2e.py does).
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime

import asyncpg
import httpx
from hoera_compensation import store
from hoera_devkit.testing import ServiceProcess
from hoera_events.common import Channel, Language
from hoera_events.complaints import ComplaintRaised
from hoera_kit.db import create_pool

from bench.common import Figure, Report, bearer, define_bench_tenant, percentile, pg_dsn, quiet_logs, rate
from bench.system_e2e import TENANT

CONCURRENCY = 32
TEAM = "team-nl-1"
Request = tuple[str, str, dict[str, object] | None]


def _agent_headers() -> dict[str, str]:
    return bearer(TENANT, "agent", teams=(TEAM,), subject="bench-agent")


async def _database() -> str:
    name = f"bench_compensation_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(pg_dsn())
    try:
        await conn.execute(f'create database "{name}"')
    finally:
        await conn.close()
    return name


async def _drop(name: str) -> None:
    conn = await asyncpg.connect(pg_dsn())
    try:
        await conn.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await conn.close()


async def _prepare(dsn: str, n: int) -> list[uuid.UUID]:
    """n complaints of n customers, apologised for and with a recorded damage, as the consumer and
    the agent's first two steps would leave them (the service's own store code)."""
    pool = await create_pool(dsn, max_size=2)
    ids = []
    try:
        async with pool.acquire() as conn, conn.transaction():
            now = datetime.now(UTC)
            for i in range(n):
                event = ComplaintRaised(
                    complaint_id=uuid.uuid4(),
                    customer_id=f"bench-{i}",
                    channel=Channel.phone,
                    category="refund.late",
                    language=Language.nl,
                    raised_at=now,
                    due_date=date.today(),
                    team_id=TEAM,
                )
                await store.learn_raised(conn, TENANT, event, uuid.uuid4())
                await store.add_apology(
                    conn,
                    store.Apology(
                        TENANT, event.complaint_id, "nl", "Sorry", "refund-late", "bench-agent", now
                    ),
                )
                await store.put_damage(
                    conn, store.Damage(TENANT, event.complaint_id, 5000, "EUR", None, "bench-agent", now)
                )
                ids.append(event.complaint_id)
    finally:
        await pool.close()
    return ids


async def _drive(
    http: httpx.AsyncClient, requests: Sequence[Request], expect: int
) -> tuple[float, list[float], int]:
    """Send the requests with CONCURRENCY workers; (seconds, latencies in ms, unexpected answers)."""
    queue: asyncio.Queue[Request] = asyncio.Queue()
    for r in requests:
        queue.put_nowait(r)
    latencies: list[float] = []
    failures = 0
    headers = _agent_headers()

    async def worker() -> None:
        nonlocal failures
        while not queue.empty():
            method, path, body = queue.get_nowait()
            started = time.perf_counter()
            resp = await http.request(method, path, json=body, headers=headers)
            latencies.append((time.perf_counter() - started) * 1000)
            if resp.status_code != expect:
                failures += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.perf_counter() - started, latencies, failures


async def decisions(report: Report, n: int) -> None:
    db = await _database()
    process = ServiceProcess(
        "hoera_compensation",
        env={
            "HOERA_DATABASE_URL": pg_dsn(db),
            "HOERA_LOG_LEVEL": "WARNING",
            "HOERA_POOL_MAX_SIZE": str(CONCURRENCY),
        },
        name="bench-compensation",
    ).start()
    try:
        await process.wait_ready()
        complaints = await _prepare(pg_dsn(db), n + CONCURRENCY)
        limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
        async with httpx.AsyncClient(base_url=process.url, limits=limits, timeout=30) as http:
            proposal: dict[str, object] = {
                "kind": "financial",
                "amount": {"amount_cents": 5000, "currency": "EUR"},
            }
            warm: list[Request] = [("POST", f"/complaints/{c}/proposals", proposal) for c in complaints[n:]]
            await _drive(http, warm, 201)
            await _drive(http, [("GET", "/livez", None)] * CONCURRENCY, 200)

            seconds, latencies, bad = await _drive(http, [("GET", "/livez", None)] * n, 200)
            livez = report.add(
                Figure(
                    "compensation /livez through HTTP (no database)",
                    rate(n, seconds),
                    "req/s",
                    note=f"p50 {percentile(latencies, 50):.1f} ms, p99 {percentile(latencies, 99):.1f} ms",
                )
            )
            requests: list[Request] = [
                ("POST", f"/complaints/{c}/proposals", proposal) for c in complaints[:n]
            ]
            began = time.perf_counter()
            seconds, latencies, bad = await _drive(http, requests, 201)
            fig = Figure(
                "compensation decisions within the mandate through the API",
                rate(n - bad, seconds),
                "dec/s",
                note=f"p50 {percentile(latencies, 50):.1f} ms, p99 {percentile(latencies, 99):.1f} ms, "
                f"{CONCURRENCY} concurrent" + (f", {bad} FAILED" if bad else ""),
            )
            report.add(report.ratio_to(fig, livez.name))
        # Until the relay has published both events of every decision to Kafka.
        published = await _outbox_drained(pg_dsn(db), timeout=60)
        report.add(
            Figure(
                "compensation decisions committed and published to Kafka",
                rate(n - bad, published - began),
                "dec/s",
                note="2 events each (proposed, decided), through the outbox relay",
            )
        )
    finally:
        process.stop()
        await _drop(db)


async def _outbox_drained(dsn: str, *, timeout: float) -> float:
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if not await conn.fetchval("select count(*) from kit_outbox"):
                break
            await asyncio.sleep(0.05)
        return time.perf_counter()
    finally:
        await conn.close()


async def _run(report: Report, n: int) -> None:
    await define_bench_tenant(TENANT)
    await decisions(report, n)


def run(report: Report, scale: float) -> None:
    asyncio.run(_run(report, max(200, int(1000 * scale))))


if __name__ == "__main__":
    quiet_logs()
    run(Report(), float(sys.argv[1]) if len(sys.argv) > 1 else 1.0)
