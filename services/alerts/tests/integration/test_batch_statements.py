"""A Kafka batch of feedback (contacts, invitations, answers, a quarter of them unhappy) costs the
same few SQL statements whatever its size: the counts, the answers, the unhappy alerts with their
mails and events, the teams' thresholds, each in one statement per batch (or per team of the batch).
So does a batch of complaint events and abuse flags (the complaints' facts, the notices, their mails,
digests and events) and a batch of overdue recovery cases.

Counted on the real PostgreSQL with asyncpg's query logger; the alerts and mails are checked too,
so a handler that skipped work could not pass."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from hoera_alerts import handlers
from hoera_alerts.app import create_app
from hoera_alerts.settings import AlertsSettings
from hoera_devkit.testing import counted_statements, create_database, drop_database, pg_dsn
from hoera_events.common import Channel, Language, MessageChannel, Money
from hoera_events.compensation import CustomerFlaggedForReview, FlagReason
from hoera_events.complaints import ComplaintClosed, ComplaintRaised, ComplaintResolved, ComplaintSlaBreached
from hoera_events.envelope import Envelope, make_envelope
from hoera_events.platform import ContactClosed
from hoera_events.recovery import RecoveryCaseEscalated
from hoera_events.surveys import SurveyAnswered, SurveyInvited, SurveyTrigger
from hoera_kit import migrations
from hoera_kit.db import Conn, create_pool

from .alerts_support import FR, NL, unhappy_answer

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


# --- complaints and abuse flags (R4, R7, R15) ---------------------------------------------------------


@dataclass
class Complaints:
    envelopes: list[Envelope]
    complaints: dict[uuid.UUID, str]
    """Each complaint's tenant."""
    teams: dict[uuid.UUID, str | None]
    """Each complaint's team after the batch: the last resolution's or closure's (the batch may end
    in the middle of a complaint's events)."""
    flags: list[str]
    """The flagged customers."""
    reopened: uuid.UUID
    """The first complaint: closed again at the end of the batch, by another team."""
    closed_again_at: datetime


def _complaints(n: int) -> Complaints:
    """n events, in turn over NL (management told at once) and FR (in a digest): each complaint
    raised without a team, breached, resolved by team-nl-1, closed by team-fr-1, then a customer
    flagged; at the end the first complaint is closed again (later, by team-reopen) and raised again
    under another event id. Order matters per complaint: the last closure's team and time win."""
    now = datetime.now(UTC)
    events: list[Envelope] = []
    complaints: dict[uuid.UUID, str] = {}
    teams: dict[uuid.UUID, str | None] = {}
    flags: list[str] = []
    first: ComplaintRaised | None = None
    i = 0
    while len(events) < n - 2:
        tenant = (NL, FR)[i % 2]
        i += 1
        complaint_id, customer = uuid.uuid4(), f"cust-{uuid.uuid4().hex[:8]}"
        common = {"complaint_id": complaint_id, "customer_id": customer, "category": "refund.late"}
        raised = ComplaintRaised(
            **common,
            channel=Channel.email,
            language=Language.nl,
            raised_at=now,
            due_date=date.today() + timedelta(days=5),
            agent_id="agent-anna",
        )
        first = first or raised
        cycle: list[object] = [
            raised,
            ComplaintSlaBreached(**common, due_date=raised.due_date, breached_at=now, team_id="team-nl-1"),
            ComplaintResolved(
                **common,
                root_cause_department="billing",
                first_contact_resolution=False,
                resolved_at=now + timedelta(minutes=1),
                team_id="team-nl-1",
            ),
            ComplaintClosed(
                **common,
                channel=Channel.email,
                language=Language.nl,
                closed_at=now + timedelta(minutes=2),
                team_id="team-fr-1",
            ),
            CustomerFlaggedForReview(
                customer_id=customer,
                reason=FlagReason.repeated_financial_compensation,
                financial_compensations=3,
                total=Money.eur(61050),
                window_days=365,
                flagged_at=now,
                latest_complaint_id=complaint_id,
                team_id="team-nl-1",
            ),
        ]
        for event in cycle[: n - 2 - len(events)]:
            events.append(make_envelope(event, producer="intake", tenant=tenant))
            if isinstance(event, ComplaintRaised):
                complaints[event.complaint_id] = tenant
                teams[event.complaint_id] = None
            elif isinstance(event, ComplaintResolved | ComplaintClosed):
                teams[event.complaint_id] = event.team_id
            elif isinstance(event, CustomerFlaggedForReview):
                flags.append(event.customer_id)
    assert first is not None
    closed_again_at = now + timedelta(hours=1)
    again = ComplaintClosed(
        complaint_id=first.complaint_id,
        customer_id=first.customer_id,
        category="refund.late",
        channel=Channel.email,
        language=Language.nl,
        closed_at=closed_again_at,
        team_id="team-reopen",
    )
    events += [make_envelope(e, producer="intake", tenant=NL) for e in (again, first)]
    teams[first.complaint_id] = again.team_id
    return Complaints(events, complaints, teams, flags, first.complaint_id, closed_again_at)


async def _record_complaints(world: World, events: list[Envelope]) -> int:
    async with world.conn.transaction(), counted_statements(world.conn) as seen:
        await handlers.record_complaints(world.deps, world.conn, events)
    return len(seen)


async def test_a_batch_of_500_complaint_events_costs_the_statements_of_a_batch_of_twelve(
    world: World,
) -> None:
    # Once: the tenants' rules, FR's digest planned, asyncpg's types.
    await _record_complaints(world, _complaints(12).envelopes)
    small = await _record_complaints(world, _complaints(12).envelopes)
    batch = _complaints(500)
    events_before = await world.conn.fetchval("select count(*) from kit_outbox")
    large = await _record_complaints(world, batch.envelopes)

    assert large == small, f"{large} statements for 500 complaint events, {small} for 12"
    ids = list(batch.complaints)
    rows = {
        r["complaint_id"]: r
        for r in await world.conn.fetch("select * from complaints where complaint_id = any($1::uuid[])", ids)
    }
    assert len(rows) == len(ids)
    for complaint_id, row in rows.items():
        assert (row["tenant"], row["category"]) == (batch.complaints[complaint_id], "refund.late")
        assert row["team_id"] == batch.teams[complaint_id], "raised without a team, then resolved, closed"
        if complaint_id == batch.reopened:
            assert row["closed_at"] == batch.closed_again_at, "the last closure wins"
    resolved = [r for r in rows.values() if r["resolved_at"] is not None]
    assert len(resolved) >= len(ids) - 1 and {r["root_cause_department"] for r in resolved} == {"billing"}
    kinds = dict(
        await world.conn.fetch(
            "select kind, count(*) from alerts where complaint_id = any($1::uuid[]) group by kind", ids
        )
    )
    breached = sum(1 for e in batch.envelopes if isinstance(e.data, ComplaintSlaBreached))
    assert kinds == {"complaint_new": len(ids), "sla_breach": breached, "abuse_flag": len(batch.flags)}
    told = dict(
        await world.conn.fetch(
            "select r.role, count(*) from alert_recipients r join alerts a using (tenant, alert_id) "
            "where a.complaint_id = any($1::uuid[]) group by r.role",
            ids,
        )
    )
    nl_notices = await world.conn.fetchval(
        "select count(*) from alerts where complaint_id = any($1::uuid[]) and tenant = $2 "
        "and kind in ('complaint_new', 'sla_breach')",
        ids,
        NL,
    )
    assert told == {"management": nl_notices, "back_office": len(batch.flags)}, "NL at once, FR waits"
    queued = await world.conn.fetchval(
        "select count(*) from pending_notices p join alerts a using (tenant, alert_id) "
        "where a.complaint_id = any($1::uuid[])",
        ids,
    )
    assert queued == sum(kinds.values()) - nl_notices - len(batch.flags)
    raised = await world.conn.fetchval("select count(*) from kit_outbox") - events_before
    assert raised == sum(kinds.values()), "one AlertRaised per alert, none for the repeated raise"


# --- overdue recovery cases (R29) ---------------------------------------------------------------------


def _escalations(n: int) -> list[Envelope]:
    """n escalations over both tenants, of known teams and of none (management's then); the first
    again at the end under another event id (the same alert), and its case once more with a later
    target time (a new alert)."""
    now = datetime.now(UTC)
    cases = [
        RecoveryCaseEscalated(
            case_id=uuid.uuid4(),
            customer_id=f"cust-{uuid.uuid4().hex[:8]}",
            due_at=now - timedelta(minutes=5),
            escalated_at=now,
            team_id=("team-nl-1", "team-fr-1", None)[i % 3],
            agent_id="agent-anna",
        )
        for i in range(n - 2)
    ]
    later = cases[0].model_copy(update={"due_at": now + timedelta(hours=1)})
    return [
        make_envelope(c, producer="callback", tenant=(NL, FR)[i % 2])
        for i, c in enumerate([*cases, cases[0], later])
    ]


async def _record_recoveries(world: World, events: list[Envelope]) -> int:
    async with world.conn.transaction(), counted_statements(world.conn) as seen:
        await handlers.record_recoveries(world.deps, world.conn, events)
    return len(seen)


async def test_a_batch_of_500_overdue_cases_costs_the_statements_of_a_batch_of_ten(world: World) -> None:
    await _record_recoveries(world, _escalations(10))
    small = await _record_recoveries(world, _escalations(10))
    mails_before = await world.conn.fetchval("select count(*) from kit_deliveries")
    events_before = await world.conn.fetchval("select count(*) from kit_outbox")
    batch = _escalations(500)
    large = await _record_recoveries(world, batch)

    assert large == small, f"{large} statements for 500 escalations, {small} for 10"
    cases = list({e.data_as(RecoveryCaseEscalated).case_id for e in batch})
    alerts = await world.conn.fetchval(
        "select count(*) from alerts where kind = 'recovery_overdue' and recovery_case_id = any($1::uuid[])",
        cases,
    )
    assert alerts == 499, "one per case and target time, the repeated one once"
    told = await world.conn.fetchval(
        "select count(*) from alert_recipients r join alerts a using (tenant, alert_id) "
        "where a.recovery_case_id = any($1::uuid[])",
        cases,
    )
    assert told == alerts, "each told to whoever acts for its team's supervisor (management for none)"
    assert await world.conn.fetchval("select count(*) from kit_deliveries") - mails_before == told
    assert await world.conn.fetchval("select count(*) from kit_outbox") - events_before == alerts
