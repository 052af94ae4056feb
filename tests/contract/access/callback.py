"""Callback: agents and supervisors work their own teams' queues (another team's callback or queue
answers 404, as one that does not exist); admins read their organisation's queues and figures and
change its rule documents through the kit's /admin/rules routes (R8, R26-R29)."""

from __future__ import annotations

from typing import Any

from hoera_kit.auth import Role

from ..matrix import Access, Call, Isolation, Probe, Reach, anyone
from ..tokens import TEAM
from .common import HEALTH, personal_data, rule_documents

WORKERS = anyone((Role.agent, Role.supervisor), Reach.team)
READERS = {Role.agent: Reach.team, Role.supervisor: Reach.team, Role.admin: Reach.all}
CALLBACK = Probe("callback", lambda c: f"/callbacks/{c.world.callback_id}", Role.agent)
DOCUMENT = "queue"
LEADS = {Role.supervisor: Reach.team, Role.admin: Reach.all}
CASE = Probe("callback", lambda c: f"/recovery-cases/{c.world.recovery_case_id}", Role.agent)
ACTION = Probe("callback", lambda c: f"/improvement-actions/{c.world.action_id}", Role.supervisor)


def _case(call: Call) -> dict[str, str]:
    return {"case_id": call.world.recovery_case_id}


def _action(call: Call) -> dict[str, str]:
    return {"action_id": call.world.action_id}


def _department(call: Call) -> dict[str, str]:
    return {"department": f"matrix-{call.world.run}"}


def _callback(call: Call) -> dict[str, str]:
    return {"callback_id": call.world.callback_id}


def _on_callback(body: dict[str, Any] | None, why: str) -> Access:
    return Access(
        roles=WORKERS,
        tenant=Isolation.object,
        team=Isolation.object,
        path=_callback,
        body=(lambda call: body) if body is not None else None,
        state=CALLBACK,
        why=why,
    )


TABLE: dict[tuple[str, str], Access] = {
    **HEALTH,
    **personal_data(lambda w, s: [w.alert_comment]),
    ("POST", "/callbacks"): Access(
        roles=WORKERS,
        tenant=Isolation.data,
        team=Isolation.object,
        body=lambda call: {
            "customer_id": f"CUST-{call.world.run}-C",
            "team_id": TEAM,
            "language": "nl",
            "request_ref": call.world.callback_ref,
        },
        secrets=lambda w, s: [w.callback_id],
        why="R26: a callback in a queue of my own team",
    ),
    ("GET", "/callbacks"): Access(
        roles=READERS,
        tenant=Isolation.data,
        team=Isolation.data,
        secrets=lambda w, s: [w.callback_id],
        why="R26: the queues of my teams",
    ),
    ("POST", "/callbacks/next"): Access(
        roles=WORKERS,
        tenant=Isolation.data,
        team=Isolation.data,
        secrets=lambda w, s: [w.callback_id],
        state=CALLBACK,
        why="R26: the next callback of my teams' queues",
    ),
    ("GET", "/callbacks/{callback_id}"): Access(
        roles=READERS,
        tenant=Isolation.object,
        team=Isolation.object,
        path=_callback,
        why="R27: the context of a callback of my team",
    ),
    ("POST", "/callbacks/{callback_id}/claim"): _on_callback(None, "R26: claim one of my team's"),
    ("POST", "/callbacks/{callback_id}/release"): _on_callback({}, "R26: give one of my team's back"),
    ("POST", "/callbacks/{callback_id}/outcome"): _on_callback(
        {"outcome": "still_unresolved", "note": "Matrix: called, not solved yet."}, "R28: the outcome"
    ),
    ("GET", "/figures"): Access(
        roles=READERS,
        tenant=Isolation.data,
        team=Isolation.data,
        secrets=lambda w, s: ["agent-bram"],
        why="R29: agents their own rows, supervisors their teams', admins all",
    ),
    ("GET", "/recovery-cases"): Access(
        roles=READERS,
        tenant=Isolation.data,
        team=Isolation.data,
        secrets=lambda w, s: [w.recovery_case_id],
        why="R29: the recovery cases of my teams",
    ),
    ("GET", "/recovery-cases/{case_id}"): Access(
        roles=READERS,
        tenant=Isolation.object,
        team=Isolation.object,
        path=_case,
        why="R29: a case of my team with its timeline",
    ),
    ("PUT", "/recovery-cases/{case_id}/department"): Access(
        roles=WORKERS,
        tenant=Isolation.object,
        team=Isolation.object,
        path=_case,
        body=lambda call: {"root_cause_department": f"matrix-{call.world.run}"},
        state=CASE,
        why="R7: my team traces its case to a department",
    ),
    ("POST", "/recovery-cases/{case_id}/close"): Access(
        roles=WORKERS,
        tenant=Isolation.object,
        team=Isolation.object,
        path=_case,
        body=lambda call: {
            "outcome": "no_action_needed",
            "root_cause_department": f"matrix-{call.world.run}",
        },
        state=CASE,
        why="R29: my team closes its case with a department and an outcome",
    ),
    ("GET", "/recovery-figures"): Access(
        roles=LEADS,
        tenant=Isolation.data,
        team=Isolation.data,
        why="R29: recovery figures of my teams (admins: all)",
    ),
    ("GET", "/departments"): Access(
        roles=LEADS,
        tenant=Isolation.data,
        secrets=lambda w, s: [f"matrix-{w.run}"],
        why="R7: the departments' counts of my organisation",
    ),
    ("GET", "/departments/{department}"): Access(
        roles=LEADS,
        tenant=Isolation.data,
        path=_department,
        secrets=lambda w, s: [w.action_id],
        why="R7: a department's figures and its improvement actions",
    ),
    ("GET", "/improvement-actions"): Access(
        roles=LEADS,
        tenant=Isolation.data,
        secrets=lambda w, s: [w.action_id],
        why="R7: my organisation's improvement actions",
    ),
    ("POST", "/improvement-actions"): Access(
        roles=LEADS,
        tenant=Isolation.data,
        body=lambda call: {
            "department": f"matrix-{call.world.run}",
            "title": "Matrix: another action",
            "owner": "sup-sara",
            "due_on": "2030-02-28",
        },
        secrets=lambda w, s: [w.action_id],
        why="R7: plan an action for a department of my organisation",
    ),
    ("GET", "/improvement-actions/{action_id}"): Access(
        roles=LEADS,
        tenant=Isolation.object,
        path=_action,
        why="R7: one action of my organisation",
    ),
    ("PATCH", "/improvement-actions/{action_id}"): Access(
        roles=LEADS,
        tenant=Isolation.object,
        path=_action,
        body=lambda call: {"version": 1, "note": "Matrix: looked at"},
        state=ACTION,
        why="R7: change an action of my organisation (409 once someone changed it first)",
    ),
    **rule_documents(
        "callback", DOCUMENT, secrets=lambda w, s: [w.admin], what="lead time, lease and retries"
    ),
}
