"""One service process: a FastAPI app and a FastStream Kafka broker, wired to PostgreSQL and the kit.

A service's app.py builds a Service, registers its routes, consumers and timers, and runs it. Start-up:
logging and tracing, migrations (applied, or checked when HOERA_MIGRATE_ON_START=false), the pool, the
outbox relay's producer, the relay, the timer scanner, the delivery worker, then the subscribers. Each
background loop survives a database or broker outage by retrying; none assumes it is the only replica.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import uvicorn
from aiokafka import TopicPartition
from fastapi import FastAPI
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from hoera_events.base import Event
from hoera_events.envelope import Envelope, make_envelope
from hoera_events.registry import topic_for

from hoera_kit import db, deliveries, metrics, migrations, outbox, telemetry
from hoera_kit.auth import TokenVerifier
from hoera_kit.db import Conn
from hoera_kit.errors import install_error_handlers
from hoera_kit.health import health_router
from hoera_kit.inbox import InboxConsumer
from hoera_kit.retry import backoff_delay
from hoera_kit.settings import KitSettings
from hoera_kit.timers import TimerHandler, TimerScanner

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
DeliveryHook = Callable[[Conn, deliveries.DeliveryRecord], Awaitable[None]]


class Service:
    def __init__(
        self,
        settings: KitSettings,
        *,
        title: str,
        description: str = "",
        version: str = "0.1.0",
        migrations_dir: Path | None = None,
        openapi_tags: list[dict[str, Any]] | None = None,
    ) -> None:
        self.settings = settings
        self.name = settings.service_name
        self.migrations_dir = migrations_dir
        # FastStream takes a list of servers; "a:1,b:2" as one string would be one host name.
        self.broker = KafkaBroker(settings.kafka_bootstrap.split(","), logger=logging.getLogger("faststream"))
        self.api = FastAPI(
            title=title,
            description=description,
            version=version,
            lifespan=self._lifespan,
            openapi_tags=openapi_tags,
        )
        self.api.state.service = self
        self.api.state.settings = settings
        self.api.state.token_verifier = TokenVerifier.from_settings(settings)
        install_error_handlers(self.api)
        # Middleware must be in place before the app first runs (its lifespan included).
        telemetry.instrument_app(self.api)
        self.api.include_router(
            health_router(
                {
                    "database": self._db_ok,
                    "broker": self._broker_ok,
                    "migrations": self._migrations_ok,
                }
            )
        )
        self._pool: asyncpg.Pool | None = None
        self._producer: Any = None
        self._timer_handlers: dict[str, TimerHandler] = {}
        self._delivery_hooks: list[DeliveryHook] = []
        self._consumers: list[InboxConsumer] = []
        self._groups: list[tuple[str, list[str]]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()
        self._expected_migrations: set[str] = set()
        self.relay: outbox.OutboxRelay | None = None
        self.relay_class: type[outbox.OutboxRelay] = outbox.OutboxRelay
        self.timers: TimerScanner | None = None
        self.delivery_worker: deliveries.DeliveryWorker | None = None
        self.started = asyncio.Event()

    # ---- what a service registers -------------------------------------------------------------
    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError(f"{self.name}: the database pool is not started")
        return self._pool

    def consumer(
        self,
        *sources: type[Event] | str,
        name: str,
        batch: bool = False,
    ) -> Callable[[F], F]:
        """Subscribe a handler to event types (or raw topic names); exactly once per event id.

        batch=False: handler(conn, envelope). batch=True: handler(conn, list_of_envelopes), called
        once per Kafka batch in one transaction (where throughput comes from)."""
        topics = [s if isinstance(s, str) else topic_for(s) for s in sources]

        def register(fn: F) -> F:
            inbox = InboxConsumer(
                self.pool_proxy,
                service=self.name,
                name=name,
                handler=None if batch else fn,
                batch_handler=fn if batch else None,
                shards=self.settings.outbox_shards,
            )
            self._consumers.append(inbox)
            self._subscribe(topics, inbox)
            self._groups.append((f"{self.settings.consumer_group_prefix}.{inbox.consumer_id}", topics))
            return fn

        return register

    @property
    def subscriptions(self) -> list[tuple[str, list[str]]]:
        """(consumer group, topics) of every registered consumer: what the service reads."""
        return [(group, list(topics)) for group, topics in self._groups]

    def timer(self, kind: str) -> Callable[[TimerHandler], TimerHandler]:
        def register(fn: TimerHandler) -> TimerHandler:
            self._timer_handlers[kind] = fn
            return fn

        return register

    def on_delivery_state(self, fn: DeliveryHook) -> DeliveryHook:
        """Called in the transaction that records a delivery's new state (timeline, outbox event)."""
        self._delivery_hooks.append(fn)
        return fn

    async def emit(
        self,
        conn: Conn,
        event: Event,
        *,
        tenant: str | None = None,
        key: str | None = None,
        cause: Envelope | None = None,
        correlation_id: uuid.UUID | None = None,
        topic: str | None = None,
    ) -> Envelope:
        """Put an event in the outbox, in the caller's transaction (topic: from the registry)."""
        env = make_envelope(
            event,
            producer=self.name,
            tenant=tenant or (cause.tenant if cause else self.settings.tenant),
            key=key,
            correlation_id=correlation_id or (cause.correlation_id or cause.id if cause else None),
            causation_id=cause.id if cause else None,
        )
        await outbox.add(conn, env, shards=self.settings.outbox_shards, topic=topic)
        return env

    async def emit_many(self, conn: Conn, envelopes: Sequence[Envelope]) -> None:
        await outbox.add(conn, list(envelopes), shards=self.settings.outbox_shards)

    def run(self) -> None:
        uvicorn.run(
            self.api,
            host=self.settings.http_host,
            port=self.settings.http_port,
            log_config=None,
            access_log=False,
        )

    # ---- wiring --------------------------------------------------------------------------------
    @property
    def pool_proxy(self) -> asyncpg.Pool:
        """Consumers are registered before the pool exists; they reach it through this proxy."""
        return _PoolProxy(self)  # type: ignore[return-value]

    def _subscribe(self, topics: list[str], inbox: InboxConsumer) -> None:
        async def on_batch(msg: KafkaMessage) -> None:
            raw = msg.raw_message
            records = list(raw) if isinstance(raw, tuple) else [raw]
            await inbox.process(records)
            consumer: Any = getattr(msg, "consumer", None)
            if consumer is not None and hasattr(consumer, "highwater"):
                last: dict[tuple[str, int], int] = {}
                for r in records:
                    last[(r.topic, r.partition)] = r.offset
                for (topic, partition), offset in last.items():
                    hw = consumer.highwater(TopicPartition(topic, partition))
                    if hw is not None:
                        metrics.CONSUMER_LAG.labels(self.name, inbox.consumer_id, topic).set(
                            max(0, hw - offset - 1)
                        )

        self.broker.subscriber(
            *topics,
            group_id=f"{self.settings.consumer_group_prefix}.{inbox.consumer_id}",
            batch=True,
            max_records=self.settings.consumer_batch_size,
            batch_timeout_ms=self.settings.consumer_batch_timeout_ms,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
        )(on_batch)

    def _senders(self) -> dict[deliveries.Channel, deliveries.Sender]:
        s = self.settings
        senders: dict[deliveries.Channel, deliveries.Sender] = {
            deliveries.Channel.email: deliveries.SmtpSender(
                s.smtp_host,
                s.smtp_port,
                s.mail_from,
                username=s.smtp_username,
                password=s.smtp_password.get_secret_value() if s.smtp_password else None,
                starttls=s.smtp_starttls,
            ),
            deliveries.Channel.webhook: deliveries.WebhookSender(),
        }
        if s.sms_gateway_url:
            senders[deliveries.Channel.sms] = deliveries.SmsSender(s.sms_gateway_url)
        return senders

    async def _delivery_state(self, conn: asyncpg.Connection, record: deliveries.DeliveryRecord) -> None:
        for hook in self._delivery_hooks:
            await hook(conn, record)

    async def _db_ok(self) -> bool:
        async with self.pool.acquire() as conn:
            return bool(await conn.fetchval("select true"))

    async def _broker_ok(self) -> bool:
        if self._producer is None:
            return False
        await self._producer.client.fetch_all_metadata()
        return True

    async def _migrations_ok(self) -> bool:
        async with self.pool.acquire() as conn:
            done = {r[0] for r in await conn.fetch("select migration_id from _yoyo_migration")}
        return self._expected_migrations <= done

    async def _retry_start(self, what: str, start: Callable[[], Awaitable[Any]]) -> Any:
        attempt = 0
        while True:
            try:
                return await start()
            except Exception as exc:
                delay = backoff_delay(attempt, base=0.5, cap=10.0)
                log.warning("%s: %s not reachable yet (%r); retry in %.1fs", self.name, what, exc, delay)
                attempt += 1
                await asyncio.sleep(delay)

    async def start(self) -> None:
        s = self.settings
        telemetry.setup_logging(self.name, level=s.log_level, json_logs=s.log_json)
        telemetry.setup_tracing(self.name)

        async def _migrate() -> None:
            if s.migrate_on_start:
                applied = await asyncio.to_thread(migrations.apply, s.dsn, self.migrations_dir)
                if applied:
                    log.info("%s: applied migrations %s", self.name, applied)
            else:
                todo = await asyncio.to_thread(migrations.pending, s.dsn, self.migrations_dir)
                if todo:
                    raise SystemExit(
                        f"{self.name}: migrations pending {todo}; run `hoera-kit migrate {self.name}`"
                    )

        await self._retry_start("database (migrations)", _migrate)
        self._expected_migrations = set(await asyncio.to_thread(migrations.known, self.migrations_dir))
        self._pool = await self._retry_start(
            "database",
            lambda: db.create_pool(s.dsn, min_size=s.pool_min_size, max_size=s.pool_max_size),
        )
        self._producer = outbox.make_producer(s.kafka_bootstrap)
        await self._retry_start("Kafka (producer)", self._producer.start)
        self._stop = asyncio.Event()
        self.relay = self.relay_class(
            self.pool,
            self._producer,
            service=self.name,
            shards=s.outbox_shards,
            batch_size=s.outbox_batch_size,
            poll_interval_s=s.outbox_poll_interval_s,
        )
        self.timers = TimerScanner(
            self.pool,
            self._timer_handlers,
            service=self.name,
            poll_interval_s=s.timer_poll_interval_s,
        )
        self.delivery_worker = deliveries.DeliveryWorker(
            self.pool,
            self._senders(),
            max_attempts=s.delivery_max_attempts,
            poll_interval_s=s.delivery_poll_interval_s,
            on_state_change=self._delivery_state,
        )
        self._tasks = [
            asyncio.create_task(self.relay.run(self._stop), name="outbox-relay"),
            asyncio.create_task(self.timers.run(self._stop), name="timers"),
            asyncio.create_task(self.delivery_worker.run(self._stop), name="deliveries"),
            asyncio.create_task(self._gauges(), name="gauges"),
        ]
        if self._consumers:
            if s.consumer_start == "end":
                await self._retry_start("Kafka (group offsets)", self._start_groups_at_end)
            await self._retry_start("Kafka (subscribers)", self.broker.start)
        self.started.set()
        log.info("%s started", self.name)

    async def _start_groups_at_end(self) -> None:
        """Commit the current end offsets for groups that have none, so they skip history."""
        from aiokafka import AIOKafkaConsumer

        for group, topics in self._groups:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.settings.kafka_bootstrap, group_id=group, enable_auto_commit=False
            )
            await consumer.start()
            try:
                tps = []
                for topic in topics:
                    parts = consumer.partitions_for_topic(topic)
                    if not parts:
                        await consumer._client.force_metadata_update()
                        parts = consumer.partitions_for_topic(topic) or set()
                    tps += [TopicPartition(topic, p) for p in parts]
                if not tps:
                    continue
                consumer.assign(tps)
                ends = await consumer.end_offsets(tps)
                fresh = {tp: ends[tp] for tp in tps if await consumer.committed(tp) is None}
                if fresh:
                    await consumer.commit(fresh)
            finally:
                await consumer.stop()

    async def stop(self) -> None:
        self._stop.set()
        with suppress(Exception):
            await self.broker.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError, Exception):
                await task
        if self._producer is not None:
            with suppress(Exception):
                await self._producer.stop()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        self.started.clear()

    async def _gauges(self) -> None:
        while not self._stop.is_set():
            with suppress(Exception):
                async with self.pool.acquire() as conn:
                    backlog = await conn.fetchval("select count(*) from kit_outbox")
                    metrics.OUTBOX_BACKLOG.labels(self.name).set(backlog)
                    due = await conn.fetchval("select count(*) from kit_timers where due_at <= now()")
                    metrics.TIMERS_DUE.labels(self.name).set(due)
                    for state, n in (await deliveries.count_by_state(conn)).items():
                        metrics.DELIVERIES.labels(self.name, str(state)).set(n)
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=5.0)

    @asynccontextmanager
    async def _lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()


class _PoolProxy:
    def __init__(self, service: Service) -> None:
        self._service = service

    def __getattr__(self, name: str) -> Any:
        return getattr(self._service.pool, name)
