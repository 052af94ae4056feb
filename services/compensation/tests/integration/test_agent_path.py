"""The agent's path over HTTP against the real PostgreSQL: catalogue answer, apology, damage,
proposal within the mandate, and above it through an approver (R11-R14)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from compensation_support import AGENT, APPROVER, SUPERVISOR, Running

pytestmark = pytest.mark.integration

HOSPITAL = "hospitalisation.cover_refused"  # catalogue maximum EUR 750.00
DECIDED = "hoera.compensation.decided.v1"
PROPOSED = "hoera.compensation.proposed.v1"
REQUESTED = "hoera.compensation.approval_requested.v1"


def money(cents: int) -> dict[str, object]:
    return {"amount_cents": cents, "currency": "EUR"}


async def test_the_view_walks_the_agent_through_apology_then_proposal(running: Running) -> None:
    complaint = await running.complaint()
    view = (await running.http.get(f"/complaints/{complaint}/compensation", headers=AGENT)).json()
    assert view["next_step"] == "apologise"
    assert view["catalogue"]["code"] == "refund-late"
    assert view["mandate"] == money(30000)
    assert view["abuse_watch"]["flagged"] is False

    r = await running.http.post(f"/complaints/{complaint}/apology", headers=AGENT)
    assert r.status_code == 201, r.text
    apology = r.json()
    assert apology["language"] == "nl"
    assert apology["text"].startswith("Het spijt ons oprecht")
    assert apology["catalogue_entry"] == "refund-late"

    view = (await running.http.get(f"/complaints/{complaint}/compensation", headers=AGENT)).json()
    assert view["next_step"] == "propose"
    assert view["apology"]["apologised_by"] == "agent-anna"


async def test_an_agent_grants_up_to_the_mandate_at_once(running: Running) -> None:
    complaint = await running.complaint(category=HOSPITAL)
    await running.ready_to_propose(complaint, damage_cents=80000)
    r = await running.http.post(
        f"/complaints/{complaint}/proposals",
        json={"kind": "financial", "amount": money(30000)},
        headers=AGENT,
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["compensation"]["status"] == "granted"
    assert body["compensation"]["decided_by"] == "agent-anna"
    assert body["compensation"]["catalogue_entry"] == "hospital-cover-refused"
    assert body["next_step"] == "done"
    assert await running.events_about(body["compensation"]["compensation_id"]) == [DECIDED, PROPOSED]


async def test_one_cent_above_the_mandate_goes_to_an_approver_who_approves_with_a_reason(
    running: Running,
) -> None:
    complaint = await running.complaint(category=HOSPITAL)
    await running.ready_to_propose(complaint, damage_cents=80000)
    r = await running.http.post(
        f"/complaints/{complaint}/proposals",
        json={"kind": "financial", "amount": money(30001)},
        headers=AGENT,
    )
    assert r.status_code == 201, r.text
    compensation = r.json()["compensation"]
    cid = compensation["compensation_id"]
    assert compensation["status"] == "awaiting_approval"
    assert "above your mandate of EUR 300.00" in compensation["approval"]["reason"]
    assert compensation["approval"]["deadline_at"] is not None
    assert r.json()["next_step"] == "awaiting_approval"
    assert await running.events_about(cid) == [REQUESTED, PROPOSED]
    timer = await running.fetchval("select payload from kit_timers where key = $1", cid)
    assert timer == {"tenant": "demo", "compensation_id": cid}

    queue = (await running.http.get("/approvals", headers=APPROVER)).json()
    assert cid in [item["compensation_id"] for item in queue]

    r = await running.http.post(
        f"/approvals/{cid}/approve", json={"reason": "Hospital confirmed the late fee"}, headers=APPROVER
    )
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["decided_by"]) == ("approved", "appr-eva")
    assert await running.events_about(cid) == [REQUESTED, DECIDED, PROPOSED]
    assert await running.fetchval("select count(*) from kit_timers where key = $1", cid) == 0

    again = await running.http.post(
        f"/approvals/{cid}/reject", json={"reason": "Changed my mind"}, headers=APPROVER
    )
    assert again.status_code == 409
    assert "already approved" in again.json()["detail"]


async def test_after_a_rejection_the_agent_may_propose_again_within_the_mandate(running: Running) -> None:
    complaint = await running.complaint(category=HOSPITAL)
    await running.ready_to_propose(complaint, damage_cents=80000)
    r = await running.http.post(
        f"/complaints/{complaint}/proposals",
        json={"kind": "financial", "amount": money(60000)},
        headers=AGENT,
    )
    cid = r.json()["compensation"]["compensation_id"]
    r = await running.http.post(
        f"/approvals/{cid}/reject",
        json={"reason": "Only the late fee is proven", "reason_code": "partly-proven"},
        headers=APPROVER,
    )
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["reason_code"]) == ("rejected", "partly-proven")

    r = await running.http.post(
        f"/complaints/{complaint}/proposals",
        json={"kind": "financial", "amount": money(12000)},
        headers=AGENT,
    )
    assert r.status_code == 201, r.text
    assert r.json()["compensation"]["status"] == "granted"
    view = (await running.http.get(f"/complaints/{complaint}/compensation", headers=AGENT)).json()
    assert [c["status"] for c in view["compensations"]] == ["rejected", "granted"]


async def test_a_supervisor_s_larger_mandate_is_data(running: Running) -> None:
    complaint = await running.complaint(category=HOSPITAL)
    await running.ready_to_propose(complaint, damage_cents=80000, who=SUPERVISOR)
    r = await running.http.post(
        f"/complaints/{complaint}/proposals",
        json={"kind": "financial", "amount": money(50000)},
        headers=SUPERVISOR,
    )
    assert r.status_code == 201, r.text
    assert r.json()["compensation"]["status"] == "granted"
    assert r.json()["compensation"]["mandate"] == money(50000)


async def test_a_gesture_from_the_catalogue_is_granted_with_its_cost(running: Running) -> None:
    complaint = await running.complaint(category="service.attitude")
    await running.ready_to_propose(complaint)
    r = await running.http.post(
        f"/complaints/{complaint}/proposals", json={"kind": "emotional", "gesture": "flowers"}, headers=AGENT
    )
    assert r.status_code == 201, r.text
    c = r.json()["compensation"]
    assert (c["status"], c["gesture"], c["amount"]) == ("granted", "flowers", money(3500))


async def test_a_gesture_in_the_agent_s_own_words_is_granted(running: Running) -> None:
    complaint = await running.complaint(category="no.such.category", team_id=None)
    r = await running.http.post(
        f"/complaints/{complaint}/apology", json={"text": "Het spijt me echt."}, headers=AGENT
    )
    assert r.status_code == 201, r.text
    r = await running.http.post(
        f"/complaints/{complaint}/proposals",
        json={"kind": "emotional", "gesture_text": "Persoonlijk bezoek van de kantoorverantwoordelijke"},
        headers=AGENT,
    )
    assert r.status_code == 201, r.text
    assert r.json()["compensation"]["amount"] is None


async def test_the_second_apology_and_a_damage_change_after_the_decision_are_refused(
    running: Running,
) -> None:
    complaint = await running.complaint()
    await running.ready_to_propose(complaint, damage_cents=5000)
    again = await running.http.post(f"/complaints/{complaint}/apology", headers=AGENT)
    assert again.status_code == 409
    assert "already" in again.json()["detail"]
    r = await running.http.post(
        f"/complaints/{complaint}/proposals", json={"kind": "financial", "amount": money(5000)}, headers=AGENT
    )
    assert r.status_code == 201
    change = await running.http.post(
        f"/complaints/{complaint}/damage", json={"amount": money(9000)}, headers=AGENT
    )
    assert change.status_code == 409
    assert change.json()["field"] == "damage"
    assert (
        await running.fetchval("select amount_cents from damages where complaint_id = $1", complaint) == 5000
    )


async def test_an_agent_of_another_team_does_not_see_the_complaint(running: Running) -> None:
    complaint = await running.complaint(team_id="team-fr-1")
    r = await running.http.get(f"/complaints/{complaint}/compensation", headers=AGENT)
    assert r.status_code == 404


async def test_the_proposal_follows_the_catalogue_entry_the_agent_apologised_with(running: Running) -> None:
    complaint = await running.complaint(category="refund.late")
    r = await running.http.post(
        f"/complaints/{complaint}/apology", json={"catalogue_entry": "wrong-information"}, headers=AGENT
    )
    assert r.json()["text"].startswith("Het spijt ons dat we u verkeerd")
    view = (await running.http.get(f"/complaints/{complaint}/compensation", headers=AGENT)).json()
    assert view["catalogue"]["code"] == "wrong-information"
    await running.http.post(f"/complaints/{complaint}/damage", json={"amount": money(20000)}, headers=AGENT)
    # EUR 200.00 is above refund-late's maximum but within wrong-information's.
    r = await running.http.post(
        f"/complaints/{complaint}/proposals",
        json={"kind": "financial", "amount": money(20000)},
        headers=AGENT,
    )
    assert r.status_code == 201, r.text
    assert r.json()["compensation"]["catalogue_entry"] == "wrong-information"
