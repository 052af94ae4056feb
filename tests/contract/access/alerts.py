"""Alerts: a supervisor sees only the alerts and figures of the teams they lead in their own tenant
(R23, R25); an administrator reads and changes their own tenant's rule documents (R8), through the
kit's /admin/rules routes. An alert of a team is its supervisors' alone: the back office and admins
read only alerts without a team (abuse flags). The pages (/dashboard...) are not in the document:
they take a session cookie, not a bearer token (tests/integration of the service cover them)."""

from __future__ import annotations

from typing import Any

from hoera_kit.auth import Role

from ..matrix import Access, Call, Isolation, Probe, Reach, anyone
from ..tokens import TEAM, bearer
from .common import HEALTH

LEADS = {Role.supervisor: Reach.team}
ADMIN = anyone((Role.admin,))
ALERT = Probe("alerts", lambda c: f"/alerts/{c.world.alert_id}", Role.supervisor)
DOCUMENT = "links"
"""The rule document the set-up administrator wrote (tests/contract/world.py), so the fixture
tenant's has a version, a history and the run's administrator in it."""
RULES = Probe("alerts", lambda c: f"/admin/rules/{DOCUMENT}", Role.admin)


def _alert(call: Call) -> dict[str, str]:
    return {"alert_id": call.world.alert_id}


def _team(call: Call) -> dict[str, str]:
    return {"team_id": TEAM}


def _document(call: Call) -> dict[str, str]:
    return {"name": DOCUMENT}


async def _current(call: Call) -> dict[str, Any]:
    """The fixture tenant's current document, as its administrator reads it."""
    resp = await call.http.get(
        call.world.url("alerts", f"/admin/rules/{DOCUMENT}"), headers=bearer(Role.admin)
    )
    assert resp.status_code == 200, resp.text
    current: dict[str, Any] = resp.json()
    return current


async def _write(call: Call) -> dict[str, Any]:
    """The same document again, against the fixture tenant's current version."""
    current = await _current(call)
    return {
        "document": current["document"],
        "expected_version": current["version"],
        "reason": "contract matrix",
    }


async def _rollback(call: Call) -> dict[str, Any]:
    """Back to the fixture tenant's current version (a new version with the same document)."""
    current = await _current(call)
    return {
        "to_version": current["version"],
        "expected_version": current["version"],
        "reason": "contract matrix",
    }


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
        path=_document,
        secrets=lambda w, s: [w.admin, w.category],
        why="R8: the organisation's own document (another tenant reads its own template's)",
    ),
    ("GET", "/admin/rules/{name}/schema"): Access(
        roles=ADMIN,
        path=_document,
        why="R8: the shape a document must fit, the same for every tenant",
    ),
    ("PUT", "/admin/rules/{name}"): Access(
        roles=ADMIN,
        tenant=Isolation.data,
        path=_document,
        body=_write,
        state=RULES,
        why="R8: an admin changes their own organisation's documents, never another's",
    ),
    ("GET", "/admin/rules/{name}/history"): Access(
        roles=ADMIN,
        tenant=Isolation.data,
        path=_document,
        secrets=lambda w, s: [w.admin, w.category],
        why="R8: the organisation's own history",
    ),
    ("POST", "/admin/rules/{name}/rollback"): Access(
        roles=ADMIN,
        tenant=Isolation.data,
        path=_document,
        body=_rollback,
        state=RULES,
        why="R8: an admin rolls back their own organisation's documents, never another's",
    ),
}
