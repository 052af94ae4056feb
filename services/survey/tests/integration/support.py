"""Helpers of the survey service's integration tests (real Kafka, PostgreSQL, SMTP sink)."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from hoera_devkit.testing import eventually, kafka_bootstrap, mails, read_topic
from hoera_devkit.tokens import mint_token
from hoera_events.common import Channel, Language
from hoera_events.envelope import Envelope, decode, encode, make_envelope
from hoera_events.platform import ContactClosed
from hoera_events.registry import topic_for
from hoera_kit.service import Service
from hoera_kit.settings import DEV_ISSUER, DEV_SIGNING_SECRET
from hoera_survey import rules
from hoera_survey.app import create_app
from hoera_survey.settings import SurveySettings

TENANT = "demo"
LINK = re.compile(r"(https?://\S+/s/[0-9a-f-]{36}\?t=[A-Za-z0-9_.=-]+)")


def token(*roles: str, teams: tuple[str, ...] = (), subject: str = "tester") -> str:
    return mint_token(
        subject=subject,
        roles=list(roles),
        teams=teams,
        tenant=TENANT,
        secret=DEV_SIGNING_SECRET,
        issuer=DEV_ISSUER,
        audience="hoera",
    )


def auth(*roles: str, teams: tuple[str, ...] = ()) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(*roles, teams=teams)}"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def contact_closed(
    customer_id: str,
    *,
    language: Language = Language.nl,
    channel: Channel = Channel.phone,
    team_id: str = "team-nl-1",
    about_deceased: bool = False,
) -> ContactClosed:
    return ContactClosed(
        contact_id=unique("CNT"),
        customer_id=customer_id,
        channel=channel,
        agent_id="AGT-0042",
        team_id=team_id,
        closed_at=datetime.now(UTC),
        language=language,
        about_deceased=about_deceased,
    )


def envelope(event: Any) -> Envelope:
    return make_envelope(event, producer="platform", tenant=TENANT)


def immediate_triggers() -> rules.TriggerRules:
    """The seed triggers with no delay (the end-to-end tests do not wait minutes)."""
    seed = rules.seed_documents()["triggers"]
    assert isinstance(seed, rules.TriggerRules)
    doc = seed.model_dump(mode="json")
    for trigger in ("contact_closed", "complaint_closed", "callback_completed"):
        doc[trigger]["delay_minutes"] = 0
    return rules.TriggerRules.model_validate(doc)


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
    """Publish as the platform (or another service) does: to the registry's topic, keyed."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap(), acks="all")
    await producer.start()
    try:
        for env in envelopes:
            await producer.send_and_wait(topic_for(type(env.data)), encode(env), key=env.key.encode())
    finally:
        await producer.stop()


async def events_of(model: type, customers: set[str], *, until: int, timeout: float = 30) -> list[Envelope]:
    """The events of one type about these customers (the topics are shared with other tests)."""

    def pick(records: list[Any]) -> list[Envelope]:
        found = [decode(r.value) for r in records]
        return [e for e in found if getattr(e.data, "customer_id", None) in customers]

    records = await read_topic(topic_for(model), until=lambda rs: len(pick(rs)) >= until, timeout=timeout)
    return pick(records)


async def mail_to(address: str) -> dict[str, Any]:
    """The newest mail the SMTP sink received for this address."""
    found = await eventually(mails, lambda ms: any(address in m["to"] for m in ms), timeout=30)
    matching = [m for m in found if address in m["to"]]
    assert matching, f"no mail reached {address}"
    return matching[-1]
