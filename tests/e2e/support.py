"""Helpers of the end-to-end journeys: they touch the five processes only at their public edges.

- `Tap` listens to every registered topic from the moment the session starts (a plain consumer
  without a group), so a journey waits for the events about its own ids without re-reading history.
- `Mailbox` reads the local SMTP sink's JSON index and its mails.
- `Collector` is a tiny OTLP/HTTP trace collector (POST /v1/traces, protobuf) the processes export to.
- `token`, `publish`, `unique`: demo users' bearer tokens, the platform's events, ids per journey.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import re
import threading
import time
import uuid
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from hoera_devkit.testing import TEST_PLATFORM_KID, kafka_bootstrap, mail_text, mails, platform_signing_key
from hoera_devkit.testing import platform_headers as signed_record_headers
from hoera_devkit.tokens import DEMO_USERS, mint_token
from hoera_events.base import Event
from hoera_events.envelope import Envelope, EventDecodeError, decode, encode, event_headers, make_envelope
from hoera_events.registry import all_topics, topic_for
from hoera_kit.settings import DEV_ISSUER, DEV_SIGNING_SECRET
from hoera_kit.signing import public_key_of
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.conftest import change_rule, invitations_at_once

TENANT = "demo"
PATIENCE = 60.0
"""Seconds a journey waits for an outcome. On a quiet machine outcomes come within seconds; the
system also works through whatever else runs on the shared broker (the demo, benches, other tests),
and a wait ends as soon as its outcome is there."""
E = TypeVar("E", bound=Event)
T = TypeVar("T")
SURVEY_LINK = re.compile(r"(https?://[^\s\"<>]+/s/([0-9a-f-]{36})\?t=([A-Za-z0-9_.~%=-]+))")


def unique(prefix: str) -> str:
    """An id no other journey, test or demo run uses (the topics and the mail sink are shared)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def customer_address(customer_id: str) -> str:
    """Where the development customer directory (the platform's stand-in) says a customer reads mail."""
    return f"{customer_id}@customers.hoera.test"


def token(subject: str) -> str:
    """A bearer token of one of the demo users (kit.auth.DEMO_USERS), signed with the dev key."""
    user = next(u for u in DEMO_USERS if u.subject == subject)
    return mint_token(
        subject=user.subject,
        roles=user.roles,
        teams=user.teams,
        tenant=TENANT,
        name=user.name,
        language=user.language,
        secret=DEV_SIGNING_SECRET,
        issuer=DEV_ISSUER,
        audience="hoera",
    )


def as_user(subject: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(subject)}"}


def platform_headers() -> dict[str, str]:
    """The contact-centre platform's calls: its token and a fresh idempotency key."""
    return {**as_user("contact-platform"), "Idempotency-Key": str(uuid.uuid4())}


async def wait_until(
    probe: Callable[[], Awaitable[T]],
    ok: Callable[[T], bool],
    *,
    timeout: float = PATIENCE,
    interval: float = 0.3,
) -> T:
    """Poll an async probe until ok(value); return the last value (the caller asserts on it)."""
    deadline = time.monotonic() + timeout
    value = await probe()
    while not ok(value) and time.monotonic() < deadline:
        await asyncio.sleep(interval)
        value = await probe()
    return value


# ---- Kafka ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One event as it passed on the broker, with the W3C trace context it travelled with."""

    envelope: Envelope
    traceparent: str | None

    @property
    def trace_id(self) -> str | None:
        return self.traceparent.split("-")[1] if self.traceparent else None


class Tap:
    """Every registered topic, read from its end at start (history and other runs are not ours)."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    async def start(self) -> Tap:
        consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap(), enable_auto_commit=False)
        await consumer.start()
        await consumer._client.force_metadata_update()
        tps = [
            TopicPartition(spec.topic, p)
            for spec in all_topics()
            for p in consumer.partitions_for_topic(spec.topic) or ()
        ]
        assert tps, "no Hoera topics on the broker: run `uv run hoera-local prepare`"
        consumer.assign(tps)
        # Resolve the end offsets now, so nothing published after start() is skipped.
        for tp, offset in (await consumer.end_offsets(tps)).items():
            consumer.seek(tp, offset)
        self._consumer = consumer
        self._task = asyncio.create_task(self._run(), name="e2e-tap")
        return self

    async def _run(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=200, max_records=2000)
            for records in batch.values():
                for record in records:
                    try:
                        env = decode(record.value)
                    except EventDecodeError:
                        continue  # someone's poison test message: not a journey's event
                    headers = {k: v.decode(errors="replace") for k, v in record.headers or ()}
                    self.seen.append(Seen(env, headers.get("traceparent")))
            if batch:
                self._changed.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()

    def all(self, model: type[E], where: Callable[[E], bool] = lambda _: True) -> list[Seen]:
        return [s for s in self.seen if isinstance(s.envelope.data, model) and where(s.envelope.data)]

    def events(self, model: type[E], where: Callable[[E], bool] = lambda _: True) -> list[E]:
        """The matching events, each once: the outbox relay may publish an event again after a
        crash (at least once), and consumers de-duplicate on the envelope id, so does this."""
        unique = {s.envelope.id: s.envelope.data_as(model) for s in self.all(model, where)}
        return list(unique.values())

    async def wait_all(
        self, model: type[E], where: Callable[[E], bool], *, count: int = 1, timeout: float = PATIENCE
    ) -> list[Seen]:
        """The matching events once at least `count` arrived (fewer when time ran out)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.all(model, where)
            left = deadline - time.monotonic()
            if len(found) >= count or left <= 0:
                return found
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=min(left, 1.0))

    async def wait(self, model: type[E], where: Callable[[E], bool], *, timeout: float = PATIENCE) -> E:
        """The first matching event; fails the journey, naming what was awaited, if none came."""
        found = await self.wait_all(model, where, timeout=timeout)
        assert found, f"no {model.__name__} matching the journey's ids within {timeout:.0f}s"
        return found[0].envelope.data_as(model)

    async def seen_one(
        self, model: type[E], where: Callable[[E], bool], *, timeout: float = PATIENCE
    ) -> Seen:
        found = await self.wait_all(model, where, timeout=timeout)
        assert found, f"no {model.__name__} matching the journey's ids within {timeout:.0f}s"
        return found[0]


class Publisher:
    """Publishes as the contact-centre platform does: the registry's topic, keyed by the aggregate."""

    def __init__(self) -> None:
        self._producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap(), acks="all")

    async def start(self) -> Publisher:
        await self._producer.start()
        return self

    async def stop(self) -> None:
        await self._producer.stop()

    async def publish(self, event: Event, *, producer: str = "platform") -> Envelope:
        env = make_envelope(event, producer=producer, tenant=TENANT)
        value = encode(env)
        # The platform signs what it publishes for a tenant (hoera_kit.signing).
        await self._producer.send_and_wait(
            topic_for(event),
            value,
            key=env.key.encode(),
            headers=signed_record_headers(value, event_headers(env)),
        )
        return env


# ---- the SMTP sink ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    id: str
    to: list[str]
    subject: str
    idempotency_key: str
    text: str = ""
    """Headers and body (fetched only for the mails a journey looks into)."""

    @property
    def body(self) -> str:
        return self.text.split("\n\n", 1)[1] if "\n\n" in self.text else self.text


class Mailbox:
    """The local SMTP sink, read through its JSON index (http://127.0.0.1:8025/api/mails)."""

    def __init__(self) -> None:
        self._texts: dict[str, str] = {}

    async def to(self, address: str) -> list[Mail]:
        """Every mail the sink holds for this address, oldest first (without the text)."""
        return [
            Mail(
                m["id"],
                m["to"],
                m.get("subject", "").strip(),
                # A long header may be folded: the index then keeps the fold's leading space.
                m.get("idempotency_key", "").strip(),
            )
            for m in await mails()
            if address in m.get("to", [])
        ]

    async def read(self, mail: Mail) -> Mail:
        if mail.id not in self._texts:
            self._texts[mail.id] = await mail_text(mail.id)
        return replace(mail, text=self._texts[mail.id])

    async def find(
        self, address: str, where: Callable[[Mail], bool] = lambda _: True, *, contains: str | None = None
    ) -> list[Mail]:
        """The mails to `address` that satisfy `where` (subject, idempotency key) and whose text holds
        `contains`. Texts are fetched only for the mails `where` let through: staff mailboxes hold
        thousands. `contains` is how a journey tells its own system's mail from a look-alike sent by
        another system on the shared broker: the links in a mail point at the process that sent it."""
        found = [m for m in await self.to(address) if where(m)]
        if contains is None:
            return found
        return [m for m in [await self.read(m) for m in found] if contains in m.text]

    async def wait_to(
        self,
        address: str,
        where: Callable[[Mail], bool] = lambda _: True,
        *,
        contains: str | None = None,
        timeout: float = PATIENCE,
    ) -> Mail:
        """The first such mail, with its text; fails naming what the address got instead."""
        found = await wait_until(lambda: self.find(address, where, contains=contains), bool, timeout=timeout)
        if not found:
            subjects = [m.subject for m in await self.to(address)][-20:]
            raise AssertionError(f"no matching mail to {address} within {timeout:.0f}s; its last: {subjects}")
        return await self.read(found[0])


def survey_link(text: str) -> tuple[str, str, str]:
    """(link, survey id, token) of the survey link in an invitation mail."""
    found = SURVEY_LINK.search(text)
    assert found, f"no survey link in the invitation: {text[:600]}"
    return found.group(1), found.group(2), found.group(3)


# ---- traces -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    """OTLP's SpanKind: 2 server (an HTTP request), 5 consumer (a Kafka event handled)."""
    attributes: dict[str, Any] = field(default_factory=dict)
    links: tuple[tuple[str, str], ...] = ()
    """(trace id, span id) of the other events a batch consumer handled in the same transaction."""


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


class Collector:
    """An OTLP/HTTP receiver in a thread: what an SRE's collector (Jaeger, Tempo, an OTel Collector)
    would receive from OTEL_EXPORTER_OTLP_ENDPOINT. Keeps every span in memory."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.requests = 0
        self._lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                encoding = (self.headers.get("Content-Encoding") or "").lower()
                if encoding == "gzip":
                    raw = gzip.decompress(raw)
                elif encoding == "deflate":
                    raw = zlib.decompress(raw)
                if self.path.rstrip("/") != "/v1/traces":
                    self.send_response(404)
                    self.end_headers()
                    return
                request = ExportTraceServiceRequest()
                request.ParseFromString(raw)
                collector.add(request)
                body = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="otlp-collector", daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Collector:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def add(self, request: ExportTraceServiceRequest) -> None:
        found = []
        for resource_spans in request.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            service = str(resource.get("service.name", "?"))
            for scope_spans in resource_spans.scope_spans:
                for s in scope_spans.spans:
                    found.append(
                        Span(
                            service=service,
                            name=s.name,
                            trace_id=s.trace_id.hex(),
                            span_id=s.span_id.hex(),
                            parent_span_id=s.parent_span_id.hex(),
                            kind=s.kind,
                            attributes={a.key: _value(a.value) for a in s.attributes},
                            links=tuple((link.trace_id.hex(), link.span_id.hex()) for link in s.links),
                        )
                    )
        with self._lock:
            self.spans.extend(found)
            self.requests += 1

    def trace(self, trace_id: str) -> list[Span]:
        with self._lock:
            return [s for s in self.spans if s.trace_id == trace_id]

    def services_in(self, trace_id: str) -> set[str]:
        """The services with a span in this trace."""
        return {s.service for s in self.trace(trace_id)}

    def services_reaching(self, trace_id: str) -> set[str]:
        """The services with a span in this trace or linked to it: a batch consumer continues the
        trace of the batch's first event and links the others (hoera_kit.inbox)."""
        with self._lock:
            linked = {s.service for s in self.spans if any(t == trace_id for t, _ in s.links)}
        return self.services_in(trace_id) | linked


# ---- the services' public HTTP ----------------------------------------------------------------------


async def admin_setup(http: httpx.AsyncClient, urls: dict[str, str]) -> None:
    """Operator set-up through the public APIs, as the platform's operator and the tenant's administrator
    of a test or demo environment would: the tenant created in intake (its organisation from the nl
    template, the test platform's key), survey invitations at once, a calendar open day and night, and a
    complaint category that goes overdue 5 seconds after receipt (intake README, "The SLA clock")."""
    operator = {"Authorization": f"Bearer {operator_token()}"}
    key = {"kid": TEST_PLATFORM_KID, "public_key": public_key_of(platform_signing_key())}
    tenant = {
        "id": TENANT,
        "name": "Demo (e2e)",
        "template": "nl",
        "language": "nl",
        "mail_from": "Demo <klachten@demo.hoera.test>",
        "platform_keys": [key],
    }
    created = await http.post(f"{urls['intake']}/tenants", json=tenant, headers=operator, timeout=30)
    assert created.status_code == 201, created.text

    await invitations_at_once(http, urls["survey"], tenant=TENANT)

    def open_day_and_night(org: dict[str, Any]) -> dict[str, Any]:
        calendar = {**org["calendar"], "workdays": [1, 2, 3, 4, 5, 6, 7], "open_all_day": True}
        return {**org, "calendar": {**calendar, "holidays_country": None, "closed_days": []}}

    await change_rule(
        http, urls["intake"], "organisation", open_day_and_night, reason="e2e: open day and night"
    )
    fast = {
        "code": "test.fast",
        "names": {"nl": "Snel", "fr": "Rapide", "en": "Fast"},
        "sla": {"seconds": 5},
        "default_team": "team-nl-1",
    }
    await change_rule(
        http,
        urls["intake"],
        "categories",
        lambda d: {**d, "categories": [*[c for c in d["categories"] if c["code"] != "test.fast"], fast]},
        reason="e2e: overdue in seconds",
    )


def operator_token() -> str:
    """The platform's operator (creates tenants), signed with the development key."""
    return mint_token(
        subject="platform-operator",
        roles=["operator"],
        tenant="platform",
        secret=DEV_SIGNING_SECRET,
        issuer=DEV_ISSUER,
        audience="hoera",
    )


async def sign_in_at_provider(page: Any, username: str) -> None:
    """Fill in the local Keycloak's sign-in form as a demo user (every one has the same password)."""
    from hoera_local import keycloak

    await page.wait_for_selector("#username", timeout=30_000)
    await page.fill("#username", username)
    await page.fill("#password", keycloak.DEMO_PASSWORD)
    await page.click("#kc-login")


async def submit_complaint(
    http: httpx.AsyncClient, urls: dict[str, str], customer_id: str, **fields: Any
) -> dict[str, Any]:
    """The platform hands a complaint to intake over HTTP (POST /complaints, idempotent)."""
    body = {
        "customer_id": customer_id,
        "channel": "phone",
        "category": "refund.late",
        "language": "nl",
        "summary": "Terugbetaling van maart twee keer beloofd, na zes weken nog niets.",
        "received_at": datetime.now(UTC).isoformat(),
        "platform_ref": unique("PLT-E2E"),
        "agent_id": "agent-anna",
        "team_id": "team-nl-1",
        **fields,
    }
    resp = await http.post(f"{urls['intake']}/complaints", json=body, headers=platform_headers())
    assert resp.status_code == 201, resp.text
    accepted: dict[str, Any] = resp.json()
    return accepted
