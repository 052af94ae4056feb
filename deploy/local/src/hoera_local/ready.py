"""Real readiness checks (not sleeps), and the idempotent creation of topics and databases."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from hoera_local.config import LocalConfig

# Refused connections are expected while a broker starts; readiness reports the outcome itself.
logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


async def kafka_ready(bootstrap: str) -> bool:
    """A port that accepts is not enough: an admin client must list topics."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await asyncio.wait_for(admin.start(), 5)
        await asyncio.wait_for(admin.list_topics(), 5)
        return True
    except Exception:
        return False
    finally:
        try:
            await admin.close()
        except Exception:
            pass


async def pg_ready(cfg: LocalConfig) -> bool:
    try:
        conn = await asyncpg.connect(cfg.pg_dsn("postgres"), timeout=3)
    except Exception:
        return False
    try:
        return bool(await conn.fetchval("select 1") == 1)
    finally:
        await conn.close()


async def wait_for(
    what: str,
    check: Callable[[], Awaitable[bool]],
    timeout: float,
    alive: Callable[[], bool] | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.2
    while time.monotonic() < deadline:
        if await check():
            return
        if alive is not None and not alive():
            raise SystemExit(f"the local stack stopped while waiting for {what}; see .run/logs/infra.log")
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, 2.0)
    raise SystemExit(f"{what} was not ready after {timeout:.0f}s; see the logs under .run/logs")


def project_topics(cfg: LocalConfig) -> dict[str, int]:
    """Every registered topic and its .dlq twin, with the partition count from configuration."""
    from hoera_events.registry import all_topics, dlq_topic

    topics: dict[str, int] = {}
    for spec in all_topics():
        partitions = max(1, min(spec.partitions, cfg.default_partitions))
        topics[spec.topic] = partitions
        topics[dlq_topic(spec.topic)] = 1
    return topics


async def create_topics(cfg: LocalConfig, topics: dict[str, int]) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=cfg.kafka_bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in topics if t not in existing]
        if not missing:
            return []
        rf = cfg.replication_factor
        new = [
            NewTopic(
                name=t,
                num_partitions=topics[t],
                replication_factor=rf,
                topic_configs={"min.insync.replicas": "2" if rf >= 3 else "1"},
            )
            for t in missing
        ]
        try:
            await admin.create_topics(new, timeout_ms=30000)
        except TopicAlreadyExistsError:
            pass
        return missing
    finally:
        await admin.close()


async def create_databases(cfg: LocalConfig) -> list[str]:
    conn = await asyncpg.connect(cfg.pg_dsn("postgres"), timeout=10)
    created = []
    try:
        for db in cfg.databases:
            exists = await conn.fetchval("select 1 from pg_database where datname = $1", db)
            if not exists:
                try:
                    await conn.execute(f'create database "{db}"')
                    created.append(db)
                except asyncpg.DuplicateDatabaseError:
                    pass
    finally:
        await conn.close()
    return created


async def prepare(cfg: LocalConfig, *, timeout: float = 180, alive: Callable[[], bool] | None = None) -> None:
    await wait_for(
        f"Kafka at {cfg.kafka_bootstrap}", lambda: kafka_ready(cfg.kafka_bootstrap), timeout, alive
    )
    await wait_for(f"PostgreSQL at {cfg.pg_host}:{cfg.pg_port}", lambda: pg_ready(cfg), timeout, alive)
    made = await create_topics(cfg, project_topics(cfg))
    dbs = await create_databases(cfg)
    print(
        f"ready: kafka {cfg.kafka_bootstrap} ({len(made)} topics created), "
        f"postgresql {cfg.pg_host}:{cfg.pg_port} ({len(dbs)} databases created)",
        flush=True,
    )
