"""A supervisor sees only the teams they lead: another team's alerts, acknowledgements, pages and
live stream answer 404 exactly as for something that does not exist, and change nothing."""

from __future__ import annotations

import uuid

import pytest
from alerts_support import (
    ADMIN,
    ANNA,
    MARC,
    NL,
    SARA,
    AlertsService,
    bearer,
    events_about,
    form_value,
    token,
    unhappy_answer,
)
from hoera_alerts.domain import unhappy_alert_id
from hoera_events.alerts import AlertAcknowledged, AlertAction
from hoera_kit.auth import Role

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def nl_alert(alerts: AlertsService) -> uuid.UUID:
    answer = unhappy_answer("team-nl-1", comment="Geheim: mijn dossier is een puinhoop.")
    await alerts.publish(answer)
    alert_id = unhappy_alert_id(NL, answer.survey_id)
    await alerts.wait_for_mails(f"alert:{alert_id}:")
    return alert_id


async def test_a_supervisor_of_another_team_cannot_read_the_alert(
    alerts: AlertsService, nl_alert: uuid.UUID
) -> None:
    async with alerts.signed_in(MARC) as http:
        theirs = await http.get(f"/alerts/{nl_alert}", headers=bearer(MARC))
        nothing = await http.get(f"/alerts/{uuid.uuid4()}", headers=bearer(MARC))
        page = await http.get(f"/dashboard/alerts/{nl_alert}")
        listed = await http.get("/alerts", params={"team_id": "team-nl-1"}, headers=bearer(MARC))
        own = await http.get("/alerts", headers=bearer(MARC))
        figures = await http.get("/teams/team-nl-1/dashboard", headers=bearer(MARC))
        dashboard = await http.get("/dashboard/teams/team-nl-1")
    assert theirs.status_code == 404
    assert theirs.json() == {"detail": "alert not found"} == nothing.json()
    assert page.status_code == 404 and "puinhoop" not in page.text
    assert listed.status_code == 404
    assert own.status_code == 200
    assert str(nl_alert) not in own.text and all(a["team_id"] == "team-fr-1" for a in own.json())
    assert figures.status_code == 404
    assert dashboard.status_code == 404 and "Klantendienst" not in dashboard.text


async def test_a_supervisor_of_another_team_cannot_acknowledge_the_alert(
    alerts: AlertsService, nl_alert: uuid.UUID
) -> None:
    async with alerts.signed_in(MARC) as http:
        refused = await http.post(
            f"/alerts/{nl_alert}/acknowledgement",
            json={"action": "no_action_needed"},
            headers=bearer(MARC),
        )
        csrf = form_value((await http.get("/dashboard/teams/team-fr-1")).text, "csrf")
        from_page = await http.post(
            f"/dashboard/alerts/{nl_alert}/acknowledgement", data={"csrf": csrf, "action": "no_action_needed"}
        )
    assert refused.status_code == 404
    assert from_page.status_code == 404
    rows = await alerts.fetch("select status, acknowledged_by from alerts where alert_id = $1", nl_alert)
    assert [(r["status"], r["acknowledged_by"]) for r in rows] == [("open", None)]


async def test_a_supervisor_of_another_team_cannot_subscribe_to_its_live_stream(
    alerts: AlertsService,
) -> None:
    async with (
        alerts.signed_in(MARC) as http,
        http.stream("GET", "/dashboard/teams/team-nl-1/stream") as resp,
    ):
        body = await resp.aread()
    assert resp.status_code == 404
    assert not resp.headers["content-type"].startswith("text/event-stream")
    assert b"event:" not in body and b"Klantendienst" not in body


async def test_the_teams_own_supervisor_receives_the_live_stream(alerts: AlertsService) -> None:
    async with (
        alerts.signed_in(SARA) as http,
        http.stream("GET", "/dashboard/teams/team-nl-1/stream") as resp,
    ):
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        first = ""
        async for line in resp.aiter_lines():
            first += line + "\n"
            if line.startswith("data:") and "Open meldingen" in line:
                break
    assert "event: update" in first


async def test_agents_admins_and_strangers_are_refused(alerts: AlertsService, nl_alert: uuid.UUID) -> None:
    async with alerts.http() as http:
        agent = await http.get(f"/alerts/{nl_alert}", headers=bearer(ANNA))
        agent_signs_in = await http.post(
            "/dashboard/sign-in",
            data={"csrf": form_value((await http.get("/dashboard/sign-in")).text, "csrf"), "token": ANNA},
        )
        admin = await http.get(f"/alerts/{nl_alert}", headers=bearer(ADMIN))
        nobody = await http.get(f"/alerts/{nl_alert}")
        nobody_stream = await http.get("/dashboard/teams/team-nl-1/stream")
    assert (agent.status_code, agent_signs_in.status_code, admin.status_code) == (403, 403, 403)
    assert "hoera-alerts-session" not in agent_signs_in.headers.get("set-cookie", "")
    assert (nobody.status_code, nobody_stream.status_code) == (401, 401)


async def test_no_route_takes_a_token_from_the_query_string(
    alerts: AlertsService, nl_alert: uuid.UUID
) -> None:
    async with alerts.http() as http:
        page = await http.get(f"/dashboard/alerts/{nl_alert}", params={"token": SARA, "lang": "nl"})
        stream = await http.get("/dashboard/teams/team-nl-1/stream", params={"token": SARA})
        api = await http.get(f"/alerts/{nl_alert}", params={"token": SARA})
        change = await http.post(
            f"/alerts/{nl_alert}/acknowledgement", params={"token": SARA}, json={"action": "coached"}
        )
    assert page.status_code == 303 and page.headers["location"].startswith("/dashboard/sign-in?")
    assert "token" not in page.headers["location"] and SARA not in page.headers["location"]
    assert (stream.status_code, api.status_code, change.status_code) == (401, 401, 401)
    rows = await alerts.fetch("select status from alerts where alert_id = $1", nl_alert)
    assert [r["status"] for r in rows] == ["open"]


async def test_the_teams_supervisor_acknowledges_once_with_what_they_did(
    alerts: AlertsService, nl_alert: uuid.UUID
) -> None:
    url = f"/alerts/{nl_alert}/acknowledgement"
    async with alerts.http() as http:
        seen = await http.get(f"/alerts/{nl_alert}", headers=bearer(SARA))
        unnamed = await http.post(url, json={"action": "other_department_at_fault"}, headers=bearer(SARA))
        done = await http.post(
            url,
            json={
                "action": "other_department_at_fault",
                "root_cause_department": "claims-processing",
                "note": "Claims never booked the refund.",
            },
            headers=bearer(SARA),
        )
        again = await http.post(
            url,
            json={"action": "other_department_at_fault", "root_cause_department": "claims-processing"},
            headers=bearer(SARA),
        )
        changed = await http.post(url, json={"action": "coached"}, headers=bearer(SARA))
        listed = await http.get(
            "/alerts", params={"team_id": "team-nl-1", "status": "acknowledged"}, headers=bearer(SARA)
        )
    assert seen.status_code == 200
    assert seen.json()["comment"] == "Geheim: mijn dossier is een puinhoop."
    assert [r["recipient_id"] for r in seen.json()["recipients"]] == ["sup-sara"]
    assert unnamed.status_code == 422 and unnamed.json()["field"] == "root_cause_department"
    assert done.status_code == 200
    assert done.json()["status"] == "acknowledged"
    assert done.json()["acknowledged_by"] == "sup-sara"
    assert again.status_code == 200  # the same acknowledgement again is no error
    assert changed.status_code == 409
    assert str(nl_alert) in [a["alert_id"] for a in listed.json()]

    events = await events_about(AlertAcknowledged, nl_alert, 1)
    assert len(events) == 1
    event = events[0].data
    assert isinstance(event, AlertAcknowledged)
    assert (event.action, event.root_cause_department, event.acknowledged_by) == (
        AlertAction.other_department_at_fault,
        "claims-processing",
        "sup-sara",
    )


async def test_a_missing_or_malformed_alert_id_is_a_clear_4xx(alerts: AlertsService) -> None:
    async with alerts.http() as http:
        bad = await http.get("/alerts/not-a-uuid", headers=bearer(SARA))
        wrong = await http.post(
            f"/alerts/{uuid.uuid4()}/acknowledgement", json={"action": "shrugged"}, headers=bearer(SARA)
        )
    assert bad.status_code == 422 and "alert_id" in bad.json()["detail"]
    assert wrong.status_code == 422 and "action" in wrong.json()["detail"]


async def test_the_dashboard_lists_only_the_teams_the_supervisor_leads(alerts: AlertsService) -> None:
    lena = token("mgmt-lena", Role.supervisor, teams=("team-nl-1", "team-fr-1"), lang="en")
    async with alerts.signed_in(lena) as lenas, alerts.signed_in(MARC) as marcs:
        both = await lenas.get("/dashboard")
        one = await marcs.get("/dashboard")
    assert both.status_code == 200
    assert "Klantendienst NL 1" in both.text and "Service clientèle FR 1" in both.text
    assert one.status_code == 303
    assert one.headers["location"] == "/dashboard/teams/team-fr-1?lang=fr"
