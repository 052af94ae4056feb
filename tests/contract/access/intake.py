"""Intake: who may call what (R1: every employee reads every dossier; agents and supervisors work
on their own teams' complaints; the platform hands complaints over; admins change the rules, R8)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from hoera_kit.auth import Role

from ..matrix import Access, Call, Isolation, Probe, Reach, anyone
from ..tokens import TEAM, Scope, bearer
from .common import HEALTH, idempotency_key

STAFF = anyone((Role.agent, Role.supervisor, Role.approver))
WORKERS = anyone((Role.agent, Role.supervisor), Reach.team)
MANAGEMENT = {Role.supervisor: Reach.team, Role.admin: Reach.all}
ADMIN = anyone((Role.admin,))
PLATFORM = anyone((Role.platform,))
KINDS = ("categories", "calendar", "templates", "root-causes", "teams", "absences", "workflow")
PLANTED = ("categories", "calendar", "root-causes", "teams", "absences")
"""The rule documents the world marked with the run (world._intake_rules)."""

DOSSIER = Probe("intake", lambda c: f"/complaints/{c.world.complaint_id}", Role.agent)
DECEASED_DOSSIER = Probe("intake", lambda c: f"/complaints/{c.world.deceased_complaint_id}", Role.agent)


def _complaint(call: Call) -> dict[str, str]:
    return {"complaint_id": call.world.complaint_id}


def _acting(body: dict[str, Any], why: str) -> Access:
    """A change to one complaint: its team's agents and supervisors, nobody of another tenant."""
    return Access(
        roles=WORKERS,
        tenant=Isolation.object,
        team=Isolation.object,
        path=_complaint,
        body=lambda call: body,
        state=DOSSIER,
        why=why,
    )


def _in_three_weeks() -> str:
    day = date.today() + timedelta(days=21)
    while day.isoweekday() > 5:
        day += timedelta(days=1)
    return day.isoformat()


def _submission(call: Call) -> dict[str, Any]:
    # The platform_ref of the fixture's dossier: another tenant's platform must get a dossier of
    # its own, never the fixture's (answered as "already known").
    w = call.world
    return {
        "customer_id": f"CUST-{w.run}",
        "channel": "phone",
        "category": "refund.late",
        "language": "nl",
        "summary": "Terugbetaling nog altijd niet ontvangen.",
        "received_at": datetime.now(UTC).isoformat(),
        "platform_ref": w.platform_ref,
        "team_id": TEAM,
    }


def _contact(call: Call) -> dict[str, Any]:
    w = call.world
    return {
        "contact_id": w.contact_id,
        "customer_id": f"CUST-{w.run}",
        "channel": "phone",
        "agent_id": "agent-anna",
        "team_id": TEAM,
        "closed_at": datetime.now(UTC).isoformat(),
        "language": "nl",
        "first_contact_resolved": True,
    }


def _current(kind: str) -> Any:
    """The fixture tenant's document in force: a valid body, and one that would show as a new
    version of the fixture tenant's rules if another tenant's write landed there."""

    async def body(call: Call) -> Any:
        resp = await call.http.get(
            call.world.url("intake", f"/admin/rules/{kind}"), headers=bearer(Role.admin)
        )
        assert resp.status_code == 200, resp.text
        return resp.json()

    return body


def _rules_probe(kind: str) -> Probe:
    """The document and its ETag (the version): a write that lands shows even with the same body."""
    return Probe("intake", lambda call: f"/admin/rules/{kind}", Role.admin)


def _category(call: Call) -> dict[str, Any]:
    w = call.world
    names = {"nl": "Matrix", "fr": "Matrice", "en": "Matrix"}
    if call.scope is Scope.other_tenant:
        names = {"nl": "Acme", "fr": "Acme", "en": "Acme"}
    return {"code": w.category, "names": names, "sla": {"business_days": 5}, "default_team": TEAM}


def _rule_routes() -> dict[tuple[str, str], Access]:
    routes: dict[tuple[str, str], Access] = {}
    for kind in KINDS:
        planted = kind in PLANTED
        routes[("GET", f"/admin/rules/{kind}")] = Access(
            roles=ADMIN,
            tenant=Isolation.data,
            secrets=(lambda w, s: [w.category]) if planted else None,
            why="R8: an admin reads their own organisation's rules",
        )
        routes[("PUT", f"/admin/rules/{kind}")] = Access(
            roles=ADMIN,
            tenant=Isolation.data,
            query=lambda call: {"reason": "contract matrix"},
            body=_current(kind),
            state=_rules_probe(kind),
            why="R8: an admin changes their own organisation's rules, never another's",
        )
    return routes


TABLE: dict[tuple[str, str], Access] = {
    **HEALTH,
    ("POST", "/complaints"): Access(
        roles=PLATFORM,
        tenant=Isolation.data,
        body=_submission,
        headers=idempotency_key,
        secrets=lambda w, s: [w.complaint_id],
        why="the platform hands complaints over for its own organisation",
    ),
    ("GET", "/complaints"): Access(
        roles=STAFF,
        tenant=Isolation.data,
        secrets=lambda w, s: [w.complaint_id],
        why="R1: every employee searches every dossier of their organisation",
    ),
    ("POST", "/contacts"): Access(
        roles=PLATFORM,
        tenant=Isolation.data,
        body=_contact,
        headers=idempotency_key,
        why="the platform reports its own organisation's closed contacts (R9)",
    ),
    ("GET", "/complaints/{complaint_id}"): Access(
        roles=STAFF,
        tenant=Isolation.object,
        path=_complaint,
        why="R1: every employee of the organisation reads every dossier",
    ),
    ("POST", "/complaints/{complaint_id}/assign"): _acting(
        {"agent_id": "agent-bram", "team_id": TEAM}, "assign within your own teams"
    ),
    ("POST", "/complaints/{complaint_id}/notes"): _acting({"text": "matrix note"}, "notes on your teams'"),
    ("POST", "/complaints/{complaint_id}/steps"): _acting({"status": "waiting_on_customer"}, "R6 steps"),
    ("POST", "/complaints/{complaint_id}/due-date"): _acting(
        {"due_date": _in_three_weeks(), "reason": "agreed_with_customer"}, "R3 a new promised date"
    ),
    ("POST", "/complaints/{complaint_id}/resolve"): _acting(
        {
            "root_cause_department": "claims-processing",
            "first_contact_resolution": False,
            "answer": "De terugbetaling is vertrokken.",
        },
        "R7, R9 resolve",
    ),
    ("POST", "/complaints/{complaint_id}/close"): _acting({}, "close"),
    ("POST", "/complaints/{complaint_id}/reopen"): _acting({"reason": "new_information"}, "reopen"),
    ("POST", "/customers/{customer_id}/deceased"): Access(
        roles=WORKERS,
        tenant=Isolation.data,
        team=Isolation.object,
        path=lambda call: {"customer_id": call.world.deceased_customer},
        body=lambda call: {"owner_agent_id": "agent-anna", "team_id": TEAM},
        state=DECEASED_DOSSIER,
        why="R10: only the team that has the customer's open complaints moves them to a named owner",
    ),
    ("GET", "/categories"): Access(
        roles=STAFF,
        tenant=Isolation.data,
        secrets=lambda w, s: [w.category],
        why="R8: the organisation's own categories",
    ),
    ("GET", "/root-causes"): Access(
        roles=STAFF,
        tenant=Isolation.data,
        secrets=lambda w, s: [w.category],
        why="R7: the organisation's own departments",
    ),
    ("GET", "/figures/step-durations"): Access(
        roles=MANAGEMENT,
        tenant=Isolation.data,
        team=Isolation.data,
        secrets=lambda w, s: [w.category],
        why="R6: a supervisor sees the teams they lead; an admin the organisation's",
    ),
    ("GET", "/figures/fcr"): Access(
        roles=MANAGEMENT,
        tenant=Isolation.data,
        team=Isolation.data,
        # Another tenant's platform may report contacts of a team of the same name (the matrix's
        # own calls do), so only the other team's supervisor is held to "no team-nl-1 row".
        secrets=lambda w, s: [TEAM] if s is Scope.other_team else [],
        why="R9: a supervisor sees the teams they lead; an admin the organisation's",
    ),
    ("GET", "/admin/rules"): Access(
        roles=ADMIN,
        tenant=Isolation.data,
        secrets=lambda w, s: [w.admin],
        why="R8: the organisation's own rule versions",
    ),
    **_rule_routes(),
    ("PUT", "/admin/categories/{code}"): Access(
        roles=ADMIN,
        tenant=Isolation.data,
        path=lambda call: {"code": call.world.category},
        query=lambda call: {"reason": "contract matrix"},
        body=_category,
        state=_rules_probe("categories"),
        why="R8: an admin changes their own organisation's categories",
    ),
    ("GET", "/admin/audit"): Access(
        roles=ADMIN,
        tenant=Isolation.data,
        secrets=lambda w, s: [w.admin],
        why="R8: the organisation's own audit trail",
    ),
}
