"""Intake's webhooks to partners: a tenant's administrators, and only they, subscribe endpoints, read
their delivery log and replay deliveries, for their own tenant only (another tenant's endpoint or
delivery answers 404 as one that does not exist).

The fixture endpoint of demo is made on first use and disabled at once, so it sends nothing and its
view never moves by itself while the refusals are probed (a failing delivery would count on it). Its
one delivery, for the replay, is of a complaint the platform hands over after that."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from hoera_devkit.testing import eventually
from hoera_kit.auth import Role

from ..matrix import Access, Call, Isolation, Probe, anyone
from ..tokens import TEAM, Scope, bearer
from ..world import World

ADMIN = anyone((Role.admin,))
UNREACHABLE = "http://127.0.0.1:9/matrix"
"""Nobody listens there (the matrix runs in the test environment, where plain http is taken)."""

_ENDPOINTS: dict[str, str] = {}
_DELIVERIES: dict[str, str] = {}


def _endpoint_id(world: World) -> str:
    """demo's fixture endpoint, made (and disabled) on first use; synchronous, so a probe's path can
    ask for it before the first call about it."""
    if world.run not in _ENDPOINTS:
        admin = bearer(Role.admin, subject=world.admin)
        with httpx.Client(timeout=30) as http:
            created = http.post(
                world.url("intake", "/webhooks/endpoints"),
                json={"url": UNREACHABLE, "event_types": ["complaint.raised"], "description": world.admin},
                headers=admin,
            )
            assert created.status_code == 201, created.text
            endpoint_id = created.json()["endpoint_id"]
            off = http.post(
                world.url("intake", f"/webhooks/endpoints/{endpoint_id}/disable"),
                json={"reason": "matrix fixture"},
                headers=admin,
            )
            assert off.status_code == 200, off.text
        _ENDPOINTS[world.run] = endpoint_id
    return _ENDPOINTS[world.run]


def _endpoint(call: Call) -> dict[str, str]:
    return {"endpoint_id": _endpoint_id(call.world)}


def _to_delete(call: Call) -> dict[str, str]:
    """An administrator of demo deletes an endpoint of their own; every other caller is refused the
    fixture endpoint (which the probe watches)."""
    if call.role is Role.admin and call.scope is Scope.own:
        with httpx.Client(timeout=30) as http:
            created = http.post(
                call.world.url("intake", "/webhooks/endpoints"),
                json={"url": UNREACHABLE, "event_types": ["complaint.raised"]},
                headers=bearer(Role.admin),
            )
            assert created.status_code == 201, created.text
            return {"endpoint_id": created.json()["endpoint_id"]}
    return _endpoint(call)


async def _delivery(call: Call) -> dict[str, str]:
    """A delivery of the fixture endpoint: a complaint the platform hands over, forwarded (held)."""
    w = call.world
    endpoint_id = _endpoint_id(w)
    if w.run not in _DELIVERIES:
        complaint = {
            "customer_id": f"CUST-{w.run}-WH",
            "channel": "phone",
            "category": "refund.late",
            "language": "nl",
            "summary": "Terugbetaling nog altijd niet ontvangen.",
            "received_at": datetime.now(UTC).isoformat(),
            "platform_ref": f"PLT-{w.run}-WH",
            "team_id": TEAM,
        }
        headers = {**bearer(Role.platform, subject=w.platform), "Idempotency-Key": str(uuid.uuid4())}
        handed = await call.http.post(w.url("intake", "/complaints"), json=complaint, headers=headers)
        assert handed.status_code == 201, handed.text
        url = w.url("intake", f"/webhooks/endpoints/{endpoint_id}/deliveries")
        log = await eventually(
            lambda: call.http.get(url, headers=bearer(Role.admin)),
            lambda r: r.status_code == 200 and bool(r.json()["deliveries"]),
            timeout=60,
        )
        assert log.json()["deliveries"], f"no delivery of the complaint raised: {log.text[:300]}"
        _DELIVERIES[w.run] = log.json()["deliveries"][-1]["delivery_id"]
    return {"delivery_id": _DELIVERIES[w.run]}


def _secrets(world: World, scope: Scope) -> list[str]:
    return [_endpoint_id(world), world.admin]


ENDPOINT = Probe("intake", lambda c: f"/webhooks/endpoints/{_endpoint_id(c.world)}", Role.admin)


def _acting(why: str, body: Any = None) -> Access:
    return Access(
        roles=ADMIN,
        tenant=Isolation.object,
        path=_endpoint,
        body=(lambda call: body) if body is not None else None,
        state=ENDPOINT,
        why=why,
    )


TABLE: dict[tuple[str, str], Access] = {
    ("GET", "/webhooks/event-types"): Access(roles=ADMIN, why="what an administrator may subscribe to"),
    ("POST", "/webhooks/endpoints"): Access(
        roles=ADMIN,
        tenant=Isolation.data,
        body=lambda call: {"url": UNREACHABLE, "event_types": ["survey.answered"]},
        secrets=_secrets,
        state=ENDPOINT,
        why="an administrator subscribes their own organisation's partners",
    ),
    ("GET", "/webhooks/endpoints"): Access(
        roles=ADMIN,
        tenant=Isolation.data,
        secrets=_secrets,
        why="an administrator lists their own organisation's endpoints",
    ),
    ("GET", "/webhooks/endpoints/{endpoint_id}"): Access(
        roles=ADMIN, tenant=Isolation.object, path=_endpoint, why="one endpoint of their own organisation"
    ),
    ("PATCH", "/webhooks/endpoints/{endpoint_id}"): _acting(
        "change an endpoint of their own organisation", {"description": "matrix"}
    ),
    ("DELETE", "/webhooks/endpoints/{endpoint_id}"): Access(
        roles=ADMIN,
        tenant=Isolation.object,
        path=_to_delete,
        state=ENDPOINT,
        why="remove an endpoint of their own organisation",
    ),
    ("POST", "/webhooks/endpoints/{endpoint_id}/disable"): _acting("stop sending to a partner", {}),
    ("POST", "/webhooks/endpoints/{endpoint_id}/enable"): _acting("send to a partner again"),
    ("POST", "/webhooks/endpoints/{endpoint_id}/rotate-secret"): _acting("give an endpoint a new secret"),
    ("GET", "/webhooks/endpoints/{endpoint_id}/deliveries"): Access(
        roles=ADMIN,
        tenant=Isolation.object,
        path=_endpoint,
        why="the delivery log of an endpoint of their own organisation",
    ),
    ("POST", "/webhooks/deliveries/{delivery_id}/replay"): Access(
        roles=ADMIN,
        tenant=Isolation.object,
        path=_delivery,
        why="send a delivery of their own organisation again",
    ),
}
