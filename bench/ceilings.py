"""Ceilings measured first in every run: the broker alone (B), raw aiokafka (C), raw asyncpg (D)."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
import uuid

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.common import Figure, Report, bootstrap, pg_dsn, rate

RECORD = b"x" * 1024


async def make_topic(name: str, partitions: int = 6) -> str:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap())
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()
    return name


async def assign_all(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """Assign every partition of the topic and rewind to the beginning."""
    parts = consumer.partitions_for_topic(topic)
    while not parts:
        await consumer._client.force_metadata_update()
        parts = consumer.partitions_for_topic(topic)
    tps = [TopicPartition(topic, p) for p in sorted(parts)]
    consumer.assign(tps)
    await consumer.seek_to_beginning(*tps)
    return tps


def broker_alone(report: Report, records: int) -> None:
    """B: Kafka's own ProducerPerformance from the same jars, 1 KB records, acks=all."""
    from hoera_local import config, kafka

    cfg = config.load()
    topic = asyncio.run(make_topic(f"bench.b.{uuid.uuid4().hex[:6]}"))
    out = subprocess.run(
        [
            "java",
            "-Xmx512m",
            "-cp",
            str(kafka.libs_dir(cfg)) + "/*",
            "org.apache.kafka.tools.ProducerPerformance",
            "--topic",
            topic,
            "--num-records",
            str(records),
            "--record-size",
            "1024",
            "--throughput",
            "-1",
            "--producer-props",
            f"bootstrap.servers={bootstrap()}",
            "acks=all",
            "linger.ms=5",
            "batch.size=262144",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    last = [line for line in out.stdout.splitlines() if "records sent" in line][-1]
    match = re.search(r"([\d.]+) records/sec", last)
    assert match, last
    report.add(Figure("B broker alone: ProducerPerformance 1KB acks=all", float(match.group(1)), "rec/s"))


async def raw_produce(report: Report, records: int) -> str:
    """C produce: aiokafka, not awaiting each send; linger and batch tuned."""
    topic = await make_topic(f"bench.c.{uuid.uuid4().hex[:6]}")
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap(),
        acks="all",
        enable_idempotence=True,
        linger_ms=10,
        max_batch_size=1024 * 1024,
    )
    await producer.start()
    try:
        started = time.perf_counter()
        futures = []
        for i in range(records):
            futures.append(await producer.send(topic, RECORD, key=str(i % 64).encode()))
        await asyncio.gather(*futures)
        elapsed = time.perf_counter() - started
    finally:
        await producer.stop()
    report.add(Figure("C raw aiokafka produce 1KB acks=all", rate(records, elapsed), "rec/s"))
    return topic


async def raw_consume(report: Report, topic: str, records: int) -> None:
    """C consume: aiokafka getmany from the beginning."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap(),
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 << 20,
        fetch_max_bytes=16 << 20,
    )
    await consumer.start()
    try:
        await assign_all(consumer, topic)
        started = time.perf_counter()
        n = 0
        while n < records:
            batch = await consumer.getmany(timeout_ms=1000, max_records=5000)
            n += sum(len(v) for v in batch.values())
        elapsed = time.perf_counter() - started
    finally:
        await consumer.stop()
    report.add(Figure("C raw aiokafka consume (getmany) 1KB", rate(records, elapsed), "rec/s"))


async def raw_inserts(report: Report, rows: int, batch: int = 500) -> None:
    """D: asyncpg inserts in batches, synchronous_commit on."""
    conn = await asyncpg.connect(pg_dsn("hoera_test"))
    try:
        await conn.execute("set synchronous_commit = on")
        table = f"bench_d_{uuid.uuid4().hex[:6]}"
        await conn.execute(f"create table {table} (id uuid primary key, body text)")
        started = time.perf_counter()
        for start in range(0, rows, batch):
            async with conn.transaction():
                await conn.executemany(
                    f"insert into {table} values ($1, $2)",
                    [(uuid.uuid4(), "x" * 200) for _ in range(min(batch, rows - start))],
                )
        elapsed = time.perf_counter() - started
        await conn.execute(f"drop table {table}")
    finally:
        await conn.close()
    report.add(Figure(f"D raw asyncpg insert, {batch}/tx, sync commit", rate(rows, elapsed), "rows/s"))
