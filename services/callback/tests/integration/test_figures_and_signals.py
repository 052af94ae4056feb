"""Figures per agent and team per week (items worked, share closed positively, lead time); a
"considering leaving" outcome that moves the customer's other callback to the top (R29); and no
callbacks for a customer who died (R10)."""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from hoera_callback import handlers
from hoera_events.complaints import CustomerMarkedDeceased
from hoera_events.envelope import make_envelope

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from callback_support import StartService, bearer

pytestmark = pytest.mark.integration


async def test_figures_count_items_worked_positive_closes_and_lead_time_per_agent_and_team(
    start_service: StartService,
) -> None:
    running = await start_service()
    team = f"team-{uuid.uuid4().hex[:8]}"
    sup = bearer("sup-sara", "supervisor", teams=[team])
    anna, luc = bearer("agent-anna", "agent", teams=[team]), bearer("agent-luc", "agent", teams=[team])
    for i in range(4):
        created = await running.http.post(
            "/callbacks", json={"customer_id": f"CUST-F{i}", "team_id": team, "language": "nl"}, headers=sup
        )
        assert created.status_code == 201
    for who, outcome in [
        (anna, "closed_positively"),
        (anna, "closed_positively"),
        (anna, "still_unresolved"),
        (luc, "not_reachable"),
    ]:
        cid = (await running.http.post("/callbacks/next", headers=who)).json()["callback"]["callback_id"]
        recorded = await running.http.post(
            f"/callbacks/{cid}/outcome", json={"outcome": outcome}, headers=who
        )
        assert recorded.status_code == 200

    rows = (await running.http.get("/figures", params={"team_id": team}, headers=sup)).json()
    by_agent = {r["agent_id"]: r for r in rows}
    assert set(by_agent) == {None, "agent-anna", "agent-luc"}
    total, a, lu = by_agent[None], by_agent["agent-anna"], by_agent["agent-luc"]
    assert (total["items_worked"], total["conversations"], total["closed_positively"]) == (4, 3, 2)
    assert (a["items_worked"], a["conversations"], a["closed_positively"]) == (3, 3, 2)
    assert a["share_closed_positively"] == pytest.approx(2 / 3)
    assert (lu["items_worked"], lu["conversations"], lu["share_closed_positively"]) == (1, 0, None)
    assert 0 < a["lead_time_p50_s"] <= a["lead_time_p90_s"] < 60
    assert total["lead_time_p90_s"] >= total["lead_time_p50_s"] > 0

    own = (await running.http.get("/figures", headers=anna)).json()
    assert [r["agent_id"] for r in own] == ["agent-anna"], "an agent sees their own row only"
    other_team = await running.http.get("/figures", params={"team_id": "team-elsewhere"}, headers=sup)
    assert other_team.status_code == 404


async def test_a_customer_considering_leaving_goes_to_the_top_with_the_reason_shown(
    start_service: StartService,
) -> None:
    running = await start_service()
    team = f"team-{uuid.uuid4().hex[:8]}"
    sup = bearer("sup-sara", "supervisor", teams=[team])
    agent = bearer("agent-anna", "agent", teams=[team])
    for customer, ref in [("CUST-STAY", "a"), ("CUST-OTHER", "b"), ("CUST-STAY", "c")]:
        resp = await running.http.post(
            "/callbacks",
            json={"customer_id": customer, "team_id": team, "language": "nl", "request_ref": f"{team}-{ref}"},
            headers=sup,
        )
        assert resp.status_code == 201
    again = await running.http.post(
        "/callbacks",
        json={"customer_id": "CUST-STAY", "team_id": team, "language": "nl", "request_ref": f"{team}-a"},
        headers=sup,
    )
    assert again.status_code == 200, "the same request_ref adds nothing"

    first = (await running.http.post("/callbacks/next", headers=agent)).json()["callback"]
    assert first["customer_id"] == "CUST-STAY"
    left = await running.http.post(
        f"/callbacks/{first['callback_id']}/outcome",
        json={"outcome": "considering_leaving", "note": "Has an offer from another insurer."},
        headers=agent,
    )
    assert left.status_code == 200

    queue = (await running.http.get("/callbacks", headers=agent)).json()
    assert [(i["callback"]["customer_id"], i["callback"]["priority"]) for i in queue] == [
        ("CUST-STAY", "urgent"),
        ("CUST-OTHER", "normal"),
    ], "the other callback of the customer who may leave jumped the older one"
    assert queue[0]["callback"]["priority_reasons"] == ["considering_leaving"]
    assert queue[0]["callback"]["churn_risk"] is True


async def test_a_deceased_customers_callbacks_leave_the_queue_and_no_new_one_is_made(
    start_service: StartService,
) -> None:
    """R10: nobody phones to ask for someone who died."""
    running = await start_service()
    deps = running.svc.api.state.deps
    team = f"team-{uuid.uuid4().hex[:8]}"
    sup = bearer("sup-sara", "supervisor", teams=[team])
    created = await running.http.post(
        "/callbacks", json={"customer_id": "CUST-GONE", "team_id": team, "language": "nl"}, headers=sup
    )
    cid = created.json()["callback_id"]
    died = make_envelope(
        CustomerMarkedDeceased(
            customer_id="CUST-GONE", owner_agent_id="AGT-0042", marked_at=datetime.now(UTC)
        ),
        producer="intake",
        tenant="demo",
    )
    async with deps.transaction() as conn:
        await handlers.complaint_events(deps, conn, [died])

    assert (await running.http.get("/callbacks", headers=sup)).json() == []
    assert (await running.http.get(f"/callbacks/{cid}", headers=sup)).json()["callback"][
        "status"
    ] == "withdrawn"
    again = await running.http.post(
        "/callbacks", json={"customer_id": "CUST-GONE", "team_id": team, "language": "nl"}, headers=sup
    )
    assert (again.status_code, again.json()["field"]) == (409, "customer_id")
    conn = await asyncpg.connect(running.dsn)
    try:
        assert await conn.fetch("select kind from kit_timers where key = $1", f"demo/{cid}") == []
    finally:
        await conn.close()
