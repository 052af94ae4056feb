"""R15 with four eyes, over HTTP: clearing a flag takes a person who asks and an approver, another
person, who confirms; while flagged a financial proposal goes to an approver whatever its amount; and
neither person who cleared the flag then decides the customer's money on the strength of it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from compensation_support import (
    AGENT,
    APPROVER,
    APPROVER_2,
    APPROVER_3,
    SUPERVISOR,
    SUPERVISOR_2,
    Running,
)

pytestmark = pytest.mark.integration


async def ask(running: Running, who: str, by: dict[str, str], note: str = "Reviewed: genuine") -> Any:
    return await running.http.post(f"/customers/{who}/abuse-watch/review", json={"note": note}, headers=by)


async def answer(running: Running, who: str, verdict: str, by: dict[str, str], note: str = "Agreed") -> Any:
    return await running.http.post(
        f"/customers/{who}/abuse-watch/review/{verdict}", json={"note": note}, headers=by
    )


async def watch(running: Running, who: str) -> dict[str, Any]:
    r = await running.http.get(f"/customers/{who}/abuse-watch", headers=AGENT)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def acts(running: Running, who: str) -> int:
    return int(await running.fetchval("select count(*) from flag_reviews where customer_id = $1", who))


async def approve(running: Running, compensation_id: str, by: dict[str, str]) -> Any:
    return await running.http.post(
        f"/approvals/{compensation_id}/approve", json={"reason": "Invoice checked"}, headers=by
    )


async def cleared(running: Running, who: str, asker: dict[str, str], confirmer: dict[str, str]) -> None:
    assert (await ask(running, who, asker)).status_code == 202
    r = await answer(running, who, "approve", confirmer)
    assert r.status_code == 200, r.text


async def test_a_supervisor_asking_alone_leaves_the_flag_open_until_a_second_person_confirms(
    running: Running,
) -> None:
    who = await running.flagged_customer()
    r = await ask(running, who, SUPERVISOR, "Two different hospital stays, invoices seen")
    assert r.status_code == 202, r.text
    flag = r.json()
    assert (flag["ended_at"], flag["end_reason"], flag["confirmed_by"]) == (None, None, None)
    assert (flag["reviewed_by"], flag["review_note"]) == (
        "sup-sara",
        "Two different hospital stays, invoices seen",
    )

    now = await watch(running, who)
    assert (now["flagged"], now["clearing_asked_by"]) == (True, "sup-sara")
    assert "sup-sara asked to clear the flag" in now["message"]
    open_flags = (await running.http.get("/flags", headers=APPROVER)).json()
    assert [f["reviewed_by"] for f in open_flags if f["customer_id"] == who] == ["sup-sara"]

    # The flag still sends money to an approver, and nobody else can add a request meanwhile.
    waiting = await running.propose_money(who, 1000)
    assert waiting["compensation"]["status"] == "awaiting_approval"
    assert (await ask(running, who, SUPERVISOR_2)).status_code == 409
    assert (await acts(running, who)) == 1


async def test_a_second_supervisor_cannot_confirm_the_clearing_only_an_approver_can(running: Running) -> None:
    who = await running.flagged_customer()
    assert (await ask(running, who, SUPERVISOR)).status_code == 202
    r = await answer(running, who, "approve", SUPERVISOR_2)
    assert r.status_code == 403, r.text
    assert (await watch(running, who))["flagged"] is True
    assert (await acts(running, who)) == 1


async def test_the_person_who_asked_cannot_confirm_their_own_clearing(running: Running) -> None:
    who = await running.flagged_customer()
    assert (await ask(running, who, APPROVER)).status_code == 202
    for verdict in ("approve", "reject"):
        r = await answer(running, who, verdict, APPROVER)
        assert r.status_code == 403, r.text
        assert "four eyes" in r.json()["detail"]
    assert (await watch(running, who))["flagged"] is True
    assert (await acts(running, who)) == 1

    r = await answer(running, who, "approve", APPROVER_2)
    assert r.status_code == 200, r.text
    assert (r.json()["reviewed_by"], r.json()["confirmed_by"]) == ("appr-eva", "appr-jan")


async def test_an_approver_confirms_and_the_flag_is_cleared_with_both_persons_in_the_audit(
    running: Running,
) -> None:
    who = await running.flagged_customer()
    assert (await ask(running, who, SUPERVISOR, "Two different hospital stays")).status_code == 202
    r = await answer(running, who, "approve", APPROVER, "Invoices match both stays")
    assert r.status_code == 200, r.text
    flag = r.json()
    assert flag["end_reason"] == "reviewed" and flag["ended_at"] == flag["confirmed_at"]
    assert (flag["reviewed_by"], flag["review_note"], flag["confirmed_by"], flag["confirmation_note"]) == (
        "sup-sara",
        "Two different hospital stays",
        "appr-eva",
        "Invoices match both stays",
    )
    trail = [(a["act"], a["by"], a["note"]) for a in flag["reviews"]]
    assert trail == [
        ("asked", "sup-sara", "Two different hospital stays"),
        ("confirmed", "appr-eva", "Invoices match both stays"),
    ]
    listed = (await running.http.get("/flags", params={"open": "false"}, headers=SUPERVISOR)).json()
    assert [f["reviews"] for f in listed if f["customer_id"] == who] == [flag["reviews"]]

    now = await watch(running, who)
    assert (now["flagged"], now["cleared_by"]) == (False, ["appr-eva", "sup-sara"])
    assert (await answer(running, who, "approve", APPROVER_2)).status_code == 404


async def test_a_refused_clearing_keeps_the_flag_and_may_be_asked_again(running: Running) -> None:
    who = await running.flagged_customer()
    assert (await answer(running, who, "reject", APPROVER)).status_code == 409  # nothing asked yet
    assert (await ask(running, who, SUPERVISOR, "Looks fine")).status_code == 202
    r = await answer(running, who, "reject", APPROVER, "Same invoice twice: not cleared")
    assert r.status_code == 200, r.text
    assert (r.json()["ended_at"], r.json()["reviewed_by"]) == (None, None)
    assert [a["act"] for a in r.json()["reviews"]] == ["asked", "refused"]
    assert (await watch(running, who))["flagged"] is True

    assert (await ask(running, who, SUPERVISOR_2, "Second look")).status_code == 202
    r = await answer(running, who, "approve", APPROVER_2)
    assert [a["act"] for a in r.json()["reviews"]] == ["asked", "refused", "asked", "confirmed"]


async def test_a_flagged_customer_s_proposal_within_the_mandate_goes_to_an_approver(running: Running) -> None:
    who = await running.flagged_customer()
    for proposer in (AGENT, SUPERVISOR):
        answered = await running.propose_money(who, 1000, who=proposer)
        compensation = answered["compensation"]
        assert compensation["status"] == "awaiting_approval", compensation
        assert compensation["amount"]["amount_cents"] <= compensation["mandate"]["amount_cents"]
        assert "flagged for review" in compensation["approval"]["reason"]


async def test_the_supervisor_who_cleared_the_flag_does_not_decide_the_customer_s_money(
    running: Running,
) -> None:
    who = await running.flagged_customer()
    await cleared(running, who, SUPERVISOR, APPROVER)

    # Within the supervisor's own mandate, yet to an approver: the clearing was theirs.
    mine = (await running.propose_money(who, 1000, who=SUPERVISOR))["compensation"]
    assert mine["status"] == "awaiting_approval", mine
    assert "you cleared this customer's flag" in mine["approval"]["reason"]
    # And the approver who confirmed the clearing does not approve it either.
    r = await approve(running, mine["compensation_id"], APPROVER)
    assert r.status_code == 403, r.text
    assert "cleared this customer's flag" in r.json()["detail"]
    status = await running.fetchval(
        "select status from compensations where compensation_id = $1::text::uuid", mine["compensation_id"]
    )
    assert status == "awaiting_approval"
    assert (await approve(running, mine["compensation_id"], APPROVER_2)).status_code == 200


async def test_an_approver_who_cleared_the_flag_does_not_approve_the_customer_s_money(
    running: Running,
) -> None:
    who = await running.flagged_customer()
    await cleared(running, who, APPROVER, APPROVER_2)

    # Above the agent's EUR 300 (the hospital entry allows that much).
    above = (await running.propose_money(who, 40000, category="hospitalisation.cover_refused"))[
        "compensation"
    ]
    assert above["status"] == "awaiting_approval"
    for clearer in (APPROVER, APPROVER_2):
        assert (await approve(running, above["compensation_id"], clearer)).status_code == 403
    assert (await approve(running, above["compensation_id"], APPROVER_3)).status_code == 200


async def test_a_proposal_waiting_while_flagged_is_not_approved_by_the_approver_who_then_cleared_the_flag(
    running: Running,
) -> None:
    who = await running.flagged_customer()
    waiting = (await running.propose_money(who, 1000, who=SUPERVISOR))["compensation"]
    assert waiting["status"] == "awaiting_approval"
    await cleared(running, who, SUPERVISOR_2, APPROVER)
    assert (await approve(running, waiting["compensation_id"], APPROVER)).status_code == 403
    assert (await approve(running, waiting["compensation_id"], APPROVER_2)).status_code == 200


async def test_someone_else_decides_within_their_mandate_after_the_clearing_and_that_flags_again(
    running: Running,
) -> None:
    who = await running.flagged_customer()
    await cleared(running, who, SUPERVISOR, APPROVER)
    granted = await running.propose_money(who, 1000)
    assert granted["compensation"]["status"] == "granted"
    assert granted["abuse_watch"]["flagged"] is True
    # A new episode: the last one's clearing no longer binds anyone, the flag sends money to approval.
    assert granted["abuse_watch"]["cleared_by"] == []


async def test_an_operator_cannot_let_a_flagged_customer_s_money_skip_the_approver(running: Running) -> None:
    before = (await running.http.get("/rules/abuse-watch", headers=AGENT)).json()
    versions = await running.fetchval("select count(*) from kit_rule_versions")
    for switch in (False, True):
        r = await running.write_rule(
            "abuse-watch", {"threshold": 2, "window_days": 365, "flagged_needs_approval": switch}
        )
        assert r.status_code == 422, r.text
        assert r.json()["field"] == "flagged_needs_approval"
    assert (await running.http.get("/rules/abuse-watch", headers=AGENT)).json() == before
    assert await running.fetchval("select count(*) from kit_rule_versions") == versions


async def test_a_note_with_a_nul_character_is_refused_and_nothing_is_written(running: Running) -> None:
    who = await running.flagged_customer()
    r = await ask(running, who, SUPERVISOR, "fine\u0000")
    assert r.status_code == 422, r.text
    assert (await ask(running, who, SUPERVISOR)).status_code == 202
    r = await answer(running, who, "approve", APPROVER, "agreed\u0000")
    assert r.status_code == 422, r.text
    assert (await watch(running, who))["flagged"] is True
    assert (await acts(running, who)) == 1
