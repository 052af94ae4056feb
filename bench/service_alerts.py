"""Alerts (R23): from an unhappy SurveyAnswered on Kafka to the supervisor's e-mail accepted by SMTP.

The alerts service runs as its own process on a fresh database, its consumer groups starting at the
end of the shared topics, and sends to an SMTP sink in this process (a real aiosmtpd server on a free
port), which timestamps each mail as it accepts it. Answers are published at a steady pace; a
latency is the sink's acceptance time minus the moment Kafka acknowledged the answer. The ceiling
is the same path without the service: a bare consumer that sends a mail for each answer at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import aiosmtplib
import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from hoera_alerts.domain import unhappy_alert_id
from hoera_devkit.smtp_sink import MailStore, SmtpSink
from hoera_devkit.testing import ServiceProcess
from hoera_devkit.tokens import mint_token
from hoera_events.common import Channel, Language
from hoera_events.envelope import decode, encode, make_envelope
from hoera_events.registry import topic_for
from hoera_events.surveys import AgentAttribute, SurveyAnswered, SurveyTrigger
from hoera_kit.auth import Role
from hoera_kit.settings import DEV_ISSUER, DEV_SIGNING_SECRET

from bench.common import Figure, Report, bootstrap, percentile, pg_dsn, rate

TOPIC = topic_for(SurveyAnswered)
PACE_PER_S = 50
RAW_CEILING = "alerts ceiling: bare consumer + SMTP send, p50"


def _answer() -> SurveyAnswered:
    return SurveyAnswered(
        survey_id=uuid.uuid4(),
        customer_id=f"bench-{uuid.uuid4().hex[:8]}",
        trigger=SurveyTrigger.contact_closed,
        channel=Channel.phone,
        language=Language.nl,
        answered_at=datetime.now(UTC),
        contact_id=f"CNT-{uuid.uuid4().hex[:10]}",
        agent_id="agent-anna",
        team_id="team-nl-1",
        satisfaction=1,
        effort=2,
        nps=2,
        attributes={AgentAttribute.clear: 1},
        comment="Bench: nobody called back.",
        recording_ref="rec:bench/1",
    )


async def _skip_history(group: str, consumer_names: dict[str, list[str]]) -> None:
    """New groups would read every answer ever published before ours; start them at the end."""
    for name, topics in consumer_names.items():
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap(), group_id=f"{group}.alerts.{name}", enable_auto_commit=False
        )
        await consumer.start()
        try:
            await consumer._client.force_metadata_update()
            tps = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
            consumer.assign(tps)
            await consumer.commit(dict((await consumer.end_offsets(tps)).items()))
        finally:
            await consumer.stop()


async def _publish_paced(producer: AIOKafkaProducer, answers: list[SurveyAnswered]) -> dict[uuid.UUID, float]:
    """Each answer's moment on Kafka (acknowledged), as wall-clock seconds."""
    on_kafka: dict[uuid.UUID, float] = {}
    started = time.monotonic()
    for i, answer in enumerate(answers):
        ahead = started + i / PACE_PER_S - time.monotonic()
        if ahead > 0:
            await asyncio.sleep(ahead)
        env = make_envelope(answer, producer="bench", tenant="demo")
        await producer.send_and_wait(TOPIC, encode(env), key=env.key.encode())
        on_kafka[answer.survey_id] = time.time()
    return on_kafka


def _accepted(store: MailStore) -> dict[str, float]:
    return {
        str(m["idempotency_key"]).strip(): datetime.fromisoformat(str(m["received_at"])).timestamp()
        for m in store.entries()
    }


async def _wait_for(store: MailStore, keys: set[str], timeout: float) -> dict[str, float]:
    deadline = time.monotonic() + timeout
    while True:
        got = _accepted(store)
        if keys <= got.keys() or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.25)


async def _raw_ceiling(report: Report, producer: AIOKafkaProducer, sink: SmtpSink, n: int) -> None:
    """The floor of this path: a bare consumer that mails each answer as soon as it reads it."""
    consumer = AIOKafkaConsumer(
        TOPIC,
        bootstrap_servers=bootstrap(),
        group_id=f"bench-alerts-raw-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="latest",
        enable_auto_commit=False,
    )
    await consumer.start()
    sent: dict[str, float] = {}
    wanted: set[uuid.UUID] = set()

    async def consume() -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=50)
            for records in batch.values():
                for record in records:
                    env = decode(record.value or b"")
                    survey_id = getattr(env.data, "survey_id", None)
                    if survey_id not in wanted:
                        continue
                    await aiosmtplib.send(
                        f"Subject: raw {survey_id}\r\nX-Hoera-Idempotency-Key: raw:{survey_id}\r\n\r\nx",
                        sender="bench@hoera.test",
                        recipients=["sara.janssens@staff.hoera.test"],
                        hostname="127.0.0.1",
                        port=sink.port,
                    )
                    sent[str(survey_id)] = time.time()

    task = asyncio.create_task(consume())
    try:
        for _ in range(300):  # the group's first assignment
            if consumer.assignment():
                break
            await asyncio.sleep(0.1)
        await consumer.seek_to_end()
        answers = [_answer() for _ in range(n)]
        wanted.update(a.survey_id for a in answers)
        on_kafka = await _publish_paced(producer, answers)
        got = await _wait_for(sink.store, {f"raw:{a.survey_id}" for a in answers}, 60)
        latencies = [(got[f"raw:{sid}"] - t) * 1000 for sid, t in on_kafka.items() if f"raw:{sid}" in got]
        report.add(Figure(RAW_CEILING, percentile(latencies, 50), "ms", note=f"({len(latencies)} answers)"))
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        await consumer.stop()


async def _run(report: Report, n: int) -> None:
    db = f"bench_alerts_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(pg_dsn())
    await admin.execute(f'create database "{db}"')
    await admin.close()
    folder = Path(tempfile.mkdtemp(prefix="bench-alerts-"))
    sink = SmtpSink("127.0.0.1", 0, MailStore(folder / "mail"))
    await sink.up()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap(), acks="all", enable_idempotence=True)
    await producer.start()
    group = f"bench-alerts-{uuid.uuid4().hex[:8]}"
    await _skip_history(
        group,
        {
            "feedback": [TOPIC, "hoera.survey.invited.v1", "hoera.contact.closed.v1"],
            "complaints": [
                "hoera.complaint.raised.v1",
                "hoera.complaint.sla_breached.v1",
                "hoera.complaint.resolved.v1",
                "hoera.complaint.closed.v1",
                "hoera.customer.flagged_for_review.v1",
            ],
        },
    )
    service = ServiceProcess(
        "hoera_alerts",
        env={
            "HOERA_DATABASE_URL": pg_dsn(db),
            "HOERA_SMTP_PORT": str(sink.port),
            "HOERA_LOG_LEVEL": "WARNING",
        },
        group_prefix=group,
        log_dir=folder,
    ).start()
    try:
        await service.wait_ready()
        # Management's notices of other traffic (new complaints) wait for a digest, so this
        # measures the answer-to-supervisor path alone.
        async with httpx.AsyncClient(base_url=service.url) as http:
            admin = {"Authorization": f"Bearer {_admin_token()}"}
            current = (await http.get("/admin/rules/notices", headers=admin)).json()
            resp = await http.put(
                "/admin/rules/notices",
                json={
                    "document": {
                        **current["document"],
                        "management": "digest",
                        "digest_every": {"seconds": 3600},
                    },
                    "expected_version": current["version"],
                    "reason": "bench: digests only",
                },
                headers=admin,
            )
            resp.raise_for_status()
        await _raw_ceiling(report, producer, sink, min(n, 300))

        def key(answer: SurveyAnswered) -> str:
            return f"alert:{unhappy_alert_id('demo', answer.survey_id)}:sup-sara"

        warm = [_answer() for _ in range(30)]
        await _publish_paced(producer, warm)
        await _wait_for(sink.store, {key(a) for a in warm}, 60)

        answers = [_answer() for _ in range(n)]
        started = time.monotonic()
        on_kafka = await _publish_paced(producer, answers)
        got = await _wait_for(sink.store, {key(a) for a in answers}, 120)
        elapsed = time.monotonic() - started
        latencies = [(got[key(a)] - on_kafka[a.survey_id]) * 1000 for a in answers if key(a) in got]
        missing = n - len(latencies)
        note = f"({len(latencies):,} answers at {PACE_PER_S}/s{f', {missing} missing' if missing else ''})"
        report.add(
            report.ratio_to(
                Figure(
                    "alerts: answer on Kafka → mail accepted by SMTP, p50",
                    percentile(latencies, 50),
                    "ms",
                    note=note,
                ),
                RAW_CEILING,
            )
        )
        report.add(
            Figure("alerts: answer on Kafka → mail accepted by SMTP, p99", percentile(latencies, 99), "ms")
        )
        report.add(
            Figure("alerts: answer on Kafka → mail accepted by SMTP, max", max(latencies, default=0), "ms")
        )
        report.add(Figure("alerts: unhappy answers mailed", rate(len(latencies), elapsed), "mails/s"))
    finally:
        service.stop()
        await producer.stop()
        await sink.down()
        admin = await asyncpg.connect(pg_dsn())
        await admin.execute(f'drop database if exists "{db}" with (force)')
        await admin.close()


def _admin_token() -> str:
    return mint_token(
        subject="bench",
        roles=[Role.admin],
        secret=DEV_SIGNING_SECRET,
        issuer=DEV_ISSUER,
        audience="hoera",
    )


def run(report: Report, scale: float) -> None:
    asyncio.run(_run(report, max(1000, int(1000 * scale))))


if __name__ == "__main__":
    run(Report(), 1.0)
