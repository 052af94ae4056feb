"""Helpers for the alerts service's integration tests: the service as a real process on a fresh
database, the tenants it serves and their organisations (published as intake publishes them),
events published the way the other services publish them, tokens, rule documents, mails.

The suite's tenants have ids of their own (not demo and acme, whose organisations other suites
publish too), fixed so that the compacted tenant topics keep one snapshot of each: NL starts from
the Dutch-speaking template, FR from the French-speaking one. Their calendars are open day and
night, so a digest never waits for office hours while a test runs."""

from __future__ import annotations

import asyncio
import html
import re
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from hoera_devkit.smtp_sink import MailStore, SmtpSink
from hoera_devkit.testing import (
    ServiceProcess,
    define_tenant,
    demo_organisation,
    eventually,
    kafka_bootstrap,
    read_topic,
)
from hoera_devkit.tokens import mint_token
from hoera_events.base import Event
from hoera_events.common import Channel, Language
from hoera_events.compensation import CustomerFlaggedForReview
from hoera_events.complaints import (
    ComplaintClosed,
    ComplaintRaised,
    ComplaintResolved,
    ComplaintSlaBreached,
)
from hoera_events.envelope import Envelope, EventDecodeError, decode, encode, make_envelope
from hoera_events.organisation import CalendarRules, Organisation, Team
from hoera_events.platform import ContactClosed
from hoera_events.recovery import RecoveryCaseEscalated
from hoera_events.registry import topic_for
from hoera_events.surveys import AgentAttribute, SurveyAnswered, SurveyInvited, SurveyTrigger
from hoera_kit.auth import Role
from hoera_kit.settings import DEV_ISSUER, DEV_SIGNING_SECRET

CONSUMERS: dict[str, list[type[Event]]] = {
    "answers": [SurveyAnswered],
    "feedback": [SurveyInvited, ContactClosed],
    "complaints": [
        ComplaintRaised,
        ComplaintSlaBreached,
        ComplaintResolved,
        ComplaintClosed,
        CustomerFlaggedForReview,
    ],
    "recovery": [RecoveryCaseEscalated],
}


async def skip_history(group_prefix: str) -> None:
    """Start the service's consumer groups at the end of the shared topics.

    The topics are shared with every other test and with `make up`; a new group would otherwise
    read (and mail about) all of their history before reaching this test's events.
    """
    for name, models in CONSUMERS.items():
        consumer = AIOKafkaConsumer(
            bootstrap_servers=kafka_bootstrap(),
            group_id=f"{group_prefix}.alerts.{name}",
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            tps = []
            for model in models:
                topic = topic_for(model)
                parts = consumer.partitions_for_topic(topic)
                if not parts:
                    await consumer._client.force_metadata_update()
                    parts = consumer.partitions_for_topic(topic) or set()
                tps += [TopicPartition(topic, p) for p in parts]
            consumer.assign(tps)
            ends = await consumer.end_offsets(tps)
            await consumer.commit(dict(ends.items()))
        finally:
            await consumer.stop()


NL = "alerts-nl"
FR = "alerts-fr"
ALWAYS_OPEN = CalendarRules(workdays=[1, 2, 3, 4, 5, 6, 7], open_all_day=True, holidays_country=None)
ADMIT: dict[str, str] = {}
"""Every alerts service of these tests admits only the tenants defined on the tenant topics."""
CALLBACK_PAGES = "http://callback.alerts.test"
"""Where the alerts services of these tests say the callback service's pages are (HOERA_STAFF_PAGES):
a recovery case's page is linked there."""
OWN_TEAMS = ("team-threshold", "team-root-cause", "team-browser")
"""Teams of NL led by sup-sara that one test each writes to, so its figures are its own."""


def organisation(tenant: str, **changes: Any) -> Organisation:
    """The demo organisation of the tenant (team-nl-1 led by sup-sara with deputy sup-dirk,
    team-fr-1 led by sup-marc, management mgmt-lena, back office), with addresses at the tenant."""
    org: Organisation = demo_organisation(tenant)
    extra = [Team(id=t, name=f"Test {t}", language=Language.nl, supervisor="sup-sara") for t in OWN_TEAMS]
    values: dict[str, Any] = {"teams": [*org.teams, *extra], "calendar": ALWAYS_OPEN, **changes}
    # Validated again, so a test's organisation is one intake could publish.
    return Organisation.model_validate({**org.model_dump(), **values})


def address(tenant: str, local: str) -> str:
    """A staff address as demo_organisation makes it: sara.janssens@alerts-nl.staff.hoera.test."""
    return f"{local}@{tenant}.staff.hoera.test"


async def define_tenants() -> None:
    await define_tenant(NL, template="nl", organisation=organisation(NL))
    await define_tenant(FR, template="fr", organisation=organisation(FR))


def token(
    subject: str,
    *roles: Role,
    teams: tuple[str, ...] = (),
    lang: str | None = None,
    tenant: str = NL,
) -> str:
    return mint_token(
        subject=subject,
        roles=roles,
        teams=teams,
        tenant=tenant,
        language=lang,
        secret=DEV_SIGNING_SECRET,
        issuer=DEV_ISSUER,
        audience="hoera",
    )


SARA = token("sup-sara", Role.supervisor, teams=("team-nl-1",), lang="nl")
MARC = token("sup-marc", Role.supervisor, teams=("team-fr-1",), lang="fr")
ANNA = token("agent-anna", Role.agent, teams=("team-nl-1",), lang="nl")
ADMIN = token("admin-ops", Role.admin, lang="en")


def form_value(page: str, name: str) -> str:
    """The value of a page's (hidden) form field."""
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found is not None, f"no {name} field on the page"
    return html.unescape(found.group(1))


def bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


def unhappy_answer(team_id: str, **fields: Any) -> SurveyAnswered:
    values: dict[str, Any] = {
        "survey_id": uuid.uuid4(),
        "customer_id": f"cust-{uuid.uuid4().hex[:8]}",
        "trigger": SurveyTrigger.contact_closed,
        "channel": Channel.phone,
        "language": Language.nl,
        "answered_at": datetime.now(UTC),
        "contact_id": f"CNT-{uuid.uuid4().hex[:10]}",
        "agent_id": "agent-anna",
        "team_id": team_id,
        "satisfaction": 1,
        "effort": 2,
        "nps": 3,
        "attributes": {AgentAttribute.friendly: 4, AgentAttribute.clear: 1},
        "comment": f"Nobody called me back ({uuid.uuid4().hex[:6]})",
        "recording_ref": f"rec:2025/{uuid.uuid4().hex[:8]}",
    }
    values.update(fields)
    return SurveyAnswered(**values)


class OwnSink:
    """An SMTP sink of one alerts service alone, on a thread and event loop of its own (so it answers
    between tests too). Other suites start alerts services of their own at the same time (the
    contract and end-to-end suites), and those mail the shared sink about the same answers."""

    def __init__(self, folder: Path) -> None:
        self.store = MailStore(folder)
        self.sink = SmtpSink("127.0.0.1", 0, self.store)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="smtp-sink", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.sink.up(), self._loop).result(timeout=10)

    @property
    def port(self) -> int:
        return self.sink.port

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.sink.down(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


@dataclass
class AlertsService:
    process: ServiceProcess
    dsn: str
    producer: AIOKafkaProducer
    mail: MailStore
    """Where this service's mail arrives, and only its mail."""

    async def mails_with_key(self, prefix: str) -> list[dict[str, Any]]:
        # strip(): the sink keeps a long header's folding whitespace (a key longer than one line).
        return [m for m in self.mail.entries() if str(m["idempotency_key"]).strip().startswith(prefix)]

    async def wait_for_mails(
        self, prefix: str, count: int = 1, *, timeout: float = 30
    ) -> list[dict[str, Any]]:
        return await eventually(
            lambda: self.mails_with_key(prefix), lambda ms: len(ms) >= count, timeout=timeout
        )

    async def mail_text(self, mail_id: str) -> str:
        """Headers and body of a mail, with plain newlines."""
        msg = message_from_bytes((self.mail.folder / f"{mail_id}.eml").read_bytes(), policy=policy.default)
        body = msg.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else ""
        headers = "".join(f"{k}: {v}\n" for k, v in msg.items())
        return f"{headers}\n{text}".replace("\r\n", "\n")

    @property
    def url(self) -> str:
        return self.process.url

    def http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=10)

    @asynccontextmanager
    async def signed_in(self, tok: str) -> AsyncIterator[httpx.AsyncClient]:
        """A client that signed in on the dashboard's sign-in page as a browser does."""
        async with self.http() as http:
            form = await http.get("/dashboard/sign-in")
            signed_in = await http.post(
                "/dashboard/sign-in", data={"csrf": form_value(form.text, "csrf"), "token": tok}
            )
            assert signed_in.status_code == 303, signed_in.text
            yield http

    async def publish(
        self,
        event: Event,
        *,
        envelope: Envelope | None = None,
        key: str | None = None,
        tenant: str = NL,
    ) -> Envelope:
        env = envelope or make_envelope(event, producer="test", tenant=tenant, key=key)
        await self.producer.send_and_wait(topic_for(event), encode(env), key=env.key.encode())
        return env

    async def read_rule(self, name: str, *, tenant: str = NL) -> dict[str, Any]:
        """The tenant's current document with its version, as its administrator reads it."""
        admin = token("admin-ops", Role.admin, tenant=tenant)
        async with self.http() as http:
            resp = await http.get(f"/admin/rules/{name}", headers=bearer(admin))
        resp.raise_for_status()
        found: dict[str, Any] = resp.json()
        return found

    async def rule(self, name: str, *, tenant: str = NL) -> Any:
        return (await self.read_rule(name, tenant=tenant))["document"]

    async def put_rule(
        self, name: str, document: Any, *, tenant: str = NL, reason: str = "integration test"
    ) -> httpx.Response:
        """Change a document as the tenant's administrator does: against its current version."""
        current = await self.read_rule(name, tenant=tenant)
        admin = token("admin-ops", Role.admin, tenant=tenant)
        change = {"document": document, "expected_version": current["version"], "reason": reason}
        async with self.http() as http:
            return await http.put(f"/admin/rules/{name}", json=change, headers=bearer(admin))

    async def fetch(self, sql: str, *args: object) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.dsn)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()


async def events_about(
    model: type[Event], alert_id: uuid.UUID, count: int, timeout: float = 30
) -> list[Envelope]:
    def mine(records: list[Any]) -> list[Envelope]:
        out = []
        for r in records:
            try:
                env = decode(r.value or b"")
            except (EventDecodeError, RecursionError, TypeError):
                continue  # poison and tombstones other suites publish on the shared topics
            if getattr(env.data, "alert_id", None) == alert_id:
                out.append(env)
        return out

    records = await read_topic(topic_for(model), until=lambda rs: len(mine(rs)) >= count, timeout=timeout)
    return mine(records)


def no_more_than(n: int) -> Callable[[list[Any]], bool]:
    return lambda items: len(items) > n
