"""One alerts service per test module (a real process on a fresh database, its consumer groups at
the end of the shared topics); the SMTP-outage test starts its own. Module scope, not session: a
service left running would keep answering other suites' events (a second AlertRaised for their
surveys) until the whole session ends. Every service here admits only the tenants defined on the
tenant topics, as production does."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from hoera_devkit.testing import ServiceProcess, create_database, drop_database, kafka_bootstrap, pg_dsn

sys.path.insert(0, str(Path(__file__).parent))
from alerts_support import ADMIT, CALLBACK_PAGES, AlertsService, OwnSink, define_tenants, skip_history


@pytest.fixture(scope="session")
async def tenants() -> None:
    """The suite's tenants and their organisations, published as intake publishes them."""
    await define_tenants()


@pytest.fixture(scope="session")
async def producer() -> AsyncIterator[AIOKafkaProducer]:
    p = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap(), acks="all", enable_idempotence=True)
    await p.start()
    yield p
    await p.stop()


@pytest.fixture(scope="module")
def sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnSink]:
    own = OwnSink(tmp_path_factory.mktemp("mail"))
    yield own
    own.close()


@pytest.fixture(scope="module")
async def alerts(producer: AIOKafkaProducer, tenants: None, sink: OwnSink) -> AsyncIterator[AlertsService]:
    name = await create_database("alerts")
    dsn = pg_dsn(name)
    group = f"test-alerts-{uuid.uuid4().hex[:8]}"
    await skip_history(group)
    process = ServiceProcess(
        "hoera_alerts",
        env={
            "HOERA_DATABASE_URL": dsn,
            "HOERA_LOG_JSON": "false",
            "HOERA_LIVE_DEBOUNCE_S": "0.1",
            "HOERA_SMTP_PORT": str(sink.port),
            "HOERA_STAFF_PAGES": json.dumps({"callback": CALLBACK_PAGES}),
            **ADMIT,
        },
        group_prefix=group,
    ).start()
    try:
        await process.wait_ready()
        yield AlertsService(process=process, dsn=dsn, producer=producer, mail=sink.store)
    finally:
        process.stop()
        await drop_database(name)
