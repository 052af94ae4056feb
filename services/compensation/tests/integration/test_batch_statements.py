"""A Kafka batch of intake's events (consumer `complaints`) costs the same few statements whatever its
size: counted on the real PostgreSQL with asyncpg's query logger. The rows are those the events give
one by one in order, several events of one complaint (and of one customer's deceased mark) in the
batch included, in two tenants that share a complaint id."""

from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hoera_compensation import handlers
from hoera_devkit.testing import counted_statements
from hoera_events.common import Channel, Language
from hoera_events.complaints import (
    AssignmentReason,
    ComplaintAssigned,
    ComplaintClosed,
    ComplaintRaised,
    ComplaintResolved,
    CustomerDeceasedMarkWithdrawn,
    CustomerMarkedDeceased,
)
from hoera_events.envelope import Envelope, make_envelope
from hoera_kit.db import Conn

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from compensation_support import TEAM, Running, customer

pytestmark = pytest.mark.integration

T0 = datetime.now(UTC) - timedelta(hours=1)
OTHER_TEAM = "team-nl-2"


def _raised(complaint_id: uuid.UUID, customer_id: str, *, team_id: str = TEAM) -> ComplaintRaised:
    return ComplaintRaised(
        complaint_id=complaint_id,
        customer_id=customer_id,
        channel=Channel.phone,
        category="refund.late",
        language=Language.nl,
        raised_at=T0,
        due_date=T0.date(),
        team_id=team_id,
        agent_id="agent-anna",
    )


def _assigned(complaint_id: uuid.UUID, customer_id: str, team_id: str) -> ComplaintAssigned:
    return ComplaintAssigned(
        complaint_id=complaint_id,
        customer_id=customer_id,
        agent_id="agent-bert",
        team_id=team_id,
        assigned_at=T0 + timedelta(minutes=1),
        reason=AssignmentReason.manual,
    )


def _resolved(complaint_id: uuid.UUID, customer_id: str, root_cause: str, minutes: int) -> ComplaintResolved:
    return ComplaintResolved(
        complaint_id=complaint_id,
        customer_id=customer_id,
        category="refund.late",
        root_cause_department=root_cause,
        first_contact_resolution=False,
        resolved_at=T0 + timedelta(minutes=minutes),
        team_id=TEAM,
    )


def _closed(complaint_id: uuid.UUID, customer_id: str) -> ComplaintClosed:
    return ComplaintClosed(
        complaint_id=complaint_id,
        customer_id=customer_id,
        category="refund.late",
        channel=Channel.phone,
        language=Language.nl,
        closed_at=T0 + timedelta(minutes=30),
        team_id=TEAM,
    )


@dataclass
class Batch:
    envelopes: list[Envelope]
    bulk: list[tuple[str, uuid.UUID]]
    """(tenant, complaint) raised, assigned to OTHER_TEAM, resolved by 'billing', then again (older)."""
    life: uuid.UUID
    """demo's complaint raised, assigned, resolved and closed in the batch."""
    early: uuid.UUID
    """demo's complaint assigned before it is raised: the assignment finds nothing to assign."""
    only_raised: list[uuid.UUID]
    deceased: str
    """demo's customer marked by agent-bert, the mark withdrawn, marked again at the same time by
    agent-cor (the first mark of that time stays)."""


def _batch(size: int) -> Batch:
    """size events (at least 14): the complaints of the bulk each four times (a fourth of them in
    acme, under the same id as one of demo's), raised-only ones to fill up, and the keys above."""
    per = 4
    count = (size - 14) // per
    ids = [uuid.uuid4() for _ in range(count)]
    bulk = [("acme" if i % 4 == 3 else "demo", ids[i - 1] if i % 4 == 3 else ids[i]) for i in range(count)]
    customers = {key: customer() for key in bulk}
    events: list[tuple[str, Any]] = []
    # As intake's topics interleave: every raise, then every assignment, then the resolutions.
    events += [(t, _raised(c, customers[(t, c)])) for t, c in bulk]
    events += [(t, _assigned(c, customers[(t, c)], OTHER_TEAM)) for t, c in bulk]
    events += [(t, _resolved(c, customers[(t, c)], "billing", 10)) for t, c in bulk]
    events += [(t, _resolved(c, customers[(t, c)], "logistics", 5)) for t, c in bulk]  # older: ignored
    life, early, deceased = uuid.uuid4(), uuid.uuid4(), customer()
    life_customer, early_customer = customer(), customer()
    events += [
        ("demo", _raised(life, life_customer)),
        ("demo", _assigned(early, early_customer, OTHER_TEAM)),
        ("demo", CustomerMarkedDeceased(customer_id=deceased, owner_agent_id="agent-bert", marked_at=T0)),
        ("demo", _assigned(life, life_customer, OTHER_TEAM)),
        ("demo", _raised(early, early_customer)),
        (
            "demo",
            CustomerDeceasedMarkWithdrawn(
                customer_id=deceased, withdrawn_by="sup-sara", withdrawn_at=T0 + timedelta(minutes=2)
            ),
        ),
        ("demo", _resolved(life, life_customer, "sales", 20)),
        ("demo", CustomerMarkedDeceased(customer_id=deceased, owner_agent_id="agent-cor", marked_at=T0)),
        ("demo", _closed(life, life_customer)),
    ]
    only_raised = [uuid.uuid4() for _ in range(size - len(events))]
    events += [("demo", _raised(c, customer())) for c in only_raised]
    assert len(events) == size
    envelopes = [make_envelope(e, producer="intake", tenant=t) for t, e in events]
    return Batch(envelopes, bulk, life, early, only_raised, deceased)


async def _learn(conn: Conn, running: Running, envelopes: list[Envelope]) -> int:
    """The statements of one batch in its transaction. asyncpg tells its query loggers with
    call_soon: they are counted after the commit, when the last one has been told."""
    async with conn.transaction(), counted_statements(conn) as seen:
        await handlers.learn_from_intake(running.deps, conn, envelopes)
    return len(seen)


async def _rows(conn: Conn, batch: Batch) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    keys = [*batch.bulk, ("demo", batch.life), ("demo", batch.early)]
    keys += [("demo", c) for c in batch.only_raised]
    complaints = await conn.fetch(
        "select c.* from complaints c join unnest($1::text[], $2::uuid[]) k(tenant, complaint_id) "
        "using (tenant, complaint_id) order by tenant, complaint_id",
        [t for t, _ in keys],
        [c for _, c in keys],
    )
    deceased = await conn.fetch(
        "select * from deceased_customers where tenant = 'demo' and customer_id = $1", batch.deceased
    )
    # updated_at is the transaction's now(): the only column two runs may not share.
    return (
        [{k: v for k, v in r.items() if k != "updated_at"} for r in complaints],
        [dict(r) for r in deceased],
    )


async def test_a_batch_of_500_intake_events_costs_the_statements_of_a_small_one(running: Running) -> None:
    async with running.svc.pool.acquire() as conn:
        await _learn(conn, running, _batch(14).envelopes)  # asyncpg asks the server for the types once
        small = await _learn(conn, running, _batch(22).envelopes)
        batch = _batch(500)
        large = await _learn(conn, running, batch.envelopes)
        # Four rounds (four events of the bulk's complaints and of the life complaint): raises, an
        # assignment and a mark; assignments, a raise and a withdrawal; resolutions and a mark; the
        # older resolutions and a closing.
        assert large == small == 10, f"{large} statements for 500 events, {small} for 22"
        in_batch = await _rows(conn, batch)

        # The same events one by one, in a transaction rolled back, give the same rows.
        tx = conn.transaction()
        await tx.start()
        try:
            await conn.execute(
                "delete from complaints c using unnest($1::text[], $2::uuid[]) k(tenant, complaint_id) "
                "where c.tenant = k.tenant and c.complaint_id = k.complaint_id",
                [e.tenant for e in batch.envelopes],
                [getattr(e.data, "complaint_id", None) for e in batch.envelopes],
            )
            await conn.execute(
                "delete from deceased_customers where tenant = 'demo' and customer_id = $1", batch.deceased
            )
            for env in batch.envelopes:
                await handlers.learn_from_intake(running.deps, conn, [env])
            one_by_one = await _rows(conn, batch)
        finally:
            await tx.rollback()
    assert in_batch == one_by_one

    complaints, deceased = in_batch
    by_key = {(r["tenant"], r["complaint_id"]): r for r in complaints}
    assert len(complaints) == len(batch.bulk) + 2 + len(batch.only_raised)
    assert len(batch.bulk) >= 100 and any(t == "acme" for t, _ in batch.bulk)
    for key in batch.bulk:
        row = by_key[key]
        assert (row["status"], row["team_id"], row["root_cause_department"]) == (
            "resolved",
            OTHER_TEAM,
            "billing",
        ), key
        assert row["resolved_at"] == T0 + timedelta(minutes=10)
    shared = [c for t, c in batch.bulk if t == "acme"]
    assert all(by_key[("demo", c)]["customer_id"] != by_key[("acme", c)]["customer_id"] for c in shared)
    life = by_key[("demo", batch.life)]
    assert (life["status"], life["team_id"], life["agent_id"], life["root_cause_department"]) == (
        "closed",
        OTHER_TEAM,
        "agent-bert",
        "sales",
    )
    assert life["raised_at"] == T0 and life["closed_at"] == T0 + timedelta(minutes=30)
    early = by_key[("demo", batch.early)]
    assert (early["status"], early["team_id"], early["agent_id"]) == ("open", TEAM, "agent-anna")
    assert all(by_key[("demo", c)]["status"] == "open" for c in batch.only_raised)
    assert [(d["owner_agent_id"], d["marked_at"], d["withdrawn_at"]) for d in deceased] == [
        ("agent-bert", T0, T0 + timedelta(minutes=2))
    ]
