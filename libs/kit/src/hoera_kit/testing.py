"""Test support, loaded as a pytest plugin by the root conftest: the real Kafka and PostgreSQL of
deploy/local (or any given by HOERA_* variables), fresh databases and topics per test, and readers.

Nothing here fakes Kafka or PostgreSQL: integration tests talk to the running broker and database.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

T = TypeVar("T")


def kafka_bootstrap() -> str:
    return os.environ.get("HOERA_KAFKA_BOOTSTRAP", "127.0.0.1:39092")


def pg_dsn(database: str = "postgres") -> str:
    user = os.environ.get("HOERA_PG_USER", "hoera")
    pw = os.environ.get("HOERA_PG_PASSWORD", "hoera")
    host = os.environ.get("HOERA_PG_HOST", "127.0.0.1")
    port = os.environ.get("HOERA_PG_PORT", "55432")
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
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap or kafka_bootstrap(), enable_auto_commit=False
    )
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
