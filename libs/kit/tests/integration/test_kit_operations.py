"""Operating a kit service: dead-letter list and replay, health, metrics, migrations at start."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from hoera_devkit.testing import (
    ServiceProcess,
    create_topics,
    eventually,
    kafka_bootstrap,
    unique_topic,
)
from hoera_events.envelope import encode, make_envelope
from hoera_events.registry import dlq_topic
from hoera_kit import dlq, migrations

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from probe_app import MIGRATIONS, ProbeSettings, contact_event, create_app

pytestmark = pytest.mark.integration
PROBE_DIR = Path(__file__).parents[1] / "support"


async def _count(dsn: str, sql: str, *args: object) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval(sql, *args))
    finally:
        await conn.close()


@pytest.fixture
def probe_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(PROBE_DIR))


async def test_a_dead_letter_is_listed_with_its_error_and_replayed_after_the_fix(
    fresh_db: str, tmp_path: Path, probe_env: None
) -> None:
    topic = unique_topic("hoera.test.replay")
    await create_topics(topic, dlq_topic(topic), partitions=1)
    probe = ServiceProcess(
        "probe_app", env={"HOERA_DATABASE_URL": fresh_db, "HOERA_PROBE_TOPIC": topic}, log_dir=tmp_path
    ).start()
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap(), acks="all")
    await producer.start()
    try:
        await probe.wait_ready()
        conn = await asyncpg.connect(fresh_db)
        await conn.execute("insert into probe_blocked values ('blocked-1')")
        env = make_envelope(contact_event("blocked-1"), producer="test", tenant="demo", key="blocked-1")
        await producer.send_and_wait(topic, encode(env), key=b"blocked-1")

        async def letters() -> list[dlq.DeadLetter]:
            return await dlq.list_letters(kafka_bootstrap(), dlq_topic(topic))

        listed = await eventually(letters, lambda ls: len(ls) == 1)
        assert len(listed) == 1
        summary = listed[0].summary()
        assert "blocked-1 is blocked" in summary["error"]
        assert summary["consumer"] == "probe.seen"
        assert summary["original"] == f"{topic}[0]@0"
        assert await _count(fresh_db, "select count(*) from probe_seen") == 0

        await conn.execute("delete from probe_blocked")  # the operator's fix
        await conn.close()
        replayed = await dlq.replay(kafka_bootstrap(), dlq_topic(topic), offsets={listed[0].offset})
        assert replayed == 1
        seen = await eventually(
            lambda: _count(fresh_db, "select count(*) from probe_seen where event_id = $1", env.id),
            lambda n: n == 1,
        )
        await asyncio.sleep(1.0)
        assert seen == 1
        assert await _count(fresh_db, "select count(*) from probe_seen") == 1
        async with httpx.AsyncClient() as http:
            ready = (await http.get(f"{probe.url}/readyz")).json()
            metrics = (await http.get(f"{probe.url}/metrics")).text
        assert ready["database"] and ready["broker"] and ready["migrations"]
        for name in (
            "hoera_consumer_lag",
            "hoera_handler_seconds",
            "hoera_outbox_backlog",
            "hoera_dead_letters_total",
            "hoera_deliveries",
        ):
            assert name in metrics
        assert 'hoera_dead_letters_total{service="probe"' in metrics
    finally:
        await producer.stop()
        probe.stop()


async def test_a_service_refuses_to_start_with_pending_migrations_when_told_not_to_migrate(
    fresh_db: str,
) -> None:
    svc = create_app(ProbeSettings(database_url=fresh_db, environment="test", migrate_on_start=False))
    with pytest.raises(SystemExit, match="migrations pending"):
        await svc.start()
    applied = await asyncio.to_thread(migrations.apply, fresh_db, MIGRATIONS)
    assert "kit_0001_outbox_inbox" in applied and "0001_probe" in applied
    assert await asyncio.to_thread(migrations.pending, fresh_db, MIGRATIONS) == []
