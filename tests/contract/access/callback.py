"""Callback: agents and supervisors work their own teams' queues (another team's callback or queue
answers 404, as one that does not exist); admins read their organisation's queues and figures and
change its rule documents through the kit's /admin/rules routes (R8, R26-R29)."""

from __future__ import annotations

from typing import Any

from hoera_kit.auth import Role

from ..matrix import Access, Call, Isolation, Probe, Reach, anyone
from ..tokens import TEAM, bearer, caller_headers
from .common import HEALTH

WORKERS = anyone((Role.agent, Role.supervisor), Reach.team)
READERS = {Role.agent: Reach.team, Role.supervisor: Reach.team, Role.admin: Reach.all}
ADMIN = anyone((Role.admin,))
CALLBACK = Probe("callback", lambda c: f"/callbacks/{c.world.callback_id}", Role.agent)
DOCUMENT = "queue"
RULES = Probe("callback", lambda c: f"/admin/rules/{DOCUMENT}", Role.admin)


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


async def _current(call: Call) -> Any:
    """An admin's own organisation's document as they read it (a valid change for their tenant, which
    must never land in the fixture tenant's); the fixture tenant's for everyone else."""
    reader = caller_headers(call.role, call.scope) if call.role is Role.admin else bearer(Role.admin)
    resp = await call.http.get(call.world.url("callback", f"/admin/rules/{DOCUMENT}"), headers=reader)
    assert resp.status_code == 200, resp.text
    return resp.json()


async def _rewrite(call: Call) -> dict[str, Any]:
    current = await _current(call)
    return {"document": current["document"], "expected_version": current["version"], "reason": "matrix"}


async def _rollback(call: Call) -> dict[str, Any]:
    current = await _current(call)
    return {"to_version": 0, "expected_version": current["version"], "reason": "matrix"}


def _document(call: Call) -> dict[str, str]:
    return {"name": DOCUMENT}


TABLE: dict[tuple[str, str], Access] = {
    **HEALTH,
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
        secrets=lambda w, s: [w.admin],
        why="R8: the organisation's own lead time, lease and retries",
    ),
    ("GET", "/admin/rules/{name}/schema"): Access(
        roles=ADMIN,
        path=_document,
        why="R8: the form of a document, the same for every organisation",
    ),
    ("PUT", "/admin/rules/{name}"): Access(
        roles=ADMIN,
        tenant=Isolation.data,
        path=_document,
        body=_rewrite,
        state=RULES,
        why="R8: an admin changes their own organisation's documents, never another's",
    ),
    ("GET", "/admin/rules/{name}/history"): Access(
        roles=ADMIN,
        tenant=Isolation.data,
        path=_document,
        secrets=lambda w, s: [w.admin],
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
