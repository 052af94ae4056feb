"""Bad input gets a 4xx that names what is wrong, and writes nothing: no dossier, no timeline, no
event, no message, no timer, no kept Idempotency-Key."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from intake_support import ANNA, LUC, PLATFORM, Running, key, submission

pytestmark = pytest.mark.integration


async def nothing_written(running: Running) -> None:
    for table in ("complaints", "timeline", "kit_deliveries", "idempotency_keys", "contacts"):
        assert await running.fetchval(f"select count(*) from {table}") == 0, table
    # The only timer is the retention purge every service plans at start.
    timers = await running.fetchval("select array_agg(kind) from kit_timers")
    assert timers == ["retention.purge"], timers
    assert await running.events() == []


def fields(resp: Any) -> set[str]:
    body = resp.json()
    named = {e["field"] for e in body.get("errors", [])}
    if "field" in body:
        named.add(body["field"])
    return named


async def test_missing_fields_are_named_and_nothing_is_written(running: Running) -> None:
    body = submission()
    del body["customer_id"], body["category"]
    resp = await running.http.post("/complaints", json=body, headers={**PLATFORM, **key()})
    assert resp.status_code == 422
    assert {"body.customer_id", "body.category"} <= fields(resp)
    await nothing_written(running)


async def test_an_unknown_category_is_refused_naming_the_category(running: Running) -> None:
    resp = await running.http.post(
        "/complaints", json=submission(category="parking.fines"), headers={**PLATFORM, **key()}
    )
    assert resp.status_code == 422
    assert resp.json()["field"] == "category"
    assert "parking.fines" in resp.json()["detail"]
    await nothing_written(running)


async def test_a_naive_datetime_is_refused_not_guessed(running: Running) -> None:
    resp = await running.http.post(
        "/complaints", json=submission(received_at="2026-03-03T09:32:00"), headers={**PLATFORM, **key()}
    )
    assert resp.status_code == 422
    assert fields(resp) == {"body.received_at"}
    await nothing_written(running)


async def test_an_oversized_summary_and_an_unknown_field_are_refused(running: Running) -> None:
    resp = await running.http.post(
        "/complaints", json=submission(summary="x" * 4001, colour="red"), headers={**PLATFORM, **key()}
    )
    assert resp.status_code == 422
    assert fields(resp) == {"body.summary", "body.colour"}
    await nothing_written(running)


async def test_a_missing_idempotency_key_is_named(running: Running) -> None:
    resp = await running.http.post("/complaints", json=submission(), headers=PLATFORM)
    assert resp.status_code == 422
    assert fields(resp) == {"header.Idempotency-Key"}
    await nothing_written(running)


async def test_only_the_platform_submits_and_only_with_a_token(running: Running) -> None:
    as_agent = await running.http.post("/complaints", json=submission(), headers={**ANNA, **key()})
    assert as_agent.status_code == 403
    assert "platform" in as_agent.json()["detail"]
    anonymous = await running.http.post("/complaints", json=submission(), headers=key())
    assert anonymous.status_code == 401
    contact = await running.http.post("/contacts", json={}, headers={**LUC, **key()})
    assert contact.status_code == 403
    await nothing_written(running)


async def test_a_contact_report_with_a_naive_close_time_is_refused(running: Running) -> None:
    contact = {
        "contact_id": "CNT-1",
        "customer_id": "CUST-1",
        "channel": "fax",
        "agent_id": "agent-anna",
        "team_id": "team-nl-1",
        "closed_at": "2026-03-03T09:30:00",
        "language": "nl",
    }
    resp = await running.http.post("/contacts", json=contact, headers={**PLATFORM, **key()})
    assert resp.status_code == 422
    assert fields(resp) == {"body.channel", "body.closed_at"}
    await nothing_written(running)


async def test_another_teams_agent_reads_the_dossier_but_acting_on_it_is_as_on_an_unknown_one(
    running: Running,
) -> None:
    accepted = await running.submit(team_id="team-fr-1", agent_id="agent-luc", language="fr")
    cid = accepted["complaint_id"]
    before_events = await running.event_types(cid)
    unknown = "0b8c6a52-4b9e-4b0c-9d5e-3f6a1d2c7e01"

    assert (await running.http.get(f"/complaints/{cid}", headers=ANNA)).status_code == 200
    for path, body in (
        ("resolve", {"root_cause_department": "billing", "first_contact_resolution": True}),
        ("notes", {"text": "not mine"}),
        ("steps", {"status": "in_progress"}),
        ("assign", {"agent_id": "agent-anna"}),
        ("due-date", {"due_date": "2030-01-07", "reason": "agreed_with_customer"}),
        ("close", {}),
        ("reopen", {"reason": "new_information"}),
    ):
        resp = await running.http.post(f"/complaints/{cid}/{path}", json=body, headers=ANNA)
        nobody = await running.http.post(f"/complaints/{unknown}/{path}", json=body, headers=ANNA)
        assert resp.status_code == nobody.status_code == 404, path
        assert resp.json() == nobody.json() == {"detail": "complaint not found"}
    actors = await running.fetch("select who from timeline where complaint_id = $1::uuid", cid)
    assert "agent-anna" not in {r["who"] for r in actors}
    after = [t for t in await running.event_types(cid) if t != "complaint.acknowledged"]
    assert after == before_events == ["complaint.raised", "complaint.assigned"]


async def test_resolving_without_or_with_an_unknown_root_cause_is_refused_and_changes_nothing(
    running: Running,
) -> None:
    cid = (await running.submit())["complaint_id"]
    missing = await running.http.post(
        f"/complaints/{cid}/resolve", json={"first_contact_resolution": False}, headers=ANNA
    )
    assert missing.status_code == 422
    assert fields(missing) == {"body.root_cause_department"}
    unknown = await running.http.post(
        f"/complaints/{cid}/resolve",
        json={"root_cause_department": "marketing", "first_contact_resolution": False},
        headers=ANNA,
    )
    assert unknown.status_code == 422
    assert unknown.json()["field"] == "root_cause_department"
    dossier = (await running.http.get(f"/complaints/{cid}", headers=ANNA)).json()
    assert dossier["status"] == "open" and dossier["root_cause_department"] is None
    assert "complaint.resolved" not in await running.event_types(cid)


async def test_a_step_to_closed_an_unknown_complaint_and_a_bad_id_are_named(running: Running) -> None:
    cid = (await running.submit())["complaint_id"]
    to_closed = await running.http.post(f"/complaints/{cid}/steps", json={"status": "closed"}, headers=ANNA)
    assert to_closed.status_code == 422 and to_closed.json()["field"] == "status"
    close_open = await running.http.post(f"/complaints/{cid}/close", json={}, headers=ANNA)
    assert close_open.status_code == 409 and close_open.json()["field"] == "status"
    unknown = await running.http.get("/complaints/0b8c6a52-4b9e-4b0c-9d5e-3f6a1d2c7e01", headers=ANNA)
    assert unknown.status_code == 404
    bad = await running.http.get("/complaints/not-a-uuid", headers=ANNA)
    assert bad.status_code == 422 and fields(bad) == {"path.complaint_id"}
    cursor = await running.http.get("/complaints?cursor=garbage", headers=ANNA)
    assert cursor.status_code == 422 and cursor.json()["field"] == "cursor"
