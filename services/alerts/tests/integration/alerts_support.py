"""Helpers for the alerts service's integration tests: the service as a real process on a fresh
database, events published the way the other services publish them, tokens, rules, mails."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from hoera_devkit.testing import ServiceProcess, eventually, kafka_bootstrap, mails, read_topic
from hoera_devkit.testing import mail_text as sink_mail_text
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
from hoera_events.envelope import Envelope, decode, encode, make_envelope
from hoera_events.platform import ContactClosed
from hoera_events.registry import topic_for
from hoera_events.surveys import AgentAttribute, SurveyAnswered, SurveyInvited, SurveyTrigger
from hoera_kit.auth import Role
from hoera_kit.settings import DEV_ISSUER, DEV_SIGNING_SECRET

CONSUMERS: dict[str, list[type[Event]]] = {
    "feedback": [SurveyAnswered, SurveyInvited, ContactClosed],
    "complaints": [
        ComplaintRaised,
        ComplaintSlaBreached,
        ComplaintResolved,
        ComplaintClosed,
        CustomerFlaggedForReview,
    ],
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


def token(subject: str, *roles: Role, teams: tuple[str, ...] = (), lang: str | None = None) -> str:
    return mint_token(
        subject=subject,
        roles=roles,
        teams=teams,
        tenant="demo",
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


@dataclass
class AlertsService:
    process: ServiceProcess
    dsn: str
    producer: AIOKafkaProducer

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
        self, event: Event, *, envelope: Envelope | None = None, key: str | None = None
    ) -> Envelope:
        env = envelope or make_envelope(event, producer="test", tenant="demo", key=key)
        await self.producer.send_and_wait(topic_for(event), encode(env), key=env.key.encode())
        return env

    async def put_rule(self, name: str, body: Any) -> httpx.Response:
        async with self.http() as http:
            return await http.put(f"/admin/rules/{name}", json=body, headers=bearer(ADMIN))

    async def rule(self, name: str) -> Any:
        async with self.http() as http:
            resp = await http.get(f"/admin/rules/{name}", headers=bearer(ADMIN))
        resp.raise_for_status()
        return resp.json()["body"]

    async def fetch(self, sql: str, *args: object) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.dsn)
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()


async def mails_with_key(prefix: str, *, web_port: int | None = None) -> list[dict[str, Any]]:
    # strip(): the sink keeps a long header's folding whitespace (a key longer than one line).
    return [m for m in await mails(web_port=web_port) if m["idempotency_key"].strip().startswith(prefix)]


async def wait_for_mails(
    prefix: str, count: int = 1, *, timeout: float = 30, web_port: int | None = None
) -> list[dict[str, Any]]:
    return await eventually(
        lambda: mails_with_key(prefix, web_port=web_port), lambda ms: len(ms) >= count, timeout=timeout
    )


async def events_about(
    model: type[Event], alert_id: uuid.UUID, count: int, timeout: float = 30
) -> list[Envelope]:
    def mine(records: list[Any]) -> list[Envelope]:
        out = []
        for r in records:
            env = decode(r.value)
            if getattr(env.data, "alert_id", None) == alert_id:
                out.append(env)
        return out

    records = await read_topic(topic_for(model), until=lambda rs: len(mine(rs)) >= count, timeout=timeout)
    return mine(records)


def no_more_than(n: int) -> Callable[[list[Any]], bool]:
    return lambda items: len(items) > n


async def mail_text(mail_id: str, *, web_port: int | None = None) -> str:
    """Headers and body of a mail in the sink, with plain newlines."""
    return (await sink_mail_text(mail_id, web_port=web_port)).replace("\r\n", "\n")
