"""R10 over the agents' edge, as an attacker and a careful supervisor would try it: a deceased marking
is team-scoped (another team's customer is unknown), carries a reason, is audited and on each moved
dossier's timeline, and a supervisor of the team can withdraw a mistaken one."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from hoera_events.complaints import CustomerDeceasedMarkWithdrawn

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from intake_support import ANNA, LUC, PLATFORM, SARA, Running, bearer, customer, events_on, key

pytestmark = pytest.mark.integration

MARC = bearer("sup-marc", ("supervisor",), ("team-fr-1",))
"""The supervisor of team-fr-1."""
KIN = "kin@example.be"


def marking(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "owner_agent_id": "agent-anna",
        "team_id": "team-nl-1",
        "next_of_kin_email": KIN,
        "reason": "The customer's son phoned: his father died last week.",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


async def mark(running: Running, who: str, headers: dict[str, str], **changes: Any) -> Any:
    return await running.http.post(f"/customers/{who}/deceased", json=marking(**changes), headers=headers)


async def withdraw(
    running: Running, who: str, headers: dict[str, str], reason: str | None = "A namesake"
) -> Any:
    body = {} if reason is None else {"reason": reason}
    return await running.http.post(f"/customers/{who}/deceased/withdraw", json=body, headers=headers)


async def state(running: Running, who: str) -> dict[str, Any]:
    """Everything a marking or a withdrawal changes about a customer, to compare before and after
    (not what the delivery worker adds on its own: delivery states, acknowledgements)."""
    complaints = await running.fetch(
        "select id, agent_id, team_id, about_deceased from complaints where customer_id = $1 order by id", who
    )
    return {
        "complaints": [dict(r) for r in complaints],
        "marked": await running.fetchval(
            "select count(*) from deceased_customers where customer_id = $1", who
        ),
        "audit": await running.fetchval("select count(*) from deceased_audit where customer_id = $1", who),
        "timeline": await running.fetchval(
            "select count(*) from timeline t join complaints c on c.id = t.complaint_id "
            "where c.customer_id = $1 and t.what like '%deceased%'",
            who,
        ),
        "events": [t for t in await running.event_types() if "deceased" in t or t == "complaint.assigned"],
    }


async def test_an_agent_of_another_team_is_told_the_customer_is_unknown_and_nothing_changes(
    running: Running,
) -> None:
    who = customer()
    await running.submit(customer_id=who)
    before = await state(running, who)

    attempt = await mark(running, who, LUC, owner_agent_id="agent-luc", team_id="team-fr-1")
    naming_their_team = await mark(running, who, LUC, owner_agent_id="agent-luc")
    unknown = await mark(running, customer(), LUC, owner_agent_id="agent-luc", team_id="team-fr-1")

    assert attempt.status_code == naming_their_team.status_code == unknown.status_code == 404
    assert attempt.json() == naming_their_team.json() == unknown.json()
    assert await state(running, who) == before
    assert before["complaints"][0]["agent_id"] == "agent-anna"


async def test_a_customer_with_an_open_complaint_of_another_team_cannot_be_marked_by_half(
    running: Running,
) -> None:
    who = customer()
    await running.submit(customer_id=who)
    await running.submit(customer_id=who, team_id="team-fr-1", agent_id="agent-luc")
    before = await state(running, who)

    answer = await mark(running, who, ANNA)

    assert answer.status_code == 404
    assert await state(running, who) == before


async def test_a_marking_without_a_reason_is_refused_and_changes_nothing(running: Running) -> None:
    who = customer()
    await running.submit(customer_id=who)
    before = await state(running, who)

    missing = await mark(running, who, ANNA, reason=None)
    blank = await mark(running, who, ANNA, reason="   ")
    too_long = await mark(running, who, ANNA, reason="x" * 501)

    assert (missing.status_code, blank.status_code, too_long.status_code) == (422, 422, 422)
    for refused in (missing, blank, too_long):
        assert [e["field"] for e in refused.json()["errors"]] == ["body.reason"]
    assert await state(running, who) == before


async def test_the_owner_must_be_of_the_case_team_and_the_team_one_of_the_callers(running: Running) -> None:
    who = customer()
    await running.submit(customer_id=who)
    before = await state(running, who)

    stranger = await mark(running, who, ANNA, owner_agent_id="agent-luc")
    elsewhere = await mark(running, who, ANNA, owner_agent_id="agent-luc", team_id="team-fr-1")

    assert (stranger.status_code, stranger.json()["field"]) == (422, "owner_agent_id")
    assert (elsewhere.status_code, elsewhere.json()["field"]) == (403, "team_id")
    assert await state(running, who) == before


async def test_a_marking_is_audited_and_shown_on_each_moved_dossier_with_the_previous_owner(
    running: Running,
) -> None:
    who = customer()
    bram = (await running.submit(customer_id=who, agent_id="agent-bram"))["complaint_id"]
    mine = (await running.submit(customer_id=who, agent_id="agent-anna"))["complaint_id"]
    reason = marking()["reason"]

    answer = await mark(running, who, ANNA, team_id=None)

    assert answer.status_code == 201, answer.text
    assert (answer.json()["team_id"], answer.json()["reason"]) == ("team-nl-1", reason)
    audit = await running.fetch("select * from deceased_audit where customer_id = $1", who)
    assert [(a["action"], a["actor"], a["reason"], a["owner_agent_id"]) for a in audit] == [
        ("marked", "agent-anna", reason, "agent-anna")
    ]
    assert json.loads(audit[0]["moved"]) == [
        {
            "complaint_id": bram,
            "from_agent_id": "agent-bram",
            "from_team_id": "team-nl-1",
            "to_agent_id": "agent-anna",
            "to_team_id": "team-nl-1",
        }
    ]
    moved = await running.fetch(
        "select who, why, detail from timeline where complaint_id = $1 and what = 'customer_marked_deceased'",
        uuid.UUID(bram),
    )
    assert [(m["who"], m["why"], json.loads(m["detail"])["previous_agent_id"]) for m in moved] == [
        ("agent-anna", reason, "agent-bram")
    ]
    kept = await running.fetch(
        "select detail from timeline where complaint_id = $1 and what = 'customer_marked_deceased'",
        uuid.UUID(mine),
    )
    assert [json.loads(k["detail"]) for k in kept] == [{"owner_agent_id": "agent-anna"}]


async def test_a_supervisor_withdraws_a_mistaken_marking_and_the_owners_and_the_mail_come_back(
    running: Running,
) -> None:
    who = customer()
    bram = (await running.submit(customer_id=who, agent_id="agent-bram"))["complaint_id"]
    chris = (await running.submit(customer_id=who, agent_id="agent-chris"))["complaint_id"]
    assert (await mark(running, who, ANNA)).status_code == 201
    # Answered and closed since the marking: it stays with the owner who closed it.
    for action, body in (
        ("resolve", {"root_cause_department": "billing", "first_contact_resolution": True}),
        ("close", {}),
    ):
        done = await running.http.post(f"/complaints/{chris}/{action}", json=body, headers=ANNA)
        assert done.status_code == 200, done.text

    answer = await withdraw(running, who, SARA, reason="Wrong customer: a namesake died")

    assert answer.status_code == 201, answer.text
    assert answer.json()["restored"] == [
        {"complaint_id": bram, "agent_id": "agent-bram", "team_id": "team-nl-1"}
    ]
    owners = {
        str(c["id"]): (c["agent_id"], c["about_deceased"]) for c in (await state(running, who))["complaints"]
    }
    assert owners == {bram: ("agent-bram", False), chris: ("agent-anna", False)}
    assert await running.fetchval("select count(*) from deceased_customers where customer_id = $1", who) == 0
    audit = await running.fetch(
        "select action, actor, reason from deceased_audit where customer_id = $1 order by id", who
    )
    assert [tuple(a) for a in audit][1] == ("withdrawn", "sup-sara", "Wrong customer: a namesake died")

    dossier = (await running.http.get(f"/complaints/{bram}", headers=ANNA)).json()
    assert dossier["named_owner"] is None and dossier["about_deceased"] is False
    shown = [(t["what"], t["who"]) for t in dossier["timeline"] if "deceased" in t["what"]]
    assert shown == [
        ("customer_marked_deceased", "agent-anna"),
        ("customer_deceased_mark_withdrawn", "sup-sara"),
    ]

    withdrawn = [e for e in await running.events(who) if e.type == "customer.deceased_mark_withdrawn"]
    assert [(e.data.withdrawn_by, e.data.team_id) for e in withdrawn] == [("sup-sara", "team-nl-1")]
    on_topic = await events_on(CustomerDeceasedMarkWithdrawn, who)
    assert [e.id for e in on_topic] == [withdrawn[0].id]
    given_back = [e for e in await running.events(bram) if e.type == "complaint.assigned"]
    assert (given_back[-1].data.agent_id, given_back[-1].data.previous_agent_id) == (
        "agent-bram",
        "agent-anna",
    )

    # A new complaint reaches the customer again, and its owner is the one the platform named.
    later = await running.submit(
        customer_id=who, agent_id="agent-chris", complainant={"email": "alive@example.be"}
    )
    assert later["agent_id"] == "agent-chris"
    recipient = await running.fetchval(
        "select recipient from kit_deliveries where idempotency_key = $1",
        f"acknowledgement:{later['complaint_id']}",
    )
    assert recipient == "alive@example.be"

    again = await withdraw(running, who, SARA, reason="Wrong customer: a namesake died")
    assert again.status_code == 200 and again.json() == answer.json()
    assert await running.fetchval("select count(*) from deceased_audit where customer_id = $1", who) == 2


async def test_an_agent_cannot_withdraw_and_a_supervisor_of_another_team_is_told_the_customer_is_unknown(
    running: Running,
) -> None:
    who = customer()
    await running.submit(customer_id=who, agent_id="agent-bram")
    assert (await mark(running, who, ANNA)).status_code == 201
    before = await state(running, who)

    by_agent = await withdraw(running, who, ANNA)
    by_other_lead = await withdraw(running, who, MARC)
    unknown = await withdraw(running, customer(), MARC)
    no_reason = await withdraw(running, who, SARA, reason=None)

    assert by_agent.status_code == 403
    assert by_other_lead.status_code == unknown.status_code == 404
    assert by_other_lead.json() == unknown.json()
    assert no_reason.status_code == 422
    assert await state(running, who) == before


async def test_a_supervisor_of_a_team_that_only_dealt_with_the_customer_cannot_withdraw_the_marking(
    running: Running,
) -> None:
    who = customer()
    cid = (await running.submit(customer_id=who))["complaint_id"]
    assert (await mark(running, who, ANNA)).status_code == 201
    for action, body in (
        ("resolve", {"root_cause_department": "billing", "first_contact_resolution": True}),
        ("close", {}),
    ):
        assert (
            await running.http.post(f"/complaints/{cid}/{action}", json=body, headers=ANNA)
        ).status_code == 200
    # team-fr-1 has dealt with the customer since (a contact), but the case is team-nl-1's.
    contact = {
        "contact_id": f"CNT-{who}",
        "customer_id": who,
        "channel": "phone",
        "agent_id": "agent-luc",
        "team_id": "team-fr-1",
        "closed_at": "2026-03-03T09:30:00Z",
        "language": "fr",
    }
    assert (
        await running.http.post("/contacts", json=contact, headers={**PLATFORM, **key()})
    ).status_code == 201
    before = await state(running, who)

    answer = await withdraw(running, who, MARC)

    assert answer.status_code == 404
    assert await state(running, who) == before


async def test_withdrawing_a_customer_who_is_not_marked_is_refused(running: Running) -> None:
    who = customer()
    await running.submit(customer_id=who)

    answer = await withdraw(running, who, SARA)

    assert (answer.status_code, answer.json()["field"]) == (409, "customer_id")


async def test_concurrent_markings_and_withdrawals_each_happen_once(running: Running) -> None:
    who = customer()
    await running.submit(customer_id=who, agent_id="agent-bram")

    marks = await asyncio.gather(*(mark(running, who, ANNA) for _ in range(5)))
    assert sorted(m.status_code for m in marks) == [200, 200, 200, 200, 201]
    withdrawals = await asyncio.gather(*(withdraw(running, who, SARA) for _ in range(5)))
    assert sorted(w.status_code for w in withdrawals) == [200, 200, 200, 200, 201]

    audit = await running.fetch("select action from deceased_audit where customer_id = $1 order by id", who)
    assert [a["action"] for a in audit] == ["marked", "withdrawn"]
    types = await running.event_types(who)
    assert (types.count("customer.marked_deceased"), types.count("customer.deceased_mark_withdrawn")) == (
        1,
        1,
    )
    owner = await running.fetchval("select agent_id from complaints where customer_id = $1", who)
    assert owner == "agent-bram"
