"""R21, R30: one contact budget per customer, safe under concurrency, against the real PostgreSQL.

Each decision runs in its own transaction on its own connection, all at once, as replicas (or a
consumer and the timer scanner) would run them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import asyncpg
import pytest
from hoera_kit import migrations
from hoera_kit.db import create_pool
from hoera_kit.timers import Timer
from hoera_survey import handlers
from hoera_survey.app import create_app
from hoera_survey.domain import Allow, BudgetKind, Cap
from hoera_survey.rules import CAPS

from .support import contact_closed, envelope, settings_for, unique

pytestmark = pytest.mark.integration
CONCURRENT = 20


@dataclass
class World:
    pool: asyncpg.Pool
    deps: handlers.Deps


@pytest.fixture
async def world(fresh_db: str) -> AsyncIterator[World]:
    settings = settings_for(fresh_db)
    svc = create_app(settings)  # not started: its outbox writer, rule book and tenant replica are used
    await asyncio.to_thread(migrations.apply, fresh_db, svc.migrations_dir)
    pool = await create_pool(fresh_db, min_size=CONCURRENT + 2, max_size=CONCURRENT + 2)
    try:
        yield World(pool, handlers.Deps(svc))
    finally:
        await svc.tenants.close()
        await pool.close()


async def _set_caps(world: World, *caps: Cap) -> None:
    book = world.deps.rules
    async with world.pool.acquire() as conn, conn.transaction():
        current = await book.read(conn, "demo", CAPS)
        document = {"caps": [c.model_dump(mode="json") for c in caps]}
        await book.write(conn, "demo", CAPS, document, expected_version=current.version, changed_by="test")


async def _scheduled_surveys(world: World, customer: str, n: int) -> list[UUID]:
    """n contacts of one customer closed; the template's delay keeps each survey waiting on its timer."""
    ids = []
    for _ in range(n):
        async with world.pool.acquire() as conn, conn.transaction():
            await handlers.request_surveys(world.deps, conn, [envelope(contact_closed(customer))])
    async with world.pool.acquire() as conn:
        rows = await conn.fetch("select survey_id, state from surveys where customer_id = $1", customer)
    assert {r["state"] for r in rows} == {"scheduled"}
    ids = [r["survey_id"] for r in rows]
    assert len(ids) == n
    return ids


async def _decide_all_at_once(world: World, survey_ids: list[UUID]) -> None:
    start = asyncio.Event()

    async def decide(survey_id: UUID) -> None:
        async with world.pool.acquire() as conn:
            await start.wait()  # every connection is held before any decision starts
            async with conn.transaction():
                key = handlers.timer_key("demo", survey_id)
                timer = Timer(0, handlers.INVITE_TIMER, key, datetime.now(UTC), {}, 0)
                await handlers.invitation_due(world.deps, conn, timer)

    tasks = [asyncio.create_task(decide(s)) for s in survey_ids]
    await asyncio.sleep(0.2)
    start.set()
    await asyncio.gather(*tasks)


async def _states(world: World, customer: str) -> dict[str, int]:
    async with world.pool.acquire() as conn:
        rows = await conn.fetch(
            "select state, count(*) as n from surveys where customer_id = $1 group by state", customer
        )
    return {r["state"]: r["n"] for r in rows}


def _surveys_cap(n: int) -> Cap:
    return Cap(name="surveys", kinds=frozenset({BudgetKind.survey}), max_contacts=n, period_days=30)


@pytest.mark.parametrize("cap", [1, 3])
async def test_twenty_contacts_closing_at_once_give_exactly_the_capped_number_of_invitations(
    world: World, cap: int
) -> None:
    await _set_caps(world, _surveys_cap(cap))
    customer = unique("busy")
    surveys = await _scheduled_surveys(world, customer, CONCURRENT)
    await _decide_all_at_once(world, surveys)
    assert await _states(world, customer) == {"invited": cap, "suppressed": CONCURRENT - cap}
    async with world.pool.acquire() as conn:
        mails = await conn.fetchval(
            "select count(*) from kit_deliveries where recipient = $1", f"{customer}@customers.hoera.test"
        )
        reasons = await conn.fetch(
            "select reason, detail, count(*) as n from suppressions where customer_id = $1 "
            "group by reason, detail",
            customer,
        )
        emitted = await conn.fetch("select topic, count(*) as n from kit_outbox group by topic")
    assert mails == cap
    assert [(r["reason"], r["detail"], r["n"]) for r in reasons] == [
        ("fatigue_cap", "cap:surveys", CONCURRENT - cap)
    ]
    assert {r["topic"]: r["n"] for r in emitted} == {
        "hoera.survey.invited.v1": cap,
        "hoera.survey.suppressed.v1": CONCURRENT - cap,
    }


async def test_surveys_and_proactive_messages_racing_share_one_budget(world: World) -> None:
    yearly = Cap(
        name="contacts",
        kinds=frozenset({BudgetKind.survey, BudgetKind.proactive}),
        max_contacts=4,
        period_days=365,
    )
    await _set_caps(world, _surveys_cap(100), yearly)
    customer = unique("popular")
    surveys = await _scheduled_surveys(world, customer, CONCURRENT // 2)

    async def proactive(i: int) -> bool:
        async with world.pool.acquire() as conn, conn.transaction():
            verdict = await handlers.request_proactive_contact(
                world.deps, conn, "demo", customer, f"notice-{customer}-{i}"
            )
        return isinstance(verdict, Allow)

    results = await asyncio.gather(
        _decide_all_at_once(world, surveys), *(proactive(i) for i in range(CONCURRENT // 2))
    )
    granted = sum(1 for r in results[1:] if r is True)
    invited = (await _states(world, customer)).get("invited", 0)
    assert invited + granted == 4
    async with world.pool.acquire() as conn:
        spends = await conn.fetchval("select count(*) from budget_spends where customer_id = $1", customer)
        suppressed = await conn.fetchval("select count(*) from suppressions where customer_id = $1", customer)
    assert spends == 4 and suppressed == CONCURRENT - 4


async def test_a_deceased_customer_is_never_invited_however_many_contacts_close(world: World) -> None:
    customer = unique("late")
    surveys = await _scheduled_surveys(world, customer, 5)
    async with world.pool.acquire() as conn, conn.transaction():
        from hoera_events.complaints import CustomerMarkedDeceased

        await handlers.deceased_marks(
            world.deps,
            conn,
            [
                envelope(
                    CustomerMarkedDeceased(
                        customer_id=customer, owner_agent_id="AGT-7", marked_at=datetime.now(UTC)
                    )
                )
            ],
        )
    await _decide_all_at_once(world, surveys)
    assert await _states(world, customer) == {"suppressed": 5}
    async with world.pool.acquire() as conn:
        details = await conn.fetch(
            "select distinct detail from suppressions where customer_id = $1", customer
        )
    assert [r["detail"] for r in details] == ["customer_deceased"]
