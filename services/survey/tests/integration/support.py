"""Helpers of the survey service's integration tests (real Kafka, PostgreSQL, SMTP sink).

Tests run with tenant admission (always on), as a deployment serving many
organisations does: the tenants "demo" (Dutch-speaking template) and "acme" (French-speaking) are
defined on the tenant topics once per session (hoera_devkit.testing's `test_tenants`), and events of
the contact-centre platform are published with the tenant's platform signature.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from hoera_devkit.testing import eventually, kafka_bootstrap, mails, platform_headers, read_topic
from hoera_devkit.tokens import mint_token
from hoera_events.common import Channel, Language
from hoera_events.envelope import Envelope, EventDecodeError, decode, encode, event_headers, make_envelope
from hoera_events.platform import ContactClosed
from hoera_events.registry import Service as Producer
from hoera_events.registry import spec_for, topic_for
from hoera_events.surveys import SurveyTrigger
from hoera_kit.rules import RuleDocument
from hoera_kit.service import Service
from hoera_kit.settings import DEV_ISSUER, DEV_SIGNING_SECRET
from hoera_survey import rules
from hoera_survey.app import create_app
from hoera_survey.settings import SurveySettings

TENANT = "demo"
OTHER_TENANT = "acme"
LINK = re.compile(r"(https?://\S+/s/[0-9a-f-]{36}\?t=[A-Za-z0-9_.=-]+)")


def token(*roles: str, teams: tuple[str, ...] = (), subject: str = "tester", tenant: str = TENANT) -> str:
    return mint_token(
        subject=subject,
        roles=list(roles),
        teams=teams,
        tenant=tenant,
        secret=DEV_SIGNING_SECRET,
        issuer=DEV_ISSUER,
        audience="hoera",
    )


def auth(*roles: str, teams: tuple[str, ...] = (), tenant: str = TENANT) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(*roles, teams=teams, tenant=tenant)}"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def contact_closed(
    customer_id: str,
    *,
    language: Language = Language.nl,
    channel: Channel = Channel.phone,
    team_id: str = "team-nl-1",
    about_deceased: bool = False,
    closed_at: datetime | None = None,
) -> ContactClosed:
    return ContactClosed(
        contact_id=unique("CNT"),
        customer_id=customer_id,
        channel=channel,
        agent_id="AGT-0042",
        team_id=team_id,
        closed_at=closed_at or datetime.now(UTC),
        language=language,
        about_deceased=about_deceased,
    )


def envelope(event: Any, tenant: str = TENANT) -> Envelope:
    return make_envelope(event, producer="platform", tenant=tenant)


def immediate_triggers(template: str = "nl") -> dict[str, Any]:
    """A template's triggers with no delay and no send window: invited at once, at any hour (the
    end-to-end tests do not wait minutes, nor for the morning)."""
    doc: dict[str, Any] = rules.TriggerRules.model_validate_json(
        (rules.TEMPLATES / template / "triggers.json").read_text()
    ).model_dump(mode="json")
    for trigger in SurveyTrigger:
        doc[trigger.value]["delay_minutes"] = 0
        doc[trigger.value]["send_window"] = None
    return doc


async def write_rules(
    svc: Service[SurveySettings], doc: RuleDocument[Any], document: Any, *, tenant: str = TENANT
) -> None:
    """Change a tenant's rule document as its administrator would (the kit's rule book: versioned)."""
    async with svc.pool.acquire() as conn, conn.transaction():
        current = await svc.rules.read(conn, tenant, doc)
        await svc.rules.write(
            conn, tenant, doc, document, expected_version=current.version, changed_by="tester", reason="test"
        )


async def put_rules(
    http: httpx.AsyncClient, name: str, document: Any, *, tenant: str = TENANT
) -> httpx.Response:
    """Change a rule document through the kit's admin route, against its current version."""
    admin = auth("admin", tenant=tenant)
    current = await http.get(f"/admin/rules/{name}", headers=admin)
    assert current.status_code == 200, current.text
    body = {"document": document, "expected_version": current.json()["version"], "reason": "test"}
    return await http.put(f"/admin/rules/{name}", json=body, headers=admin)


def settings_for(dsn: str, **extra: Any) -> SurveySettings:
    return SurveySettings(
        database_url=dsn,
        environment="test",
        consumer_group_prefix=unique("survey-test"),
        public_base_url="http://testserver",
        outbox_poll_interval_s=0.2,
        timer_poll_interval_s=0.2,
        delivery_poll_interval_s=0.2,
        # In-process tests call the handlers themselves: a fresh consumer group would replay the
        # shared trigger topics' whole history into this test's database (and mail every customer).
        survey_run_consumers=False,
        **extra,
    )


@asynccontextmanager
async def running(
    settings: SurveySettings,
) -> AsyncIterator[tuple[Service[SurveySettings], httpx.AsyncClient]]:
    """The service in this process (FastAPI, consumers, relay, timers, deliveries), with a client."""
    svc = create_app(settings)
    async with svc.api.router.lifespan_context(svc.api):
        transport = httpx.ASGITransport(app=svc.api)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield svc, http


def link_in(text: str) -> str:
    found = LINK.search(text)
    assert found, f"no survey link in: {text[:500]}"
    return found.group(1)


async def publish(*envelopes: Envelope) -> None:
    """Publish as the platform (or another service) does: to the registry's topic, keyed; the
    platform's events signed with the tenant's platform key."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap(), acks="all")
    await producer.start()
    try:
        for env in envelopes:
            value = encode(env)
            headers = event_headers(env)
            if spec_for(env.type, env.version).producer is Producer.platform:
                headers = platform_headers(value, headers)
            await producer.send_and_wait(
                topic_for(type(env.data)), value, key=env.key.encode(), headers=headers
            )
    finally:
        await producer.stop()


def _decoded(record: Any) -> Envelope | None:
    """None for a record that is no event (other tests publish poison to the shared topics)."""
    try:
        return decode(record.value or b"")
    except (EventDecodeError, RecursionError):
        return None


async def events_of(model: type, customers: set[str], *, until: int, timeout: float = 30) -> list[Envelope]:
    """The events of one type about these customers (the topics are shared with other tests)."""

    def pick(records: list[Any]) -> list[Envelope]:
        found = (_decoded(r) for r in records)
        return [e for e in found if e is not None and getattr(e.data, "customer_id", None) in customers]

    records = await read_topic(topic_for(model), until=lambda rs: len(pick(rs)) >= until, timeout=timeout)
    return pick(records)


async def mail_to(address: str) -> dict[str, Any]:
    """The newest mail the SMTP sink received for this address."""
    found = await eventually(mails, lambda ms: any(address in m["to"] for m in ms), timeout=30)
    matching = [m for m in found if address in m["to"]]
    assert matching, f"no mail reached {address}"
    return matching[-1]
