"""A Kafka batch of triggers costs the same few SQL statements whatever its size (set-based).

The trigger consumer decides a whole batch at once: one statement each for the surveys, the
customers' locks, their budgets, the spends, the invitations, the suppressions, the timers, the
mails and the events. Counted on the real PostgreSQL with asyncpg's query logger; the effects are
checked too, so a handler that skipped work could not pass.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest
from hoera_devkit.testing import counted_statements
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
