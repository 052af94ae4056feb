"""Against the real PostgreSQL, with real concurrent HTTP calls (asyncio.gather over the ASGI app, each
request on its own pooled connection): two agents deciding on one complaint at once yield one
compensation; two approvers at once yield one decision."""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from compensation_support import AGENT, AGENT_2, APPROVER, APPROVER_2, Running

pytestmark = pytest.mark.integration

HOSPITAL = "hospitalisation.cover_refused"
ROUNDS = 8


async def test_two_agents_deciding_at_once_yield_one_compensation(running: Running) -> None:
    for _ in range(ROUNDS):
        complaint = await running.complaint(category=HOSPITAL)
        await running.ready_to_propose(complaint, damage_cents=20000)
        answers = await asyncio.gather(
            *(
                running.http.post(
                    f"/complaints/{complaint}/proposals",
                    json={"kind": "financial", "amount": {"amount_cents": cents, "currency": "EUR"}},
                    headers=who,
                )
                for who, cents in ((AGENT, 20000), (AGENT_2, 15000))
            )
        )
        assert sorted(r.status_code for r in answers) == [201, 409], [r.text for r in answers]
        refused = next(r for r in answers if r.status_code == 409)
        assert "already has a compensation" in refused.json()["detail"]
        assert (
            await running.fetchval("select count(*) from compensations where complaint_id = $1", complaint)
            == 1
        )
        assert (await running.events_about(str(complaint))).count("hoera.compensation.decided.v1") == 1


async def test_two_approvers_at_once_yield_one_decision(running: Running) -> None:
    for round_ in range(ROUNDS):
        complaint = await running.complaint(category=HOSPITAL)
        await running.ready_to_propose(complaint, damage_cents=60000)
        r = await running.http.post(
            f"/complaints/{complaint}/proposals",
            json={"kind": "financial", "amount": {"amount_cents": 60000, "currency": "EUR"}},
            headers=AGENT,
        )
        cid = r.json()["compensation"]["compensation_id"]
        # Both approve in even rounds; one approves and the other rejects in odd rounds.
        second = "approve" if round_ % 2 == 0 else "reject"
        answers = await asyncio.gather(
            running.http.post(
                f"/approvals/{cid}/approve", json={"reason": "Proven by invoice"}, headers=APPROVER
            ),
            running.http.post(
                f"/approvals/{cid}/{second}", json={"reason": "Checked the file"}, headers=APPROVER_2
            ),
        )
        assert sorted(r.status_code for r in answers) == [200, 409], [r.text for r in answers]
        winner = next(r for r in answers if r.status_code == 200).json()
        row = await running.fetchval(
            "select (status, decided_by) from compensations where compensation_id = $1", uuid.UUID(cid)
        )
        assert tuple(row) == (winner["status"], winner["decided_by"])
        assert (await running.events_about(cid)).count("hoera.compensation.decided.v1") == 1
