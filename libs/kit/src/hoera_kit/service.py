"""One service process: a FastAPI app and a FastStream Kafka broker, wired to PostgreSQL and the kit.

A service's app.py builds a Service, registers its routes, consumers, timers and start hooks, and runs
it. Start-up: logging and tracing, migrations (applied, or checked when HOERA_MIGRATE_ON_START=false),
the pool, the outbox relay's producer, the start hooks (seeding operator data), the background loops
(LISTEN, relay, timers, deliveries, gauges, lag), then the subscribers. Each loop survives a database
or broker outage by retrying; none assumes it is the only replica.

Shutdown (SIGTERM, or the end of a test's lifespan) is bounded by HOERA_SHUTDOWN_GRACE_S: uvicorn
stops taking requests and lets those in flight finish, the subscribers stop fetching and finish the
batch in hand (its transaction commits or rolls back, never half), the loops finish their round, and
whatever outlives the grace period is cancelled; then the producer flushes and the pool closes with
every connection released.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any, Generic, TypeVar

import asyncpg
import psycopg2
import uvicorn
from aiokafka import TopicPartition
from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from hoera_events.base import Event
from hoera_events.envelope import Envelope, make_envelope
from hoera_events.registry import Service as Producer
from hoera_events.registry import spec_for, topic_for

from hoera_kit import db, deliveries, edges, kafka, metrics, migrations, openapi, outbox, signing, telemetry
from hoera_kit import rules as rule_documents
from hoera_kit import webhooks as signed_webhooks
from hoera_kit.auth import TokenVerifier
from hoera_kit.console import console_router
from hoera_kit.consumer import LagMonitor, Subscription
from hoera_kit.db import Conn
from hoera_kit.directory import CustomerDirectory, directory_from_settings
from hoera_kit.errors import install_error_handlers
from hoera_kit.health import health_router
from hoera_kit.inbox import InboxConsumer, Record
from hoera_kit.loops import Background, Loop
from hoera_kit.notify import Notifications
from hoera_kit.references import SurveyComments
from hoera_kit.retry import is_transient, retrying
from hoera_kit.rules_api import rules_router
from hoera_kit.service_tokens import ServiceTokens
from hoera_kit.settings import KitSettings
from hoera_kit.tenants import ORGANISATIONS_TOPIC, TENANTS_TOPIC, TenantRegistry
from hoera_kit.timers import TimerHandler, TimerScanner

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
S = TypeVar("S", bound=KitSettings)
DeliveryHook = Callable[[Conn, deliveries.DeliveryRecord], Awaitable[None]]
Hook = Callable[[], Awaitable[None]]

GAUGE_INTERVAL_S = 5.0


class Service(Generic[S]):
    def __init__(
        self,
        settings: S,
        *,
        title: str,
        description: str = "",
        version: str = "0.1.0",
        migrations_dir: Path | None = None,
        openapi_tags: list[dict[str, Any]] | None = None,
    ) -> None:
        self.settings: S = settings
        self.name = settings.service_name
        self.migrations_dir = migrations_dir
        # FastStream takes a list of servers; "a:1,b:2" as one string would be one host name.
        # graceful_timeout: on stop, the batch in hand finishes (its transaction commits) first.
        self.broker = KafkaBroker(
            settings.kafka_bootstrap.split(","),
            logger=logging.getLogger("faststream"),
            graceful_timeout=settings.shutdown_grace_s,
            security=kafka.broker_security(settings),
        )
        self.kafka = kafka.client_options(settings)
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
        openapi.install(self.api)
        # Middleware must be in place before the app first runs (its lifespan included).
        edges.install(self.api, settings)
        telemetry.instrument_app(self.api)
        self.api.include_router(
            health_router(
                {
                    "database": self._db_ok,
                    "broker": self._broker_ok,
                    "migrations": self._migrations_ok,
                    "consumers": self._consumers_ok,
                }
            )
        )
        self.notifications = Notifications(settings.dsn)
        self.tenants = TenantRegistry(kafka.client_options(settings))
        self._rules: rule_documents.RuleBook | None = None
        self._directory: CustomerDirectory | None = None
        self._service_tokens: ServiceTokens | None = None
        self._survey_comments: SurveyComments | None = None
        self._pool: asyncpg.Pool | None = None
        self._producer: Any = None
        self._timer_handlers: dict[str, TimerHandler] = {}
        self._delivery_hooks: list[DeliveryHook] = []
        self._webhook_targets: signed_webhooks.WebhookTargets | None = None
        self._start_hooks: list[Hook] = []
        self._stop_hooks: list[Hook] = []
        self._subscriptions: list[Subscription] = []
        self._expected_migrations: set[str] = set()
        self._relay_wake = self.notifications.wake(outbox.NOTIFY_CHANNEL)
        self._delivery_wake = self.notifications.wake(deliveries.NOTIFY_CHANNEL)
        self.background = Background(grace_s=settings.shutdown_grace_s)
        self.relay: outbox.OutboxRelay | None = None
        # A seam for fault-injection tests (a relay that crashes at a chosen point).
        self.relay_class: type[outbox.OutboxRelay] = outbox.OutboxRelay
        self.timers: TimerScanner | None = None
        self.delivery_worker: deliveries.DeliveryWorker | None = None
        self.lag: LagMonitor | None = None
        self.started = asyncio.Event()
        self.stopping = asyncio.Event()
        """Set as soon as the process is told to stop (SIGTERM): live streams end on it."""
        self._server: uvicorn.Server | None = None
        self._watcher: asyncio.Task[None] | None = None

    # ---- what a service registers -------------------------------------------------------------
    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError(f"{self.name}: the database pool is not started")
        return self._pool

    @property
    def rules(self) -> rule_documents.RuleBook:
        if self._rules is None:
            raise RuntimeError(f"{self.name} declared no rule book (Service.rule_book)")
        return self._rules

    def rule_book(self, templates_dir: Path, *, pages: Path | None = None) -> rule_documents.RuleBook:
        """The service's operator data (R8): per-tenant documents with versions, history, rollback,
        their admin routes under /admin/rules and the operator console's pages under /console
        (`pages`: the service's own staff pages folder, whose assets the console serves alike).
        Templates are checked at start (a broken one stops it)."""
        if self._rules is not None:
            raise RuntimeError("a service has one rule book")
        book = rule_documents.RuleBook(templates_dir, template_of=self.tenants.template_of)
        self._rules = book
        self.notifications.on(rule_documents.NOTIFY_CHANNEL, book.forget)
        self.api.include_router(rules_router(book))
        self.api.include_router(console_router(book, service=self.name, pages_dir=pages))

        async def check_templates() -> None:
            book.check_templates()

        self.on_start(check_templates)
        return book

    @property
    def directory(self) -> CustomerDirectory:
        """The platform's customer directory (one HTTP client for the process, closed at stop)."""
        if self._directory is None:
            self._directory = directory_from_settings(self.settings)
        return self._directory

    @property
    def service_tokens(self) -> ServiceTokens:
        """This service's bearer token for other services' internal routes (closed at stop)."""
        if self._service_tokens is None:
            self._service_tokens = ServiceTokens(self.settings)
        return self._service_tokens

    @property
    def survey_comments(self) -> SurveyComments:
        """The survey service's comments, asked for by survey id (one HTTP client for the process,
        closed at stop); where the survey service is, is read at the first call that needs it."""
        if self._survey_comments is None:
            self._survey_comments = SurveyComments(self.settings, self.service_tokens)
        return self._survey_comments

    @property
    def subscriptions(self) -> list[tuple[str, list[str]]]:
        """(consumer group, topics) of everything the service reads: its consumers, and the replica of
        the tenants and organisations (read whole, without a group)."""
        replica = ("(tenant registry)", [TENANTS_TOPIC, ORGANISATIONS_TOPIC])
        return [replica, *((sub.group, list(sub.topics)) for sub in self._subscriptions)]

    def consumer(
        self,
        *sources: type[Event] | str,
        name: str,
        batch: bool = False,
    ) -> Callable[[F], F]:
        """Subscribe a handler to event types (or raw topic names); exactly once per event id.

        batch=False: handler(conn, envelope). batch=True: handler(conn, list_of_envelopes), called
        once per partition's share of a Kafka batch, in one transaction (where throughput comes from)."""
        topics = [s if isinstance(s, str) else topic_for(s) for s in sources]

        def register(fn: F) -> F:
            inbox = InboxConsumer(
                self.pool_proxy,
                service=self.name,
                name=name,
                handler=None if batch else fn,
                batch_handler=fn if batch else None,
                shards=self.settings.outbox_shards,
                max_record_bytes=self.settings.max_record_bytes,
                admit=self._admit,
                group=f"{self.settings.consumer_group_prefix}.{self.name}.{name}",
            )
            sub = Subscription(
                inbox,
                topics,
                group=f"{self.settings.consumer_group_prefix}.{inbox.consumer_id}",
                service=self.name,
            )
            sub.attach(
                self.broker,
                batch_size=self.settings.consumer_batch_size,
                batch_timeout_ms=self.settings.consumer_batch_timeout_ms,
            )
            self._subscriptions.append(sub)
            return fn

        return register

    def timer(self, kind: str) -> Callable[[TimerHandler], TimerHandler]:
        def register(fn: TimerHandler) -> TimerHandler:
            self._timer_handlers[kind] = fn
            return fn

        return register

    def on_delivery_state(self, fn: DeliveryHook) -> DeliveryHook:
        """Called in the transaction that records a delivery's new state (timeline, outbox event)."""
        self._delivery_hooks.append(fn)
        return fn

    def webhook_targets(self, fn: signed_webhooks.WebhookTargets) -> signed_webhooks.WebhookTargets:
        """Where a webhook delivery goes and with which secrets, asked at send time: the service's
        webhooks then go out signed per Standard Webhooks (hoera_kit.webhooks); a delivery it answers
        None for goes out as before."""
        self._webhook_targets = fn
        return fn

    def on_start(self, fn: Hook) -> Hook:
        """Run once the pool exists and before requests and events are taken (seeding operator data)."""
        self._start_hooks.append(fn)
        return fn

    def on_stop(self, fn: Hook) -> Hook:
        """Run at shutdown, after the subscribers stopped and before the pool closes."""
        self._stop_hooks.append(fn)
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
        relayed: bool = False,
    ) -> Envelope:
        """Put an event in the outbox, in the caller's transaction (topic: from the registry).

        relayed: a platform's event this service passes on (signed with the relay key, which every
        tenant's definition lists), so consumers accept it on the platform's topic."""
        env = self.envelope(event, tenant=tenant, key=key, cause=cause, correlation_id=correlation_id)
        sign = signing.signer(signing.relay_key(self.settings), signing.RELAY_KID) if relayed else None
        await outbox.add(conn, env, shards=self.settings.outbox_shards, topic=topic, sign=sign)
        return env

    def envelope(
        self,
        event: Event,
        *,
        tenant: str | None = None,
        key: str | None = None,
        cause: Envelope | None = None,
        correlation_id: uuid.UUID | None = None,
    ) -> Envelope:
        """The envelope `emit` would write, for a batch that writes many at once (`emit_many`)."""
        return make_envelope(
            event,
            producer=self.name,
            tenant=tenant or (cause.tenant if cause else self.settings.tenant),
            key=key,
            correlation_id=correlation_id or (cause.correlation_id or cause.id if cause else None),
            causation_id=cause.id if cause else None,
        )

    async def emit_many(self, conn: Conn, envelopes: Sequence[Envelope]) -> None:
        """Many envelopes into the outbox in one statement, in the order given."""
        await outbox.add(conn, list(envelopes), shards=self.settings.outbox_shards)

    def run(self) -> None:
        config = uvicorn.Config(
            self.api,
            host=self.settings.http_host,
            port=self.settings.http_port,
            log_config=None,
            access_log=False,
            # libuv's event loop and a C HTTP parser: every request, query and record goes through them.
            loop="uvloop",
            http="httptools",
            # In-flight requests get the grace period; the lifespan's own stop gets it again after.
            timeout_graceful_shutdown=max(1, int(self.settings.shutdown_grace_s / 2)),
        )
        self._server = uvicorn.Server(config)
        self._server.run()

    async def _watch_exit(self) -> None:
        """Turn uvicorn's SIGTERM flag into `stopping` at once.

        uvicorn notes the signal but waits for the start to finish, and then for open requests (a live
        stream never ends by itself) before the app's own stop runs: a start waiting for an unreachable
        database would never end, and live streams would hold the shutdown for the whole grace period.
        Set here, `stopping` ends the start's waits (ShuttingDown) and tells streams to close."""
        # uvicorn exposes a flag, not an event, for the signal it caught: polled, cheaply.
        while self._server is not None and not self._server.should_exit:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        if self._server is not None:
            self.stopping.set()
            if not self.started.is_set():
                self.background.stopping.set()

    # ---- wiring --------------------------------------------------------------------------------
    @property
    def pool_proxy(self) -> asyncpg.Pool:
        """Consumers are registered before the pool exists; they reach it through this proxy."""
        return _PoolProxy(self)  # type: ignore[return-value]

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
                sender_of=self._mail_from_of,
                connections=s.delivery_concurrency,
            ),
            deliveries.Channel.webhook: deliveries.WebhookSender(),
        }
        if self._webhook_targets is not None:
            senders[deliveries.Channel.webhook] = signed_webhooks.StandardWebhookSender(
                self._webhook_targets, fallback=senders[deliveries.Channel.webhook]
            )
        if s.sms_gateway_url:
            senders[deliveries.Channel.sms] = deliveries.SmsSender(s.sms_gateway_url)
        return senders

    async def _admit(self, record: Record, env: Envelope) -> None:
        """An event is for a tenant defined here; an event on a platform's topic carries the signature
        of a key that tenant lists (its platforms', or the relay's of the service that passes a
        platform's HTTP call on)."""
        tenant = await self.tenants.require(env.tenant)
        spec = spec_for(env.type, env.version)
        if spec.producer is Producer.platform and record.topic == spec.topic:
            signing.verify(record.value or b"", record.headers or [], tenant.platform_keys, env.tenant)

    def _mail_from_of(self, tenant: str) -> str | None:
        """Mail goes out in the name of the tenant it is for."""
        found = self.tenants.tenant(tenant)
        return found.mail_from if found is not None else None

    async def _delivery_state(self, conn: asyncpg.Connection, record: deliveries.DeliveryRecord) -> None:
        for hook in self._delivery_hooks:
            await hook(conn, record)

    async def _db_ok(self) -> bool:
        async with self.pool.acquire() as conn:
            return bool(await conn.fetchval("select true"))

    async def _renew_producer(self) -> Any:
        """A new producer for the relay in place of one the broker refuses (hoera_kit.outbox)."""
        fresh = outbox.make_producer(self.kafka)
        await fresh.start()
        old, self._producer = self._producer, fresh
        if old is not None:
            with suppress(Exception):
                # Its unsent batches are the rows still in the outbox: nothing is lost by dropping them.
                await asyncio.wait_for(old.stop(), timeout=5)
        return fresh

    async def _broker_ok(self) -> bool:
        if self._producer is None:
            return False
        await self._producer.client.fetch_all_metadata()
        return True

    async def _migrations_ok(self) -> bool:
        async with self.pool.acquire() as conn:
            done = {r[0] for r in await conn.fetch("select migration_id from _yoyo_migration")}
        return self._expected_migrations <= done

    async def _consumers_ok(self) -> bool:
        """False while a consumer group has lag and has not moved for HOERA_CONSUMER_STALL_AFTER_S."""
        return self.lag is None or self.lag.healthy()

    async def _retry_start(self, what: str, start: Callable[[], Awaitable[Any]]) -> Any:
        return await retrying(
            start,
            what=f"{self.name}: {what} not reachable yet",
            # Only the world's faults are waited out; a mistake (a bad migration, a bad subscriber)
            # stops the start at once, with its error.
            retry_on=lambda exc: is_transient(exc) or isinstance(exc, psycopg2.OperationalError),
            stop=self.background.stopping,
            base=0.5,
        )

    async def start(self) -> None:
        s = self.settings
        telemetry.setup_logging(self.name, level=s.log_level, json_logs=s.log_json)
        telemetry.setup_tracing(self.name, sample_ratio=s.trace_sample_ratio, keep_paths=s.trace_keep_paths)
        self.background = Background(grace_s=s.shutdown_grace_s)
        self.stopping = asyncio.Event()
        self._watcher = asyncio.create_task(self._watch_exit(), name="exit watch")
        try:
            await self._start(s)
        except BaseException:
            # A start that fails (or is told to stop) releases what it already holds.
            await self.stop()
            raise

    async def _start(self, s: S) -> None:
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
        self._producer = outbox.make_producer(self.kafka)
        await self._retry_start("Kafka (producer)", self._producer.start)
        await self._retry_start("Kafka (tenants)", self.tenants.catch_up)
        for hook in self._start_hooks:
            await hook()
        self.relay = self.relay_class(
            self.pool,
            self._producer,
            service=self.name,
            shards=s.outbox_shards,
            batch_size=s.outbox_batch_size,
            poll_interval_s=s.outbox_poll_interval_s,
            renew_producer=self._renew_producer,
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
            max_concurrency=s.delivery_concurrency,
            poll_interval_s=s.delivery_poll_interval_s,
            on_state_change=self._delivery_state,
            wake=self._delivery_wake,
        )
        bg = self.background
        bg.start("listen", self.notifications.run)
        bg.start("tenants", self.tenants.run)
        bg.loop(
            Loop("outbox relay", self.relay.step, interval_s=s.outbox_poll_interval_s, wake=self._relay_wake)
        )
        bg.loop(Loop("timers", self.timers.step, interval_s=s.timer_poll_interval_s))
        bg.loop(
            Loop(
                "deliveries",
                self.delivery_worker.step,
                interval_s=s.delivery_poll_interval_s,
                wake=self._delivery_wake,
            )
        )
        bg.loop(Loop("gauges", self._gauges, interval_s=GAUGE_INTERVAL_S))
        if self._subscriptions:
            self.lag = LagMonitor(
                self.kafka,
                self._subscriptions,
                service=self.name,
                stall_after_s=s.consumer_stall_after_s,
            )
            bg.loop(Loop("consumer lag", self.lag.step, interval_s=s.lag_poll_interval_s))
            if s.consumer_start == "end":
                await self._retry_start("Kafka (group offsets)", self._start_groups_at_end)
            await self._retry_start("Kafka (subscribers)", self.broker.start)
        self.started.set()
        log.info("%s started", self.name)

    async def _start_groups_at_end(self) -> None:
        """Commit the current end offsets for groups that have none, so they skip history."""
        from aiokafka import AIOKafkaConsumer

        for sub in self._subscriptions:
            consumer = AIOKafkaConsumer(**self.kafka, group_id=sub.group, enable_auto_commit=False)
            await consumer.start()
            try:
                tps = []
                for topic in sub.topics:
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
        """Stop within the grace period, releasing every connection (see the module docstring)."""
        grace = self.settings.shutdown_grace_s
        self.stopping.set()
        if self._watcher is not None:
            self._watcher.cancel()
        self.background.stopping.set()
        with suppress(Exception):
            # Waits (up to the grace period) for the batch in hand, then closes the consumers.
            await asyncio.wait_for(self.broker.stop(), timeout=grace + 1)
        for sub in self._subscriptions:
            sub.close()
        cancelled = await self.background.stop()
        if cancelled:
            metrics.BACKGROUND_CANCELLED.labels(self.name).inc(len(cancelled))
        for hook in self._stop_hooks:
            with suppress(Exception):
                await asyncio.wait_for(hook(), timeout=grace)
        if self.lag is not None:
            await self.lag.close()
        if self.delivery_worker is not None:
            await self.delivery_worker.aclose()
        await self.tenants.close()
        for client in (self._directory, self._survey_comments, self._service_tokens):
            close = getattr(client, "aclose", None)
            if close is not None:
                with suppress(Exception):
                    await close()
        self._survey_comments = self._service_tokens = None
        if self._producer is not None:
            with suppress(Exception):
                await asyncio.wait_for(self._producer.stop(), timeout=grace)
        if self._pool is not None:
            pool, self._pool = self._pool, None
            try:
                await asyncio.wait_for(pool.close(), timeout=grace)
            except Exception:
                log.warning("%s: connections still held at shutdown; terminating the pool", self.name)
                pool.terminate()
        self.started.clear()

    async def _gauges(self) -> bool:
        async with self.pool.acquire() as conn:
            backlog = await conn.fetchval("select count(*) from kit_outbox")
            metrics.OUTBOX_BACKLOG.labels(self.name).set(backlog)
            parked = await conn.fetchval("select count(*) from kit_outbox_parked")
            metrics.OUTBOX_PARKED.labels(self.name).set(parked)
            due = await conn.fetchval("select count(*) from kit_timers where due_at <= now()")
            metrics.TIMERS_DUE.labels(self.name).set(due)
            for state, n in (await deliveries.count_by_state(conn)).items():
                metrics.DELIVERIES.labels(self.name, str(state)).set(n)
        return False

    @asynccontextmanager
    async def _lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        await self.start()
        try:
            yield
        finally:
            await self.stop()


class _PoolProxy:
    def __init__(self, service: Service[Any]) -> None:
        self._service = service

    def __getattr__(self, name: str) -> Any:
        return getattr(self._service.pool, name)
