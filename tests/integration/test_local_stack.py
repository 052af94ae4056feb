"""deploy/local gives a real broker and a real database: produce, consume, write, read."""

from __future__ import annotations

import uuid

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from hoera_devkit.testing import create_topics, kafka_bootstrap, pg_dsn, read_topic, unique_topic
from hoera_events.registry import all_topics, dlq_topic

pytestmark = pytest.mark.integration


async def test_a_message_produced_to_the_local_broker_is_consumed_back() -> None:
    topic = unique_topic()
    await create_topics(topic, partitions=2)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap(), acks="all", enable_idempotence=True)
    await producer.start()
    sent = [uuid.uuid4().hex.encode() for _ in range(20)]
    try:
        for value in sent:
            await producer.send_and_wait(topic, value, key=value[:4])
    finally:
        await producer.stop()
    records = await read_topic(topic, until=lambda rs: len(rs) >= len(sent))
    assert sorted(r.value for r in records) == sorted(sent)


async def test_every_registered_topic_and_its_dead_letter_twin_exist_on_the_broker() -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
    finally:
        await admin.close()
    expected = {s.topic for s in all_topics()} | {dlq_topic(s.topic) for s in all_topics()}
    assert expected - existing == set()


async def test_a_row_written_to_the_local_postgresql_is_read_back(fresh_db: str) -> None:
    conn = await asyncpg.connect(fresh_db)
    try:
        await conn.execute("create table note (id uuid primary key, body text not null)")
        note_id = uuid.uuid4()
        await conn.execute("insert into note values ($1, $2)", note_id, "klacht ontvangen")
        assert await conn.fetchval("select body from note where id = $1", note_id) == ("klacht ontvangen")
        assert (await conn.fetchval("show server_version")).startswith(("15", "16", "17"))
    finally:
        await conn.close()


async def test_every_service_database_exists() -> None:
    conn = await asyncpg.connect(pg_dsn())
    try:
        names = {r[0] for r in await conn.fetch("select datname from pg_database")}
    finally:
        await conn.close()
    for service in ("intake", "compensation", "survey", "alerts", "callback"):
        assert f"hoera_{service}" in names
