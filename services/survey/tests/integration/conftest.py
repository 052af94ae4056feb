"""Fixtures of the survey service's integration tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from hoera_events.callbacks import CallbackCompleted
from hoera_events.complaints import ComplaintClosed
from hoera_events.platform import ContactClosed
from hoera_events.registry import topic_for
from hoera_kit.testing import ServiceProcess, create_database, drop_database, kafka_bootstrap, pg_dsn

from .support import auth, immediate_triggers

TRIGGER_TOPICS = [topic_for(m) for m in (ContactClosed, ComplaintClosed, CallbackCompleted)]


async def _caught_up(group: str, timeout: float = 60) -> None:
    """Until the group has committed every trigger event published before now.

    A new consumer group starts at the beginning of the shared topics: the history other tests left
    there is decided under the seed rules (a 10-minute delay, so nobody is mailed) before the test
    rules take effect.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap(), group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        tps = [TopicPartition(t, p) for t in TRIGGER_TOPICS for p in consumer.partitions_for_topic(t) or ()]
        ends = await consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout
        for tp in tps:
            while ends[tp] and (await consumer.committed(tp) or 0) < ends[tp]:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the survey process did not catch up with {tp}")
                await asyncio.sleep(0.2)
    finally:
        await consumer.stop()


@pytest.fixture(scope="session")
async def survey_process() -> AsyncIterator[ServiceProcess]:
    """One survey process for the tests that drive it through Kafka, HTTP and the SMTP sink, with
    its own database and, once it has caught up with the topics' history, no invitation delay."""
    database = await create_database("survey")
    process = ServiceProcess("hoera_survey", env={"HOERA_DATABASE_URL": pg_dsn(database)}).start()
    try:
        await process.wait_ready()
        await _caught_up(f"{process.group_prefix}.survey.triggers")
        async with httpx.AsyncClient(base_url=process.url) as http:
            changed = await http.put(
                "/rules/triggers", json=immediate_triggers().model_dump(mode="json"), headers=auth("admin")
            )
            assert changed.status_code == 200, changed.text
        yield process
    finally:
        process.stop()
        await drop_database(database)
