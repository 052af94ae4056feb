"""A small test-only service built on the kit, to prove the kit against real Kafka and PostgreSQL.

POST /things writes a row and emits a ContactClosed (on a test topic) in one transaction; a consumer
records every event it sees; POST /timers schedules a durable timer whose firing is recorded.
HOERA_PROBE_CRASH_BEFORE_PUBLISH=1 makes the relay SIGKILL its own process after the commit and before
the first publish, to prove that a crash there loses nothing and doubles nothing.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from fastapi import Body
from hoera_events.envelope import Envelope
from hoera_events.platform import ContactClosed
from hoera_kit.outbox import OutboxRelay
from hoera_kit.retry import PoisonError
from hoera_kit.service import Service
from hoera_kit.settings import KitSettings
from hoera_kit.timers import Timer, schedule
from pydantic import BaseModel

MIGRATIONS = Path(__file__).parent / "probe_migrations"


class ProbeSettings(KitSettings):
    service_name: str = "probe"
    probe_topic: str = "hoera.test.probe"
    probe_instance: int = 1
    probe_crash_before_publish: bool = False


class CrashingRelay(OutboxRelay):
    async def _outcomes(self, rows: Sequence[asyncpg.Record]) -> list[BaseException | None]:
        if rows:  # committed rows read, not one sent yet
            os.kill(os.getpid(), signal.SIGKILL)
        return await super()._outcomes(rows)


class Thing(BaseModel):
    key: str
    count: int = 1


def contact_event(key: str) -> ContactClosed:
    return ContactClosed.example().model_copy(update={"contact_id": uuid.uuid4().hex, "customer_id": key})


def create_app(settings: ProbeSettings | None = None) -> Service:
    s = settings or ProbeSettings()
    svc = Service(s, title="kit probe", migrations_dir=MIGRATIONS)
    if s.probe_crash_before_publish:
        svc.relay_class = CrashingRelay

    @svc.api.post("/things", status_code=201)
    async def create(thing: Thing) -> dict[str, list[str]]:
        ids = []
        async with svc.pool.acquire() as conn, conn.transaction():
            for _ in range(thing.count):
                tid = uuid.uuid4()
                await conn.execute("insert into probe_things values ($1, $2)", tid, thing.key)
                env = await svc.emit(conn, contact_event(thing.key), key=thing.key, topic=s.probe_topic)
                ids.append(str(env.id))
        return {"event_ids": ids}

    @svc.api.post("/timers", status_code=201)
    async def timers(key: str = Body(embed=True), due_in_s: float = Body(embed=True)) -> dict[str, str]:
        async with svc.pool.acquire() as conn, conn.transaction():
            await schedule(conn, "probe.ping", key, datetime.now(UTC) + timedelta(seconds=due_in_s))
        return {"key": key}

    @svc.consumer(s.probe_topic, name="seen")
    async def seen(conn: asyncpg.Connection, env: Envelope) -> None:
        if await conn.fetchval("select 1 from probe_blocked where key = $1", env.key):
            # Stands for a rule that refuses the event until an operator fixes something.
            raise PoisonError(f"key {env.key} is blocked")
        if await conn.fetchval("select 1 from probe_failing where key = $1", env.key):
            raise ConnectionResetError(f"key {env.key}: the world is failing (a transient fault)")
        await conn.execute(
            "insert into probe_seen (event_id, key, seen_by) values ($1, $2, $3)",
            env.id,
            env.key,
            s.probe_instance,
        )

    @svc.timer("probe.ping")
    async def ping(conn: asyncpg.Connection, timer: Timer) -> None:
        await conn.execute(
            "insert into probe_fired (key, fired_by) values ($1, $2)", timer.key, s.probe_instance
        )

    return svc


if __name__ == "__main__":
    create_app().run()
