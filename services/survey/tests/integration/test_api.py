"""The HTTP API: the rule documents with validation, versions and history (R8), figures by segment
(R20), suppression counts (R21), the budget for proactive messages and opt-outs (R30); roles and
team scope."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hoera_events.common import AgeBand, Channel, Language
from hoera_kit.service import Service
from hoera_survey import handlers
from hoera_survey.domain import Answer

from .support import (
    auth,
    contact_closed,
    envelope,
    immediate_triggers,
    put_rules,
    running,
    settings_for,
    unique,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def service(fresh_db: str) -> AsyncIterator[tuple[Service, httpx.AsyncClient]]:
    async with running(settings_for(fresh_db)) as (svc, http):
        yield svc, http


async def test_the_rules_are_the_kit_documents_validated_whole_versioned_and_kept_in_a_history(
    service: tuple[Service, httpx.AsyncClient],
) -> None:
    _, http = service
    admin = auth("admin")
    listed = {r["name"]: r["version"] for r in (await http.get("/admin/rules", headers=admin)).json()}
    assert listed == {"caps": 0, "triggers": 0, "texts": 0}  # demo reads its template (nl)
    triggers = (await http.get("/admin/rules/triggers", headers=admin)).json()["document"]
    assert triggers["contact_closed"]["send_window"] == {
        "opens": "08:00:00",
        "closes": "21:00:00",
        "business_days_only": False,
    }

    async def put(name: str, document: Any, headers: dict[str, str] = admin) -> httpx.Response:
        body = {"document": document, "expected_version": 0, "reason": "test"}
        return await http.put(f"/admin/rules/{name}", json=body, headers=headers)

    bad = {**triggers, "contact_closed": {**triggers["contact_closed"], "delay_minutes": -5}}
    refused = await put("triggers", bad)
    assert refused.status_code == 422 and refused.json()["field"] == "contact_closed.delay_minutes"
    no_attributes = {**triggers, "complaint_closed": {**triggers["complaint_closed"], "attributes": []}}
    refused = await put("triggers", no_attributes)
    assert refused.status_code == 422 and refused.json()["field"] == "complaint_closed.attributes"
    texts = (await http.get("/admin/rules/texts", headers=admin)).json()["document"]
    no_link = {**texts, "fr": {**texts["fr"], "sms_body": "Merci !"}}
    refused_texts = await put("texts", no_link)
    assert refused_texts.status_code == 422 and refused_texts.json()["field"] == "fr.sms_body"
    assert (await put("triggers", triggers, auth("supervisor"))).status_code == 403

    changed = await put("triggers", immediate_triggers())
    assert changed.status_code == 200 and changed.json()["version"] == 1
    stale = await put("triggers", triggers)
    assert stale.status_code == 409 and stale.json()["field"] == "expected_version"
    history = (await http.get("/admin/rules/triggers/history", headers=admin)).json()
    assert [(h["version"], h["changed_by"]) for h in history] == [(1, "tester")]
    changes = {c["path"]: (c["before"], c["after"]) for c in history[0]["changes"]}
    assert changes["contact_closed.delay_minutes"] == (10, 0)
    untouched = {r["name"]: r["version"] for r in (await http.get("/admin/rules", headers=admin)).json()}
    assert untouched == {"caps": 0, "triggers": 1, "texts": 0}


async def test_figures_give_the_response_rate_and_scores_by_segment_within_the_supervisors_teams(
    service: tuple[Service, httpx.AsyncClient],
) -> None:
    svc, http = service
    deps = svc.api.state.deps
    assert (await put_rules(http, "triggers", immediate_triggers())).status_code == 200
    plan = [  # team, channel, language, age band, answer or None
        ("team-a", Channel.phone, Language.nl, AgeBand.from_70, Answer(satisfaction=5, effort=5, nps=10)),
        ("team-a", Channel.phone, Language.nl, AgeBand.from_70, Answer(satisfaction=4, effort=3, nps=6)),
        ("team-a", Channel.email, Language.fr, AgeBand.under_25, None),
        ("team-a", Channel.chat, Language.fr, AgeBand.under_25, None),
        ("team-b", Channel.phone, Language.nl, AgeBand.from_40_to_54, Answer(satisfaction=1, nps=0)),
    ]
    for team, channel, language, age, answer in plan:
        event = contact_closed(unique("fig"), language=language, channel=channel, team_id=team)
        event = event.model_copy(update={"age_band": age})
        async with svc.pool.acquire() as conn, conn.transaction():
            await handlers.request_surveys(deps, conn, [envelope(event)])
            row = await conn.fetchrow(
                "select survey_id, link_nonce from surveys where contact_id = $1", event.contact_id
            )
            if answer is not None:
                assert await handlers.submit_answer(
                    deps, conn, "demo", row["survey_id"], row["link_nonce"], answer, language
                )

    admin = (await http.get("/figures", params={"segment": "channel"}, headers=auth("admin"))).json()
    assert admin["overall"]["invited"] == 5 and admin["overall"]["answered"] == 3
    assert admin["overall"]["response_rate"] == 60.0
    assert admin["overall"]["csat"] == 66.7  # 2 of 3 satisfaction answers are 4-5
    assert admin["overall"]["nps"] == -33.3  # 1 promoter, 2 detractors of 3
    assert admin["overall"]["ces"] == 4.0
    channels = {s["value"]: s["figures"]["response_rate"] for s in admin["segments"]}
    assert channels == {"chat": 0.0, "email": 0.0, "phone": 100.0}

    sup = await http.get(
        "/figures", params={"segment": "age_band"}, headers=auth("supervisor", teams=("team-a",))
    )
    body = sup.json()
    assert body["teams"] == ["team-a"] and body["overall"]["invited"] == 4
    assert {s["value"]: s["figures"]["answered"] for s in body["segments"]} == {"70_plus": 2, "under_25": 0}
    for segment in ("language", "team", "trigger"):
        assert (
            await http.get("/figures", params={"segment": segment}, headers=auth("admin"))
        ).status_code == 200
    assert (await http.get("/figures", headers=auth("agent"))).status_code == 403
    assert (
        await http.get("/figures", params={"segment": "shoe_size"}, headers=auth("admin"))
    ).status_code == 422
    naive = await http.get("/figures", params={"since": "2025-01-01T00:00:00"}, headers=auth("admin"))
    assert naive.status_code == 422 and naive.json()["field"] == "since"


async def test_proactive_messages_spend_the_budget_and_refusals_are_counted(
    service: tuple[Service, httpx.AsyncClient],
) -> None:
    _, http = service
    customer = unique("pro")
    platform = auth("platform")
    answers = [
        (
            await http.post(
                f"/customers/{customer}/proactive-contacts", json={"reference": f"n-{i}"}, headers=platform
            )
        ).json()
        for i in range(6)
    ]
    # The seed budget: 4 contacts a year, surveys and proactive messages together.
    assert [a["granted"] for a in answers] == [True] * 4 + [False] * 2
    assert answers[-1] == {"granted": False, "reason": "fatigue_cap", "detail": "cap:contacts-per-year"}
    again = await http.post(
        f"/customers/{customer}/proactive-contacts", json={"reference": "n-0"}, headers=platform
    )
    assert again.json()["granted"] is True  # the same message asked twice is one contact

    opted = unique("quiet")
    assert (await http.put(f"/customers/{opted}/opt-out", headers=platform)).json()[
        "opted_out_by"
    ] == "tester"
    refused = await http.post(
        f"/customers/{opted}/proactive-contacts", json={"reference": "x"}, headers=platform
    )
    assert refused.json()["reason"] == "opted_out"
    assert (await http.delete(f"/customers/{opted}/opt-out", headers=platform)).json()["opted_out_at"] is None

    counts = (await http.get("/suppressions", headers=auth("admin"))).json()
    assert counts["by_reason"] == {"fatigue_cap": 2, "opted_out": 1} and counts["total"] == 3
    bad = await http.post(
        f"/customers/{customer}/proactive-contacts", json={"reference": ""}, headers=platform
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "body.reference"
    assert (
        await http.post(f"/customers/{customer}/proactive-contacts", json={"reference": "y"})
    ).status_code == 401
