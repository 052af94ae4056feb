"""R8/R13: the catalogue and the mandates are operator data: seeded, searchable, changed through the
admin API that validates (422 naming the field, nothing half-applied) and keeps an audit trail."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from compensation_support import ADMIN, AGENT, Running

pytestmark = pytest.mark.integration


def entry(path_code: str, **changes: Any) -> dict[str, Any]:
    texts = {"nl": "Excuses", "fr": "Excuses", "en": "Apologies"}
    return {
        "code": path_code,
        "title": {
            "nl": "Parkeerkosten ziekenhuis",
            "fr": "Frais de parking hôpital",
            "en": "Hospital parking costs",
        },
        "categories": ["hospitalisation.parking"],
        "keywords": ["parking"],
        "answer": texts,
        "apology": texts,
        "gestures": [{"code": "handwritten-card", "label": texts, "value_cents": 500}],
        "financial_allowed": True,
        "suggested_amount_cents": 1000,
        "max_amount_cents": 3000,
        "currency": "EUR",
        **changes,
    }


async def test_the_seeded_catalogue_is_searchable_by_every_agent(running: Running) -> None:
    r = await running.http.get("/catalogue", params={"q": "remboursement"}, headers=AGENT)
    assert r.status_code == 200
    assert {e["code"] for e in r.json()} == {"refund-late", "refund-wrong-amount"}
    r = await running.http.get("/catalogue", params={"category": "admin"}, headers=AGENT)
    assert {e["code"] for e in r.json()} == {
        "document-lost",
        "member-documents-late",
        "deceased-correspondence",
    }
    one = (await running.http.get("/catalogue/benefit-late", headers=AGENT)).json()
    assert one["apology"]["fr"].startswith("Nous sommes vraiment désolés")


async def test_an_admin_adds_changes_and_retires_an_entry_with_an_audit_trail(running: Running) -> None:
    code = "hospital-parking"
    r = await running.http.put(f"/admin/catalogue/{code}", json=entry(code), headers=ADMIN)
    assert r.status_code == 201, r.text
    r = await running.http.put(
        f"/admin/catalogue/{code}", json=entry(code, max_amount_cents=4000), headers=ADMIN
    )
    assert r.status_code == 200
    found = (await running.http.get("/catalogue", params={"q": "parking"}, headers=AGENT)).json()
    assert [(e["code"], e["max_amount_cents"]) for e in found] == [(code, 4000)]

    assert (await running.http.delete(f"/admin/catalogue/{code}", headers=ADMIN)).status_code == 204
    assert (await running.http.get("/catalogue", params={"q": "parking"}, headers=AGENT)).json() == []

    trail = (
        await running.http.get("/admin/audit", params={"what": "catalogue", "key": code}, headers=ADMIN)
    ).json()
    assert [(a["action"], a["changed_by"]) for a in trail] == [
        ("retire", "admin-ops"),
        ("update", "admin-ops"),
        ("create", "admin-ops"),
    ]
    assert trail[1]["before"]["max_amount_cents"] == 3000
    assert trail[1]["after"]["max_amount_cents"] == 4000


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"suggested_amount_cents": 5000, "max_amount_cents": 3000}, "suggested_amount_cents"),
        ({"financial_allowed": False}, "suggested_amount_cents"),
        ({"max_amount_cents": 30.5}, "max_amount_cents"),
        ({"apology": {"nl": "Sorry", "en": "Sorry"}}, "apology.fr"),
        ({"categories": []}, "categories"),
        ({"currency": "BEF"}, "currency"),
        ({"gestures": [{"code": "Bad Code", "label": {"nl": "a", "fr": "a", "en": "a"}}]}, "gestures.0.code"),
        ({"code": "another-code"}, "code"),
    ],
)
async def test_a_bad_entry_is_refused_naming_the_field_and_nothing_changes(
    running: Running, changes: dict[str, Any], field: str
) -> None:
    before = await running.fetchval("select count(*) from rules_audit")
    r = await running.http.put(
        "/admin/catalogue/refund-late", json=entry("refund-late", **changes), headers=ADMIN
    )
    assert r.status_code == 422, r.text
    body = r.json()
    named = body.get("field") or [e["field"] for e in body["errors"]]
    assert field == named or field in named
    assert await running.fetchval("select count(*) from rules_audit") == before
    still = (await running.http.get("/catalogue/refund-late", headers=AGENT)).json()
    assert still["categories"] == ["refund.late"]


async def test_only_an_admin_changes_the_catalogue(running: Running) -> None:
    r = await running.http.put("/admin/catalogue/x-entry", json=entry("x-entry"), headers=AGENT)
    assert r.status_code == 403


async def test_an_organisation_s_own_mandate_replaces_the_default(running: Running) -> None:
    from compensation_support import headers

    admin = headers("admin-mut", "admin", teams=(), tenant="mandate-test")
    agent = headers("agent-mut", "agent", tenant="mandate-test")
    assert (await running.http.get("/rules/mandates", headers=agent)).json()[0]["limit"][
        "amount_cents"
    ] == 30000
    r = await running.http.put(
        "/admin/mandates/agent", json={"limit": {"amount_cents": 25000, "currency": "EUR"}}, headers=admin
    )
    assert r.status_code == 200, r.text
    mandates = {
        m["role"]: m["limit"]["amount_cents"]
        for m in (await running.http.get("/rules/mandates", headers=agent)).json()
    }
    assert mandates == {"agent": 25000, "supervisor": 50000}
    others = {
        m["role"]: m["limit"]["amount_cents"]
        for m in (await running.http.get("/rules/mandates", headers=AGENT)).json()
    }
    assert others["agent"] == 30000
    trail = (await running.http.get("/admin/audit", params={"what": "mandate"}, headers=admin)).json()
    assert trail[0]["key"] == "mandate-test/agent" and trail[0]["after"]["amount_cents"] == 25000

    bad = await running.http.put(
        "/admin/mandates/approver", json={"limit": {"amount_cents": 1, "currency": "EUR"}}, headers=admin
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "path.role"


async def test_a_bad_policy_is_refused(running: Running) -> None:
    r = await running.http.put("/admin/abuse-watch", json={"threshold": 0, "window_days": 365}, headers=ADMIN)
    assert (r.status_code, r.json()["errors"][0]["field"]) == (422, "threshold")
    r = await running.http.put(
        "/admin/approval-deadline", json={"business_days": 2, "seconds": 5}, headers=ADMIN
    )
    assert r.status_code == 422
    assert "exactly one" in r.json()["detail"]
    assert (await running.http.get("/rules/abuse-watch", headers=AGENT)).json()["threshold"] == 2
