"""Alerts: a supervisor sees only the alerts and figures of the teams they lead in their own tenant
(R23, R25); an administrator reads and changes their own tenant's rule documents (R8), through the
kit's /admin/rules routes. An alert of a team is its supervisors' alone: the back office and admins
read only alerts without a team (abuse flags). The pages (/dashboard...) are not in the document:
they take a session cookie, not a bearer token (tests/integration of the service cover them)."""

from __future__ import annotations

from hoera_kit.auth import Role

from ..matrix import Access, Call, Isolation, Probe, Reach
from ..tokens import TEAM
from .common import HEALTH, personal_data, rule_documents

LEADS = {Role.supervisor: Reach.team}
ALERT = Probe("alerts", lambda c: f"/alerts/{c.world.alert_id}", Role.supervisor)
DOCUMENT = "links"
"""The rule document the set-up administrator wrote (tests/contract/world.py), so the fixture
tenant's has a version, a history and the run's administrator in it."""


def _alert(call: Call) -> dict[str, str]:
    return {"alert_id": call.world.alert_id}


def _team(call: Call) -> dict[str, str]:
    return {"team_id": TEAM}


TABLE: dict[tuple[str, str], Access] = {
    **HEALTH,
    **personal_data(lambda w, s: [w.alert_comment]),
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
    **rule_documents("alerts", DOCUMENT, secrets=lambda w, s: [w.admin, w.category], what="links"),
}
