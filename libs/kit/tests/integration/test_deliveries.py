"""Deliveries against the real PostgreSQL of deploy/local and a real SMTP server in this process.

One fresh database for the module (only the deliveries migration applied), an empty table per test,
and an aiosmtpd sink per test on a free port that the test takes down and up as it likes.
"""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import hoera_kit
import httpx
import pytest
from hoera_devkit.smtp_sink import MailStore, SmtpSink, web_app
from hoera_kit import deliveries
from hoera_kit.db import create_pool
from hoera_kit.deliveries import (
    Channel,
    DeliveryRecord,
    DeliveryState,
    DeliveryWorker,
    OutgoingMessage,
    SmsSender,
    SmtpSender,
)
from hoera_kit.loops import Loop
from hoera_kit.notify import Notifications

pytestmark = pytest.mark.integration

from hoera_devkit.testing import pg_dsn  # noqa: E402

ADMIN_DSN = os.environ.get("HOERA_TEST_PG_ADMIN_DSN", pg_dsn())
MIGRATIONS = [
    Path(hoera_kit.__file__).parent / "migrations" / name
    for name in (
        "kit_0003_deliveries.sql",
        "kit_0006_delivery_sender.sql",
        "kit_0007_privacy.sql",
        "kit_0009_webhooks.sql",
    )
]
MAIL_FROM = "Hoera <no-reply@hoera.local>"


class _Top(random.Random):
    """Full jitter at its ceiling, so a test knows the delay it gets."""

    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.fixture(scope="module")
async def dsn() -> AsyncIterator[str]:
    name = f"test_deliveries_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'create database "{name}"')
    finally:
        await admin.close()
    url = f"{ADMIN_DSN.rsplit('/', 1)[0]}/{name}"
    conn = await asyncpg.connect(url)
    try:
        for migration in MIGRATIONS:
            await conn.execute(migration.read_text())
        # What a service's on_state_change writes: its timeline, say.
        await conn.execute(
            "create table delivery_timeline (delivery_id uuid not null, state text not null, "
            "attempts int not null, same_transaction boolean not null)"
        )
    finally:
        await conn.close()
    yield url
    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await admin.close()


@pytest.fixture(scope="module")
async def pool(dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(dsn, min_size=2, max_size=20)
    yield pool
    await pool.close()


@pytest.fixture(autouse=True)
async def empty_tables(pool: asyncpg.Pool) -> None:
    await pool.execute("truncate kit_deliveries, delivery_timeline")


@pytest.fixture
async def sink(tmp_path: Path) -> AsyncIterator[SmtpSink]:
    sink = SmtpSink(
        "127.0.0.1",
        0,
        MailStore(tmp_path / "mail"),
        reject_recipients=r"^refused@",
        defer_recipients=r"^busy@",
    )
    await sink.up()
    yield sink
    await sink.down()


def _running(worker: DeliveryWorker, dsn: str, stop: asyncio.Event) -> asyncio.Task[Any]:
    """The worker as a service runs it: a kit Loop woken by the process's LISTEN connection."""
    notifications = Notifications(dsn)
    worker.wake = notifications.wake(deliveries.NOTIFY_CHANNEL)
    loop = Loop("deliveries", worker.step, interval_s=worker.poll_interval_s, wake=worker.wake)
    return asyncio.ensure_future(asyncio.gather(notifications.run(stop), loop.run(stop)))


def _smtp(sink: SmtpSink) -> SmtpSender:
    return SmtpSender("127.0.0.1", sink.port, MAIL_FROM, timeout=5)


def _mail(key: str, **overrides: Any) -> OutgoingMessage:
    fields: dict[str, Any] = {
        "channel": Channel.email,
        "recipient": "Klant <klant@example.org>",
        "subject": f"Uw klacht {key} is ontvangen",
        "body_text": "Beste klant, we hebben uw klacht goed ontvangen.",
        "body_html": "<p>Beste klant, we hebben uw klacht goed ontvangen.</p>",
        "language": "nl",
        "idempotency_key": key,
        "reference": f"complaint:{key}",
        "tenant": "demo",
    }
    fields.update(overrides)
    return OutgoingMessage(**fields)


async def _enqueue(pool: asyncpg.Pool, msg: OutgoingMessage) -> DeliveryRecord:
    async with pool.acquire() as conn, conn.transaction():
        return await deliveries.enqueue(conn, msg)


async def _get(pool: asyncpg.Pool, record: DeliveryRecord) -> DeliveryRecord:
    async with pool.acquire() as conn:
        found = await deliveries.get(conn, record.id)
    assert found is not None
    return found


async def _until(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while True:
            if await check():
                return
            await asyncio.sleep(0.05)


async def _record_in_timeline(conn: asyncpg.Connection, record: DeliveryRecord) -> None:
    # xmin of the row just updated is this transaction's id only if the hook runs inside it.
    await conn.execute(
        "insert into delivery_timeline (delivery_id, state, attempts, same_transaction) "
        "select id, $2, $3, xmin::text::bigint = txid_current() % 4294967296 "
        "from kit_deliveries where id = $1",
        record.id,
        record.state.value,
        record.attempts,
    )


async def test_a_delivery_is_sent_and_the_mail_arrives_as_recorded(
    pool: asyncpg.Pool, sink: SmtpSink
) -> None:
    record = await _enqueue(pool, _mail("ack-1"))
    assert record.state is DeliveryState.pending and record.attempts == 0

    worker = DeliveryWorker(pool, {Channel.email: _smtp(sink)})
    assert await worker.run_once() == 1

    (mail,) = sink.store.entries()
    assert mail["to"] == ["klant@example.org"]
    assert mail["from"] == "no-reply@hoera.local"
    assert mail["subject"] == "Uw klacht ack-1 is ontvangen"
    assert mail["message_id"] == deliveries.message_id("ack-1")
    assert mail["idempotency_key"] == "ack-1"
    sent = await _get(pool, record)
    assert sent.state is DeliveryState.sent
    assert sent.attempts == 1
    assert sent.provider_id == deliveries.message_id("ack-1")
    assert sent.sent_at is not None and sent.last_error is None
    async with pool.acquire() as conn:
        assert [r.id for r in await deliveries.by_reference(conn, "complaint:ack-1")] == [record.id]
        assert (await deliveries.count_by_state(conn)) == {
            DeliveryState.pending: 0,
            DeliveryState.sent: 1,
            DeliveryState.failed: 0,
            DeliveryState.given_up: 0,
        }
    assert await worker.run_once() == 0
    assert len(sink.store.entries()) == 1


async def test_enqueueing_the_same_key_twice_records_one_delivery_and_sends_one_mail(
    pool: asyncpg.Pool, sink: SmtpSink
) -> None:
    first = await _enqueue(pool, _mail("invite-7"))
    # A redelivered event enqueues again, possibly with a differently rendered text.
    again = await _enqueue(pool, _mail("invite-7", subject="anders"))
    assert again.id == first.id and again.subject == first.subject

    worker = DeliveryWorker(pool, {Channel.email: _smtp(sink)})
    await worker.run_once()
    after_send = await _enqueue(pool, _mail("invite-7"))
    await worker.run_once()

    assert after_send.id == first.id and after_send.state is DeliveryState.sent
    assert await pool.fetchval("select count(*) from kit_deliveries") == 1
    assert [m["idempotency_key"] for m in sink.store.entries()] == ["invite-7"]
    async with pool.acquire() as conn:
        by_key = await deliveries.by_idempotency_key(conn, "invite-7")
    assert by_key is not None and by_key.id == first.id


async def test_a_delivery_rolled_back_with_its_state_change_is_never_sent(
    pool: asyncpg.Pool, sink: SmtpSink
) -> None:
    with pytest.raises(RuntimeError):
        async with pool.acquire() as conn, conn.transaction():
            await deliveries.enqueue(conn, _mail("rolled-back"))
            raise RuntimeError("the complaint could not be saved")

    worker = DeliveryWorker(pool, {Channel.email: _smtp(sink)})
    assert await worker.run_once() == 0
    assert sink.store.entries() == []
    async with pool.acquire() as conn:
        assert await deliveries.by_idempotency_key(conn, "rolled-back") is None


async def test_while_the_smtp_server_is_down_the_delivery_waits_and_is_sent_once_it_is_back(
    pool: asyncpg.Pool, sink: SmtpSink, dsn: str
) -> None:
    await sink.down()
    record = await _enqueue(pool, _mail("alert-3"))
    worker = DeliveryWorker(
        pool, {Channel.email: _smtp(sink)}, base_delay_s=1.0, poll_interval_s=0.05, rng=_Top()
    )

    assert await worker.run_once() == 1
    failed = await _get(pool, record)
    assert failed.state is DeliveryState.failed
    assert failed.attempts == 1
    assert failed.last_error
    assert failed.next_attempt_at > await pool.fetchval("select now()")
    assert await worker.run_once() == 0, "not due before its backoff ends"

    await sink.up()
    stop = asyncio.Event()
    running = _running(worker, dsn, stop)
    try:

        async def sent() -> bool:
            return (await _get(pool, record)).state is DeliveryState.sent

        await _until(sent)
    finally:
        stop.set()
        await running

    assert [m["idempotency_key"] for m in sink.store.entries()] == ["alert-3"]
    done = await _get(pool, record)
    assert done.attempts == 2 and done.last_error is None


async def test_a_session_kept_open_does_not_outlive_the_server_going_down(
    pool: asyncpg.Pool, sink: SmtpSink
) -> None:
    """The sender keeps its SMTP session for the next mail; a server that goes down drops it, so the
    next mail waits for the server instead of slipping through the old session."""
    sender = _smtp(sink)
    worker = DeliveryWorker(pool, {Channel.email: sender}, base_delay_s=1.0, rng=_Top())
    try:
        first = await _enqueue(pool, _mail("kept-1"))
        assert await worker.run_once() == 1 and (await _get(pool, first)).state is DeliveryState.sent
        await sink.down()
        second = await _enqueue(pool, _mail("kept-2"))
        assert await worker.run_once() == 1
        waiting = await _get(pool, second)
    finally:
        await worker.aclose()
    assert waiting.state is DeliveryState.failed, "not sent while the server is down"
    assert [m["idempotency_key"] for m in sink.store.entries()] == ["kept-1"]


async def test_a_refused_recipient_is_given_up_at_once(pool: asyncpg.Pool, sink: SmtpSink) -> None:
    record = await _enqueue(pool, _mail("refused-1", recipient="refused@example.org"))
    worker = DeliveryWorker(pool, {Channel.email: _smtp(sink)}, base_delay_s=0.0)

    await worker.run_once()
    assert await worker.run_once() == 0

    given_up = await _get(pool, record)
    assert given_up.state is DeliveryState.given_up
    assert given_up.attempts == 1
    assert given_up.last_error is not None and "550" in given_up.last_error
    assert sink.store.entries() == []


async def test_a_deferred_recipient_is_retried_until_the_attempts_run_out(
    pool: asyncpg.Pool, sink: SmtpSink
) -> None:
    record = await _enqueue(pool, _mail("busy-1", recipient="busy@example.org"))
    worker = DeliveryWorker(pool, {Channel.email: _smtp(sink)}, max_attempts=3, base_delay_s=0.0)

    states = []
    for _ in range(4):
        await worker.run_once()
        current = await _get(pool, record)
        states.append((current.state, current.attempts))

    assert states == [
        (DeliveryState.failed, 1),
        (DeliveryState.failed, 2),
        (DeliveryState.given_up, 3),
        (DeliveryState.given_up, 3),
    ]
    assert current.last_error is not None and "451" in current.last_error
    async with pool.acquire() as conn:
        again = await deliveries.requeue(conn, record.id)
    assert again is not None and again.state is DeliveryState.pending and again.attempts == 0


async def test_two_workers_send_fifty_deliveries_each_exactly_once(
    pool: asyncpg.Pool, sink: SmtpSink, dsn: str
) -> None:
    keys = [f"survey-{n}" for n in range(50)]
    async with pool.acquire() as conn, conn.transaction():
        for key in keys:
            await deliveries.enqueue(conn, _mail(key))

    attempted: Counter[str] = Counter()

    class CountingSender:
        def __init__(self, name: str) -> None:
            self.name, self.smtp = name, _smtp(sink)

        async def send(self, msg: DeliveryRecord) -> str | None:
            attempted[self.name] += 1
            await asyncio.sleep(0.01)  # a slower server: the workers overlap
            return await self.smtp.send(msg)

    workers = [
        DeliveryWorker(pool, {Channel.email: CountingSender(name)}, batch_size=5, poll_interval_s=0.05)
        for name in ("a", "b")
    ]
    stop = asyncio.Event()
    running = [_running(w, dsn, stop) for w in workers]
    try:

        async def all_sent() -> bool:
            counts = await pool.fetchval("select count(*) from kit_deliveries where state = 'sent'")
            return bool(counts == len(keys))

        await _until(all_sent, within=30)
    finally:
        stop.set()
        await asyncio.gather(*running)

    per_key = Counter(m["idempotency_key"] for m in sink.store.entries())
    assert per_key == dict.fromkeys(keys, 1)
    assert sum(attempted.values()) == len(keys)
    assert attempted["a"] > 0 and attempted["b"] > 0, attempted
    assert await pool.fetchval("select max(attempts) from kit_deliveries") == 1


async def test_on_state_change_is_written_in_the_transaction_that_records_each_outcome(
    pool: asyncpg.Pool, sink: SmtpSink
) -> None:
    record = await _enqueue(pool, _mail("timeline-1"))
    worker = DeliveryWorker(
        pool, {Channel.email: _smtp(sink)}, base_delay_s=0.0, on_state_change=_record_in_timeline
    )

    await sink.down()
    await worker.run_once()
    await sink.up()
    await worker.run_once()
    await worker.run_once()

    rows = await pool.fetch(
        "select state, attempts, same_transaction from delivery_timeline where delivery_id = $1 "
        "order by attempts",
        record.id,
    )
    assert [tuple(r) for r in rows] == [("failed", 1, True), ("sent", 2, True)]


async def test_a_failing_hook_leaves_the_outcome_unrecorded_and_the_repeat_keeps_its_message_id(
    pool: asyncpg.Pool, sink: SmtpSink
) -> None:
    record = await _enqueue(pool, _mail("hook-1"))
    calls = 0

    async def flaky(conn: asyncpg.Connection, rec: DeliveryRecord) -> None:
        nonlocal calls
        calls += 1
        await _record_in_timeline(conn, rec)
        if calls <= 2:  # the wave's transaction, then the outcome on its own
            raise RuntimeError("the timeline refused it")

    worker = DeliveryWorker(pool, {Channel.email: _smtp(sink)}, lease_s=1.0, on_state_change=flaky)
    await worker.run_once()
    leased = await _get(pool, record)
    assert leased.state is DeliveryState.pending and leased.attempts == 1
    assert await worker.run_once() == 0, "leased"

    await asyncio.sleep(1.1)
    assert await worker.run_once() == 1

    final = await _get(pool, record)
    assert final.state is DeliveryState.sent and final.attempts == 2
    timeline = await pool.fetch("select state, attempts from delivery_timeline")
    assert [tuple(r) for r in timeline] == [("sent", 2)]
    mails = sink.store.entries()
    assert len(mails) == 2, "at least once: the receiver sees the same Message-ID twice"
    assert {m["message_id"] for m in mails} == {deliveries.message_id("hook-1")}


async def test_an_sms_goes_through_the_sinks_gateway(pool: asyncpg.Pool, sink: SmtpSink) -> None:
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=web_app(sink)))
    sms = SmsSender("http://sink.test/api/sms", client=client)
    record = await _enqueue(
        pool,
        OutgoingMessage(
            channel=Channel.sms,
            recipient="+32470123456",
            body_text="Wij bellen u morgen terug.",
            idempotency_key="callback-5:sms",
            reference="callback:5",
            tenant="demo",
        ),
    )
    worker = DeliveryWorker(pool, {Channel.email: _smtp(sink), Channel.sms: sms})
    await worker.run_once()

    (entry,) = sink.store.sms_entries()
    assert entry["to"] == "+32470123456"
    assert entry["text"] == "Wij bellen u morgen terug."
    assert entry["idempotency_key"] == "callback-5:sms"
    assert entry["reference"] == "callback:5"
    sent = await _get(pool, record)
    assert sent.state is DeliveryState.sent and sent.provider_id == entry["id"]
    listed = (await client.get("http://sink.test/api/sms")).json()
    assert [s["id"] for s in listed] == [entry["id"]]
    await sms.aclose()
    await client.aclose()


async def test_a_worker_without_a_sender_for_a_channel_leaves_its_deliveries_alone(
    pool: asyncpg.Pool, sink: SmtpSink
) -> None:
    record = await _enqueue(
        pool,
        _mail("sms-only", channel=Channel.sms, recipient="+32470000000", body_html=None),
    )
    worker = DeliveryWorker(pool, {Channel.email: _smtp(sink)})
    assert await worker.run_once() == 0
    untouched = await _get(pool, record)
    assert untouched.state is DeliveryState.pending and untouched.attempts == 0


async def test_the_worker_wakes_on_notify_and_listens_again_after_losing_its_connection(
    pool: asyncpg.Pool, sink: SmtpSink, dsn: str
) -> None:
    # A poll interval far beyond the test's patience: only a notification can wake the worker.
    worker = DeliveryWorker(pool, {Channel.email: _smtp(sink)}, poll_interval_s=60)
    stop = asyncio.Event()
    running = _running(worker, dsn, stop)
    try:
        await asyncio.sleep(0.5)
        first = await _enqueue(pool, _mail("wake-1"))

        async def first_sent() -> bool:
            return (await _get(pool, first)).state is DeliveryState.sent

        await _until(first_sent, within=5)

        # The database drops every connection of the worker (a failover, a restart).
        killed = await pool.fetchval(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity "
            "where datname = current_database() and pid <> pg_backend_pid()"
        )
        assert killed >= 1
        await asyncio.sleep(1.5)
        assert not running.done()
        second = await _enqueue(pool, _mail("wake-2"))

        async def second_sent() -> bool:
            return (await _get(pool, second)).state is DeliveryState.sent

        await _until(second_sent, within=5)
    finally:
        stop.set()
        await running
    assert sorted(m["idempotency_key"] for m in sink.store.entries()) == ["wake-1", "wake-2"]


async def test_with_a_slow_smtp_server_two_workers_never_send_a_delivery_twice(
    pool: asyncpg.Pool, sink: SmtpSink, dsn: str
) -> None:
    """A wave of sends outlasting the lease once made a second replica take rows the first was still
    sending. A wave now ends at half the lease: a send still running is cut off, a row not started is
    handed back."""
    keys = [f"slow-{n}" for n in range(40)]
    async with pool.acquire() as conn, conn.transaction():
        for key in keys:
            await deliveries.enqueue(conn, _mail(key))
    sent: Counter[str] = Counter()

    class SlowSender:
        def __init__(self) -> None:
            self.smtp = _smtp(sink)

        async def send(self, msg: DeliveryRecord) -> str | None:
            # Eight waves of five sends outlast the 4-second lease; one wave does not.
            await asyncio.sleep(0.6)
            sent[msg.idempotency_key] += 1
            return await self.smtp.send(msg)

    workers = [
        DeliveryWorker(
            pool,
            {Channel.email: SlowSender()},
            batch_size=50,
            max_concurrency=5,
            lease_s=4.0,
            poll_interval_s=0.05,
        )
        for _ in range(2)
    ]
    stop = asyncio.Event()
    running = [_running(w, dsn, stop) for w in workers]
    try:

        async def all_sent() -> bool:
            n = await pool.fetchval("select count(*) from kit_deliveries where state = 'sent'")
            return bool(n == len(keys))

        await _until(all_sent, within=60)
    finally:
        stop.set()
        await asyncio.gather(*running)
    assert sent == dict.fromkeys(keys, 1)
    assert Counter(m["idempotency_key"] for m in sink.store.entries()) == dict.fromkeys(keys, 1)


async def test_a_waves_outcomes_are_recorded_as_they_come_not_when_its_slowest_mail_is_done(
    pool: asyncpg.Pool, sink: SmtpSink
) -> None:
    """A crash between the SMTP server's accept and the recorded outcome resends that mail (at least
    once): the wave records what was accepted every short interval, so a crash while one mail hangs
    resends that one, not the twenty that went out beside it."""
    keys = [f"fast-{n}" for n in range(20)]
    async with pool.acquire() as conn, conn.transaction():
        for key in ["stuck", *keys]:
            await deliveries.enqueue(conn, _mail(key))
    release = asyncio.Event()

    class OneHangs:
        def __init__(self) -> None:
            self.smtp = _smtp(sink)

        async def send(self, msg: DeliveryRecord) -> str | None:
            if msg.idempotency_key == "stuck":
                await release.wait()
            return await self.smtp.send(msg)

    worker = DeliveryWorker(pool, {Channel.email: OneHangs()}, batch_size=50, max_concurrency=8)
    wave = asyncio.ensure_future(worker.run_once())
    try:

        async def the_others_recorded() -> bool:
            n = await pool.fetchval(
                "select count(*) from kit_deliveries where state = 'sent' and idempotency_key = any($1)",
                keys,
            )
            return bool(n == len(keys))

        await _until(the_others_recorded, within=20)
        stuck = await pool.fetchval("select state from kit_deliveries where idempotency_key = 'stuck'")
        assert not wave.done() and stuck == "pending", "the hanging mail is still in its wave"
    finally:
        release.set()
    assert await wave == len(keys) + 1
    states = await pool.fetch("select state, count(*) from kit_deliveries group by state")
    assert {r["state"]: r["count"] for r in states} == {"sent": len(keys) + 1}
    assert Counter(m["idempotency_key"] for m in sink.store.entries()) == dict.fromkeys(["stuck", *keys], 1)


async def test_erasure_blanks_a_customers_deliveries_gives_up_the_unsent_and_leaves_others_alone(
    pool: asyncpg.Pool, sink: SmtpSink
) -> None:
    from hoera_kit.privacy import ERASED, erase_deliveries

    sent = await _enqueue(pool, _mail("gdpr-sent", customer_id="CUST-1", recipient="cust-1@example.org"))
    worker = DeliveryWorker(pool, {Channel.email: _smtp(sink)})
    assert await worker.run_once() == 1
    assert (await _get(pool, sent)).state is DeliveryState.sent
    waiting = await _enqueue(
        pool, _mail("gdpr-waiting", customer_id="CUST-1", recipient="cust-1@example.org")
    )
    other = await _enqueue(pool, _mail("gdpr-other", customer_id="CUST-2", recipient="cust-2@example.org"))
    elsewhere = await _enqueue(pool, _mail("gdpr-tenant", customer_id="CUST-1", tenant="acme"))

    async with pool.acquire() as conn, conn.transaction():
        assert await erase_deliveries(conn, "demo", "CUST-1") == 2
    for record in (sent, waiting):
        erased = await _get(pool, record)
        assert (erased.recipient, erased.subject, erased.body_text, erased.body_html, erased.headers) == (
            ERASED,
            "",
            "",
            None,
            {},
        )
    assert (await _get(pool, sent)).state is DeliveryState.sent
    given_up = await _get(pool, waiting)
    assert (given_up.state, given_up.last_error) == (DeliveryState.given_up, "customer erased")
    # Another customer's and another tenant's same customer id keep everything.
    for record in (other, elsewhere):
        assert await _get(pool, record) == record
    # A second erasure finds nothing left to change; the worker sends nothing for the given-up one.
    async with pool.acquire() as conn, conn.transaction():
        assert await erase_deliveries(conn, "demo", "CUST-1") == 0
    assert await worker.run_once() == 2  # the other customer's and the other tenant's: not the given-up one
    assert (await _get(pool, waiting)).state is DeliveryState.given_up
    assert sorted(m["to"][0] for m in sink.store.entries()) == [
        "cust-1@example.org",
        "cust-2@example.org",
        "klant@example.org",
    ]
