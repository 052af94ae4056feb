"""A Kafka batch of triggers costs the same few SQL statements whatever its size (set-based).

The trigger consumer decides a whole batch at once: one statement each for the surveys, the
customers' locks, their budgets, the spends, the invitations, the suppressions, the timers, the
mails and the events. So do the deceased marks and their withdrawals: the customers' locks, the
marks and their history. Counted on the real PostgreSQL with asyncpg's query logger; the effects are
checked too, so a handler that skipped work could not pass.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from hoera_devkit.testing import counted_statements
from hoera_events.complaints import CustomerDeceasedMarkWithdrawn, CustomerMarkedDeceased
from hoera_events.envelope import Envelope
from hoera_kit import migrations
from hoera_survey import handlers
from hoera_survey.app import create_app
from hoera_survey.rules import TRIGGERS

from .support import TENANT, contact_closed, envelope, immediate_triggers, settings_for, unique

pytestmark = pytest.mark.integration


@dataclass
class World:
    conn: asyncpg.Connection
    deps: handlers.Deps


@pytest.fixture
async def world(fresh_db: str) -> AsyncIterator[World]:
    svc = create_app(settings_for(fresh_db))  # not started: its outbox writer, rules and tenants are used
    await asyncio.to_thread(migrations.apply, fresh_db, svc.migrations_dir)
    conn = await asyncpg.connect(fresh_db)
    try:
        deps = handlers.Deps(svc)
        async with conn.transaction():
            current = await svc.rules.read(conn, TENANT, TRIGGERS)
            await svc.rules.write(
                conn,
                TENANT,
                TRIGGERS,
                immediate_triggers(),
                expected_version=current.version,
                changed_by="test",
                reason="invite at once",
            )
        yield World(conn, deps)
    finally:
        await svc.tenants.close()
        await conn.close()


@dataclass
class Batch:
    envelopes: list[Envelope]
    customers: list[str]
    invited: int
    over_the_cap: int
    deceased: int


def _batch(n: int) -> Batch:
    """n triggers as a busy hour brings them: mostly new customers, every tenth contact about a
    deceased customer (suppressed at once), every seventh a second contact of the customer before it
    (over the template's cap of one survey in 30 days once the first was invited), and the first
    contact again at the end (a repeat)."""
    envelopes: list[Envelope] = []
    customers: list[str] = []
    spent: set[str] = set()
    over_the_cap = deceased = 0
    for i in range(n - 1):
        if i % 7 != 6 or not customers:
            customers.append(unique("cust"))
        customer = customers[-1]
        about_deceased = i % 10 == 9
        envelopes.append(envelope(contact_closed(customer, about_deceased=about_deceased)))
        if about_deceased:
            deceased += 1
        elif customer in spent:
            over_the_cap += 1
        else:
            spent.add(customer)
    envelopes.append(envelopes[0])
    return Batch(envelopes, customers, len(spent), over_the_cap, deceased)


async def _decide(world: World, batch: Batch) -> int:
    async with world.conn.transaction(), counted_statements(world.conn) as statements:
        await handlers.request_surveys(world.deps, world.conn, batch.envelopes)
    return len(statements)


async def _count(world: World, sql: str, *args: object) -> int:
    return int(await world.conn.fetchval(sql, *args))


async def test_a_batch_of_500_triggers_costs_the_statements_of_a_batch_of_ten(world: World) -> None:
    await _decide(world, _batch(3))  # the tenant's first link key, its rules and organisation read once
    small = await _decide(world, _batch(10))
    batch = _batch(500)
    events_before = await _count(world, "select count(*) from kit_outbox")
    large = await _decide(world, batch)

    assert large == small, f"{large} statements for 500 triggers, {small} for 10"
    mine = "customer_id = any($1::text[])"
    invited = await _count(
        world, f"select count(*) from surveys where state = 'invited' and {mine}", batch.customers
    )
    assert invited == batch.invited
    mailed = await _count(world, f"select count(*) from kit_deliveries where {mine}", batch.customers)
    assert mailed == batch.invited
    reasons = dict(
        await world.conn.fetch(
            f"select reason, count(*) from suppressions where {mine} group by reason", batch.customers
        )
    )
    assert reasons == {"deceased": batch.deceased, "fatigue_cap": batch.over_the_cap, "already_invited": 1}
    # One event per decision: SurveyInvited or SurveySuppressed.
    events = await _count(world, "select count(*) from kit_outbox") - events_before
    assert events == batch.invited + batch.deceased + batch.over_the_cap + 1


# --- R10: deceased marks and their withdrawals --------------------------------------------------------


def _marked(customer: str, at: datetime) -> Envelope:
    return envelope(CustomerMarkedDeceased(customer_id=customer, owner_agent_id="AGT-0042", marked_at=at))


def _withdrawn(customer: str, at: datetime) -> Envelope:
    return envelope(
        CustomerDeceasedMarkWithdrawn(customer_id=customer, withdrawn_by="SUP-0007", withdrawn_at=at)
    )


async def _mark(world: World, envelopes: list[Envelope]) -> int:
    async with world.conn.transaction(), counted_statements(world.conn) as statements:
        await handlers.deceased_marks(world.deps, world.conn, envelopes)
    return len(statements)


async def _history(world: World, customer: str) -> list[tuple[str, datetime, bool]]:
    rows = await world.conn.fetch(
        "select change, occurred_at, deceased_after from deceased_mark_history "
        "where tenant = $1 and customer_id = $2 order by id",
        TENANT,
        customer,
    )
    return [(r["change"], r["occurred_at"], r["deceased_after"]) for r in rows]


async def _standing(world: World, customers: list[str]) -> dict[str, tuple[datetime | None, datetime | None]]:
    rows = await world.conn.fetch(
        "select customer_id, deceased_at, deceased_mark_withdrawn_at from customers "
        "where tenant = $1 and customer_id = any($2::text[])",
        TENANT,
        customers,
    )
    return {r["customer_id"]: (r["deceased_at"], r["deceased_mark_withdrawn_at"]) for r in rows}


@dataclass
class Marks:
    envelopes: list[Envelope]
    customers: list[str]
    twice: str
    """Marked, then marked again with an older time: the newer mark stays."""
    undone: str
    """Its mark was withdrawn later than the mark's time, before the batch: the mark stays undone."""
    at: datetime


async def _marks(world: World, n: int) -> Marks:
    """n marks of new customers (the deceased consumer's batch); one customer marked twice, the
    second older; one whose withdrawal, newer than the mark, was recorded before the batch."""
    at = datetime.now(UTC) - timedelta(hours=1)
    customers = [unique("deceased") for _ in range(n - 1)]
    twice, undone = customers[0], customers[1]
    await _mark(world, [_withdrawn(undone, at + timedelta(minutes=1))])
    envelopes = [_marked(c, at) for c in customers] + [_marked(twice, at - timedelta(days=1))]
    return Marks(envelopes, customers, twice, undone, at)


async def test_a_batch_of_500_deceased_marks_costs_the_statements_of_a_batch_of_ten(world: World) -> None:
    await _mark(world, (await _marks(world, 3)).envelopes)  # asyncpg asks the server for the types once
    small = await _mark(world, (await _marks(world, 10)).envelopes)
    batch = await _marks(world, 500)
    large = await _mark(world, batch.envelopes)

    assert large == small == 3, f"{large} statements for 500 marks, {small} for 10"
    standing = await _standing(world, batch.customers)
    assert len(standing) == 499
    later = batch.at + timedelta(minutes=1)
    assert {c: s for c, s in standing.items() if s != (batch.at, None)} == {batch.undone: (None, later)}
    assert await _history(world, batch.twice) == [
        ("marked", batch.at, True),
        ("marked", batch.at - timedelta(days=1), True),
    ], "in the batch's order, the newer mark in force"
    assert await _history(world, batch.undone) == [("withdrawn", later, False), ("marked", batch.at, False)]
    recorded = await world.conn.fetchval(
        "select count(*) from deceased_mark_history where tenant = $1 and customer_id = any($2::text[])",
        TENANT,
        batch.customers,
    )
    assert recorded == 500 + 1, "every mark in the history, and the withdrawal before"


@dataclass
class Withdrawals:
    envelopes: list[Envelope]
    customers: list[str]
    twice: str
    """Withdrawn twice, the second later: both in the history, the latest kept."""
    stale: str
    """Withdrawn with a time before its mark's: stays deceased."""
    at: datetime


async def _withdrawals(world: World, n: int) -> Withdrawals:
    """n withdrawals (the deceased-withdrawn consumer's batch) of customers marked before it; one
    withdrawn twice, one with a withdrawal older than its mark."""
    marked_at = datetime.now(UTC) - timedelta(hours=1)
    customers = [unique("withdrawn") for _ in range(n - 1)]
    twice, stale = customers[0], customers[1]
    await _mark(world, [_marked(c, marked_at) for c in customers])
    at = marked_at + timedelta(minutes=30)
    envelopes = [_withdrawn(c, marked_at - timedelta(minutes=1) if c == stale else at) for c in customers] + [
        _withdrawn(twice, at + timedelta(minutes=1))
    ]
    return Withdrawals(envelopes, customers, twice, stale, at)


async def test_a_batch_of_500_withdrawn_marks_costs_the_statements_of_a_batch_of_ten(world: World) -> None:
    await _mark(world, (await _withdrawals(world, 3)).envelopes)
    small = await _mark(world, (await _withdrawals(world, 10)).envelopes)
    batch = await _withdrawals(world, 500)
    large = await _mark(world, batch.envelopes)

    assert large == small == 3, f"{large} statements for 500 withdrawals, {small} for 10"
    standing = await _standing(world, batch.customers)
    assert len(standing) == 499
    later = batch.at + timedelta(minutes=1)
    others = {c: s for c, s in standing.items() if s != (None, batch.at)}
    marked_at = batch.at - timedelta(minutes=30)
    assert others == {batch.twice: (None, later), batch.stale: (marked_at, marked_at - timedelta(minutes=1))}
    assert await _history(world, batch.twice) == [
        ("marked", marked_at, True),
        ("withdrawn", batch.at, False),
        ("withdrawn", later, False),
    ]
    assert (await _history(world, batch.stale))[-1] == ("withdrawn", marked_at - timedelta(minutes=1), True)


async def test_one_customers_marks_and_withdrawals_in_one_batch_are_applied_in_order(world: World) -> None:
    """The handler takes either event: a mark, its withdrawal and a new mark, in that order."""
    customer = unique("reordered")
    t1 = datetime.now(UTC) - timedelta(hours=3)
    t2, t3 = t1 + timedelta(hours=1), t1 + timedelta(hours=2)
    await _mark(world, [_marked(customer, t1), _withdrawn(customer, t2), _marked(customer, t3)])
    assert await _history(world, customer) == [
        ("marked", t1, True),
        ("withdrawn", t2, False),
        ("marked", t3, True),
    ]
    assert (await _standing(world, [customer]))[customer] == (t3, t2)
