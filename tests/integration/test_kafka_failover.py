"""The 3-broker mode: one broker SIGKILLed while producing with acks=all and idempotence.

Every acknowledged message must be consumed, exactly once. The cluster is the one deploy/local starts
with HOERA_KAFKA_BROKERS=3, here in its own run folder and ports so it runs beside `make up`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from hoera_local import config, kafka, ready

pytestmark = [pytest.mark.failover, pytest.mark.integration]

MESSAGES = 3000
KILL_AFTER = 1000


@pytest.fixture
def cluster(
    tmp_path: Path,
) -> Iterator[tuple[config.LocalConfig, dict[int, subprocess.Popen[bytes]]]]:
    cfg = dataclasses.replace(
        config.load(),
        run_dir=tmp_path / "run",
        kafka_brokers=3,
        kafka_port_base=int(os.environ.get("HOERA_FAILOVER_PORT_BASE", "19192")),
        kafka_heap="384m",
        kafka_bootstrap_override=None,
    )
    kafka.fetch(cfg)
    procs: dict[int, subprocess.Popen[bytes]] = {}
    try:
        for node in cfg.kafka_nodes:
            kafka.format_node(cfg, node)
        for node in cfg.kafka_nodes:
            log = (kafka.node_dir(cfg, node) / "stdout.log").open("wb")
            procs[node.node_id] = subprocess.Popen(
                kafka.command(cfg, node), stdout=log, stderr=subprocess.STDOUT
            )
        yield cfg, procs
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


async def test_every_acknowledged_message_survives_a_killed_broker_exactly_once(
    cluster: tuple[config.LocalConfig, dict[int, subprocess.Popen[bytes]]],
) -> None:
    cfg, procs = cluster
    bootstrap = cfg.kafka_bootstrap
    await ready.wait_for("3-broker Kafka", lambda: ready.kafka_ready(bootstrap), 120)
    topic = "hoera.failover.test"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 3, 3, topic_configs={"min.insync.replicas": "2"})])
    finally:
        await admin.close()

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=60000,
        retry_backoff_ms=200,
        linger_ms=5,
    )
    await producer.start()
    acknowledged: set[str] = set()
    failed = 0
    killed = None
    try:
        pending: list[tuple[str, asyncio.Future[object]]] = []
        for i in range(MESSAGES):
            value = f"m-{i:05d}"
            pending.append((value, await producer.send(topic, value.encode(), key=str(i % 17).encode())))
            if i == KILL_AFTER:
                # The broker leading partition 0 is the one whose loss forces a leader election.
                await producer.client.force_metadata_update()
                leader = producer.client.cluster.leader_for_partition(TopicPartition(topic, 0))
                killed = leader if leader in procs else 2
                os.kill(procs[killed].pid, signal.SIGKILL)
            if i % 50 == 0:
                await asyncio.sleep(0.01)
        for value, fut in pending:
            try:
                await fut
                acknowledged.add(value)
            except Exception:
                failed += 1
    finally:
        await producer.stop()

    assert killed is not None and procs[killed].wait(timeout=10) == -signal.SIGKILL
    assert len(acknowledged) > KILL_AFTER

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    seen: Counter[str] = Counter()
    try:
        tps = [TopicPartition(topic, p) for p in range(3)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)

        async def behind() -> bool:
            return any([await consumer.position(tp) < ends[tp] for tp in tps])

        while await behind():
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                seen.update(r.value.decode() for r in records)
    finally:
        await consumer.stop()

    missing = acknowledged - set(seen)
    doubled = {v for v, n in seen.items() if n > 1}
    print(
        f"failover: sent {MESSAGES}, acknowledged {len(acknowledged)}, failed {failed}, "
        f"killed broker {killed}, consumed {sum(seen.values())}"
    )
    assert missing == set()
    assert doubled == set()
