"""Survey: management's figures (R20, R21), the platform's contact budget and opt-outs (R21, R30),
the operators' rules (R8) and the customer's page, opened by a signed link without a login."""

from __future__ import annotations

import uuid
from typing import Any

from hoera_kit.auth import Role

from ..matrix import Access, Call, Isolation, Probe, Reach, anyone
from ..tokens import bearer
from .common import HEALTH

ANALYSTS = {Role.supervisor: Reach.team, Role.admin: Reach.all}
CALLERS = anyone((Role.platform, Role.admin))
ADMIN = anyone((Role.admin,))
RULES = Probe("survey", lambda c: "/rules", Role.admin)
SURVEY = str(uuid.UUID(int=0x5E1))
"""A survey id nobody was invited to: the page must answer it (404) without a login."""


def _standing(customer: str) -> Probe:
    return Probe("survey", lambda c: f"/customers/{getattr(c.world, customer)}", Role.platform)


def _current(name: str) -> Any:
    async def body(call: Call) -> Any:
        resp = await call.http.get(call.world.url("survey", "/rules"), headers=bearer(Role.admin))
        assert resp.status_code == 200, resp.text
        return next(r["document"] for r in resp.json() if r["name"] == name)

    return body


def _rule_change(name: str) -> Access:
    return Access(
        roles=ADMIN,
        tenant=Isolation.data,
        body=_current(name),
        state=RULES,
        why="R8: an admin changes their own organisation's survey rules",
    )


def _page(**extra: Any) -> Access:
    return Access(public=True, path=lambda call: {"survey_id": SURVEY}, why="R18: the signed link", **extra)


TABLE: dict[tuple[str, str], Access] = {
    **HEALTH,
    ("GET", "/figures"): Access(
        roles=ANALYSTS,
        tenant=Isolation.data,
        team=Isolation.data,
        why="R20: supervisors see the teams they lead, admins the organisation",
    ),
    ("GET", "/suppressions"): Access(
        roles=ANALYSTS,
        tenant=Isolation.data,
        team=Isolation.data,
        why="R21: supervisors see the teams they lead, admins the organisation",
    ),
    ("POST", "/customers/{customer_id}/proactive-contacts"): Access(
        roles=CALLERS,
        tenant=Isolation.data,
        path=lambda call: {"customer_id": call.world.customer},
        body=lambda call: {"reference": f"matrix:{call.world.run}"},
        state=_standing("customer"),
        why="R30: the organisation's own contact budget",
    ),
    ("GET", "/customers/{customer_id}"): Access(
        roles=CALLERS,
        tenant=Isolation.data,
        path=lambda call: {"customer_id": call.world.opted_out_customer},
        secrets=lambda w, s: [w.platform],
        why="R21: the customer's standing in the caller's own organisation",
    ),
    ("PUT", "/customers/{customer_id}/opt-out"): Access(
        roles=CALLERS,
        tenant=Isolation.data,
        path=lambda call: {"customer_id": call.world.customer},
        state=_standing("customer"),
        why="R21: an opt-out in the caller's own organisation",
    ),
    ("DELETE", "/customers/{customer_id}/opt-out"): Access(
        roles=CALLERS,
        tenant=Isolation.data,
        path=lambda call: {"customer_id": call.world.opted_out_customer},
        state=_standing("opted_out_customer"),
        why="R21: an opt-in in the caller's own organisation",
    ),
    ("GET", "/rules"): Access(roles=ADMIN, tenant=Isolation.data, why="R8: the organisation's own rules"),
    ("GET", "/rules/{name}/audit"): Access(
        roles=ADMIN,
        tenant=Isolation.data,
        path=lambda call: {"name": "caps"},
        secrets=lambda w, s: [w.admin],
        why="R8: the organisation's own audit trail",
    ),
    ("PUT", "/rules/caps"): _rule_change("caps"),
    ("PUT", "/rules/triggers"): _rule_change("triggers"),
    ("PUT", "/rules/texts"): _rule_change("texts"),
    ("GET", "/s/{survey_id}"): _page(query=lambda call: {"t": "not-a-link-token"}),
    ("POST", "/s/{survey_id}"): _page(form=lambda call: {"t": "not-a-link-token", "satisfaction": "5"}),
    ("GET", "/s/{survey_id}/thanks"): _page(),
    ("POST", "/s/{survey_id}/opt-out"): _page(form=lambda call: {"t": "not-a-link-token"}),
}
