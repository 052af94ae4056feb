"""Intake as its own processes against the real Kafka, PostgreSQL and SMTP sink of deploy/local:
a complaint over HTTP is raised, acknowledged by e-mail in the complainant's language; one past its
promised date is escalated and breached exactly once while two replicas run; the platform's topics
open dossiers and record contacts once."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from hoera_devkit.testing import (
    ServiceProcess,
    eventually,
    kafka_bootstrap,
    mail_text,
    mails,
    platform_headers,
)
from hoera_events.common import Channel, Language
from hoera_events.compensation import CompensationProposed
from hoera_events.complaints import (
    ComplaintAcknowledged,
    ComplaintEscalated,
    ComplaintRaised,
    ComplaintSlaBreached,
    CustomerMarkedDeceased,
)
from hoera_events.envelope import encode, event_headers, make_envelope
from hoera_events.organisation import OrganisationChanged
from hoera_events.platform import ComplaintReceived, ContactClosed
from hoera_events.registry import Service, spec_for, topic_for

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from intake_support import (
    ALWAYS_OPEN,
    PLATFORM,
    bearer,
    change_document,
    create_tenant,
    customer,
    events_about,
    events_on,
    fast_category,
    key,
    submission,
    with_category,
)

pytestmark = pytest.mark.integration


def intake_process(dsn: str, group_prefix: str | None = None) -> ServiceProcess:
    return ServiceProcess(
        "hoera_intake",
        env={"HOERA_DATABASE_URL": dsn, "HOERA_LOG_LEVEL": "WARNING"},
        group_prefix=group_prefix,
    )


@pytest.fixture
async def intake(fresh_db: str, test_tenants: tuple[str, ...]) -> AsyncIterator[ServiceProcess]:
    process = intake_process(fresh_db).start()
    try:
        yield await process.wait_ready()
    finally:
        process.stop()


async def fetchval(dsn: str, sql: str, *args: Any) -> Any:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def test_a_complaint_over_http_is_raised_and_acknowledged_by_mail_in_french(
    intake: ServiceProcess,
) -> None:
    address = f"plaignant-{uuid.uuid4().hex[:8]}@example.be"
    body = submission(
        language="fr", team_id="team-fr-1", agent_id="agent-luc", complainant={"email": address}
    )
    async with httpx.AsyncClient(base_url=intake.url) as http:
        resp = await http.post("/complaints", json=body, headers={**PLATFORM, **key()})
    assert resp.status_code == 201, resp.text
    cid = resp.json()["complaint_id"]

    raised = await events_on(ComplaintRaised, cid)
    assert [(e.producer, e.data.category, e.data.team_id) for e in raised] == [
        ("intake", "refund.late", "team-fr-1")
    ]
    acknowledged = await events_on(ComplaintAcknowledged, cid)
    assert len(acknowledged) == 1
    assert acknowledged[0].data.language is Language.fr
    assert acknowledged[0].data.promised_date.isoformat() == resp.json()["due_date"]

    ours = await eventually(mails, lambda ms: any(address in m["to"] for m in ms))
    mail = next(m for m in ours if address in m["to"])
    assert mail["subject"].startswith("Nous avons bien reçu votre plainte")
    text = await mail_text(mail["id"])
    assert "Content-Language: fr" in text
    assert "au plus tard le" in text and "Remboursement tardif" in text
    # Sent on the tenant's behalf: answers reach its own address.
    assert "Reply-To: Demo <no-reply@demo.hoera.test>" in text
    assert sum(address in m["to"] for m in ours) == 1


async def test_a_complaint_past_its_promised_moment_escalates_and_breaches_exactly_once_with_two_replicas(
    fresh_db: str,
) -> None:
    group = f"test-{uuid.uuid4().hex[:8]}"
    one, two = intake_process(fresh_db, group).start(), intake_process(fresh_db, group)
    try:
        await one.wait_ready()
        # A tenant of the test's own, open day and night, with a category due in two seconds.
        async with httpx.AsyncClient(base_url=one.url) as http:
            tenant = await create_tenant(http)
            admin = bearer("admin-ops", ("admin",), tenant=tenant)
            opened = await change_document(
                http, "organisation", lambda d: {**d, "calendar": ALWAYS_OPEN}, admin, reason="always open"
            )
            await change_document(http, "categories", with_category(fast_category("test.fast", 2)), admin)
        await events_on(OrganisationChanged, tenant, at_least=opened["version"])
        # Both replicas start after the change is on the topic, so both compute with it.
        one.stop()
        one.start()
        two.start()
        await asyncio.gather(one.wait_ready(), two.wait_ready())
        platform = bearer("contact-platform", ("platform",), tenant=tenant)
        async with httpx.AsyncClient() as http:
            ids = []
            for n in range(6):
                replica = (one, two)[n % 2]
                resp = await http.post(
                    f"{replica.url}/complaints",
                    json=submission(category="test.fast", received_at=datetime.now(UTC).isoformat()),
                    headers={**platform, **key()},
                )
                assert resp.status_code == 201, resp.text
                ids.append(resp.json()["complaint_id"])

        breaches = await events_about(ComplaintSlaBreached, ids)
        await asyncio.sleep(2.0)  # room for a second breach or escalation, were there one
        breaches = await events_about(ComplaintSlaBreached, ids, timeout=3)
        escalations = await events_about(ComplaintEscalated, ids, each=2, timeout=10)
    finally:
        one.stop()
        two.stop()

    assert Counter(str(e.data.complaint_id) for e in breaches) == Counter(ids)
    to_lead = [e for e in escalations if e.data.step == "escalated_to_lead"]
    assert Counter(str(e.data.complaint_id) for e in to_lead) == Counter(ids)
    assert {e.data.escalated_to_agent_id for e in to_lead} == {"sup-sara"}
    assert Counter(str(e.data.complaint_id) for e in escalations if e.data.step == "reminder") == Counter(ids)
    noted = await fetchval(fresh_db, "select count(*) from timeline where what = 'sla_breached'")
    assert noted == len(ids)
    fired_by = await fetchval(fresh_db, "select count(distinct fired_by) from kit_timers_fired")
    assert fired_by == 2  # both replicas fired timers, and still each step happened once
    lead_mails = await fetchval(
        fresh_db,
        "select count(*) from kit_deliveries where idempotency_key like 'escalation:%' and recipient = $1",
        "sara.janssens@staff.hoera.test",
    )
    assert lead_mails == len(ids)


async def publish(*events: Any, tenant: str = "demo") -> list[str]:
    """As the platform (signed with its key) and the other services publish."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap(), acks="all")
    await producer.start()
    try:
        ids = []
        for event in events:
            env = make_envelope(event, producer="platform", tenant=tenant)
            value, headers = encode(env), event_headers(env)
            if spec_for(env.type, env.version).producer is Service.platform:
                headers = platform_headers(value, headers)
            await producer.send_and_wait(topic_for(event), value, key=env.key.encode(), headers=headers)
            ids.append(str(env.id))
        return ids
    finally:
        await producer.stop()


async def test_the_platforms_topics_open_dossiers_once_and_record_contacts_once(
    intake: ServiceProcess, fresh_db: str
) -> None:
    who, ref = customer(), f"PLT-{uuid.uuid4().hex[:10]}"
    received = ComplaintReceived(
        platform_ref=ref,
        customer_id=who,
        channel=Channel.email,
        category="parking.fines",
        language=Language.nl,
        received_at=datetime.now(UTC),
        summary="Onbekende categorie: toch nooit verloren.",
        team_id="team-nl-1",
    )
    await publish(received, received)  # the platform may send the same complaint twice
    cid = await eventually(
        lambda: fetchval(fresh_db, "select id::text from complaints where platform_ref = $1", ref), bool
    )
    assert cid
    raised = await events_on(ComplaintRaised, cid)
    await asyncio.sleep(1.0)
    assert await fetchval(fresh_db, "select count(*) from complaints where customer_id = $1", who) == 1
    assert len(raised) == 1 and raised[0].causation_id is not None
    note = await fetchval(
        fresh_db, "select why from timeline where complaint_id = $1 and what = 'rules_note'", uuid.UUID(cid)
    )
    assert "parking.fines" in note

    # A contact reported over HTTP is passed on as ContactClosed (producer intake) and recorded once.
    contact = {
        "contact_id": f"CNT-{uuid.uuid4().hex[:10]}",
        "customer_id": who,
        "channel": "phone",
        "agent_id": "agent-anna",
        "team_id": "team-nl-1",
        "closed_at": datetime.now(UTC).isoformat(),
        "language": "nl",
        "about_deceased": True,
    }
    async with httpx.AsyncClient(base_url=intake.url) as http:
        assert (await http.post("/contacts", json=contact, headers={**PLATFORM, **key()})).status_code == 201
    passed_on = await events_on(ContactClosed, who)
    assert [e.producer for e in passed_on] == ["intake"]
    assert await fetchval(fresh_db, "select count(*) from contacts where customer_id = $1", who) == 1
    marked = await events_on(CustomerMarkedDeceased, who)
    assert [(e.data.owner_agent_id, e.data.team_id) for e in marked] == [("agent-anna", "team-nl-1")]
    owner = await fetchval(fresh_db, "select agent_id from complaints where id = $1", uuid.UUID(cid))
    assert owner == "agent-anna"

    # R1: what compensation decides about the dossier is on its timeline too.
    proposal = CompensationProposed.example().model_copy(
        update={"complaint_id": uuid.UUID(cid), "customer_id": who, "compensation_id": uuid.uuid4()}
    )
    await publish(proposal)
    entry = await eventually(
        lambda: fetchval(
            fresh_db,
            "select who from timeline where complaint_id = $1 and what = 'compensation.proposed'",
            uuid.UUID(cid),
        ),
        bool,
    )
    assert entry == "platform"
