"""R16: the cost ledger counts and sums granted compensations per period, category, team and the
root-cause department learned from intake's ComplaintResolved; over JSON and as CSV."""

from __future__ import annotations

import csv
import io
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hoera_devkit.testing import define_tenant

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from compensation_support import Running, customer, headers, raised, resolved

pytestmark = pytest.mark.integration


async def booked(running: Running, tenant: str) -> None:
    """Three granted compensations in two teams, one rejected (not a cost), one resolved by root cause,
    in a tenant of its own (defined as intake does), so that no other test's costs count."""
    await define_tenant(tenant)
    nl_agent = headers("agent-nl", "agent", teams=("team-nl-1",), tenant=tenant)
    fr_agent = headers("agent-fr", "agent", teams=("team-fr-1",), tenant=tenant)
    approver = headers("appr-x", "approver", teams=(), tenant=tenant)
    plan = [
        (
            nl_agent,
            "team-nl-1",
            "refund.late",
            {"kind": "financial", "amount": {"amount_cents": 2500, "currency": "EUR"}},
            "claims-processing",
        ),
        (
            nl_agent,
            "team-nl-1",
            "refund.late",
            {"kind": "financial", "amount": {"amount_cents": 1500, "currency": "EUR"}},
            None,
        ),
        (
            fr_agent,
            "team-fr-1",
            "service.attitude",
            {"kind": "emotional", "gesture": "flowers"},
            "customer-service",
        ),
        (
            fr_agent,
            "team-fr-1",
            "hospitalisation.cover_refused",
            {"kind": "financial", "amount": {"amount_cents": 50000, "currency": "EUR"}},
            None,
        ),
    ]
    for who, team, category, proposal, root_cause in plan:
        complaint = raised(customer(), category=category, team_id=team)
        await running.learn(complaint, tenant=tenant)
        await running.http.post(f"/complaints/{complaint.complaint_id}/apology", headers=who)
        if proposal["kind"] == "financial":
            await running.http.post(
                f"/complaints/{complaint.complaint_id}/damage",
                json={"amount": proposal["amount"]},
                headers=who,
            )
        r = await running.http.post(
            f"/complaints/{complaint.complaint_id}/proposals", json=proposal, headers=who
        )
        assert r.status_code == 201, r.text
        c = r.json()["compensation"]
        if c["status"] == "awaiting_approval":
            r = await running.http.post(
                f"/approvals/{c['compensation_id']}/reject", json={"reason": "Not proven"}, headers=approver
            )
            assert r.status_code == 200
        if root_cause:
            # Learned after the decision: the ledger books by the complaint's current root cause.
            await running.learn(resolved(complaint, root_cause), tenant=tenant)


async def test_the_ledger_totals_granted_costs_by_category_team_and_root_cause(running: Running) -> None:
    tenant = f"ledger-{uuid.uuid4().hex[:6]}"
    await booked(running, tenant)
    management = headers("mgmt-lena", "supervisor", teams=("team-nl-1", "team-fr-1"), tenant=tenant)
    r = await running.http.get(
        "/ledger",
        params=[("group_by", "root_cause"), ("group_by", "category"), ("group_by", "team")],
        headers=management,
    )
    assert r.status_code == 200, r.text
    ledger = r.json()
    lines = {
        (x["category"], x["team"], x["root_cause"]): (x["count"], x["total_cents"]) for x in ledger["lines"]
    }
    assert lines == {
        ("refund.late", "team-nl-1", "claims-processing"): (1, 2500),
        ("refund.late", "team-nl-1", None): (1, 1500),
        ("service.attitude", "team-fr-1", "customer-service"): (1, 3500),
    }
    assert ledger["count"] == 3
    assert ledger["totals"] == [{"amount_cents": 7500, "currency": "EUR"}]

    by_month = (await running.http.get("/ledger", params={"group_by": "period"}, headers=management)).json()
    this_month = datetime.now(UTC).date().replace(day=1).isoformat()
    assert [(x["period"], x["count"], x["total_cents"]) for x in by_month["lines"]] == [(this_month, 3, 7500)]


async def test_the_ledger_as_csv(running: Running) -> None:
    tenant = f"ledger-{uuid.uuid4().hex[:6]}"
    await booked(running, tenant)
    approver = headers("appr-y", "approver", teams=(), tenant=tenant)
    r = await running.http.get(
        "/ledger.csv", params=[("group_by", "kind"), ("group_by", "team")], headers=approver
    )
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert rows == [
        {
            "team": "team-fr-1",
            "kind": "emotional",
            "currency": "EUR",
            "count": "1",
            "total_cents": "3500",
            "total": "35.00",
        },
        {
            "team": "team-nl-1",
            "kind": "financial",
            "currency": "EUR",
            "count": "2",
            "total_cents": "4000",
            "total": "40.00",
        },
    ]


async def test_a_supervisor_sees_the_costs_of_the_teams_they_lead_and_an_agent_none(running: Running) -> None:
    tenant = f"ledger-{uuid.uuid4().hex[:6]}"
    await booked(running, tenant)
    sup_fr = headers("sup-marc", "supervisor", teams=("team-fr-1",), tenant=tenant)
    ledger = (await running.http.get("/ledger", params={"group_by": "team"}, headers=sup_fr)).json()
    assert [(x["team"], x["count"]) for x in ledger["lines"]] == [("team-fr-1", 1)]
    agent = headers("agent-nl", "agent", tenant=tenant)
    assert (await running.http.get("/ledger", headers=agent)).status_code == 403


async def test_a_bad_ledger_query_is_422(running: Running) -> None:
    approver = headers("appr-y", "approver", teams=())
    r = await running.http.get("/ledger", params={"group_by": "colour"}, headers=approver)
    assert (r.status_code, r.json()["errors"][0]["field"]) == (422, "query.group_by.0")
    r = await running.http.get("/ledger", params={"from": "2025-02-01", "to": "2025-01-01"}, headers=approver)
    assert (r.status_code, r.json()["field"]) == (422, "from")
