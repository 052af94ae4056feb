"""Refused with a clear 4xx, nothing written: an outcome on a callback someone else holds, an unknown
outcome, another team's callback or queue, a request_ref of another request, a bad rule document (R8);
and who may do what."""

from __future__ import annotations

import html
import sys
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from callback_support import Running, StartService, agent_page, bearer, token
from hoera_devkit.testing import form_value

pytestmark = pytest.mark.integration


async def _written(running: Running) -> dict[str, Any]:
    """Everything a refused request could have written."""
    conn = await asyncpg.connect(running.dsn)
    try:
        return {
            "outcomes": await conn.fetchval("select count(*) from callback_outcomes"),
            "callbacks": [
                tuple(r)
                for r in await conn.fetch(
                    "select callback_id, status, claimed_by, claim_id, attempt, outcome from callbacks "
                    "order by callback_id"
                )
            ],
            "completed": await conn.fetchval(
                "select count(*) from kit_outbox where topic = 'hoera.callback.completed.v1'"
            ),
            "timers": await conn.fetchval("select count(*) from kit_timers where kind = 'callback.retry'"),
            "rule versions": await conn.fetchval("select count(*) from kit_rule_versions"),
        }
    finally:
        await conn.close()


async def _held_callback(running: Running, team: str, holder: str) -> str:
    sup = bearer("sup-test", "supervisor", teams=[team])
    created = await running.http.post(
        "/callbacks", json={"customer_id": "CUST-77", "team_id": team, "language": "fr"}, headers=sup
    )
    assert created.status_code == 201, created.text
    taken = await running.http.post("/callbacks/next", headers=bearer(holder, "agent", teams=[team]))
    assert taken.status_code == 200
    return str(taken.json()["callback"]["callback_id"])


async def test_bad_outcomes_and_other_teams_are_refused_and_write_nothing(
    start_service: StartService,
) -> None:
    running = await start_service()
    team, other_team = f"team-{uuid.uuid4().hex[:8]}", f"team-{uuid.uuid4().hex[:8]}"
    cid = await _held_callback(running, team, "agent-holder")
    holder = bearer("agent-holder", "agent", teams=[team])
    colleague = bearer("agent-colleague", "agent", teams=[team])
    outsider = bearer("agent-outsider", "agent", teams=[other_team])
    before = await _written(running)

    someone_elses = await running.http.post(
        f"/callbacks/{cid}/outcome",
        json={"outcome": "closed_positively", "note": "mine now"},
        headers=colleague,
    )
    assert someone_elses.status_code == 409
    assert someone_elses.json()["detail"] == "another agent holds this callback"

    unknown = await running.http.post(
        f"/callbacks/{cid}/outcome", json={"outcome": "sold_a_car"}, headers=holder
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "body.outcome"
    assert "closed_positively" in unknown.json()["detail"], "the answer lists the outcomes that exist"

    final_by_hand = await running.http.post(
        f"/callbacks/{cid}/outcome", json={"outcome": "unreachable_final"}, headers=holder
    )
    assert final_by_hand.status_code == 422, "only the retry schedule closes a callback as unreachable"

    other_without_note = await running.http.post(
        f"/callbacks/{cid}/outcome", json={"outcome": "other"}, headers=holder
    )
    assert other_without_note.status_code == 422
    assert other_without_note.json()["field"] == "note"

    too_long = await running.http.post(
        f"/callbacks/{cid}/outcome", json={"outcome": "closed_positively", "note": "x" * 2001}, headers=holder
    )
    assert too_long.status_code == 422 and too_long.json()["errors"][0]["field"] == "body.note"

    stale = await running.http.post(
        f"/callbacks/{cid}/outcome",
        json={"outcome": "closed_positively", "claim_id": str(uuid.uuid4())},
        headers=holder,
    )
    assert stale.status_code == 409

    for method, path, body in [
        ("GET", f"/callbacks/{cid}", None),
        ("POST", f"/callbacks/{cid}/claim", None),
        ("POST", f"/callbacks/{cid}/release", None),
        ("POST", f"/callbacks/{cid}/outcome", {"outcome": "closed_positively"}),
    ]:
        resp = await running.http.request(method, path, json=body, headers=outsider)
        assert (resp.status_code, resp.json()["detail"]) == (404, "callback not found"), (method, path)
    assert (await running.http.post("/callbacks/next", headers=outsider)).status_code == 204
    unknown_id = await running.http.get(f"/callbacks/{uuid.uuid4()}", headers=holder)
    assert (unknown_id.status_code, unknown_id.json()["detail"]) == (404, "callback not found")

    assert await _written(running) == before

    recorded = await running.http.post(
        f"/callbacks/{cid}/outcome", json={"outcome": "closed_positively", "note": "Happy."}, headers=holder
    )
    assert recorded.status_code == 200, "the holder's own outcome goes through after all the refusals"
    twice = await running.http.post(
        f"/callbacks/{cid}/outcome", json={"outcome": "closed_positively"}, headers=holder
    )
    assert twice.status_code == 409


async def test_roles_decide_who_works_the_queue_and_who_changes_the_rules(
    start_service: StartService,
) -> None:
    running = await start_service()
    team = f"team-{uuid.uuid4().hex[:8]}"
    assert (await running.http.post("/callbacks/next")).status_code == 401
    admin = bearer("admin-ops", "admin")
    assert (await running.http.post("/callbacks/next", headers=admin)).status_code == 403, "admins configure"
    platform = bearer("contact-platform", "platform")
    assert (await running.http.get("/callbacks", headers=platform)).status_code == 403
    agent = bearer("agent-a", "agent", teams=[team])
    supervisor = bearer("sup-s", "supervisor", teams=[team])
    for who in (agent, supervisor):
        assert (await running.http.put("/admin/rules/queue", json={}, headers=who)).status_code == 403
        assert (await running.http.get("/admin/rules/queue", headers=who)).status_code == 403
    before = await _written(running)
    into_other_team = await running.http.post(
        "/callbacks",
        json={"customer_id": "CUST-1", "team_id": "team-elsewhere", "language": "nl"},
        headers=agent,
    )
    assert (into_other_team.status_code, into_other_team.json()["detail"]) == (404, "team not found"), (
        "another team's queue is answered like one that does not exist"
    )
    other_queue = await running.http.get("/callbacks", params={"team_id": "team-elsewhere"}, headers=agent)
    other_figures = await running.http.get("/figures", params={"team_id": "team-elsewhere"}, headers=agent)
    assert (other_queue.status_code, other_figures.status_code) == (404, 404)
    assert await _written(running) == before
    page_without_session = await running.http.post(
        "/agent/next", content="lang=nl", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert page_without_session.status_code == 303
    assert page_without_session.headers["location"].startswith("/agent/sign-in?")
    platform_signs_in = await running.http.post(
        "/agent/sign-in",
        data={
            "csrf": form_value((await running.http.get("/agent/sign-in")).text, "csrf"),
            "token": token("p", "platform"),
        },
    )
    assert platform_signs_in.status_code == 403 and "hoera-callback-session" not in str(
        platform_signs_in.headers
    )


async def test_a_request_ref_of_another_customer_is_refused_and_a_true_repeat_answers_the_first(
    start_service: StartService,
) -> None:
    running = await start_service()
    team = f"team-{uuid.uuid4().hex[:8]}"
    agent = bearer("agent-a", "agent", teams=[team])
    first = {"customer_id": "CUST-ONE", "team_id": team, "language": "nl", "request_ref": "desk-17"}
    made = await running.http.post("/callbacks", json=first, headers=agent)
    assert made.status_code == 201, made.text
    before = await _written(running)

    someone_else = await running.http.post(
        "/callbacks", json={**first, "customer_id": "CUST-TWO"}, headers=agent
    )
    assert (someone_else.status_code, someone_else.json()["field"]) == (409, "request_ref")
    assert "CUST-ONE" not in someone_else.text and made.json()["callback_id"] not in someone_else.text
    assert await _written(running) == before

    again = await running.http.post("/callbacks", json=first, headers=agent)
    assert (again.status_code, again.json()["callback_id"]) == (200, made.json()["callback_id"])
    assert await _written(running) == before


async def test_a_bad_rule_document_is_refused_naming_the_field_and_a_good_one_is_kept_with_its_history(
    start_service: StartService,
) -> None:
    running = await start_service()
    admin = bearer("admin-ops", "admin")
    listed = (await running.http.get("/admin/rules", headers=admin)).json()
    assert sorted(d["name"] for d in listed) == ["priority", "queue", "recovery", "triggers"]
    assert {d["version"] for d in listed} == {0}, "a new tenant reads its template"
    current = (await running.http.get("/admin/rules/queue", headers=admin)).json()
    before = await _written(running)

    def change(document: dict[str, Any], expected: int = 0) -> dict[str, Any]:
        return {"document": document, "expected_version": expected, "reason": "test"}

    doc = current["document"]
    refused = await running.http.put(
        "/admin/rules/queue", json=change({**doc, "lease_seconds": 0}), headers=admin
    )
    assert (refused.status_code, refused.json()["field"]) == (422, "lease_seconds")
    nothing = await running.http.put(
        "/admin/rules/queue", json=change({**doc, "lead_time": {"seconds": 0}}), headers=admin
    )
    assert (nothing.status_code, nothing.json()["field"]) == (422, "lead_time")
    backwards = await running.http.put(
        "/admin/rules/priority",
        json=change(
            {
                **(await running.http.get("/admin/rules/priority", headers=admin)).json()["document"],
                "high_from": 50,
                "urgent_from": 10,
            }
        ),
        headers=admin,
    )
    assert (backwards.status_code, backwards.json()["field"]) == (422, "urgent_from")
    unknown_field = await running.http.put(
        "/admin/rules/queue", json=change({**doc, "lease_minutes": 5}), headers=admin
    )
    assert unknown_field.status_code == 422 and "lease_minutes" in unknown_field.json()["detail"]
    assert await _written(running) == before, "nothing half-applied"

    changed = await running.http.put(
        "/admin/rules/queue", json=change({**doc, "lease_seconds": 600}), headers=admin
    )
    assert changed.status_code == 200 and changed.json()["version"] == 1
    stale = await running.http.put(
        "/admin/rules/queue", json=change({**doc, "lease_seconds": 900}), headers=admin
    )
    assert (stale.status_code, stale.json()["field"]) == (409, "expected_version")
    history = (await running.http.get("/admin/rules/queue/history", headers=admin)).json()
    assert [(h["version"], h["changed_by"], h["changes"]) for h in history] == [
        (1, "admin-ops", [{"path": "lease_seconds", "before": 1800, "after": 600}])
    ]

    team = f"team-{uuid.uuid4().hex[:8]}"
    await running.http.post(
        "/callbacks",
        json={"customer_id": "CUST-2", "team_id": team, "language": "nl"},
        headers=bearer("s", "supervisor", teams=[team]),
    )
    taken = (await running.http.post("/callbacks/next", headers=bearer("a", "agent", teams=[team]))).json()
    from datetime import datetime

    lease = datetime.fromisoformat(taken["callback"]["lease_until"]) - datetime.fromisoformat(
        taken["callback"]["claimed_at"]
    )
    assert lease.total_seconds() == 600, "the new lease applies at once"


async def test_the_agent_page_refuses_in_the_agents_language_and_writes_nothing(
    start_service: StartService,
) -> None:
    running = await start_service()
    team = f"team-{uuid.uuid4().hex[:8]}"
    cid = await _held_callback(running, team, "agent-holder")
    before = await _written(running)
    colleague = token("agent-colleague", "agent", teams=[team], lang="fr")
    holder = token("agent-holder", "agent", teams=[team], lang="nl")
    outsider = token("agent-outsider", "agent", teams=["team-elsewhere"], lang="en")

    async with agent_page(running, colleague) as (http, csrf):
        taken_over = await http.post(
            f"/agent/callbacks/{cid}/outcome", data={"csrf": csrf, "outcome": "closed_positively"}
        )
    assert taken_over.status_code == 409
    assert "Ce rappel n'est pas (ou plus) réservé pour vous." in html.unescape(taken_over.text)
    assert '<html lang="fr">' in taken_over.text

    async with agent_page(running, holder) as (http, csrf):
        tampered = await http.post(
            f"/agent/callbacks/{cid}/outcome", data={"csrf": csrf, "outcome": "sold_a_car"}
        )
        without_csrf = await http.post(
            f"/agent/callbacks/{cid}/outcome", data={"outcome": "closed_positively"}
        )
        wrong_csrf = await http.post(
            f"/agent/callbacks/{cid}/outcome", data={"csrf": csrf[::-1], "outcome": "closed_positively"}
        )
        released_without_csrf = await http.post(f"/agent/callbacks/{cid}/release", data={"claim_id": ""})
    assert tampered.status_code == 422 and "Kies een uitkomst uit de lijst." in tampered.text
    assert (without_csrf.status_code, wrong_csrf.status_code, released_without_csrf.status_code) == (
        403,
        403,
        403,
    )

    async with agent_page(running, outsider) as (http, csrf):
        elsewhere = await http.post(f"/agent/callbacks/{cid}/claim", data={"csrf": csrf})
    assert elsewhere.status_code == 404
    assert "This callback is not in your team's queue." in html.unescape(elsewhere.text)
    assert await _written(running) == before
