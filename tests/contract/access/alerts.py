"""Alerts: a supervisor sees only the alerts, figures and pages of the teams they lead (R23, R25);
admins change the operator data (R8). An alert of a team is its supervisors' alone: the back office
and admins read only alerts without a team (abuse flags)."""

from __future__ import annotations

from typing import Any

from hoera_kit.auth import Role

from ..matrix import Access, Call, Isolation, Probe, Reach, anyone
from ..tokens import TEAM, bearer
from .common import HEALTH

LEADS = {Role.supervisor: Reach.team}
ADMIN = anyone((Role.admin,))
ALERT = Probe("alerts", lambda c: f"/alerts/{c.world.alert_id}", Role.supervisor)
DOCUMENT = "organisation"


def _alert(call: Call) -> dict[str, str]:
    return {"alert_id": call.world.alert_id}


def _team(call: Call) -> dict[str, str]:
    return {"team_id": TEAM}


async def _current(call: Call) -> Any:
    resp = await call.http.get(
        call.world.url("alerts", f"/admin/rules/{DOCUMENT}"), headers=bearer(Role.admin)
    )
    assert resp.status_code == 200, resp.text
    return resp.json()["body"]


TABLE: dict[tuple[str, str], Access] = {
    **HEALTH,
    ("GET", "/alerts"): Access(
        roles=LEADS,
        tenant=Isolation.data,
        team=Isolation.data,
        secrets=lambda w, s: [w.alert_id],
        why="R23: the alerts of the teams I lead",
    ),
    ("GET", "/alerts/{alert_id}"): Access(
        roles=LEADS,
        tenant=Isolation.object,
        team=Isolation.object,
        path=_alert,
        why="R23: one alert of a team I lead",
    ),
    ("POST", "/alerts/{alert_id}/acknowledgement"): Access(
        roles=LEADS,
        tenant=Isolation.object,
        team=Isolation.object,
        path=_alert,
        body=lambda call: {"action": "coached", "note": "Matrix: went through the call."},
        state=ALERT,
        why="R23: closing the loop on an alert of a team I lead",
    ),
    ("GET", "/teams/{team_id}/dashboard"): Access(
        roles=LEADS,
        tenant=Isolation.data,
        team=Isolation.object,
        path=_team,
        secrets=lambda w, s: [w.alert_id],
        why="R25: the figures of a team I lead",
    ),
    ("GET", "/admin/rules"): Access(
        roles=ADMIN,
        tenant=Isolation.data,
        secrets=lambda w, s: [w.admin],
        why="R8: the organisation's own rule documents",
    ),
    ("GET", "/admin/rules/{name}"): Access(
        roles=ADMIN,
        tenant=Isolation.data,
        path=lambda call: {"name": DOCUMENT},
        secrets=lambda w, s: [w.admin],
        why="R8: the organisation's own teams, supervisors and deputies",
    ),
    ("PUT", "/admin/rules/{name}"): Access(
        roles=ADMIN,
        tenant=Isolation.data,
        path=lambda call: {"name": DOCUMENT},
        body=_current,
        state=Probe("alerts", lambda c: f"/admin/rules/{DOCUMENT}", Role.admin),
        why="R8: an admin changes their own organisation's documents",
    ),
    ("GET", "/admin/rules/{name}/history"): Access(
        roles=ADMIN,
        tenant=Isolation.data,
        path=lambda call: {"name": DOCUMENT},
        secrets=lambda w, s: [w.admin],
        why="R8: the organisation's own history",
    ),
    ("GET", "/dashboard"): Access(
        roles=LEADS,
        tenant=Isolation.data,
        team=Isolation.data,
        why="R25: the page of the teams I lead",
    ),
    ("GET", "/dashboard/teams/{team_id}"): Access(
        roles=LEADS,
        tenant=Isolation.data,
        team=Isolation.object,
        path=_team,
        secrets=lambda w, s: [w.alert_comment],
        why="R25: the live page of a team I lead",
    ),
    ("GET", "/dashboard/teams/{team_id}/stream"): Access(
        roles=LEADS,
        tenant=Isolation.data,
        team=Isolation.object,
        path=_team,
        why="R25: the live stream of a team I lead",
    ),
    ("GET", "/dashboard/alerts/{alert_id}"): Access(
        roles=LEADS,
        tenant=Isolation.object,
        team=Isolation.object,
        path=_alert,
        why="R23: the page of an alert of a team I lead",
    ),
}
