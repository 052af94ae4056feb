"""R6/R9 figures are management's, team by team: a supervisor sees the teams they lead and nothing of
another team's complaints or contacts; a team filter naming another team is a team they do not know
(404, as in alerts and callback); an administrator sees every team."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from intake_support import ADMIN, ANNA, LUC, PLATFORM, SARA, Running, bearer, key

pytestmark = pytest.mark.integration

MARC = bearer("sup-marc", ("supervisor",), ("team-fr-1",))
"""The supervisor of team-fr-1."""
ROUTES = ("/figures/step-durations", "/figures/fcr")


async def resolved_complaint(running: Running, team: str, agent: str, worker: dict[str, str]) -> None:
    """A complaint of the team resolved at first contact: a status period (R6) and an FCR row (R9)."""
    cid = (await running.submit(team_id=team, agent_id=agent))["complaint_id"]
    body = {"root_cause_department": "billing", "first_contact_resolution": True}
    resolved = await running.http.post(f"/complaints/{cid}/resolve", json=body, headers=worker)
    assert resolved.status_code == 200, resolved.text


async def contact(running: Running, team: str, agent: str) -> None:
    body = {
        "contact_id": f"CNT-{team}-{agent}",
        "customer_id": "CUST-0012345",
        "channel": "phone",
        "agent_id": agent,
        "team_id": team,
        "closed_at": "2026-03-03T09:30:00Z",
        "language": "nl",
        "first_contact_resolved": True,
    }
    recorded = await running.http.post("/contacts", json=body, headers={**PLATFORM, **key()})
    assert recorded.status_code == 201, recorded.text


async def teams_seen(running: Running, who: dict[str, str], **params: Any) -> dict[str, set[str | None]]:
    steps = await running.http.get("/figures/step-durations", params=params, headers=who)
    fcr = await running.http.get(
        "/figures/fcr", params={"bucket": "day", "since": "2026-01-01T00:00:00Z", **params}, headers=who
    )
    assert steps.status_code == fcr.status_code == 200, (steps.text, fcr.text)
    return {
        "steps": {s["team_id"] for s in steps.json()["steps"]},
        "fcr": {r["team_id"] for r in fcr.json()["rows"]},
    }


@pytest.fixture
async def two_teams(running: Running) -> Running:
    await resolved_complaint(running, "team-nl-1", "agent-anna", ANNA)
    await resolved_complaint(running, "team-fr-1", "agent-luc", LUC)
    await contact(running, "team-nl-1", "agent-anna")
    await contact(running, "team-fr-1", "agent-luc")
    return running


async def test_a_supervisor_sees_the_figures_of_the_teams_they_lead_only(two_teams: Running) -> None:
    assert await teams_seen(two_teams, SARA) == {"steps": {"team-nl-1"}, "fcr": {"team-nl-1"}}
    assert await teams_seen(two_teams, MARC) == {"steps": {"team-fr-1"}, "fcr": {"team-fr-1"}}
    nl_only = (
        await two_teams.http.get("/figures/fcr", params={"since": "2026-01-01T00:00:00Z"}, headers=SARA)
    ).json()
    assert nl_only["complaint_rate"] == 1.0 and sum(r["complaints_resolved"] for r in nl_only["rows"]) == 1


async def test_a_supervisor_naming_a_team_they_do_not_lead_is_told_it_is_unknown(two_teams: Running) -> None:
    for route in ROUTES:
        other = await two_teams.http.get(route, params={"team_id": "team-fr-1"}, headers=SARA)
        nobody = await two_teams.http.get(route, params={"team_id": "team-xx-9"}, headers=SARA)
        assert other.status_code == nobody.status_code == 404
        assert other.json() == nobody.json()
    assert await teams_seen(two_teams, SARA, team_id="team-nl-1") == {
        "steps": {"team-nl-1"},
        "fcr": {"team-nl-1"},
    }


async def test_an_administrator_sees_every_team_and_an_agent_none(two_teams: Running) -> None:
    both = {"team-nl-1", "team-fr-1"}
    assert await teams_seen(two_teams, ADMIN) == {"steps": both, "fcr": both}
    assert await teams_seen(two_teams, ADMIN, team_id="team-fr-1") == {
        "steps": {"team-fr-1"},
        "fcr": {"team-fr-1"},
    }
    for route in ROUTES:
        assert (await two_teams.http.get(route, headers=ANNA)).status_code == 403
