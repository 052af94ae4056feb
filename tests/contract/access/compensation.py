"""Compensation: the agent's path on their team's complaints (R11-R14), approvers across teams, the
abuse watch (R15), the ledger (R16) and the organisation's rule documents (R8: read by every role,
changed by its admin through the kit's /admin/rules routes), each within one organisation."""

from __future__ import annotations

from typing import Any

from hoera_kit.auth import Role

from ..matrix import Access, Call, Isolation, Probe, Reach, anyone
from ..tokens import Scope, caller_headers
from .common import HEALTH, personal_data, rule_documents

READERS = anyone((Role.agent, Role.supervisor, Role.approver, Role.admin))
PROPOSERS = anyone((Role.agent, Role.supervisor), Reach.team)
CASE_WORKERS = {Role.agent: Reach.team, Role.supervisor: Reach.team, Role.approver: Reach.all}
APPROVERS = anyone((Role.approver,))
REVIEWERS = anyone((Role.approver, Role.supervisor))
MANAGEMENT = {Role.supervisor: Reach.team, Role.approver: Reach.all, Role.admin: Reach.all}

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


RULE = "abuse-watch"
"""The rule document the matrix writes and rolls back (the world set its threshold to 1)."""
WATCH = Probe("compensation", lambda c: "/rules/abuse-watch", Role.agent)


async def _caller_s_rule(call: Call) -> dict[str, Any]:
    """The caller's own organisation's current abuse-watch document and version, as they read it
    (a caller who may not read it writes against the template's version 0)."""
    resp = await call.http.get(
        call.world.url("compensation", f"/admin/rules/{RULE}"), headers=caller_headers(call.role, call.scope)
    )
    if resp.status_code != 200:
        return {"version": 0, "document": {"threshold": 1, "window_days": 365}}
    found: dict[str, Any] = resp.json()
    return found


async def _rule_write(call: Call) -> dict[str, Any]:
    """The fixture tenant's admin writes its document as it is; another tenant's admin another one,
    so a write of theirs that lands in the fixture tenant's rules shows."""
    current = await _caller_s_rule(call)
    document = (
        current["document"] if call.scope is not Scope.other_tenant else {"threshold": 7, "window_days": 30}
    )
    return {"document": document, "expected_version": current["version"], "reason": "contract matrix"}


async def _rule_rollback(call: Call) -> dict[str, Any]:
    """Back to the version that is current (a new version with the same document)."""
    current = await _caller_s_rule(call)
    version = current["version"]
    return {"to_version": version, "expected_version": version, "reason": "contract matrix"}


TABLE: dict[tuple[str, str], Access] = {
    **HEALTH,
    **personal_data(lambda w, s: [w.complaint_id]),
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
        why="R15: a reviewer asks to clear a flag",
    ),
    ("POST", "/customers/{customer_id}/abuse-watch/review/{verdict}"): Access(
        roles=APPROVERS,
        tenant=Isolation.data,
        # The supervisor's flagged customer: the approver who answers is never the one who asked.
        path=lambda call: {"customer_id": call.world.flagged[Role.supervisor], "verdict": "reject"},
        body=lambda call: {"note": "Matrix: a second look, not cleared."},
        state=Probe(
            "compensation",
            lambda c: f"/customers/{c.world.flagged[Role.supervisor]}/abuse-watch",
            Role.approver,
        ),
        why="R15, four eyes: an approver of the organisation answers a request to clear a flag",
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
    **rule_documents(
        "compensation",
        "catalogue",
        secrets=lambda w, s: [w.catalogue_entry, w.admin],
        what="catalogue",
        written=RULE,
        write=_rule_write,
        rollback=_rule_rollback,
        state=WATCH,
    ),
}
