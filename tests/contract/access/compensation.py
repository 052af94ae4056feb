"""Compensation: the agent's path on their team's complaints (R11-R14), approvers across teams, the
abuse watch (R15), the ledger (R16) and the operators' rules (R8), each within one organisation."""

from __future__ import annotations

from typing import Any

from hoera_kit.auth import Role

from ..matrix import Access, Call, Isolation, Probe, Reach, anyone
from ..tokens import Scope, bearer
from .common import HEALTH

READERS = anyone((Role.agent, Role.supervisor, Role.approver, Role.admin))
PROPOSERS = anyone((Role.agent, Role.supervisor), Reach.team)
CASE_WORKERS = {Role.agent: Reach.team, Role.supervisor: Reach.team, Role.approver: Reach.all}
APPROVERS = anyone((Role.approver,))
REVIEWERS = anyone((Role.approver, Role.supervisor))
MANAGEMENT = {Role.supervisor: Reach.team, Role.approver: Reach.all, Role.admin: Reach.all}
ADMIN = anyone((Role.admin,))

FILE = Probe("compensation", lambda c: f"/complaints/{c.world.complaint_id}/compensation", Role.approver)


def _flagged(call: Call) -> str:
    """The flagged customer this role reviews (each reviewing role ends its own flag)."""
    return call.world.flagged.get(call.role or Role.approver, call.world.flagged[Role.approver])


def _complaint(call: Call) -> dict[str, str]:
    return {"complaint_id": call.world.complaint_id}


def _on_complaint(body: dict[str, Any], why: str) -> Access:
    return Access(
        roles=PROPOSERS,
        tenant=Isolation.object,
        team=Isolation.object,
        path=_complaint,
        body=lambda call: body,
        state=FILE,
        why=why,
    )


async def _catalogue_entry(call: Call) -> dict[str, Any]:
    code = call.world.catalogue_entry
    resp = await call.http.get(
        call.world.url("compensation", f"/catalogue/{code}"), headers=bearer(Role.agent)
    )
    assert resp.status_code == 200, resp.text
    entry: dict[str, Any] = resp.json()
    if call.scope is not Scope.own:
        entry["title"] = {**entry["title"], "en": f"{call.scope.value} wrote this"}
    return entry


def _per_scope(own: dict[str, Any], other: dict[str, Any]) -> Any:
    """The fixture tenant's value for its own admin; another value for another tenant's, so a write
    of theirs that lands in the fixture tenant's rules shows."""
    return lambda call: own if call.scope is Scope.own else other


TABLE: dict[tuple[str, str], Access] = {
    **HEALTH,
    ("GET", "/catalogue"): Access(
        roles=READERS,
        tenant=Isolation.data,
        secrets=lambda w, s: [w.catalogue_entry],
        why="R13: the organisation's own catalogue",
    ),
    ("GET", "/catalogue/{code}"): Access(
        roles=READERS,
        tenant=Isolation.object,
        path=lambda call: {"code": call.world.catalogue_entry},
        why="R13: an entry of the organisation's own catalogue",
    ),
    ("GET", "/complaints/{complaint_id}/compensation"): Access(
        roles=CASE_WORKERS,
        tenant=Isolation.object,
        team=Isolation.object,
        path=_complaint,
        why="R11: the team's agents and supervisors, and the approvers of every team",
    ),
    ("POST", "/complaints/{complaint_id}/apology"): _on_complaint({}, "R11: the team apologises"),
    ("POST", "/complaints/{complaint_id}/damage"): _on_complaint(
        {"amount": {"amount_cents": 2000, "currency": "EUR"}}, "R12: the team records the damage"
    ),
    ("POST", "/complaints/{complaint_id}/proposals"): _on_complaint(
        {"kind": "emotional", "gesture": "personal-call"}, "R11, R14: the team proposes"
    ),
    ("GET", "/approvals"): Access(
        roles=APPROVERS,
        tenant=Isolation.data,
        secrets=lambda w, s: [w.approval_id],
        why="R14: the organisation's own approval queue",
    ),
    ("POST", "/approvals/{compensation_id}/{verdict}"): Access(
        roles=APPROVERS,
        tenant=Isolation.object,
        path=lambda call: {"compensation_id": call.world.approval_id, "verdict": "approve"},
        body=lambda call: {"reason": "Matrix: within the rules."},
        state=Probe(
            "compensation",
            lambda c: f"/complaints/{c.world.approval_complaint_id}/compensation",
            Role.approver,
        ),
        why="R14: an approver of the organisation decides",
    ),
    ("GET", "/customers/{customer_id}/abuse-watch"): Access(
        roles=CASE_WORKERS,
        tenant=Isolation.data,
        path=lambda call: {"customer_id": call.world.flagged[Role.approver]},
        secrets=lambda w, s: ['"flagged":true'],
        why="R15: the customer's watch in the caller's own organisation",
    ),
    ("POST", "/customers/{customer_id}/abuse-watch/review"): Access(
        roles=REVIEWERS,
        tenant=Isolation.data,
        path=lambda call: {"customer_id": _flagged(call)},
        body=lambda call: {"note": "Matrix: reviewed, nothing wrong."},
        state=Probe("compensation", lambda c: f"/customers/{_flagged(c)}/abuse-watch", Role.approver),
        why="R15: a reviewer ends a flag of their own organisation",
    ),
    ("GET", "/flags"): Access(
        roles=REVIEWERS,
        tenant=Isolation.data,
        secrets=lambda w, s: list(w.flagged.values()),
        why="R15: the organisation's own flagged customers",
    ),
    ("GET", "/ledger"): Access(
        roles=MANAGEMENT,
        tenant=Isolation.data,
        team=Isolation.data,
        query=lambda call: {"group_by": ["team", "category"]},
        secrets=lambda w, s: [w.category],
        why="R16: supervisors see their teams' costs, approvers and admins the organisation's",
    ),
    ("GET", "/ledger.csv"): Access(
        roles=MANAGEMENT,
        tenant=Isolation.data,
        team=Isolation.data,
        query=lambda call: {"group_by": ["team", "category"]},
        secrets=lambda w, s: [w.category],
        why="R16: as the ledger",
    ),
    ("GET", "/rules/mandates"): Access(
        roles=READERS,
        tenant=Isolation.data,
        secrets=lambda w, s: ["51234"],
        why="R14: the organisation's own mandates (world: the supervisor's is EUR 512.34)",
    ),
    ("GET", "/rules/approval-deadline"): Access(
        roles=READERS,
        tenant=Isolation.data,
        secrets=lambda w, s: ['"business_days":3'],
        why="R14: the organisation's own deadline (world: 3 business days, the seed says 2)",
    ),
    ("GET", "/rules/abuse-watch"): Access(
        roles=READERS,
        tenant=Isolation.data,
        secrets=lambda w, s: ['"threshold":1,'],
        why="R15: the organisation's own watch (world: threshold 1, the seed says 2)",
    ),
    ("PUT", "/admin/catalogue/{code}"): Access(
        roles=ADMIN,
        tenant=Isolation.data,
        path=lambda call: {"code": call.world.catalogue_entry},
        body=_catalogue_entry,
        state=Probe("compensation", lambda c: f"/catalogue/{c.world.catalogue_entry}", Role.agent),
        why="R8, R13: an admin writes their own organisation's catalogue",
    ),
    ("DELETE", "/admin/catalogue/{code}"): Access(
        roles=ADMIN,
        tenant=Isolation.object,
        path=lambda call: {"code": call.world.retired_entry},
        state=Probe("compensation", lambda c: f"/catalogue/{c.world.retired_entry}", Role.agent),
        why="R8, R13: an admin retires an entry of their own organisation's catalogue",
    ),
    ("PUT", "/admin/mandates/{role}"): Access(
        roles=ADMIN,
        tenant=Isolation.data,
        path=lambda call: {"role": "agent"},
        body=_per_scope(
            {"limit": {"amount_cents": 30000, "currency": "EUR"}},
            {"limit": {"amount_cents": 39999, "currency": "EUR"}},
        ),
        state=Probe("compensation", lambda c: "/rules/mandates", Role.agent),
        why="R14: an admin sets their own organisation's mandates",
    ),
    ("PUT", "/admin/approval-deadline"): Access(
        roles=ADMIN,
        tenant=Isolation.data,
        body=_per_scope({"business_days": 3}, {"business_days": 5}),
        state=Probe("compensation", lambda c: "/rules/approval-deadline", Role.agent),
        why="R14: an admin sets their own organisation's deadline",
    ),
    ("PUT", "/admin/abuse-watch"): Access(
        roles=ADMIN,
        tenant=Isolation.data,
        body=_per_scope(
            {"threshold": 1, "window_days": 365, "flagged_needs_approval": True},
            {"threshold": 7, "window_days": 30, "flagged_needs_approval": False},
        ),
        state=Probe("compensation", lambda c: "/rules/abuse-watch", Role.agent),
        why="R15: an admin sets their own organisation's watch",
    ),
    ("GET", "/admin/audit"): Access(
        roles=ADMIN,
        tenant=Isolation.data,
        secrets=lambda w, s: [w.admin],
        why="R8: the organisation's own audit trail",
    ),
}
