"""Bad input gets a 4xx that says why, and writes nothing: no compensation, damage or apology row
and no event in the outbox (a trigger copies every outbox row, so a rolled-back one would show)."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from compensation_support import (
    AGENT,
    APPROVER,
    PLATFORM,
    Running,
    customer,
    headers,
)

pytestmark = pytest.mark.integration

HOSPITAL = "hospitalisation.cover_refused"


async def nothing_written(running: Running, complaint: uuid.UUID, *, damage: bool = True) -> None:
    assert (
        await running.fetchval("select count(*) from compensations where complaint_id = $1", complaint) == 0
    )
    assert await running.events_about(str(complaint)) == []
    if damage:
        assert await running.fetchval("select count(*) from damages where complaint_id = $1", complaint) == 0


@pytest.mark.parametrize(
    ("amount", "field", "says"),
    [
        ({"amount_cents": -500, "currency": "EUR"}, "body.amount.amount_cents", "greater than 0"),
        ({"amount_cents": 125.5, "currency": "EUR"}, "body.amount.amount_cents", "valid integer"),
        ({"amount_cents": 12500.0, "currency": "EUR"}, "body.amount.amount_cents", "valid integer"),
        ({"amount_cents": "12500", "currency": "EUR"}, "body.amount.amount_cents", "valid integer"),
        ({"amount_cents": 12500, "currency": "XEU"}, "body.amount.currency", "EUR"),
        ({"amount_cents": 12500}, "body.amount.currency", "required"),
        ({"amount_eur": 125}, "body.amount.amount_cents", "required"),
    ],
)
async def test_a_bad_amount_is_refused_naming_the_field_and_nothing_is_written(
    running: Running, amount: dict[str, Any], field: str, says: str
) -> None:
    complaint = await running.complaint(category=HOSPITAL)
    await running.http.post(f"/complaints/{complaint}/apology", headers=AGENT)
    damage = await running.http.post(
        f"/complaints/{complaint}/damage", json={"amount": amount}, headers=AGENT
    )
    proposal = await running.http.post(
        f"/complaints/{complaint}/proposals", json={"kind": "financial", "amount": amount}, headers=AGENT
    )
    for r in (damage, proposal):
        assert r.status_code == 422, r.text
        fields = [e["field"] for e in r.json()["errors"]]
        assert field in fields, r.json()
        assert says in r.json()["detail"]
    await nothing_written(running, complaint)


async def test_a_proposal_above_the_damage_is_refused_and_nothing_is_written(running: Running) -> None:
    complaint = await running.complaint(category=HOSPITAL)
    await running.ready_to_propose(complaint, damage_cents=10000)
    r = await running.http.post(
        f"/complaints/{complaint}/proposals",
        json={"kind": "financial", "amount": {"amount_cents": 10001, "currency": "EUR"}},
        headers=AGENT,
    )
    assert r.status_code == 422
    assert r.json() == {
        "detail": "EUR 100.01 exceeds the recorded damage (EUR 100.00)",
        "field": "amount.amount_cents",
    }
    await nothing_written(running, complaint, damage=False)


async def test_a_proposal_before_the_apology_is_refused_with_a_clear_conflict(running: Running) -> None:
    complaint = await running.complaint(category=HOSPITAL)
    r = await running.http.post(
        f"/complaints/{complaint}/proposals", json={"kind": "emotional", "gesture": "flowers"}, headers=AGENT
    )
    assert r.status_code == 409
    assert r.json()["field"] == "apology"
    assert "apologise first" in r.json()["detail"]
    await nothing_written(running, complaint)


async def test_a_financial_proposal_without_a_damage_is_refused(running: Running) -> None:
    complaint = await running.complaint(category=HOSPITAL)
    await running.ready_to_propose(complaint)
    r = await running.http.post(
        f"/complaints/{complaint}/proposals",
        json={"kind": "financial", "amount": {"amount_cents": 100, "currency": "EUR"}},
        headers=AGENT,
    )
    assert (r.status_code, r.json()["field"]) == (409, "damage")
    await nothing_written(running, complaint)


async def test_an_unknown_complaint_is_404_naming_it(running: Running) -> None:
    unknown = uuid.uuid4()
    for path in ("apology", "proposals"):
        r = await running.http.post(
            f"/complaints/{unknown}/{path}",
            json={"kind": "emotional", "gesture": "flowers"} if path == "proposals" else None,
            headers=AGENT,
        )
        assert r.status_code == 404
        assert r.json()["detail"] == f"complaint {unknown} not found"
    assert await running.fetchval("select count(*) from apologies where complaint_id = $1", unknown) == 0
    assert await running.events_about(str(unknown)) == []


async def test_a_complaint_id_that_is_not_a_uuid_is_422(running: Running) -> None:
    r = await running.http.post("/complaints/CMP-12/apology", headers=AGENT)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "path.complaint_id"


async def test_an_unknown_catalogue_entry_is_refused(running: Running) -> None:
    complaint = await running.complaint(category=HOSPITAL)
    await running.ready_to_propose(complaint, damage_cents=10000)
    r = await running.http.post(
        f"/complaints/{complaint}/proposals",
        json={
            "kind": "financial",
            "amount": {"amount_cents": 100, "currency": "EUR"},
            "catalogue_entry": "no-such",
        },
        headers=AGENT,
    )
    assert (r.status_code, r.json()["field"]) == (422, "catalogue_entry")
    await nothing_written(running, complaint, damage=False)


@pytest.mark.parametrize("who", [PLATFORM, APPROVER, headers("nobody", "admin", teams=())])
async def test_a_role_that_does_not_propose_gets_403(running: Running, who: dict[str, str]) -> None:
    complaint = await running.complaint(category=HOSPITAL)
    r = await running.http.post(
        f"/complaints/{complaint}/proposals", json={"kind": "emotional", "gesture": "flowers"}, headers=who
    )
    assert r.status_code == 403
    assert "requires one of the roles: agent, supervisor" in r.json()["detail"]
    await nothing_written(running, complaint)


async def test_no_token_is_401(running: Running) -> None:
    r = await running.http.get("/catalogue")
    assert r.status_code == 401


async def test_an_agent_cannot_approve(running: Running) -> None:
    complaint = await running.complaint(category=HOSPITAL)
    await running.ready_to_propose(complaint, damage_cents=80000)
    r = await running.http.post(
        f"/complaints/{complaint}/proposals",
        json={"kind": "financial", "amount": {"amount_cents": 40000, "currency": "EUR"}},
        headers=AGENT,
    )
    cid = r.json()["compensation"]["compensation_id"]
    r = await running.http.post(
        f"/approvals/{cid}/approve", json={"reason": "I think it is fine"}, headers=AGENT
    )
    assert r.status_code == 403
    assert await running.fetchval(
        "select status from compensations where compensation_id = $1", uuid.UUID(cid)
    ) == ("awaiting_approval")


async def test_approving_one_s_own_request_is_refused_and_writes_nothing(running: Running) -> None:
    both = headers("anna-backoffice", "agent", "approver")
    complaint = await running.complaint(customer(), category=HOSPITAL)
    await running.ready_to_propose(complaint, damage_cents=80000, who=both)
    r = await running.http.post(
        f"/complaints/{complaint}/proposals",
        json={"kind": "financial", "amount": {"amount_cents": 40000, "currency": "EUR"}},
        headers=both,
    )
    assert r.status_code == 201, r.text
    cid = r.json()["compensation"]["compensation_id"]
    before = await running.events_about(cid)

    r = await running.http.post(
        f"/approvals/{cid}/approve", json={"reason": "Looks right to me"}, headers=both
    )
    assert r.status_code == 403
    assert "another approver must decide" in r.json()["detail"]
    row = await running.fetchval(
        "select (status, decided_by) from compensations where compensation_id = $1", uuid.UUID(cid)
    )
    assert tuple(row) == ("awaiting_approval", None)
    assert await running.events_about(cid) == before


async def test_an_approval_without_a_reason_is_refused(running: Running) -> None:
    r = await running.http.post(f"/approvals/{uuid.uuid4()}/approve", json={"reason": " "}, headers=APPROVER)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "body.reason"
