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
    **rule_documents(
        "callback", DOCUMENT, secrets=lambda w, s: [w.admin], what="lead time, lease and retries"
    ),
}
