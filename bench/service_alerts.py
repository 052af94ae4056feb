"""Alerts (R23): from an unhappy SurveyAnswered on Kafka to the supervisor's e-mail accepted by SMTP.

The alerts service runs as its own process on a fresh database, its consumer groups starting at the
end of the shared topics, and sends to an SMTP sink in this process (a real aiosmtpd server on a free
port), which timestamps each mail as it accepts it. Answers are published at a steady pace; a
latency is the sink's acceptance time minus the moment Kafka acknowledged the answer. The ceiling
is the same path without the service: a bare consumer that sends a mail for each answer at once.

The answers are the bench tenant's (defined as bench/system_e2e.py does; team-nl-1's supervisor is
mailed) and say `commented`, as the survey service writes them, so alerts asks a survey process of
the bench's own for the words (HOERA_SERVICE_URLS), one call per batch; that survey holds none.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import aiosmtplib
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from hoera_alerts.domain import unhappy_alert_id
from hoera_devkit.smtp_sink import MailStore, SmtpSink
from hoera_devkit.testing import ServiceProcess, create_database, drop_database
from hoera_events.common import Channel, Language
from hoera_events.envelope import decode, encode, event_headers, make_envelope
from hoera_events.registry import topic_for
from hoera_events.surveys import AgentAttribute, SurveyAnswered, SurveyTrigger
from hoera_kit.auth import Role

from bench.common import (
    Figure,
    Report,
    bearer,
    bootstrap,
    define_bench_tenant,
    percentile,
    pg_dsn,
    quiet_logs,
    rate,
)
from bench.system_e2e import TENANT

TOPIC = topic_for(SurveyAnswered)
PACE_PER_S = 50
RAW_CEILING = "alerts ceiling: bare consumer + SMTP send, p50"
SUPERVISOR = "sup-sara"  # team-nl-1's supervisor in the bench tenant's organisation


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
        commented=True,
        recording_ref="rec:bench/1",
    )


async def _publish_paced(producer: AIOKafkaProducer, answers: list[SurveyAnswered]) -> dict[uuid.UUID, float]:
    """Each answer's moment on Kafka (acknowledged), as wall-clock seconds."""
    on_kafka: dict[uuid.UUID, float] = {}
    started = time.monotonic()
    for i, answer in enumerate(answers):
        ahead = started + i / PACE_PER_S - time.monotonic()
        if ahead > 0:
            await asyncio.sleep(ahead)
        env = make_envelope(answer, producer="survey", tenant=TENANT)
        await producer.send_and_wait(TOPIC, encode(env), key=env.key.encode(), headers=event_headers(env))
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


async def _start_survey(folder: Path, group: str) -> tuple[ServiceProcess, str]:
    """The survey service, only for what alerts asks of it: an answer says `commented` and alerts asks
    survey for the words, one call per batch and tenant (it holds none for the bench's surveys, so
    the call comes back empty). Its consumers stay off: it reads no trigger of the shared topics."""
    db = await create_database("bench_alerts_survey")
    survey = ServiceProcess(
        "hoera_survey",
        env={
            "HOERA_DATABASE_URL": pg_dsn(db),
            "HOERA_SURVEY_RUN_CONSUMERS": "false",
            "HOERA_LOG_LEVEL": "WARNING",
        },
        group_prefix=group,
        log_dir=folder,
        name="bench-survey",
    ).start()
    return survey, db


async def _digests_only(url: str) -> None:
    """Management's notices of other traffic (new complaints) wait for a digest, so this measures the
    answer-to-supervisor path alone (the bench tenant's notice rules, as its administrator sets them)."""
    admin = bearer(TENANT, Role.admin)
    async with httpx.AsyncClient(base_url=url, headers=admin) as http:
        current = await http.get("/admin/rules/notices")
        current.raise_for_status()
        doc = current.json()
        resp = await http.put(
            "/admin/rules/notices",
            json={
                "document": {**doc["document"], "management": "digest", "digest_every": {"seconds": 3600}},
                "expected_version": doc["version"],
                "reason": "bench: digests only",
            },
        )
        resp.raise_for_status()


async def _run(report: Report, n: int) -> None:
    await define_bench_tenant(TENANT)
    db = await create_database("bench_alerts")
    folder = Path(tempfile.mkdtemp(prefix="bench-alerts-"))
    sink = SmtpSink("127.0.0.1", 0, MailStore(folder / "mail"))
    await sink.up()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap(), acks="all", enable_idempotence=True)
    await producer.start()
    # Both processes' consumer groups start at the end of the shared topics (ServiceProcess sets
    # HOERA_CONSUMER_START=end): only the bench's answers reach them.
    group = f"bench-alerts-{uuid.uuid4().hex[:8]}"
    survey, survey_db = await _start_survey(folder, group)
    service = ServiceProcess(
        "hoera_alerts",
        env={
            "HOERA_DATABASE_URL": pg_dsn(db),
            "HOERA_SMTP_PORT": str(sink.port),
            "HOERA_LOG_LEVEL": "WARNING",
            "HOERA_SERVICE_URLS": json.dumps({"survey": survey.url}),
        },
        group_prefix=group,
        log_dir=folder,
        name="bench-alerts",
    ).start()
    try:
        await asyncio.gather(survey.wait_ready(timeout=120), service.wait_ready(timeout=120))
        await _digests_only(service.url)
        await _raw_ceiling(report, producer, sink, min(n, 300))

        def key(answer: SurveyAnswered) -> str:
            return f"alert:{unhappy_alert_id(TENANT, answer.survey_id)}:{SUPERVISOR}"

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
        survey.stop()
        await producer.stop()
        await sink.down()
        await drop_database(db)
        await drop_database(survey_db)
        shutil.rmtree(folder, ignore_errors=True)


def run(report: Report, scale: float) -> None:
    asyncio.run(_run(report, max(1000, int(1000 * scale))))


if __name__ == "__main__":
    quiet_logs()
    run(Report(), float(sys.argv[1]) if len(sys.argv) > 1 else 1.0)
