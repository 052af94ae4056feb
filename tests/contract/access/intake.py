"""Intake: who may call what (R1: every employee reads every dossier; agents and supervisors work
on their own teams' complaints, another team's answering 404 as one that does not exist; the platform
hands complaints over; admins change their own organisation's rule documents through the kit's
/admin/rules routes, R8; operators create and change tenants, and only they)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hoera_kit.auth import Role

from ..matrix import Access, Call, Isolation, Probe, Reach, anyone
from ..tokens import TEAM, Scope, bearer
from .common import HEALTH, idempotency_key, personal_data, rule_documents
from .intake_webhooks import TABLE as WEBHOOKS

STAFF = anyone((Role.agent, Role.supervisor, Role.approver))
WORKERS = anyone((Role.agent, Role.supervisor), Reach.team)
MANAGEMENT = {Role.supervisor: Reach.team, Role.admin: Reach.all}
PLATFORM = anyone((Role.platform,))
OPERATOR = anyone((Role.operator,))
ERASERS = anyone((Role.platform, Role.admin))
SUPERVISORS = {Role.supervisor: Reach.team}
DOCUMENT = "categories"
"""The rule document the world marks with the run's category (world._intake_rules)."""

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


def _new_tenant(call: Call) -> dict[str, Any]:
    tenant = f"matrix-{call.world.run}-{uuid.uuid4().hex[:6]}"
    return {
        "id": tenant,
        "name": f"Matrix {call.world.run}",
        "template": "fr",
        "language": "fr",
        "mail_from": f"Matrix <plaintes@{tenant}.hoera.test>",
    }


_TENANTS: dict[str, str] = {}
"""One tenant per run that the operator routes read and change (created on first use)."""


async def _a_tenant(call: Call) -> dict[str, str]:
    if call.world.run not in _TENANTS:
        body = _new_tenant(call)
        resp = await call.http.post(
            call.world.url("intake", "/tenants"), json=body, headers=bearer(Role.operator)
        )
        assert resp.status_code == 201, resp.text
        _TENANTS[call.world.run] = body["id"]
    return {"tenant_id": _TENANTS[call.world.run]}


async def _tenant_change(call: Call) -> dict[str, Any]:
    tenant = (await _a_tenant(call))["tenant_id"]
    resp = await call.http.get(call.world.url("intake", f"/tenants/{tenant}"), headers=bearer(Role.operator))
    assert resp.status_code == 200, resp.text
    return {"expected_version": resp.json()["version"], "name": f"Matrix {call.world.run} (renamed)"}


TABLE: dict[tuple[str, str], Access] = {
    **HEALTH,
    **WEBHOOKS,
    **personal_data(lambda w, s: [w.complaint_id]),
    ("POST", "/erasures"): Access(
        roles=ERASERS,
        tenant=Isolation.data,
        body=lambda call: {"customer_id": f"CUST-{call.world.run}-E"},
        secrets=lambda w, s: [w.erasure_id],
        why="GDPR art. 17: the platform or an administrator erases a customer of their own organisation",
    ),
    ("GET", "/erasures/{erasure_id}"): Access(
        roles=ERASERS,
        tenant=Isolation.object,
        path=lambda call: {"erasure_id": call.world.erasure_id},
        why="an erasure's progress, for the organisation that asked",
    ),
    ("GET", "/customers/{customer_id}/personal-data"): Access(
        roles=ERASERS,
        tenant=Isolation.data,
        path=lambda call: {"customer_id": f"CUST-{call.world.run}"},
        secrets=lambda w, s: [w.complaint_id],
        why="GDPR art. 15: everything Hoera holds about a customer of the caller's organisation",
    ),
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
        tenant=Isolation.object,
        team=Isolation.object,
        path=lambda call: {"customer_id": call.world.deceased_customer},
        body=lambda call: {"owner_agent_id": "agent-anna", "team_id": TEAM, "reason": "matrix"},
        state=DECEASED_DOSSIER,
        why="R10: only the team that has the customer's open complaints moves them to a named owner",
    ),
    ("POST", "/customers/{customer_id}/deceased/withdraw"): Access(
        roles=SUPERVISORS,
        tenant=Isolation.object,
        team=Isolation.object,
        path=lambda call: {"customer_id": call.world.deceased_customer},
        body=lambda call: {"reason": "matrix: a namesake"},
        state=DECEASED_DOSSIER,
        why="R10: a supervisor of the case's team withdraws a mistaken marking",
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
    **rule_documents("intake", DOCUMENT, secrets=lambda w, s: [w.category, w.admin], what="categories"),
    ("POST", "/tenants"): Access(
        roles=OPERATOR,
        body=_new_tenant,
        why="operators create tenants; nobody of a tenant does",
    ),
    ("GET", "/tenants"): Access(roles=OPERATOR, why="operators list the tenants"),
    ("GET", "/tenants/{tenant_id}"): Access(roles=OPERATOR, path=_a_tenant, why="operators read a tenant"),
    ("PATCH", "/tenants/{tenant_id}"): Access(
        roles=OPERATOR,
        path=_a_tenant,
        body=_tenant_change,
        why="operators change a tenant's definition (keys, sender, active)",
    ),
}
