"""Real readiness checks (not sleeps), and the idempotent creation of topics and databases."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, NewTopic
from aiokafka.errors import InvalidPartitionsError, TopicAlreadyExistsError

from hoera_local.config import LocalConfig

# Refused connections are expected while a broker starts; readiness reports the outcome itself.
logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


async def kafka_ready(bootstrap: str) -> bool:
    """A port that accepts is not enough: an admin client must list topics. Bounded as a whole,
    closing included: a client whose start was cut short while the broker is away can hang in close,
    and a probe that never returns would stall whoever polls it (a fault test waiting for the broker
    to go away, `hoera-local` waiting for it to come up)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        async with asyncio.timeout(10):
            await admin.start()
            await admin.list_topics()
        return True
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await admin.close()


async def pg_ready(cfg: LocalConfig) -> bool:
    """A query answered, bounded as a whole like kafka_ready (a server shutting down may accept a
    connection and then never answer)."""
    try:
        async with asyncio.timeout(10):
            conn = await asyncpg.connect(cfg.pg_dsn("postgres"), timeout=3)
            try:
                return bool(await conn.fetchval("select 1") == 1)
            finally:
                await conn.close(timeout=3)
    except Exception:
        return False


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
    """Every registered topic and its .dlq twin with the registry's partition count, which the
    AsyncAPI document states; lower only when HOERA_KAFKA_PARTITIONS caps it."""
    from hoera_events.registry import topics_to_create

    return {topic: cfg.partitions_for(registered) for topic, registered in topics_to_create()}


async def create_topics(cfg: LocalConfig, topics: dict[str, int]) -> list[str]:
    from hoera_events.registry import topic_configs

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
                topic_configs={"min.insync.replicas": "2" if rf >= 3 else "1", **topic_configs(t)},
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


async def _partition_counts(admin: AIOKafkaAdminClient, topics: list[str]) -> dict[str, int]:
    """The partition count of each of these topics that exists."""
    described = await admin.describe_topics(topics)
    return {t["topic"]: len(t["partitions"]) for t in described if t["error_code"] == 0}


async def grow_topics(cfg: LocalConfig, topics: dict[str, int]) -> dict[str, tuple[int, int]]:
    """Add partitions to each existing topic that has fewer than ``topics`` asks; never remove any.

    Run folders made before the stack created the registry's counts hold topics capped at 6; they
    grow here rather than leave the AsyncAPI document wrong. Growing sends a key's later records to
    another partition than its earlier ones: fine for local test and demo data, which is why this is
    the local stack's job and not a production deploy script's. Returns {topic: (before, after)}.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=cfg.kafka_bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        have = await _partition_counts(admin, list(topics))
        grown: dict[str, tuple[int, int]] = {}
        for topic, want in topics.items():
            before = have.get(topic)
            if before is None or before >= want:
                continue
            try:
                await admin.create_partitions({topic: NewPartitions(total_count=want)}, timeout_ms=30000)
            except InvalidPartitionsError:
                # Another prepare (a second test run starting beside this one) grew it first.
                if (await _partition_counts(admin, [topic])).get(topic, 0) < want:
                    raise
                continue
            grown[topic] = (before, want)
        await _until_described(admin, {topic: after for topic, (_, after) in grown.items()})
        return grown
    finally:
        await admin.close()


async def _until_described(admin: AIOKafkaAdminClient, wanted: dict[str, int], timeout: float = 30) -> None:
    """Wait until the brokers' metadata shows the new partitions, so that what starts after
    ``prepare`` (services, tests) is assigned all of them."""
    deadline = time.monotonic() + timeout
    while wanted:
        counts = await _partition_counts(admin, list(wanted))
        if all(counts.get(topic, 0) >= want for topic, want in wanted.items()):
            return
        if time.monotonic() > deadline:
            raise SystemExit(
                f"the brokers did not show the new partitions of {sorted(wanted)} in {timeout:.0f}s"
            )
        await asyncio.sleep(0.2)


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
    topics = project_topics(cfg)
    made = await create_topics(cfg, topics)
    grown = await grow_topics(cfg, topics)
    for topic, (before, after) in grown.items():
        print(f"grew {topic} from {before} to {after} partitions", flush=True)
    dbs = await create_databases(cfg)
    print(
        f"ready: kafka {cfg.kafka_bootstrap} ({len(made)} topics created, {len(grown)} grown), "
        f"postgresql {cfg.pg_host}:{cfg.pg_port} ({len(dbs)} databases created)",
        flush=True,
    )
