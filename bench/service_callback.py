"""The callback service's main path: fifty agents working one team's queue at once, each taking the
next callback (SKIP LOCKED claim under a lease, CallbackClaimed in the outbox) and recording its outcome
(CallbackCompleted), against a fresh database. The same app's /livez, under the same fifty clients,
is the ceiling the figure is a ratio to. The queue and the agents are the bench tenant's (defined as
bench/system_e2e.py does)."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid

import asyncpg
import httpx
from hoera_callback.app import create_app
from hoera_callback.settings import CallbackSettings

from bench.common import Figure, Report, bearer, define_bench_tenant, percentile, pg_dsn, quiet_logs, rate
from bench.system_e2e import TENANT

AGENTS = 50


def _bearer(subject: str, team: str) -> dict[str, str]:
    return bearer(TENANT, "agent", teams=(team,), subject=subject)


async def _fill(dsn: str, team: str, n: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            """
            insert into callbacks (callback_id, tenant, request_ref, customer_id, team_id, source, language,
                                   requested_at, due_at, priority, priority_score, status)
            select gen_random_uuid(), $3, 'bench:' || i, $1 || '-CUST-' || i, $1, 'contact_me', 'nl',
                   now() - i * interval '1 second', now() + interval '1 day', 'normal', (i % 4) * 10, 'queued'
            from generate_series(1, $2) as i
            """,
            team,
            n,
            TENANT,
        )
    finally:
        await conn.close()


async def _bench(report: Report, items: int, livez_requests: int) -> None:
    await define_bench_tenant(TENANT)
    name = f"bench_callback_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(pg_dsn())
    await admin.execute(f'create database "{name}"')
    await admin.close()
    settings = CallbackSettings(
        database_url=pg_dsn(name),
        environment="test",
        consumer_group_prefix=f"bench-{uuid.uuid4().hex[:8]}",
        consumer_start="end",
        pool_max_size=AGENTS,
        log_json=False,
        log_level="WARNING",
    )
    svc = create_app(settings)
    team = f"bench-{uuid.uuid4().hex[:6]}"
    try:
        async with (
            svc.api.router.lifespan_context(svc.api),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=svc.api), base_url="http://callback", timeout=60
            ) as http,
        ):
            await _fill(pg_dsn(name), team, items)

            per_client = max(1, livez_requests // AGENTS)

            async def livez() -> None:
                for _ in range(per_client):
                    (await http.get("/livez")).raise_for_status()

            started = time.perf_counter()
            await asyncio.gather(*(livez() for _ in range(AGENTS)))
            ceiling = report.add(
                Figure(
                    f"callback /livez, {AGENTS} concurrent clients (no database)",
                    rate(per_client * AGENTS, time.perf_counter() - started),
                    "req/s",
                )
            )

            claim_latency: list[float] = []

            async def agent(i: int) -> int:
                headers = _bearer(f"bench-agent-{i:02d}", team)
                worked = empty = 0
                while True:
                    t0 = time.perf_counter()
                    taken = await http.post("/callbacks/next", headers=headers)
                    claim_latency.append(time.perf_counter() - t0)
                    if taken.status_code == 204:
                        # SKIP LOCKED answers "nothing free right now": a row another transaction
                        # holds for a moment is skipped, so look twice before calling it a day.
                        empty += 1
                        if empty == 3:
                            return worked
                        await asyncio.sleep(0.05)
                        continue
                    empty = 0
                    taken.raise_for_status()
                    cid = taken.json()["callback"]["callback_id"]
                    done = await http.post(
                        f"/callbacks/{cid}/outcome", json={"outcome": "closed_positively"}, headers=headers
                    )
                    done.raise_for_status()
                    worked += 1

            started = time.perf_counter()
            worked = await asyncio.gather(*(agent(i) for i in range(AGENTS)))
            elapsed = time.perf_counter() - started
            assert sum(worked) == items, f"{sum(worked)} of {items} callbacks worked"
            fig = Figure(
                f"callback claims, {AGENTS} agents (take next + outcome, {items:,} items)",
                rate(items, elapsed),
                "claims/s",
            )
            report.add(report.ratio_to(fig, ceiling.name))
            report.add(Figure("callback take-next latency p50", percentile(claim_latency, 50) * 1000, "ms"))
            report.add(Figure("callback take-next latency p99", percentile(claim_latency, 99) * 1000, "ms"))
    finally:
        admin = await asyncpg.connect(pg_dsn())
        await admin.execute(f'drop database if exists "{name}" with (force)')
        await admin.close()


def run(report: Report, scale: float) -> None:
    asyncio.run(_bench(report, items=max(200, int(1500 * scale)), livez_requests=max(500, int(5000 * scale))))


if __name__ == "__main__":
    quiet_logs()
    run(Report(), float(sys.argv[1]) if len(sys.argv) > 1 else 1.0)
