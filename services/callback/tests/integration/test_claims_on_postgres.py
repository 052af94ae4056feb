"""R26 against the real PostgreSQL: fifty agents claiming at once never share a callback, a lapsed
lease returns the callback to the queue, and the queue's order is the domain's."""

from __future__ import annotations

import asyncio
import random
import sys
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from hoera_callback.domain import QueueEntry, Status, queue_key
from hoera_devkit.testing import read_topic
from hoera_events.callbacks import CallbackClaimed
from hoera_events.envelope import decode
from hoera_events.registry import topic_for

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from callback_support import StartService, bearer

pytestmark = pytest.mark.integration


async def _fill(http: httpx.AsyncClient, team: str, n: int) -> list[str]:
    sup = bearer("sup-test", "supervisor", teams=[team])
    ids = []
    for i in range(n):
        resp = await http.post(
            "/callbacks",
            json={"customer_id": f"CUST-{team}-{i}", "team_id": team, "language": "nl"},
            headers=sup,
        )
        assert resp.status_code == 201, resp.text
        ids.append(resp.json()["callback_id"])
    return ids


async def test_fifty_agents_claiming_twenty_callbacks_claim_each_exactly_once(
    start_service: StartService,
) -> None:
    running = await start_service()
    team = f"team-{uuid.uuid4().hex[:8]}"
    ids = await _fill(running.http, team, 20)
    agents = [f"agent-{i:02d}" for i in range(50)]

    async def claim(agent: str) -> tuple[str, int, str | None]:
        resp = await running.http.post("/callbacks/next", headers=bearer(agent, "agent", teams=[team]))
        return (
            agent,
            resp.status_code,
            resp.json()["callback"]["callback_id"] if resp.status_code == 200 else None,
        )

    results = await asyncio.gather(*(claim(a) for a in agents))

    won = [(agent, cid) for agent, code, cid in results if code == 200]
    assert sorted(code for _, code, _ in results) == [200] * 20 + [204] * 30
    assert sorted(cid for _, cid in won) == sorted(ids), "every callback claimed, none twice"
    conn = await asyncpg.connect(running.dsn)
    try:
        rows = await conn.fetch(
            "select callback_id::text, claimed_by, status from callbacks where team_id = $1", team
        )
        assert {r["callback_id"]: r["claimed_by"] for r in rows} == {cid: agent for agent, cid in won}
        assert {r["status"] for r in rows} == {"claimed"}
    finally:
        await conn.close()
    published = await read_topic(
        topic_for(CallbackClaimed),
        until=lambda records: len(_ours(records, ids)) >= 20,
        timeout=20,
    )
    claims = _ours(published, ids)
    assert sorted((c.data.agent_id, str(c.data.callback_id)) for c in claims) == sorted(won)


def _ours(records: list[Any], ids: list[str]) -> list[Any]:
    envelopes = [decode(r.value) for r in records]
    return [e for e in envelopes if str(e.key) in ids]


async def test_a_lapsed_lease_returns_the_callback_and_the_first_holder_can_no_longer_record(
    start_service: StartService,
) -> None:
    running = await start_service(queue={"lease_seconds": 1})
    team = f"team-{uuid.uuid4().hex[:8]}"
    [cid] = await _fill(running.http, team, 1)
    first, second = (
        bearer("agent-first", "agent", teams=[team]),
        bearer("agent-second", "agent", teams=[team]),
    )

    taken = await running.http.post("/callbacks/next", headers=first)
    assert taken.status_code == 200 and taken.json()["callback"]["callback_id"] == cid
    assert (await running.http.post("/callbacks/next", headers=second)).status_code == 204, (
        "held: not in the queue"
    )

    await asyncio.sleep(1.3)
    listed = await running.http.get("/callbacks", headers=second)
    assert [(i["callback"]["callback_id"], i["state"]) for i in listed.json()] == [(cid, "queued")]
    retaken = await running.http.post("/callbacks/next", headers=second)
    assert retaken.status_code == 200 and retaken.json()["callback"]["claimed_by"] == "agent-second"

    late = await running.http.post(
        f"/callbacks/{cid}/outcome", json={"outcome": "closed_positively"}, headers=first
    )
    assert late.status_code == 409, late.text
    assert "another agent" in late.json()["detail"]
    conn = await asyncpg.connect(running.dsn)
    try:
        assert await conn.fetchval("select count(*) from callback_outcomes") == 0
        row = await conn.fetchrow(
            "select status, claimed_by from callbacks where callback_id = $1", uuid.UUID(cid)
        )
        assert (row["status"], row["claimed_by"]) == ("claimed", "agent-second")
    finally:
        await conn.close()

    # The second holder's lease lapses too, with nobody else claiming: still no outcome from them.
    await asyncio.sleep(1.3)
    lapsed = await running.http.post(
        f"/callbacks/{cid}/outcome", json={"outcome": "other", "note": "x"}, headers=second
    )
    assert lapsed.status_code == 409 and "lapsed" in lapsed.json()["detail"]


async def test_take_next_serves_priority_first_then_age_as_the_domain_orders_it(
    start_service: StartService,
) -> None:
    running = await start_service()
    team = f"team-{uuid.uuid4().hex[:8]}"
    ids = await _fill(running.http, team, 12)
    rng = random.Random(7)
    conn = await asyncpg.connect(running.dsn)
    try:
        for i, cid in enumerate(ids):
            await conn.execute(
                "update callbacks set priority_score = $2, requested_at = requested_at - $3::interval "
                "where callback_id = $1",
                uuid.UUID(cid),
                rng.choice([0, 10, 25, 60]),
                timedelta(minutes=rng.randint(0, 5) if i % 3 else 5),
            )
        rows = await conn.fetch(
            "select callback_id, priority_score, requested_at from callbacks where team_id = $1", team
        )
    finally:
        await conn.close()
    expected = [
        str(e.callback_id)
        for e in sorted(
            (
                QueueEntry(
                    callback_id=r["callback_id"],
                    status=Status.queued,
                    score=r["priority_score"],
                    requested_at=r["requested_at"],
                )
                for r in rows
            ),
            key=queue_key,
        )
    ]
    served = []
    for i in range(len(ids)):
        resp = await running.http.post("/callbacks/next", headers=bearer(f"agent-{i}", "agent", teams=[team]))
        served.append(resp.json()["callback"]["callback_id"])
    assert served == expected


async def test_an_agent_clicking_take_next_five_times_at_once_holds_one_callback(
    start_service: StartService,
) -> None:
    running = await start_service()
    team = f"team-{uuid.uuid4().hex[:8]}"
    await _fill(running.http, team, 5)
    impatient = bearer("agent-impatient", "agent", teams=[team])
    answers = await asyncio.gather(
        *(running.http.post("/callbacks/next", headers=impatient) for _ in range(5))
    )
    assert {a.json()["callback"]["callback_id"] for a in answers if a.status_code == 200} == {
        answers[0].json()["callback"]["callback_id"]
    }
    conn = await asyncpg.connect(running.dsn)
    try:
        held = await conn.fetchval("select count(*) from callbacks where claimed_by = 'agent-impatient'")
    finally:
        await conn.close()
    assert held == 1
