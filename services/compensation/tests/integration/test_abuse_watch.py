"""R15 over HTTP: the second financial compensation within the window flags the customer once per
episode; the agent sees the flag before deciding, and a flagged customer's money needs an approver."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from compensation_support import AGENT, APPROVER, SUPERVISOR, Running, customer

pytestmark = pytest.mark.integration

FLAGGED = "hoera.customer.flagged_for_review.v1"


async def grant(running: Running, customer_id: str, cents: int = 2000) -> dict[str, object]:
    complaint = await running.complaint(customer_id)
    await running.ready_to_propose(complaint, damage_cents=cents)
    r = await running.http.post(
        f"/complaints/{complaint}/proposals",
        json={"kind": "financial", "amount": {"amount_cents": cents, "currency": "EUR"}},
        headers=AGENT,
    )
    assert r.status_code == 201, r.text
    body: dict[str, object] = r.json()
    return body


async def test_the_second_financial_compensation_flags_the_customer_once(running: Running) -> None:
    who = customer()
    first = await grant(running, who)
    assert first["abuse_watch"] == {
        "customer_id": who,
        "flagged": False,
        "financial_compensations": 1,
        "total": {"amount_cents": 2000, "currency": "EUR"},
        "threshold": 2,
        "window_days": 365,
        "flagged_since": None,
        "clearing_asked_by": None,
        "cleared_by": [],
        "message": "1 of 2 financial compensations within 365 days",
    }
    assert (await running.events_about(who)).count(FLAGGED) == 0

    second = await grant(running, who, 3000)
    watch = second["abuse_watch"]
    assert isinstance(watch, dict)
    assert watch["flagged"] is True
    assert watch["total"] == {"amount_cents": 5000, "currency": "EUR"}
    assert "Flagged for review" in watch["message"]
    assert (await running.events_about(who)).count(FLAGGED) == 1

    # The agent sees the flag on the next complaint before deciding, and money now needs an approver.
    complaint = await running.complaint(who)
    view = (await running.http.get(f"/complaints/{complaint}/compensation", headers=AGENT)).json()
    assert view["abuse_watch"]["flagged"] is True
    await running.ready_to_propose(complaint, damage_cents=1000)
    r = await running.http.post(
        f"/complaints/{complaint}/proposals",
        json={"kind": "financial", "amount": {"amount_cents": 1000, "currency": "EUR"}},
        headers=AGENT,
    )
    third = r.json()["compensation"]
    assert third["status"] == "awaiting_approval"
    assert "flagged for review" in third["approval"]["reason"]

    # Approving it is a third grant in the same episode: no second notice.
    r = await running.http.post(
        f"/approvals/{third['compensation_id']}/approve",
        json={"reason": "Reviewed, genuine"},
        headers=APPROVER,
    )
    assert r.status_code == 200, r.text
    assert (await running.events_about(who)).count(FLAGGED) == 1


async def test_an_emotional_compensation_does_not_count(running: Running) -> None:
    who = customer()
    await grant(running, who)
    complaint = await running.complaint(who)
    await running.ready_to_propose(complaint)
    r = await running.http.post(
        f"/complaints/{complaint}/proposals",
        json={"kind": "emotional", "gesture": "personal-call"},
        headers=AGENT,
    )
    assert r.json()["abuse_watch"]["financial_compensations"] == 1
    assert (await running.events_about(who)).count(FLAGGED) == 0


async def test_after_a_review_the_next_grant_opens_a_new_episode(running: Running) -> None:
    who = customer()
    await grant(running, who)
    await grant(running, who)
    r = await running.http.post(
        f"/customers/{who}/abuse-watch/review",
        json={"note": "Two different hospital stays"},
        headers=SUPERVISOR,
    )
    assert r.status_code == 202, r.text
    r = await running.http.post(
        f"/customers/{who}/abuse-watch/review/approve", json={"note": "Agreed"}, headers=APPROVER
    )
    assert r.status_code == 200, r.text
    assert (r.json()["end_reason"], r.json()["reviewed_by"], r.json()["confirmed_by"]) == (
        "reviewed",
        "sup-sara",
        "appr-eva",
    )
    assert (await running.http.get(f"/customers/{who}/abuse-watch", headers=AGENT)).json()["flagged"] is False

    third = await grant(running, who)
    assert third["abuse_watch"]["flagged"] is True  # type: ignore[index]
    assert (await running.events_about(who)).count(FLAGGED) == 2
    flags = (await running.http.get("/flags", params={"open": "false"}, headers=APPROVER)).json()
    assert [f["end_reason"] for f in flags if f["customer_id"] == who] == [None, "reviewed"]


async def test_grants_outside_the_window_do_not_count(running: Running) -> None:
    who = customer()
    await grant(running, who)
    # A year and a day ago, as if the first compensation was granted then.
    await running.fetchval(
        "update compensations set decided_at = decided_at - interval '366 days' where customer_id = $1", who
    )
    second = await grant(running, who)
    assert second["abuse_watch"]["financial_compensations"] == 1  # type: ignore[index]
    assert (await running.events_about(who)).count(FLAGGED) == 0
