"""Many contact centres on one platform: each organisation decides by its own rules (a mandate of
EUR 300 at demo, EUR 150 at acme, each on its boundary), on its own calendar, in its customers'
language; a caller of another organisation finds none of this one's complaints, approvals, flags,
costs or rule documents (404, or an answer without them) and changes nothing."""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hoera_compensation import domain
from hoera_devkit.testing import define_tenant, demo_organisation
from hoera_events.common import Language
from hoera_events.organisation import CalendarRules
from hoera_kit.calendar import BusinessCalendar

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from compensation_support import (
    ACME,
    ACME_ADMIN,
    ACME_AGENT,
    ACME_APPROVER,
    ACME_TEAM,
    ADMIN,
    AGENT,
    APPROVER,
    SUPERVISOR,
    TEAM,
    Running,
    customer,
    headers,
    raised,
)

pytestmark = pytest.mark.integration

HOSPITAL = "hospitalisation.cover_refused"  # demo's entry allows EUR 750.00, acme's EUR 500.00
DEMO = {"tenant": "demo", "team": TEAM, "agent": AGENT}
OTHER = {"tenant": "acme", "team": ACME_TEAM, "agent": ACME_AGENT}


def money(cents: int) -> dict[str, Any]:
    return {"amount_cents": cents, "currency": "EUR"}


async def propose(
    running: Running, side: dict[str, Any], cents: int, *, who: str | None = None
) -> dict[str, Any]:
    """A new hospital complaint of the side's team, apologised for, a damage of EUR 500 recorded, and
    a financial proposal of `cents` by the side's agent; returns the compensation."""
    complaint = await running.complaint(
        who or customer(), tenant=side["tenant"], category=HOSPITAL, team_id=side["team"]
    )
    await running.ready_to_propose(complaint, damage_cents=50000, who=side["agent"])
    r = await running.http.post(
        f"/complaints/{complaint}/proposals",
        json={"kind": "financial", "amount": money(cents)},
        headers=side["agent"],
    )
    assert r.status_code == 201, r.text
    compensation: dict[str, Any] = r.json()["compensation"]
    return compensation


# ---- each organisation decides by its own rules ----------------------------------------------------


@pytest.mark.parametrize(
    ("side", "limit"), [(DEMO, 30000), (OTHER, 15000)], ids=["demo-eur-300", "acme-eur-150"]
)
async def test_each_organisation_s_agent_decides_exactly_up_to_its_own_mandate(
    running: Running, side: dict[str, Any], limit: int
) -> None:
    at_limit = await propose(running, side, limit)
    assert (at_limit["status"], at_limit["mandate"]) == ("granted", money(limit))
    above = await propose(running, side, limit + 1)
    assert above["status"] == "awaiting_approval"
    shown = f"EUR {limit // 100}.00"
    assert f"above your mandate of {shown}" in above["approval"]["reason"]


async def test_an_amount_within_one_organisation_s_mandate_and_above_the_other_s_is_decided_by_each_alone(
    running: Running,
) -> None:
    assert (await propose(running, DEMO, 20000))["status"] == "granted"
    assert (await propose(running, OTHER, 20000))["status"] == "awaiting_approval"


async def test_another_organisation_s_rules_never_change_this_one_s_decisions(running: Running) -> None:
    generous = {"agent": money(100000), "supervisor": money(200000)}
    templates = {
        name: (await running.rule(name, admin=ACME_ADMIN))["document"] for name in ("mandates", "abuse-watch")
    }
    try:
        assert (await running.write_rule("mandates", generous, admin=ACME_ADMIN)).status_code == 200
        watchful = {"threshold": 1, "window_days": 3650}
        assert (await running.write_rule("abuse-watch", watchful, admin=ACME_ADMIN)).status_code == 200

        above = await propose(running, DEMO, 30001)
        assert (above["status"], above["mandate"]) == ("awaiting_approval", money(30000))
        once = customer()
        await propose(running, DEMO, 1000, who=once)
        watch = (await running.http.get(f"/customers/{once}/abuse-watch", headers=AGENT)).json()
        assert (watch["flagged"], watch["threshold"], watch["window_days"]) == (False, 2, 365)
        assert (await propose(running, OTHER, 45000))["status"] == "granted", (
            "acme's own change holds in acme"
        )
    finally:
        for name, document in templates.items():
            await running.write_rule(name, document, admin=ACME_ADMIN)


async def test_the_approval_deadline_follows_the_organisation_s_business_calendar(running: Running) -> None:
    tenant = f"cal-{uuid.uuid4().hex[:8]}"
    today = datetime.now(UTC).date()
    closed = [today + timedelta(days=i) for i in range(15)]  # a fortnight's closure from today
    calendar = CalendarRules(closed_days=closed)
    await define_tenant(
        tenant, organisation=demo_organisation(tenant).model_copy(update={"calendar": calendar})
    )
    side = {"tenant": tenant, "team": TEAM, "agent": headers("agent-anna", "agent", tenant=tenant)}

    closed_one = await propose(running, side, 30001)
    usual = await propose(running, DEMO, 30001)

    proposed_at = datetime.fromisoformat(closed_one["proposed_at"])
    expected = domain.approval_deadline(
        BusinessCalendar(calendar), proposed_at, domain.ApprovalDeadline(business_days=2)
    )
    deadline = datetime.fromisoformat(closed_one["approval"]["deadline_at"])
    assert deadline == expected
    assert deadline.date() > closed[-1]
    assert datetime.fromisoformat(usual["approval"]["deadline_at"]) < deadline


@pytest.mark.parametrize(
    ("side", "language", "apology"),
    [
        (
            DEMO,
            Language.fr,
            "Nous sommes sincèrement désolés que vous ayez dû attendre si longtemps votre remboursement",
        ),
        (
            OTHER,
            Language.nl,
            "Het spijt ons oprecht dat u zo lang moest wachten op de terugbetaling van uw zorgkosten",
        ),
        (
            OTHER,
            Language.en,
            "We are truly sorry that you had to wait so long for the refund of your medical costs",
        ),
    ],
    ids=["demo-fr", "acme-nl", "acme-en"],
)
async def test_the_customer_reads_the_organisation_s_catalogue_in_their_own_language(
    running: Running, side: dict[str, Any], language: Language, apology: str
) -> None:
    event = raised(customer(), team_id=side["team"], language=language)
    await running.learn(event, tenant=side["tenant"])
    file = (
        await running.http.get(f"/complaints/{event.complaint_id}/compensation", headers=side["agent"])
    ).json()
    assert file["for_customer"]["language"] == language.value
    assert file["for_customer"]["apology"].startswith(apology)
    r = await running.http.post(f"/complaints/{event.complaint_id}/apology", headers=side["agent"])
    assert r.status_code == 201, r.text
    assert (r.json()["language"], r.json()["text"][: len(apology)]) == (language.value, apology)


# ---- a caller of another organisation finds nothing and changes nothing ------------------------------


async def test_another_organisation_s_callers_get_404_on_a_complaint_and_change_nothing(
    running: Running,
) -> None:
    complaint = await running.complaint(category=HOSPITAL)
    await running.http.post(f"/complaints/{complaint}/apology", headers=AGENT)
    before = (await running.http.get(f"/complaints/{complaint}/compensation", headers=AGENT)).json()
    calls = [
        ("get", "compensation", None),
        ("post", "apology", {}),
        ("post", "damage", {"amount": money(5000)}),
        ("post", "proposals", {"kind": "emotional", "gesture": "personal-call"}),
    ]
    for role in ("agent", "supervisor", "approver"):
        for method, path, body in calls:
            r = await running.http.request(
                method, f"/complaints/{complaint}/{path}", json=body, headers=ACME[role]
            )
            assert r.status_code in ((404,) if role != "approver" or method == "get" else (403, 404)), (
                role,
                path,
                r.text,
            )
    assert (await running.http.get(f"/complaints/{complaint}/compensation", headers=AGENT)).json() == before
    assert await running.events_about(str(complaint)) == []
    assert await running.fetchval("select count(*) from damages where complaint_id = $1", complaint) == 0


async def test_another_organisation_s_approver_neither_sees_nor_decides_an_approval(running: Running) -> None:
    waiting = await propose(running, DEMO, 40000)
    cid = waiting["compensation_id"]
    theirs = (await running.http.get("/approvals", headers=ACME_APPROVER)).json()
    assert cid not in [c["compensation_id"] for c in theirs]
    for verdict in ("approve", "reject"):
        r = await running.http.post(
            f"/approvals/{cid}/{verdict}", json={"reason": "Not mine"}, headers=ACME_APPROVER
        )
        assert r.status_code == 404, r.text
    assert await running.fetchval(
        "select status from compensations where compensation_id = $1::text::uuid", cid
    ) == ("awaiting_approval")
    assert "hoera.compensation.decided.v1" not in await running.events_about(cid)
    assert (
        await running.http.post(f"/approvals/{cid}/approve", json={"reason": "Mine"}, headers=APPROVER)
    ).status_code == 200


async def test_another_organisation_knows_nothing_of_a_flagged_customer_and_cannot_clear_the_flag(
    running: Running,
) -> None:
    who = await running.flagged_customer()
    watch = (await running.http.get(f"/customers/{who}/abuse-watch", headers=ACME_APPROVER)).json()
    assert (watch["flagged"], watch["financial_compensations"], watch["total"]) == (False, 0, None)
    assert who not in str(
        (await running.http.get("/flags", params={"open": "false"}, headers=ACME_APPROVER)).json()
    )
    note = {"note": "Reviewed from elsewhere"}
    assert (
        await running.http.post(f"/customers/{who}/abuse-watch/review", json=note, headers=ACME["supervisor"])
    ).status_code == 404
    assert (
        await running.http.post(f"/customers/{who}/abuse-watch/review", json=note, headers=SUPERVISOR)
    ).status_code == 202
    for verdict in ("approve", "reject"):
        r = await running.http.post(
            f"/customers/{who}/abuse-watch/review/{verdict}", json=note, headers=ACME_APPROVER
        )
        assert r.status_code == 404, r.text
    still = (await running.http.get(f"/customers/{who}/abuse-watch", headers=AGENT)).json()
    assert (still["flagged"], still["clearing_asked_by"]) == (True, "sup-sara")
    assert await running.fetchval("select count(*) from flag_reviews where customer_id = $1", who) == 1

    # The same customer id flagged in acme too (three grants there): each flag is its own, and an
    # answer in one organisation answers the request made in it, never the other's.
    for _ in range(3):
        await propose(running, OTHER, 1000, who=who)
    r = await running.http.post(f"/customers/{who}/abuse-watch/review", json=note, headers=ACME["supervisor"])
    assert (r.status_code, r.json()["reviewed_by"]) == (202, "sup-marc"), r.text
    r = await running.http.post(f"/customers/{who}/abuse-watch/review/reject", json=note, headers=APPROVER)
    assert r.status_code == 200, r.text
    assert [(a["act"], a["by"]) for a in r.json()["reviews"]] == [
        ("asked", "sup-sara"),
        ("refused", "appr-eva"),
    ]
    theirs = (await running.http.get(f"/customers/{who}/abuse-watch", headers=ACME_APPROVER)).json()
    assert (theirs["flagged"], theirs["clearing_asked_by"]) == (True, "sup-marc")


async def test_the_same_complaint_id_from_another_organisation_lands_beside_the_first(
    running: Running,
) -> None:
    ours = raised(customer())
    await running.learn(ours)
    theirs = ours.model_copy(
        update={"language": Language.fr, "team_id": ACME_TEAM, "category": "waiting.too_long"}
    )
    await running.learn(theirs, tenant="acme")
    mine = (await running.http.get(f"/complaints/{ours.complaint_id}/compensation", headers=AGENT)).json()
    assert (mine["complaint"]["language"], mine["complaint"]["team_id"], mine["complaint"]["category"]) == (
        "nl",
        TEAM,
        "refund.late",
    )
    other = (
        await running.http.get(f"/complaints/{ours.complaint_id}/compensation", headers=ACME_AGENT)
    ).json()
    assert (other["complaint"]["language"], other["catalogue"]["code"]) == ("fr", "attente-telephonique")


async def test_another_organisation_s_admin_reads_and_writes_only_its_own_rule_documents(
    running: Running,
) -> None:
    current = await running.rule("catalogue")
    mine = {**current["document"]["entries"][0], "code": "demo-only", "categories": ["demo.only"]}
    r = await running.write_rule(
        "catalogue", {"entries": [*current["document"]["entries"], mine]}, reason="ours"
    )
    assert r.status_code == 200, r.text

    theirs = await running.rule("catalogue", admin=ACME_ADMIN)
    assert "demo-only" not in str(theirs["document"]) and theirs["reason"] != "ours"
    assert (await running.http.get("/catalogue/demo-only", headers=ACME_AGENT)).status_code == 404
    history = (await running.http.get("/admin/rules/catalogue/history", headers=ACME_ADMIN)).json()
    assert "ours" not in [h["reason"] for h in history]
    listed = (await running.http.get("/admin/rules", headers=ACME_ADMIN)).json()
    assert next(d for d in listed if d["name"] == "catalogue")["version"] == 0

    before = (await running.http.get("/rules/approval-deadline", headers=AGENT)).json()
    assert (
        await running.write_rule("approval-deadline", {"business_days": 9}, admin=ACME_ADMIN)
    ).status_code == 200
    assert (await running.http.get("/rules/approval-deadline", headers=AGENT)).json() == before
    assert (await running.http.get("/catalogue/demo-only", headers=AGENT)).status_code == 200
    assert (
        await running.write_rule("approval-deadline", {"business_days": 1}, admin=ACME_ADMIN)
    ).status_code == 200
    assert (await running.http.get("/admin/rules/catalogue/history", headers=ADMIN)).json()[0][
        "reason"
    ] == "ours"


async def test_the_ledger_of_another_organisation_holds_none_of_this_one_s_costs(running: Running) -> None:
    category = f"isolation.{uuid.uuid4().hex[:8]}"
    complaint = await running.complaint(category=category)
    await running.http.post(f"/complaints/{complaint}/apology", json={"text": "Sorry."}, headers=AGENT)
    r = await running.http.post(
        f"/complaints/{complaint}/proposals",
        json={"kind": "emotional", "gesture_text": "A call"},
        headers=AGENT,
    )
    assert r.status_code == 201, r.text
    query = {"group_by": "category"}
    ours = (await running.http.get("/ledger", params=query, headers=APPROVER)).json()
    assert category in [line["category"] for line in ours["lines"]]
    theirs = (await running.http.get("/ledger", params=query, headers=ACME_APPROVER)).json()
    assert category not in [line["category"] for line in theirs["lines"]]


async def test_a_token_of_an_organisation_not_served_here_is_401(running: Running) -> None:
    stranger = headers("agent-x", "agent", tenant=f"nowhere-{uuid.uuid4().hex[:6]}")
    assert (await running.http.get("/catalogue", headers=stranger)).status_code == 401
