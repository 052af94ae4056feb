"""A Kafka batch of feedback (contacts, invitations, answers, a quarter of them unhappy) costs the
same few SQL statements whatever its size: the counts, the answers, the unhappy alerts with their
mails and events, the teams' thresholds, each in one statement per batch (or per team of the batch).

Counted on the real PostgreSQL with asyncpg's query logger; the alerts and mails are checked too,
so a handler that skipped work could not pass."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hoera_alerts import handlers
from hoera_alerts.app import create_app
from hoera_alerts.settings import AlertsSettings
from hoera_devkit.testing import counted_statements, create_database, drop_database, pg_dsn
from hoera_events.common import Channel, Language, MessageChannel
from hoera_events.envelope import Envelope, make_envelope
from hoera_events.platform import ContactClosed
from hoera_events.surveys import SurveyAnswered, SurveyInvited, SurveyTrigger
from hoera_kit import migrations
from hoera_kit.db import Conn, create_pool

from .alerts_support import NL, unhappy_answer

pytestmark = pytest.mark.integration
TEAMS = ("team-nl-1", "team-threshold")


@dataclass
class World:
    conn: Conn
    deps: handlers.Deps


@pytest.fixture
async def world(tenants: None) -> AsyncIterator[World]:
    name = await create_database("alerts_batch")
    dsn = pg_dsn(name)
    svc = create_app(AlertsSettings(database_url=dsn, environment="test", log_json=False))
    await asyncio.to_thread(migrations.apply, dsn, svc.migrations_dir)
    await svc.tenants.catch_up()
    pool = await create_pool(dsn, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            yield World(conn, handlers.Deps(svc))
    finally:
        await pool.close()
        await svc.tenants.close()
        await drop_database(name)


def _feedback(n: int) -> tuple[list[Envelope], int]:
    """n events over both teams: contacts, invitations and answers in turn, every other answer
    unhappy; the first answer comes again at the end (a redelivery). Returns them and the unhappy."""
    now = datetime.now(UTC)
    events: list[Envelope] = []
    unhappy = 0
    for i in range(n - 1):
        team = TEAMS[i % 2]
        customer = f"cust-{uuid.uuid4().hex[:8]}"
        if i % 3 == 0:
            event: object = ContactClosed(
                contact_id=f"ct-{uuid.uuid4().hex[:10]}",
                customer_id=customer,
                channel=Channel.phone,
                agent_id="agent-anna",
                team_id=team,
                closed_at=now,
                language=Language.nl,
            )
        elif i % 3 == 1:
            event = SurveyInvited(
                survey_id=uuid.uuid4(),
                customer_id=customer,
                trigger=SurveyTrigger.contact_closed,
                channel=Channel.phone,
                language=Language.nl,
                delivery_channel=MessageChannel.email,
                invited_at=now,
                expires_at=now + timedelta(days=5),
                team_id=team,
            )
        else:
            bad = i % 6 == 2
            unhappy += bad
            happy = {"satisfaction": 5, "effort": 5, "nps": 9, "attributes": {}}
            event = unhappy_answer(team, customer_id=customer, **({} if bad else happy))
        events.append(make_envelope(event, producer="platform", tenant=NL))
    answers = [e for e in events if e.type == "survey.answered"]
    return [*events, answers[0]], unhappy


async def _record(world: World, events: list[Envelope]) -> int:
    async with world.conn.transaction(), counted_statements(world.conn) as seen:
        await handlers.record_feedback(world.deps, world.conn, events)
    return len(seen)


async def test_a_batch_of_500_feedback_events_costs_the_statements_of_a_batch_of_twenty(world: World) -> None:
    # Once: the tenant's rules, the digest's plan, asyncpg's types, and each team's threshold alert
    # (its rolling CSAT drops below the level with the first unhappy answers; later ones find it raised).
    await _record(world, _feedback(60)[0])
    small = await _record(world, _feedback(20)[0])
    mails_before = await world.conn.fetchval("select count(*) from kit_deliveries")
    events, unhappy = _feedback(500)
    large = await _record(world, events)

    assert large == small, f"{large} statements for 500 events, {small} for 20"
    customers = [e.data.customer_id for e in events if isinstance(e.data, SurveyAnswered)]
    alerts = await world.conn.fetchval(
        "select count(*) from alerts where kind = 'unhappy_smiley' and customer_id = any($1::text[])",
        customers,
    )
    assert alerts == unhappy
    told = await world.conn.fetchval(
        "select count(*) from alert_recipients r join alerts a using (tenant, alert_id) "
        "where a.customer_id = any($1::text[])",
        customers,
    )
    assert told >= unhappy, "every unhappy alert tells someone"
    assert await world.conn.fetchval("select count(*) from kit_deliveries") - mails_before == told
