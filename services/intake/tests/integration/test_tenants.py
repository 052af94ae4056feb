"""Many contact centres on one platform: an operator creates a tenant from a template and every service
learns it before the answer; a caller of tenant "acme" finds none of tenant "demo"'s dossiers, rule
documents or figures and changes none of them; acme's rules never decide anything of demo's."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from hoera_events.organisation import OrganisationChanged, TenantDefined

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from intake_support import (
    ACME_ADMIN,
    ADMIN,
    ANNA,
    OPERATOR,
    SARA,
    Running,
    bearer,
    change_document,
    events_on,
    new_tenant_body,
    with_category,
)

pytestmark = pytest.mark.integration

ACME_ANNA = bearer("agent-anna", ("agent",), ("team-nl-1",), tenant="acme")
ACME_SARA = bearer("sup-sara", ("supervisor",), ("team-nl-1",), tenant="acme")
ACME_PLATFORM = bearer("contact-platform", ("platform",), tenant="acme")


async def demo_state(running: Running) -> list[Any]:
    """Everything of demo's a caller could change: dossiers, timelines, markings, rule versions."""
    rows = []
    for sql in (
        "select id, status, agent_id, team_id, due_date, sla_version from complaints where tenant = 'demo' "
        "order by id",
        # Not the delivery states the delivery worker adds on its own meanwhile.
        "select count(*) from timeline where tenant = 'demo' and what not like 'delivery%'",
        "select count(*) from deceased_customers where tenant = 'demo'",
        "select name, version from kit_rule_versions where tenant = 'demo' order by name",
    ):
        rows += [tuple(r) for r in await running.fetch(sql)]
    return rows


async def test_another_tenants_staff_find_and_change_none_of_demos_dossiers_rules_or_figures(
    running: Running,
) -> None:
    mark = f"demo-{uuid.uuid4().hex[:6]}"
    category = {"code": mark, "names": {"nl": mark, "fr": mark, "en": mark}, "sla": {"business_days": 4}}
    await change_document(running.http, "categories", with_category(category), ADMIN, reason=mark)
    accepted = await running.submit(customer_id=f"CUST-{mark}", category=mark)
    cid = accepted["complaint_id"]
    resolved = await running.submit(customer_id=f"CUST-{mark}")
    answer = {"root_cause_department": "billing", "first_contact_resolution": True}
    assert (
        await running.http.post(f"/complaints/{resolved['complaint_id']}/resolve", json=answer, headers=ANNA)
    ).status_code == 200
    before = await demo_state(running)

    unknown = f"/complaints/{uuid.uuid4()}"
    for who in (ACME_ANNA, ACME_SARA):
        read = await running.http.get(f"/complaints/{cid}", headers=who)
        assert (read.status_code, read.json()) == (404, {"detail": "complaint not found"})
        for path, body in (
            ("notes", {"text": "acme was here"}),
            ("assign", {"agent_id": "agent-anna", "team_id": "team-nl-1"}),
            ("steps", {"status": "in_progress"}),
            ("resolve", answer),
            ("due-date", {"due_date": "2030-01-07", "reason": "agreed_with_customer"}),
        ):
            theirs = await running.http.post(f"/complaints/{cid}/{path}", json=body, headers=who)
            nobody = await running.http.post(f"{unknown}/{path}", json=body, headers=who)
            assert theirs.status_code == nobody.status_code == 404, path
        marking = {"owner_agent_id": "agent-anna", "team_id": "team-nl-1", "reason": "acme says so"}
        marked = await running.http.post(f"/customers/CUST-{mark}/deceased", json=marking, headers=who)
        assert marked.status_code == 404
        found = await running.http.get("/complaints", params={"customer_id": f"CUST-{mark}"}, headers=who)
        assert found.status_code == 200 and found.json()["items"] == []
        assert mark not in (await running.http.get("/categories", headers=who)).text
    figures = await running.http.get("/figures/fcr", params={"bucket": "day"}, headers=ACME_SARA)
    assert figures.status_code == 200 and figures.json()["rows"] == []

    # acme's administrator reads acme's documents (its fr template), never demo's, and writes acme's.
    theirs = await running.http.get("/admin/rules/categories", headers=ACME_ADMIN)
    assert theirs.status_code == 200 and mark not in theirs.text
    assert "hospitalisation.bill" in theirs.text  # the French-speaking insurer's own catalogue
    history = await running.http.get("/admin/rules/categories/history", headers=ACME_ADMIN)
    assert history.status_code == 200 and history.json() == []
    await change_document(
        running.http,
        "categories",
        lambda d: {"categories": [{**c, "sla": {"seconds": 1}} for c in d["categories"]]},
        ACME_ADMIN,
    )
    await change_document(running.http, "root-causes", {"departments": [{**_dept("acme-only")}]}, ACME_ADMIN)
    assert await demo_state(running) == before

    # acme's rules decide nothing of demo's: demo's promise and root causes are demo's own.
    again = await running.submit(customer_id=f"CUST-{mark}", category=mark)
    plan = await running.fetchval(
        "select sla_unit from complaints where tenant = 'demo' and id = $1", uuid.UUID(again["complaint_id"])
    )
    assert plan == "business_days"
    as_acme_cause = {"root_cause_department": "acme-only", "first_contact_resolution": False}
    refused = await running.http.post(
        f"/complaints/{again['complaint_id']}/resolve", json=as_acme_cause, headers=ANNA
    )
    assert refused.status_code == 422 and refused.json()["field"] == "root_cause_department"

    # The same platform reference from acme's platform is acme's own dossier, never demo's.
    body = {**_submission(accepted_ref := f"PLT-{mark}"), "customer_id": f"CUST-{mark}"}
    demo_first = await running.http.post(
        "/complaints", json=body, headers={**bearer("contact-platform", ("platform",)), **_key()}
    )
    acme_same = await running.http.post("/complaints", json=body, headers={**ACME_PLATFORM, **_key()})
    assert (demo_first.status_code, acme_same.status_code) == (201, 201)
    assert demo_first.json()["complaint_id"] != acme_same.json()["complaint_id"]
    owners = await running.fetch(
        "select tenant from complaints where platform_ref = $1 order by tenant", accepted_ref
    )
    assert [r["tenant"] for r in owners] == ["acme", "demo"]


def _dept(code: str) -> dict[str, Any]:
    return {"code": code, "names": {"nl": code, "fr": code, "en": code}}


def _key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


def _submission(ref: str) -> dict[str, Any]:
    return {
        "channel": "phone",
        "category": "refund.late",
        "language": "nl",
        "summary": "Terugbetaling nog altijd niet ontvangen.",
        "received_at": "2026-03-03T09:00:00Z",
        "platform_ref": ref,
        "team_id": "team-nl-1",
    }


async def test_an_operator_creates_a_tenant_that_every_service_can_read_before_the_answer(
    running: Running,
) -> None:
    body = new_tenant_body("fr")
    tenant = body["id"]
    created = await running.http.post("/tenants", json=body, headers=OPERATOR)
    assert created.status_code == 201, created.text
    assert (created.json()["template"], created.json()["version"]) == ("fr", 1)
    # On the compacted topics already: a service starting now (or asked now) knows the tenant.
    ours = [e.data for e in await events_on(TenantDefined, tenant, timeout=5)]
    orgs = [e.data for e in await events_on(OrganisationChanged, tenant, timeout=5)]
    assert [(d.tenant_id, d.template.value, d.active) for d in ours] == [(tenant, "fr", True)]
    assert [o.version for o in orgs] == [1] and orgs[0].organisation.teams[0].id == "team-fr-1"
    assert running.svc.tenants.tenant(tenant) is not None

    # Its administrator reads the French template's organisation as its version 1.
    admin = bearer("admin-ops", ("admin",), tenant=tenant)
    org = (await running.http.get("/admin/rules/organisation", headers=admin)).json()
    assert (org["version"], org["changed_by"]) == (1, "platform-operator")

    twice = await running.http.post("/tenants", json=body, headers=OPERATOR)
    assert (twice.status_code, twice.json()["field"]) == (409, "id")
    stale = await running.http.patch(f"/tenants/{tenant}", json={"expected_version": 7}, headers=OPERATOR)
    assert stale.status_code == 409
    off = await running.http.patch(
        f"/tenants/{tenant}", json={"expected_version": 1, "active": False}, headers=OPERATOR
    )
    assert (off.status_code, off.json()["version"], off.json()["active"]) == (200, 2, False)
    assert running.svc.tenants.tenant(tenant) is None  # published and read before the answer
    refused = await running.http.get("/admin/rules/organisation", headers=admin)
    assert refused.status_code == 401
    changes = await running.fetch("select version, changed_by from tenant_changes where tenant = $1", tenant)
    assert [tuple(r) for r in changes] == [(2, "platform-operator")]


async def test_only_an_operator_manages_tenants(running: Running) -> None:
    body = new_tenant_body()
    for who in (ADMIN, SARA, ANNA, bearer("contact-platform", ("platform",))):
        assert (await running.http.post("/tenants", json=body, headers=who)).status_code == 403
        assert (await running.http.get("/tenants", headers=who)).status_code == 403
        assert (await running.http.get("/tenants/demo", headers=who)).status_code == 403
    assert await running.fetchval("select count(*) from tenants") == 0
    assert (await running.http.get("/tenants/nobody", headers=OPERATOR)).status_code == 404
    bad = {**body, "template": "de", "mail_from": "nobody"}
    refused = await running.http.post("/tenants", json=bad, headers=OPERATOR)
    assert refused.status_code == 422
    assert {e["field"] for e in refused.json()["errors"]} == {"body.template", "body.mail_from"}
