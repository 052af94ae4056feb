"""With the mail server down, the supervisor's alert is kept, retried, and arrives once when the
server is back. This test runs its own SMTP sink (and its own alerts service pointing at it), so it
can take the server down without disturbing anyone else."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from alerts_support import ADMIT, NL, AlertsService, address, skip_history, unhappy_answer
from hoera_alerts.domain import unhappy_alert_id
from hoera_devkit.smtp_sink import MailStore, SmtpSink
from hoera_devkit.testing import ServiceProcess, create_database, drop_database, eventually, pg_dsn

pytestmark = pytest.mark.integration


@pytest.fixture
async def sink(tmp_path: Path) -> AsyncIterator[SmtpSink]:
    sink = SmtpSink("127.0.0.1", 0, MailStore(tmp_path / "mail"))
    await sink.up()  # takes a free port, kept across down() and up()
    yield sink
    await sink.down()


@pytest.fixture
async def service_on_own_sink(
    sink: SmtpSink, producer: AIOKafkaProducer, tenants: None
) -> AsyncIterator[AlertsService]:
    name = await create_database("alerts_smtp")
    group = f"test-alerts-smtp-{uuid.uuid4().hex[:8]}"
    await skip_history(group)
    process = ServiceProcess(
        "hoera_alerts",
        env={
            "HOERA_DATABASE_URL": pg_dsn(name),
            "HOERA_SMTP_PORT": str(sink.port),
            "HOERA_LOG_JSON": "false",
            **ADMIT,
        },
        group_prefix=group,
    ).start()
    try:
        await process.wait_ready()
        yield AlertsService(process=process, dsn=pg_dsn(name), producer=producer, mail=sink.store)
    finally:
        process.stop()
        await drop_database(name)


async def test_with_the_mail_server_down_the_alert_is_retried_and_arrives_once(
    sink: SmtpSink, service_on_own_sink: AlertsService
) -> None:
    alerts = service_on_own_sink
    await sink.down()
    answer = unhappy_answer("team-nl-1", comment="Still waiting for my refund.")
    await alerts.publish(answer)
    alert_id = unhappy_alert_id(NL, answer.survey_id)
    key = f"alert:{alert_id}:sup-sara"

    async def delivery() -> dict[str, object]:
        rows = await alerts.fetch(
            "select state, attempts, last_error from kit_deliveries where idempotency_key = $1", key
        )
        return dict(rows[0]) if rows else {}

    failing = await eventually(delivery, lambda d: int(d.get("attempts", 0) or 0) >= 2, timeout=30)
    assert failing["state"] == "failed", failing
    assert "smtp" in str(failing["last_error"]).lower() or "connect" in str(failing["last_error"]).lower()

    def ours() -> list[dict[str, object]]:
        # Only ours: live traffic of other tests (new complaints) is mailed to this sink too.
        return [m for m in sink.store.entries() if str(m["idempotency_key"]).strip() == key]

    assert ours() == []
    await sink.up()

    async def arrived() -> list[dict[str, object]]:
        return ours()

    assert len(await eventually(arrived, lambda ms: len(ms) >= 1, timeout=30)) == 1
    done = await eventually(delivery, lambda d: d.get("state") == "sent", timeout=10)
    assert done["state"] == "sent"
    # Recorded as delivered once (AlertDelivered is checked where only one alerts service runs:
    # here the shared test service consumes the same answer and delivers its own alert too).
    told = await alerts.fetch(
        "select recipient_id, delivered_at from alert_recipients where alert_id = $1", alert_id
    )
    assert [(r["recipient_id"], r["delivered_at"] is not None) for r in told] == [("sup-sara", True)]
    # Nothing more arrives later: the delivery is recorded as sent, so no worker tries it again.
    assert len(await eventually(arrived, lambda ms: len(ms) > 1, timeout=3)) == 1
    assert [m["to"] for m in ours()] == [[address(NL, "sara.janssens")]]
