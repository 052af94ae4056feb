"""Each of intake's consumers handles a Kafka batch in the same few statements whatever its size.

Counted on the real PostgreSQL with asyncpg's query logger, in the consumer's transaction, a batch of
500 against a batch of ten; the rows and events are checked too (a key repeated in the batch, in
order), so a handler that skipped work could not pass.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hoera_devkit.testing import counted_statements
from hoera_events.callbacks import CallbackCompleted
from hoera_events.common import Channel, Language
from hoera_events.compensation import CompensationDecided, CompensationProposed
from hoera_events.envelope import Envelope, make_envelope
from hoera_events.platform import ComplaintReceived, ContactClosed
from hoera_events.privacy import ErasureConfirmed, Holder
from hoera_intake.consumers import submission_of
from hoera_intake.handlers import complaints, erasures, timeline, webhooks
from hoera_kit.db import Conn

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from intake_support import ADMIN, Running

pytestmark = pytest.mark.integration

Handler = Callable[[Conn, list[Envelope]], Awaitable[Any]]


async def _count(conn: Conn, handler: Handler, envelopes: list[Envelope]) -> int:
    """The statements `handler` sends for a batch, in one transaction as the inbox runs it."""
    async with conn.transaction(), counted_statements(conn) as seen:
        await handler(conn, envelopes)
    return len(seen)


async def _small_and_large(
    running: Running, handler: Handler, batch: Callable[[int], list[Envelope]]
) -> tuple[int, int, list[Envelope]]:
    """Statements for a batch of ten and one of 500 on one connection, after a warm-up (asyncpg asks
    the server for the array types once per connection, the kit reads the tenant's rule documents
    once); the large batch itself."""
    async with running.svc.pool.acquire() as conn:
        await _count(conn, handler, batch(10))
        small = await _count(conn, handler, batch(10))
        large_batch = batch(500)
        large = await _count(conn, handler, large_batch)
    return small, large, large_batch


async def _until(check: Callable[[], Awaitable[Any]], within: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "not in time"
        await asyncio.sleep(0.1)


# ---- platform-contacts ------------------------------------------------------------------------------


def _contacts(n: int) -> list[Envelope]:
    """n closed contacts; the first one comes again at the end (a redelivery changes nothing)."""
    envelopes = [
        make_envelope(
            ContactClosed(
                contact_id=f"ct-{uuid.uuid4().hex[:12]}",
                customer_id=f"cust-{i}",
                channel=Channel.phone,
                agent_id="agent-anna",
                team_id="team-nl-1",
                closed_at=datetime.now(UTC),
                language=Language.nl,
            ),
            producer="platform",
            tenant="demo",
        )
        for i in range(n - 1)
    ]
    return [*envelopes, envelopes[0]]


async def _record(running: Running, conn: Conn, envelopes: list[Envelope]) -> int:
    async with conn.transaction(), counted_statements(conn) as seen:
        contacts = [(env.tenant, env.data_as(ContactClosed), env) for env in envelopes]
        recorded = await complaints.record_contacts(running.svc.api.state.deps, conn, contacts, via="kafka")
    assert len(recorded) == len(envelopes) - 1
    return len(seen)


async def test_a_batch_of_500_contacts_costs_the_statements_of_a_batch_of_ten(running: Running) -> None:
    async with running.svc.pool.acquire() as conn:
        await _record(running, conn, _contacts(3))  # asyncpg asks the server for the array types once
        small = await _record(running, conn, _contacts(10))
        batch = _contacts(500)
        large = await _record(running, conn, batch)
    assert large == small == 1, f"{large} statements for 500 contacts, {small} for 10"
    ids = [env.data_as(ContactClosed).contact_id for env in batch]
    stored = await running.fetchval(
        "select count(*) from contacts where tenant = 'demo' and contact_id = any($1::text[])", ids
    )
    assert stored == 499


# ---- platform-complaints ----------------------------------------------------------------------------


def _received(customer: str, *, tenant: str = "demo", **changes: Any) -> Envelope:
    values: dict[str, Any] = {
        "platform_ref": f"PLT-{uuid.uuid4().hex[:12]}",
        "customer_id": customer,
        "channel": Channel.phone,
        "category": "refund.late",
        "language": Language.nl,
        "received_at": datetime.now(UTC),
        "summary": "Terugbetaling twee keer beloofd, nog niets.",
        "team_id": "team-nl-1",
        "agent_id": "agent-anna",
    }
    values.update(changes)
    return make_envelope(ComplaintReceived(**values), producer="platform", tenant=tenant)


def _complaints(n: int) -> list[Envelope]:
    """n complaints of the platform: one of a category not in the rules; the second customer
    complains twice (in order); the first complaint is sent again at the end (a new event, the same
    platform_ref: one dossier)."""
    run = uuid.uuid4().hex[:8]
    envelopes = [_received(f"cust-{run}-{i}") for i in range(n - 3)]
    envelopes.append(_received(f"cust-{run}-odd", category="parking.fines"))
    envelopes.append(_received(f"cust-{run}-1", agent_id="agent-chris"))
    first = envelopes[0].data_as(ComplaintReceived)
    envelopes.append(make_envelope(first, producer="platform", tenant="demo"))
    return envelopes


def _submit(running: Running) -> Handler:
    deps = running.svc.api.state.deps

    async def handler(conn: Conn, envelopes: list[Envelope]) -> Any:
        # As the platform-complaints consumer does (consumers.platform_complaints).
        submissions = [submission_of(env) for env in envelopes]
        return await complaints.submit_many(deps, conn, submissions, via="kafka", strict=False)

    return handler


async def test_a_batch_of_500_complaints_costs_the_statements_of_a_batch_of_ten(running: Running) -> None:
    small, large, batch = await _small_and_large(running, _submit(running), _complaints)
    assert large == small <= 11, f"{large} statements for 500 complaints, {small} for 10"

    refs = [env.data_as(ComplaintReceived).platform_ref for env in batch]
    rows = await running.fetch(
        "select id, platform_ref, customer_id, agent_id, category, sla_version from complaints "
        "where tenant = 'demo' and platform_ref = any($1::text[])",
        refs,
    )
    assert len(rows) == 499, "one dossier per platform_ref: the complaint sent twice is one"
    ids = [r["id"] for r in rows]
    odd = next(r["id"] for r in rows if r["category"] == "parking.fines")
    lines = await running.fetch(
        "select complaint_id, what from timeline where tenant = 'demo' and complaint_id = any($1::uuid[]) "
        "and what not like 'delivery%' order by id",  # not what the delivery worker says meanwhile
        ids,
    )
    by_complaint: dict[uuid.UUID, list[str]] = {}
    for line in lines:
        by_complaint.setdefault(line["complaint_id"], []).append(line["what"])
    for cid in ids:
        expected = ["raised", "rules_note", "message_queued"] if cid == odd else ["raised", "message_queued"]
        assert by_complaint[cid] == expected, cid
    # R2: the acknowledgement exactly once per dossier; R3: its SLA timer, carrying the plan's version.
    acks = await running.fetchval(
        "select count(distinct idempotency_key) from kit_deliveries where idempotency_key = any($1::text[])",
        [f"acknowledgement:{cid}" for cid in ids],
    )
    assert acks == 499
    assert (
        await running.fetchval(
            "select count(*) from kit_deliveries where reference = any($1::text[])",
            [f"complaint:{cid}" for cid in ids],
        )
        == 499
    )
    timers = await running.fetch(
        "select key, payload from kit_timers where kind = 'sla' and key = any($1::text[])",
        [f"demo/{cid}" for cid in ids],
    )
    assert len(timers) == 499 and all(json.loads(t["payload"]) == {"v": 1} for t in timers)
    periods = await running.fetchval(
        "select count(*) from status_periods where tenant = 'demo' and complaint_id = any($1::uuid[]) "
        "and ended_at is null and status = 'open'",
        ids,
    )
    assert periods == 499
    # The events: raised and assigned per dossier, each caused by its platform event; the customer who
    # complained twice has their two dossiers raised in the batch's order.
    events = [e for e in await running.events() if e.type == "complaint.raised"]
    raised = [e for e in events if e.data.platform_ref in set(refs)]
    assert len(raised) == 499
    twice = batch[1].data_as(ComplaintReceived).customer_id
    assert [e.data.platform_ref for e in raised if e.data.customer_id == twice] == [
        batch[1].data_as(ComplaintReceived).platform_ref,
        batch[-2].data_as(ComplaintReceived).platform_ref,
    ]
    assert [e.data.agent_id for e in raised if e.data.customer_id == twice] == ["agent-anna", "agent-chris"]
    causes = {env.id for env in batch}
    assert all(e.causation_id in causes for e in raised)

    # The same batch again (the platform sent it all twice): nothing new at all.
    again = [make_envelope(env.data, producer="platform", tenant="demo") for env in batch]
    async with running.svc.pool.acquire() as conn, conn.transaction():
        results = await _submit(running)(conn, again)
    assert not any(created for _, created in results)
    assert {c.id for c, _ in results} == set(ids)
    dossiers = await running.fetchval(
        "select count(*) from complaints where tenant = 'demo' and platform_ref = any($1::text[])", refs
    )
    deliveries = await running.fetchval(
        "select count(*) from kit_deliveries where reference = any($1::text[])",
        [f"complaint:{cid}" for cid in ids],
    )
    assert (dossiers, deliveries) == (499, 499)


async def _complaint_story(running: Running, complaint_id: uuid.UUID, customer: str) -> dict[str, Any]:
    """What a dossier became: its owner, its flags, its timeline, its events and who its
    acknowledgement went to (the customer's id written as X, to compare two customers' stories)."""
    rows = await running.fetch(
        "select agent_id, team_id, about_deceased from complaints where id = $1", complaint_id
    )
    lines = await running.fetch(
        "select what, who, why from timeline where complaint_id = $1 and what not like 'delivery%' "
        "order by id",
        complaint_id,
    )
    # Not what the delivery worker says meanwhile (delivery states, complaint.acknowledged).
    events = [
        (e.type, getattr(e.data, "agent_id", None))
        for e in await running.events(str(complaint_id))
        if e.type != "complaint.acknowledged"
    ]
    ack = await running.fetchval(
        "select recipient from kit_deliveries where idempotency_key = $1", f"acknowledgement:{complaint_id}"
    )
    return {
        "owner": (rows[0]["agent_id"], rows[0]["team_id"], rows[0]["about_deceased"]),
        "timeline": [(r["what"], r["who"], r["why"]) for r in lines],
        "events": events,
        "acknowledged_to": ack.replace(customer, "X") if ack else None,
    }


async def test_a_deceased_customers_case_opened_inside_a_batch_is_as_one_by_one(running: Running) -> None:
    """R10 in a batch: a complaint before the one about a deceased customer is opened as usual and
    then moved to the case's owner; the one after goes straight to the owner, acknowledged to the next
    of kin; exactly as when the three arrive one by one."""
    handler = _submit(running)

    def story(customer: str) -> list[Envelope]:
        return [
            _received(customer, agent_id="agent-chris"),
            _received(customer, agent_id="agent-anna", about_deceased=True),
            _received(customer, agent_id="agent-bram"),
        ]

    run = uuid.uuid4().hex[:8]
    b_customer, s_customer = f"CUST-{run}-b", f"CUST-{run}-s"
    batched, single = story(b_customer), story(s_customer)
    others = [_received(f"CUST-{run}-{i}") for i in range(3)]
    async with running.svc.pool.acquire() as conn, conn.transaction():
        in_batch = await handler(conn, [others[0], batched[0], others[1], batched[1], others[2], batched[2]])
    one_by_one = []
    for env in single:
        async with running.svc.pool.acquire() as conn, conn.transaction():
            one_by_one += await handler(conn, [env])
    assert all(created for _, created in [*in_batch, *one_by_one])
    b_stories = [await _complaint_story(running, c.id, b_customer) for c, _ in in_batch[1::2]]
    s_stories = [await _complaint_story(running, c.id, s_customer) for c, _ in one_by_one]
    assert b_stories == s_stories
    assert [s["owner"] for s in b_stories] == [("agent-anna", "team-nl-1", True)] * 3
    # The first was acknowledged to the customer, then moved; the last went to the owner at once and
    # was acknowledged to the next of kin.
    assert b_stories[0]["timeline"][-1][0] == "customer_marked_deceased"
    assert b_stories[0]["acknowledged_to"] == "X@customers.hoera.test"
    assert b_stories[2]["acknowledged_to"] == "kin-of-X@customers.hoera.test"
    assert b_stories[2]["events"] == [
        ("complaint.raised", "agent-anna"),
        ("complaint.assigned", "agent-anna"),
    ]
    for customer in (b_customer, s_customer):
        marks = [e for e in await running.events(customer) if e.type == "customer.marked_deceased"]
        assert [m.data.owner_agent_id for m in marks] == ["agent-anna"]
    for other, (c, _) in zip(others, in_batch[0::2], strict=True):
        assert c.customer_id == other.data_as(ComplaintReceived).customer_id and not c.about_deceased


# ---- timeline (other services' events about a dossier) ----------------------------------------------


async def test_a_batch_of_500_events_about_dossiers_costs_the_statements_of_a_batch_of_ten(
    running: Running,
) -> None:
    deps = running.svc.api.state.deps
    async with running.svc.pool.acquire() as conn, conn.transaction():
        opened = await _submit(running)(conn, [_received(f"cust-tl-{i}") for i in range(4)])
    dossiers = [c for c, _ in opened]
    known = {c.id for c in dossiers}
    # The delivery worker records the acknowledgements on these dossiers (locking them) meanwhile:
    # let it finish first, so it cannot pick this test's transaction as a deadlock victim.
    await _until(
        lambda: running.fetchval(
            "select count(*) = 4 from kit_deliveries where reference = any($1::text[]) and state = 'sent'",
            [f"complaint:{c.id}" for c in dossiers],
        )
    )

    def about(n: int) -> list[Envelope]:
        """Proposals, decisions and callbacks about four dossiers in turn (each dossier many times);
        every tenth about a dossier unknown here, every ninth from another tenant naming a demo
        dossier (not one of its own). The producer names each event, for reading them back in order."""
        tag = uuid.uuid4().hex[:8]
        envelopes = []
        for i in range(n):
            c = dossiers[i % len(dossiers)]
            model = (CompensationProposed, CompensationDecided, CallbackCompleted)[i % 3]
            data = model.example().model_copy(
                update={"complaint_id": uuid.uuid4() if i % 10 == 9 else c.id, "customer_id": c.customer_id}
            )
            tenant = "acme" if i % 9 == 8 else "demo"
            envelopes.append(make_envelope(data, producer=f"p-{tag}-{i}", tenant=tenant))
        return envelopes

    async def handler(conn: Conn, envelopes: list[Envelope]) -> None:
        await timeline.on_related_events(deps, conn, envelopes)

    small, large, batch = await _small_and_large(running, handler, about)
    assert large == small == 1, f"{large} statements for 500 events, {small} for 10"
    tag = batch[0].producer.rsplit("-", 1)[0]
    lines = await running.fetch(
        "select complaint_id, what, who from timeline where who like $1 order by id", f"{tag}-%"
    )
    expected = [
        (env.data.complaint_id, env.type, env.producer)  # type: ignore[attr-defined]
        for env in batch
        if env.tenant == "demo" and env.data.complaint_id in known  # type: ignore[attr-defined]
    ]

    def per_dossier(found: list[tuple[uuid.UUID, str, str]]) -> dict[uuid.UUID, list[tuple[str, str]]]:
        lines: dict[uuid.UUID, list[tuple[str, str]]] = {}
        for complaint_id, what, who in found:
            lines.setdefault(complaint_id, []).append((what, who))
        return lines

    # Each dossier's lines in the batch's order (the producer names each event).
    assert per_dossier([(r["complaint_id"], r["what"], r["who"]) for r in lines]) == per_dossier(expected)
    assert len(expected) > 350
    assert await running.fetchval("select count(*) from timeline where tenant = 'acme'") == 0


# ---- webhooks ---------------------------------------------------------------------------------------


async def test_a_batch_of_500_events_costs_one_lookup_without_endpoints_and_a_constant_few_with(
    running: Running,
) -> None:
    deps = running.svc.api.state.deps

    def events(n: int) -> list[Envelope]:
        """Every second event is demo's, half of them proposals (the endpoint's type) and half
        decisions; the rest acme's (a tenant without endpoints)."""
        envelopes = []
        for i in range(n):
            model = CompensationDecided if i % 4 == 1 else CompensationProposed
            data = model.example().model_copy(update={"compensation_id": uuid.uuid4()})
            envelopes.append(make_envelope(data, producer="compensation", tenant="demo" if i % 2 else "acme"))
        return envelopes

    async def handler(conn: Conn, envelopes: list[Envelope]) -> int:
        return await webhooks.dispatch(deps, conn, envelopes)

    # No tenant has an endpoint: one lookup per batch and nothing more.
    small, large, _ = await _small_and_large(running, handler, events)
    assert large == small == 1, f"{large} statements for 500 events, {small} for 10"
    assert await running.fetchval("select count(*) from kit_deliveries where channel = 'webhook'") == 0

    created = await running.http.post(
        "/webhooks/endpoints",
        json={"url": "http://127.0.0.1:9/hook", "event_types": ["compensation.proposed"]},
        headers=ADMIN,
    )
    assert created.status_code == 201, created.text
    endpoint = created.json()["endpoint_id"]
    small, large, batch = await _small_and_large(running, handler, events)
    # the lookup, the deliveries, the worker's wake-up
    assert large == small == 3, f"{large} statements for 500 events, {small} for 10"
    taken = [env for env in batch if env.tenant == "demo" and env.type == "compensation.proposed"]
    recorded = await running.fetch(
        "select idempotency_key from kit_deliveries "
        "where reference = $1 and idempotency_key = any($2::text[]) order by seq",
        f"webhook:{endpoint}",
        [f"webhook:{endpoint}:{env.id}" for env in batch],
    )
    assert [r["idempotency_key"] for r in recorded] == [f"webhook:{endpoint}:{env.id}" for env in taken]
    assert len(taken) == 125
    # The same batch again (redelivered): nothing twice.
    async with running.svc.pool.acquire() as conn, conn.transaction():
        assert await handler(conn, batch) == 0


# ---- erasure-confirmations --------------------------------------------------------------------------


async def test_a_batch_of_500_erasure_confirmations_costs_the_statements_of_a_batch_of_ten(
    running: Running,
) -> None:
    deps = running.svc.api.state.deps
    holders = list(Holder)

    async def requests(n: int) -> list[tuple[uuid.UUID, str]]:
        asked = [(uuid.uuid4(), f"cust-er-{uuid.uuid4().hex[:8]}") for _ in range(n)]
        for erasure_id, customer in asked:
            await running.fetchval(
                "insert into erasures (tenant, erasure_id, customer_id, requested_by, requested_at) "
                "values ('demo', $1, $2, 'platform', now())",
                erasure_id,
                customer,
            )
        return asked

    def confirmation(erasure_id: uuid.UUID, customer: str, holder: Holder) -> Envelope:
        data = ErasureConfirmed(
            erasure_id=erasure_id,
            customer_id=customer,
            service=holder,
            erased_at=datetime.now(UTC),
            records={"complaints": 1},
        )
        return make_envelope(data, producer=holder.value, tenant="demo")

    prepared: dict[int, list[tuple[uuid.UUID, str]]] = {}

    async def batch_of(n: int) -> list[Envelope]:
        """Requests confirmed by all five services (one of them twice: a service confirming again),
        one that waits for a fifth, and a confirmation of a request not asked here."""
        full = max(1, (n - 6) // 6)
        asked = await requests(full + 1)
        prepared[n] = asked
        envelopes = []
        for erasure_id, customer in asked[:full]:
            envelopes += [confirmation(erasure_id, customer, h) for h in holders]
            envelopes.append(confirmation(erasure_id, customer, holders[0]))
        waiting_id, waiting_customer = asked[full]
        envelopes += [confirmation(waiting_id, waiting_customer, h) for h in holders[:4]]
        envelopes.append(confirmation(uuid.uuid4(), "cust-elsewhere", holders[0]))
        while len(envelopes) < n:
            envelopes.append(confirmation(waiting_id, waiting_customer, holders[0]))
        return envelopes

    async def handler(conn: Conn, envelopes: list[Envelope]) -> None:
        await erasures.confirmed_many(deps, conn, envelopes)

    batches = {n: await batch_of(n) for n in (3, 10, 500)}
    async with running.svc.pool.acquire() as conn:
        await _count(conn, handler, batches[3])
        small = await _count(conn, handler, batches[10])
        large = await _count(conn, handler, batches[500])
    assert large == small <= 6, f"{large} statements for 500 confirmations, {small} for 10"

    asked = prepared[500]
    rows = await running.fetch(
        "select erasure_id, completed_at from erasures "
        "where tenant = 'demo' and erasure_id = any($1::uuid[])",
        [e for e, _ in asked],
    )
    done = {r["erasure_id"] for r in rows if r["completed_at"] is not None}
    assert done == {e for e, _ in asked[:-1]}, "every fully confirmed request completes; the waiting one not"
    completed = [e for e in await running.events() if e.type == "customer.erasure_completed"]
    mine = [e for e in completed if e.data.erasure_id in done]
    assert sorted(e.data.erasure_id for e in mine) == sorted(done), "each completes exactly once"
    # Caused by the confirmation that completed it: the fifth service's, not a repeat.
    fifth = {env.data.erasure_id: env.id for env in batches[500] if env.data.service is holders[-1]}  # type: ignore[attr-defined]
    assert all(e.causation_id == fifth[e.data.erasure_id] for e in mine)
    confirmations = await running.fetchval(
        "select count(*) from erasure_confirmations where tenant = 'demo' and erasure_id = any($1::uuid[])",
        [e for e, _ in asked],
    )
    assert confirmations == 5 * (len(asked) - 1) + 4

    # The last confirmation arrives in a later batch: the waiting request completes then, once.
    waiting_id, waiting_customer = asked[-1]
    async with running.svc.pool.acquire() as conn:
        await _count(conn, handler, [confirmation(waiting_id, waiting_customer, holders[4])] * 2)
    assert await running.fetchval(
        "select completed_at is not null from erasures where erasure_id = $1", waiting_id
    )
    completed = [e for e in await running.events() if e.type == "customer.erasure_completed"]
    assert [e.data.erasure_id for e in completed].count(waiting_id) == 1
