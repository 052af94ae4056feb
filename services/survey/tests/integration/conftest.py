"""Fixtures of the survey service's integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from hoera_devkit.testing import ServiceProcess, create_database, drop_database, kafka_bootstrap, pg_dsn
from hoera_events.callbacks import CallbackCompleted
from hoera_events.complaints import ComplaintClosed
from hoera_events.platform import ContactClosed
from hoera_events.registry import topic_for

from .support import immediate_triggers, put_rules

TRIGGER_TOPICS = [topic_for(m) for m in (ContactClosed, ComplaintClosed, CallbackCompleted)]


async def _start_at_the_end(group: str) -> None:
    """Commit the trigger topics' end offsets for the process's (new, empty) consumer group.

    A new group would start at the beginning of the shared topics and decide their whole history
    (other tests', benches', the demo's: thousands of events) before this test's; a test needs only
    the events it publishes itself.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap(), group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        tps = [TopicPartition(t, p) for t in TRIGGER_TOPICS for p in consumer.partitions_for_topic(t) or ()]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.commit({tp: offset for tp, offset in ends.items()})
    finally:
        await consumer.stop()


@pytest.fixture(autouse=True)
def tenants(test_tenants: tuple[str, ...]) -> tuple[str, ...]:
    """Every test here runs with tenant admission on: demo and acme are defined once per session."""
    return test_tenants


@pytest.fixture(scope="session")
async def survey_process(test_tenants: tuple[str, ...]) -> AsyncIterator[ServiceProcess]:
    """One survey process for the tests that drive it through Kafka, HTTP and the SMTP sink, with
    its own database, tenant admission on, and demo's invitations at once at any hour."""
    database = await create_database("survey")
    process = ServiceProcess("hoera_survey", env={"HOERA_DATABASE_URL": pg_dsn(database)})
    await _start_at_the_end(f"{process.group_prefix}.survey.triggers")
    process.start()
    try:
        await process.wait_ready()
        async with httpx.AsyncClient(base_url=process.url) as http:
            changed = await put_rules(http, "triggers", immediate_triggers())
            assert changed.status_code == 200, changed.text
        yield process
    finally:
        process.stop()
        await drop_database(database)
