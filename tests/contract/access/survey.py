"""Survey: management's figures (R20, R21), the platform's contact budget and opt-outs (R21, R30),
the operators' rule documents (R8, the kit's /admin/rules) and survey-link keys, the customer's
page, opened by a signed link without a login, and the customers' comments for other services."""

from __future__ import annotations

import uuid
from typing import Any

from hoera_kit.auth import Role

from ..matrix import Access, Isolation, Probe, Reach, anyone
from ..tokens import TENANT
from .common import ADMIN, HEALTH, personal_data, rule_documents

ANALYSTS = {Role.supervisor: Reach.team, Role.admin: Reach.all}
CALLERS = anyone((Role.platform, Role.admin))
DOCUMENT = "caps"
"""The rule document the world's admin changed (its history names them)."""
KEYS = Probe("survey", lambda c: "/admin/link-keys", Role.admin)
SURVEY = str(uuid.UUID(int=0x5E1))
"""A survey id nobody was invited to: the page must answer it (404) without a login."""


def _standing(customer: str) -> Probe:
    return Probe("survey", lambda c: f"/customers/{getattr(c.world, customer)}", Role.platform)


def _page(**extra: Any) -> Access:
    return Access(public=True, path=lambda call: {"survey_id": SURVEY}, why="R18: the signed link", **extra)


TABLE: dict[tuple[str, str], Access] = {
    **HEALTH,
    **personal_data(lambda w, s: []),
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
    **rule_documents("survey", DOCUMENT, secrets=lambda w, s: [w.admin], what="caps, triggers and texts"),
    ("GET", "/admin/link-keys"): Access(
        roles=ADMIN,
        tenant=Isolation.data,
        why="the organisation's own survey-link keys (ids and dates; the keys never leave the service)",
    ),
    ("POST", "/admin/link-keys/rotation"): Access(
        roles=ADMIN,
        tenant=Isolation.data,
        state=KEYS,
        why="an admin rotates their own organisation's survey-link keys",
    ),
    ("POST", "/internal/survey-comments"): Access(
        roles={Role.service: Reach.all},
        body=lambda call: {"tenant": TENANT, "survey_ids": [SURVEY]},
        why="GDPR: comments stay out of events; alerts and callback, as services, read them here for the "
        "tenant they name. No person's role reaches them this way",
    ),
    ("GET", "/s/{survey_id}"): _page(query=lambda call: {"t": "not-a-link-token"}),
    ("POST", "/s/{survey_id}"): _page(form=lambda call: {"t": "not-a-link-token", "satisfaction": "5"}),
    ("GET", "/s/{survey_id}/thanks"): _page(query=lambda call: {"t": "not-a-link-token"}),
    ("POST", "/s/{survey_id}/opt-out"): _page(form=lambda call: {"t": "not-a-link-token"}),
}
