"""Pieces every service's table uses."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hoera_kit.auth import Role

from ..matrix import Access, Builder, Call, Isolation, Probe, anyone
from ..tokens import Scope, bearer, caller_headers

if TYPE_CHECKING:
    from ..world import World

HEALTH = {
    ("GET", "/livez"): Access(public=True, why="liveness: no token, nothing to hide"),
    ("GET", "/readyz"): Access(public=True, why="readiness: no token, nothing to hide"),
}
ADMIN = anyone((Role.admin,))


def idempotency_key(call: Call) -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def document_path(name: str) -> Builder:
    return lambda call: {"name": name}


def rule_documents(
    service: str,
    document: str,
    *,
    secrets: Callable[[World, Scope], list[str]],
    what: str,
    written: str | None = None,
    write: Builder | None = None,
    rollback: Builder | None = None,
    state: Probe | None = None,
) -> dict[tuple[str, str], Access]:
    """The kit's /admin/rules routes, the same in every service (hoera_kit.rules_api): an admin reads
    and changes their own organisation's documents, never another's.

    document: the one read (its history must not show the fixture tenant's `secrets` to another
    tenant); written: the one changed and rolled back (the same unless given). By default a caller
    writes their own organisation's current document back against its version (another tenant's
    admin so changes their own, which must never land in the fixture tenant's: `state` watches that)
    and rolls back to the template (version 0)."""
    changed = written or document

    async def current(call: Call) -> Any:
        # An admin reads as themselves; everyone else gets the fixture tenant's (their write is refused).
        reader = caller_headers(call.role, call.scope) if call.role is Role.admin else bearer(Role.admin)
        resp = await call.http.get(call.world.url(service, f"/admin/rules/{changed}"), headers=reader)
        assert resp.status_code == 200, resp.text
        return resp.json()

    async def rewrite(call: Call) -> dict[str, Any]:
        now = await current(call)
        return {"document": now["document"], "expected_version": now["version"], "reason": "matrix"}

    async def to_template(call: Call) -> dict[str, Any]:
        now = await current(call)
        return {"to_version": 0, "expected_version": now["version"], "reason": "matrix"}

    watched = state or Probe(service, lambda c: f"/admin/rules/{changed}", Role.admin)
    return {
        ("GET", "/admin/rules"): Access(
            roles=ADMIN,
            tenant=Isolation.data,
            secrets=lambda w, s: [w.admin],
            why="R8: the organisation's own rule documents",
        ),
        ("GET", "/admin/rules/{name}"): Access(
            roles=ADMIN,
            tenant=Isolation.data,
            path=document_path(document),
            secrets=secrets,
            why=f"R8: the organisation's own {what} (another tenant reads its own)",
        ),
        ("GET", "/admin/rules/{name}/schema"): Access(
            roles=ADMIN,
            path=document_path(document),
            why="R8: the shape a document must fit, the same for every organisation",
        ),
        ("GET", "/admin/rules/{name}/history"): Access(
            roles=ADMIN,
            tenant=Isolation.data,
            path=document_path(document),
            secrets=secrets,
            why=f"R8: who changed the organisation's own {what}, from what to what",
        ),
        ("PUT", "/admin/rules/{name}"): Access(
            roles=ADMIN,
            tenant=Isolation.data,
            path=document_path(changed),
            body=write or rewrite,
            state=watched,
            why="R8: an admin changes their own organisation's documents, never another's",
        ),
        ("POST", "/admin/rules/{name}/rollback"): Access(
            roles=ADMIN,
            tenant=Isolation.data,
            path=document_path(changed),
            body=rollback or to_template,
            state=watched,
            why="R8: an admin rolls back their own organisation's documents, never another's",
        ),
    }


def personal_data(secrets: Callable[[World, Scope], list[str]]) -> dict[tuple[str, str], Access]:
    """The kit's subject-access route, the same in every service (hoera_kit.privacy): the platform
    and the organisation's administrators read what the service holds about one of their customers;
    another tenant asking for the same id sees none of it."""
    return {
        ("GET", "/privacy/customers/{customer_id}"): Access(
            roles=anyone((Role.platform, Role.admin)),
            tenant=Isolation.data,
            path=lambda call: {"customer_id": f"CUST-{call.world.run}"},
            secrets=secrets,
            why="GDPR art. 15: what this service holds about the customer, in the caller's organisation",
        )
    }
