"""Many contact centres on one platform: a caller of tenant "acme" finds none of tenant "demo"'s
callbacks, figures or rule documents and changes none of them, and acme's rules never decide anything
of demo's (the queue's lease, what an unhappy smiley does), however the two are reached."""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hoera_devkit.testing import eventually
from hoera_events.common import Channel, Language
from hoera_events.envelope import Envelope
from hoera_events.surveys import ContactMeRequest, SurveyAnswered, SurveyTrigger

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from callback_support import Running, StartService, bearer, change_rules, envelope, fetch, publish

pytestmark = pytest.mark.integration

TEAM = "team-nl-1"
"""Both tenants have a team of this name: a check on the bare team id would let acme in."""


async def _demo_state(running: Running) -> list[tuple[Any, ...]]:
    rows = await fetch(
        running.dsn,
        "select tenant, callback_id, status, claimed_by, attempt, outcome, priority_score from callbacks "
        "where tenant = 'demo' order by callback_id",
    )
    outcomes = await fetch(
        running.dsn, "select tenant, callback_id from callback_outcomes where tenant = 'demo'"
    )
    versions = await fetch(
        running.dsn, "select name, version from kit_rule_versions where tenant = 'demo' order by name"
    )
    return [*(tuple(r) for r in rows), *(tuple(r) for r in outcomes), *(tuple(r) for r in versions)]


async def test_acme_finds_and_changes_none_of_demos_callbacks_figures_or_rules(
    start_service: StartService,
) -> None:
    running = await start_service()
    demo_agent = bearer("agent-anna", "agent", teams=[TEAM])
    ref = f"desk-{uuid.uuid4().hex[:8]}"
    made = await running.http.post(
        "/callbacks",
        json={"customer_id": "CUST-DEMO-1", "team_id": TEAM, "language": "nl", "request_ref": ref},
        headers=demo_agent,
    )
    assert made.status_code == 201, made.text
    cid = made.json()["callback_id"]
    worked = await running.http.post(
        "/callbacks",
        json={"customer_id": "CUST-DEMO-2", "team_id": TEAM, "language": "nl"},
        headers=demo_agent,
    )
    worked_id = worked.json()["callback_id"]
    assert (await running.http.post(f"/callbacks/{worked_id}/claim", headers=demo_agent)).status_code == 200
    done = await running.http.post(
        f"/callbacks/{worked_id}/outcome", json={"outcome": "closed_positively"}, headers=demo_agent
    )
    assert done.status_code == 200
    await change_rules(running.http, "queue", lease_seconds=900, reason="demo's own lease")
    before = await _demo_state(running)

    acme_agent = bearer("agent-anna", "agent", teams=[TEAM], tenant="acme")
    acme_admin = bearer("admin-ops", "admin", tenant="acme")
    acme_sup = bearer("sup-sara", "supervisor", teams=[TEAM], tenant="acme")
    for method, path, body in [
        ("GET", f"/callbacks/{cid}", None),
        ("POST", f"/callbacks/{cid}/claim", None),
        ("POST", f"/callbacks/{cid}/release", {}),
        ("POST", f"/callbacks/{cid}/outcome", {"outcome": "closed_positively"}),
    ]:
        for who in (acme_agent, acme_sup):
            resp = await running.http.request(method, path, json=body, headers=who)
            assert (resp.status_code, resp.json()["detail"]) == (404, "callback not found"), (method, path)
    assert (await running.http.get(f"/callbacks/{cid}", headers=acme_admin)).status_code == 404

    for who in (acme_agent, acme_sup, acme_admin):
        queue = await running.http.get("/callbacks", headers=who)
        figures = await running.http.get("/figures", headers=who)
        assert (queue.status_code, queue.json()) == (200, [])
        assert (figures.status_code, figures.json()) == (200, [])
    assert (await running.http.post("/callbacks/next", headers=acme_agent)).status_code == 204

    # The same reference in acme is acme's own request, never demo's callback.
    same_ref = await running.http.post(
        "/callbacks",
        json={"customer_id": "CUST-ACME-1", "team_id": TEAM, "language": "fr", "request_ref": ref},
        headers=acme_agent,
    )
    assert same_ref.status_code == 201 and same_ref.json()["callback_id"] != cid
    assert same_ref.json()["tenant"] == "acme"

    # acme's administrator reads acme's documents: its French template, not demo's change.
    queue_doc = (await running.http.get("/admin/rules/queue", headers=acme_admin)).json()
    assert (queue_doc["version"], queue_doc["document"]["lease_seconds"]) == (0, 1200)
    assert (await running.http.get("/admin/rules/queue/history", headers=acme_admin)).json() == []
    listed = (await running.http.get("/admin/rules", headers=acme_admin)).json()
    assert {d["version"] for d in listed} == {0} and "admin-demo" not in str(listed)
    await change_rules(running.http, "queue", tenant="acme", lease_seconds=7, reason="acme's own lease")

    assert await _demo_state(running) == before, "acme changed nothing of demo's"
    demo_doc = (await running.http.get("/admin/rules/queue", headers=bearer("admin-ops", "admin"))).json()
    assert (demo_doc["version"], demo_doc["document"]["lease_seconds"]) == (1, 900)

    # acme's lease of 7 seconds does not shorten demo's claims.
    taken = (await running.http.post("/callbacks/next", headers=demo_agent)).json()["callback"]
    assert taken["callback_id"] == cid
    lease = datetime.fromisoformat(taken["lease_until"]) - datetime.fromisoformat(taken["claimed_at"])
    assert lease.total_seconds() == 900


def _answer(customer: str, *, satisfaction: int, contact_me: bool) -> SurveyAnswered:
    return SurveyAnswered(
        survey_id=uuid.uuid4(),
        customer_id=customer,
        trigger=SurveyTrigger.contact_closed,
        channel=Channel.phone,
        language=Language.fr,
        answered_at=datetime.now(UTC),
        team_id=TEAM,
        satisfaction=satisfaction,
        contact_me=ContactMeRequest() if contact_me else None,
    )


async def test_an_unhappy_smiley_queues_a_call_where_the_tenants_own_triggers_say_so(
    start_service: StartService,
) -> None:
    """acme's French template calls back every unhappy smiley; demo's Dutch one waits for a "please
    contact me". Both answers travel the same topic; each tenant's own rule decides."""
    running = await start_service()
    demo_customer, acme_customer = f"CUST-{uuid.uuid4().hex[:10]}", f"CUST-{uuid.uuid4().hex[:10]}"
    unhappy_demo = envelope(_answer(demo_customer, satisfaction=1, contact_me=False), producer="survey")
    # Same customer, so the same partition: once this one is handled, the unhappy one before it is too.
    marker_demo = envelope(_answer(demo_customer, satisfaction=4, contact_me=True), producer="survey")
    unhappy_acme = envelope(
        _answer(acme_customer, satisfaction=1, contact_me=False), producer="survey", tenant="acme"
    )
    await publish(unhappy_demo, marker_demo, unhappy_acme)

    async def sources(tenant: str, customer: str) -> list[str]:
        rows = await fetch(
            running.dsn,
            "select source from callbacks where tenant = $1 and customer_id = $2 order by requested_at",
            tenant,
            customer,
        )
        return [r["source"] for r in rows]

    assert await eventually(lambda: sources("acme", acme_customer), bool) == ["unhappy_smiley"]
    assert await eventually(lambda: sources("demo", demo_customer), bool) == ["contact_me"], (
        "demo's own triggers make no call for an unhappy smiley alone"
    )
    await _consumed(running, unhappy_demo)


async def _consumed(running: Running, env: Envelope) -> None:
    rows = await fetch(running.dsn, "select 1 from kit_inbox where event_id = $1", str(env.id))
    assert rows, f"{env.type} was handled"
