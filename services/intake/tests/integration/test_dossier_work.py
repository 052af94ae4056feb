"""R1, R3, R5-R7, R9, R10 through the agents' HTTP edge: every change on the timeline, the clock
standing still while waiting on the customer, step durations, first-contact resolution, root causes,
deceased customers."""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hoera_devkit.testing import eventually
from hoera_kit.directory import CustomerContact, CustomerDirectory

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from intake_support import (
    ADMIN,
    ALWAYS_OPEN,
    ANNA,
    PLATFORM,
    SARA,
    Running,
    bearer,
    change_document,
    create_tenant,
    customer,
    fast_category,
    key,
    submission,
    with_category,
)

pytestmark = pytest.mark.integration


class NoNextOfKin(CustomerDirectory):
    """The platform's directory for a customer whose next of kin nobody recorded."""

    async def lookup(self, tenant: str, customer_id: str) -> CustomerContact | None:
        return CustomerContact(customer_id, email=f"{customer_id}@example.be", phone=None)


async def post(
    running: Running, cid: str, action: str, body: dict[str, object], who: dict[str, str] = ANNA
) -> dict:  # type: ignore[type-arg]
    resp = await running.http.post(f"/complaints/{cid}/{action}", json=body, headers=who)
    assert resp.status_code in (200, 201), resp.text
    return resp.json()  # type: ignore[no-any-return]


async def test_a_dossier_lives_from_raised_to_closed_and_reopened_with_every_change_on_its_timeline(
    running: Running,
) -> None:
    cid = (await running.submit())["complaint_id"]
    await post(running, cid, "notes", {"text": "Called the customer back"})
    await post(running, cid, "assign", {"agent_id": "agent-bram", "note": "Bram knows the file"})
    paused = await post(
        running, cid, "steps", {"status": "waiting_on_customer", "note": "Need the bank statement"}
    )
    assert paused["sla_paused"] is True
    resumed = await post(running, cid, "steps", {"status": "in_progress"})
    assert resumed["sla_paused"] is False
    resolved = await post(
        running,
        cid,
        "resolve",
        {"root_cause_department": "claims-processing", "first_contact_resolution": False, "answer": "Paid."},
    )
    assert (resolved["status"], resolved["root_cause_department"]) == ("resolved", "claims-processing")
    await post(running, cid, "close", {})
    again = await running.http.post(f"/complaints/{cid}/steps", json={"status": "in_progress"}, headers=ANNA)
    assert again.status_code == 409
    reopened = await post(running, cid, "reopen", {"reason": "resolution_not_executed"})
    assert (reopened["status"], reopened["reopen_count"]) == ("in_progress", 1)
    assert date.fromisoformat(reopened["due_date"]) >= date.fromisoformat(resolved["due_date"])

    dossier = (await running.http.get(f"/complaints/{cid}", headers=SARA)).json()
    whats = [e["what"] for e in dossier["timeline"]]
    steps = "raised note assigned status_changed sla_paused sla_resumed resolved closed reopened"
    for expected in [*steps.split(), "due_date_changed", "message_queued"]:
        assert expected in whats, expected
    assert [e["who"] for e in dossier["timeline"] if e["what"] == "note"] == ["agent-anna"]
    assert (
        next(e for e in dossier["timeline"] if e["what"] == "sla_paused")["why"]
        == "waiting status waiting_on_customer"
    )
    types = await running.event_types(cid)
    for name in ["raised", "assigned", "resolved", "closed", "reopened", "due_date_changed"]:
        expected = f"complaint.{name}"
        assert expected in types, expected
    closed = next(e for e in await running.events(cid) if e.type == "complaint.closed")
    assert closed.data.agent_id == "agent-bram" and closed.data.language == "nl"
    # R5: the customer heard of the wait, the answer, the closing and the reopening.
    messages = await running.fetch(
        "select idempotency_key from kit_deliveries where reference = $1 order by created_at",
        f"complaint:{cid}",
    )
    kinds = [r["idempotency_key"].split(":")[0] for r in messages]
    assert kinds == ["acknowledgement", "status_update", "resolved", "closed", "reopened"]


async def test_search_filters_and_pages_through_the_organisations_dossiers(running: Running) -> None:
    who = customer()
    ids = [(await running.submit(customer_id=who))["complaint_id"] for _ in range(3)]
    late = (await running.submit(customer_id=who, received_at="2025-01-06T09:00:00Z"))["complaint_id"]
    await running.submit(team_id="team-fr-1", agent_id="agent-luc")

    first = (
        await running.http.get("/complaints", params={"customer_id": who, "limit": 2}, headers=ANNA)
    ).json()
    second = (
        await running.http.get(
            "/complaints",
            params={"customer_id": who, "limit": 2, "cursor": first["next_cursor"]},
            headers=ANNA,
        )
    ).json()
    seen = [c["complaint_id"] for c in first["items"] + second["items"]]
    assert sorted(seen) == sorted([*ids, late]) and second["next_cursor"] is None
    overdue = (
        await running.http.get("/complaints", params={"customer_id": who, "overdue": True}, headers=ANNA)
    ).json()
    assert [c["complaint_id"] for c in overdue["items"]] == [late]
    french = (await running.http.get("/complaints", params={"team_id": "team-fr-1"}, headers=ANNA)).json()
    assert len(french["items"]) == 1
    opened = (
        await running.http.get(
            "/complaints", params={"status": "open", "category": "refund.late"}, headers=ANNA
        )
    ).json()
    assert len(opened["items"]) == 5


async def test_step_durations_and_first_contact_resolution_are_measured(running: Running) -> None:
    for fcr in (True, True, False):
        cid = (await running.submit())["complaint_id"]
        await post(running, cid, "steps", {"status": "in_progress"})
        await post(
            running, cid, "resolve", {"root_cause_department": "billing", "first_contact_resolution": fcr}
        )
    steps = (
        await running.http.get("/figures/step-durations", params={"team_id": "team-nl-1"}, headers=SARA)
    ).json()
    by_status = {s["status"]: s for s in steps["steps"]}
    assert set(by_status) == {"open", "in_progress"}
    assert by_status["open"]["periods"] == 3
    assert 0 <= by_status["open"]["p50_seconds"] <= by_status["open"]["p90_seconds"] < 60
    fcr_figures = (await running.http.get("/figures/fcr", params={"bucket": "day"}, headers=SARA)).json()
    assert fcr_figures["complaint_rate"] == pytest.approx(2 / 3, abs=1e-3)
    assert fcr_figures["rows"][0]["complaints_resolved"] == 3
    assert (await running.http.get("/figures/fcr", headers=ANNA)).status_code == 403
    naive = await running.http.get("/figures/fcr", params={"since": "2026-01-01T00:00:00"}, headers=SARA)
    assert naive.status_code == 422


async def test_a_deceased_customer_gets_one_named_owner_and_nothing_is_addressed_to_them(
    running: Running,
) -> None:
    who = customer()
    first = (await running.submit(customer_id=who, agent_id="agent-chris"))["complaint_id"]
    marked = await running.http.post(
        f"/customers/{who}/deceased",
        json={
            "owner_agent_id": "agent-anna",
            "team_id": "team-nl-1",
            "next_of_kin_email": "kin@example.be",
            "reason": "The customer's son phoned to tell us",
        },
        headers=ANNA,
    )
    assert marked.status_code == 201 and marked.json()["owner_agent_id"] == "agent-anna"
    again = await running.http.post(
        f"/customers/{who}/deceased", json={"owner_agent_id": "agent-bram", "reason": "again"}, headers=ANNA
    )
    assert again.status_code == 200 and again.json()["owner_agent_id"] == "agent-anna"

    dossier = (await running.http.get(f"/complaints/{first}", headers=ANNA)).json()
    assert (dossier["agent_id"], dossier["about_deceased"], dossier["named_owner"]) == (
        "agent-anna",
        True,
        "agent-anna",
    )
    later = await running.submit(customer_id=who, agent_id="agent-bram")
    assert later["agent_id"] == "agent-anna"
    recipient = await running.fetchval(
        "select recipient from kit_deliveries where idempotency_key = $1",
        f"acknowledgement:{later['complaint_id']}",
    )
    assert recipient == "kin@example.be"
    handover = await running.http.post(
        f"/complaints/{later['complaint_id']}/assign", json={"agent_id": "agent-bram"}, headers=ANNA
    )
    assert handover.status_code == 409 and handover.json()["field"] == "agent_id"
    marks = [e for e in await running.events(who) if e.type == "customer.marked_deceased"]
    assert len(marks) == 1 and marks[0].data.owner_agent_id == "agent-anna"

    # Without a next of kin the acknowledgement is held for the owner, never sent to the deceased.
    running.svc._directory = NoNextOfKin()  # the platform's directory, as the service holds it
    lonely = customer()
    held = await running.submit(customer_id=lonely, about_deceased=True, agent_id="agent-chris")
    await running.http.post(f"/complaints/{held['complaint_id']}/notes", json={"text": "x"}, headers=ANNA)
    assert "message_held" in await running.timeline(held["complaint_id"])
    assert (
        await running.fetchval(
            "select count(*) from kit_deliveries where reference = $1", f"complaint:{held['complaint_id']}"
        )
        == 0
    )
    assert [
        e.data.owner_agent_id for e in await running.events(lonely) if e.type == "customer.marked_deceased"
    ] == ["agent-chris"]


async def test_an_administrator_changes_a_category_with_validation_versions_and_history(
    running: Running,
) -> None:
    current = (await running.http.get("/admin/rules/categories", headers=ADMIN)).json()
    assert (current["version"], current["changed_by"]) == (0, None)  # demo reads its template (nl)
    broken = {"categories": [{"code": "x", "names": {"nl": "x", "fr": "x", "en": "x"}, "sla": {}}]}
    bad = await running.http.put(
        "/admin/rules/categories",
        json={"document": broken, "expected_version": 0, "reason": "typo"},
        headers=ADMIN,
    )
    assert bad.status_code == 422 and bad.json()["field"] == "categories.0.sla"
    listed = {d["name"]: d["version"] for d in (await running.http.get("/admin/rules", headers=ADMIN)).json()}
    assert listed == {"categories": 0, "root-causes": 0, "templates": 0, "workflow": 0, "organisation": 0}

    fast = {
        "code": "demo.fast",
        "names": {"nl": "Snel", "fr": "Rapide", "en": "Fast"},
        "sla": {"seconds": 30},
    }
    changed = await change_document(running.http, "categories", with_category(fast), ADMIN, reason="e2e")
    assert (changed["version"], changed["changed_by"]) == (1, "admin-ops")
    stale = await running.http.put(
        "/admin/rules/categories",
        json={"document": changed["document"], "expected_version": 0, "reason": "late"},
        headers=ADMIN,
    )
    assert stale.status_code == 409 and stale.json()["field"] == "expected_version"
    as_agent = await running.http.put(
        "/admin/rules/categories",
        json={"document": changed["document"], "expected_version": 1, "reason": "me"},
        headers=ANNA,
    )
    assert as_agent.status_code == 403

    history = (await running.http.get("/admin/rules/categories/history", headers=ADMIN)).json()
    assert [(h["version"], h["changed_by"], h["reason"]) for h in history] == [(1, "admin-ops", "e2e")]
    assert any("demo.fast" in str(c["after"]) for c in history[0]["changes"])
    accepted = await running.submit(
        category="demo.fast", received_at="2026-03-03T09:00:00Z", platform_ref=f"P-{uuid.uuid4().hex[:8]}"
    )
    assert accepted["due_date"] == "2026-03-03"
    assert (
        await running.http.post(
            "/complaints", json=submission(category="demo.slow"), headers={**PLATFORM, **key()}
        )
    ).status_code == 422


async def test_an_absence_written_in_the_organisation_moves_the_work_and_the_deputy_stands_in(
    running: Running,
) -> None:
    tenant = await create_tenant(running.http)  # the nl template: team-nl-1 of sara, deputy dirk
    admin = bearer("admin-ops", ("admin",), tenant=tenant)
    platform = bearer("contact-platform", ("platform",), tenant=tenant)
    today = datetime.now(UTC).date().isoformat()

    def away(document: dict[str, object]) -> dict[str, object]:
        absences = [{"person": p, "starts_on": today, "ends_on": today} for p in ("agent-anna", "sup-sara")]
        return {**document, "calendar": ALWAYS_OPEN, "absences": absences}

    written = await change_document(running.http, "organisation", away, admin, reason="holiday")
    await change_document(running.http, "categories", with_category(fast_category("test.fast", 2)), admin)
    # Published to every service, intake's own replica included: the escalation reads it there.
    await eventually(lambda: _version(running, tenant), lambda v: v == written["version"], timeout=15)

    async def submit(agent: str) -> str:
        body = submission(category="test.fast", agent_id=agent)
        resp = await running.http.post("/complaints", json=body, headers={**platform, **key()})
        assert resp.status_code == 201, resp.text
        return str(resp.json()["complaint_id"])

    await submit("agent-chris")  # agent-chris has more open work
    cid = await submit("agent-anna")

    async def breached() -> bool:
        return "complaint.sla_breached" in await running.event_types(cid)

    await eventually(breached, bool, timeout=15)
    events = await running.events(cid)
    assert {e.tenant for e in events} == {tenant}
    moved = [e.data for e in events if e.type == "complaint.assigned" and e.data.reason == "absence"]
    assert [(m.previous_agent_id, m.agent_id) for m in moved] == [("agent-anna", "agent-bram")]
    steps = [(e.data.step, e.data.escalated_to_agent_id) for e in events if e.type == "complaint.escalated"]
    assert steps == [
        ("reassigned_absence", "agent-bram"),
        ("reminder", None),
        ("escalated_to_lead", "sup-dirk"),
    ]
    to_deputy = await running.fetchval(
        "select recipient from kit_deliveries where idempotency_key like $1", f"escalation:{cid}:%"
    )
    assert to_deputy == "dirk.claes@staff.hoera.test"


async def _version(running: Running, tenant: str) -> int:
    return running.svc.tenants.organisation_version(tenant)
