"""R8/R13: the catalogue, the mandates, the approval deadline and the abuse watch are each
organisation's rule documents: read from its template until its administrator changes one through
the kit's /admin/rules routes, which validate (422 naming the field, nothing written), refuse a stale
version (409), keep the history and roll back."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from compensation_support import ACME_AGENT, ADMIN, AGENT, Running

pytestmark = pytest.mark.integration


def entry(code: str, **changes: Any) -> dict[str, Any]:
    texts = {"nl": "Excuses", "fr": "Excuses", "en": "Apologies"}
    return {
        "code": code,
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


async def catalogue_with(running: Running, *extra: dict[str, Any]) -> dict[str, Any]:
    current = await running.rule("catalogue")
    entries = [e for e in current["document"]["entries"] if e["code"] not in {x["code"] for x in extra}]
    return {"entries": [*entries, *extra]}


async def test_the_template_catalogue_is_searchable_by_every_agent(running: Running) -> None:
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


async def test_a_french_speaking_organisation_reads_its_own_template(running: Running) -> None:
    found = (await running.http.get("/catalogue", params={"q": "remboursement"}, headers=ACME_AGENT)).json()
    assert {e["code"] for e in found} == {"remboursement-tardif", "montant-rembourse-errone"}
    assert (await running.http.get("/catalogue/refund-late", headers=ACME_AGENT)).status_code == 404
    mandates = (await running.http.get("/rules/mandates", headers=ACME_AGENT)).json()
    assert {m["role"]: m["limit"]["amount_cents"] for m in mandates} == {"agent": 15000, "supervisor": 75000}


async def test_an_admin_adds_changes_and_takes_out_an_entry_and_the_history_says_who_what_and_why(
    running: Running,
) -> None:
    code = "hospital-parking"
    r = await running.write_rule("catalogue", await catalogue_with(running, entry(code)), reason="new entry")
    assert (r.status_code, r.json()["changed_by"]) == (200, "admin-ops"), r.text
    r = await running.write_rule(
        "catalogue", await catalogue_with(running, entry(code, max_amount_cents=4000)), reason="costlier"
    )
    assert r.status_code == 200, r.text
    found = (await running.http.get("/catalogue", params={"q": "parking"}, headers=AGENT)).json()
    assert [(e["code"], e["max_amount_cents"]) for e in found] == [(code, 4000)]

    current = await running.rule("catalogue")
    without = [e for e in current["document"]["entries"] if e["code"] != code]
    assert (await running.write_rule("catalogue", {"entries": without}, reason="retired")).status_code == 200
    assert (await running.http.get("/catalogue", params={"q": "parking"}, headers=AGENT)).json() == []
    assert (await running.http.get(f"/catalogue/{code}", headers=AGENT)).status_code == 404

    history = (await running.http.get("/admin/rules/catalogue/history", headers=ADMIN)).json()
    assert [(h["reason"], h["changed_by"]) for h in history[:3]] == [
        ("retired", "admin-ops"),
        ("costlier", "admin-ops"),
        ("new entry", "admin-ops"),
    ]
    costlier = {c["path"]: (c["before"], c["after"]) for c in history[1]["changes"]}
    assert any(p.endswith("max_amount_cents") and v == (3000, 4000) for p, v in costlier.items()), costlier

    r = await running.http.post(
        "/admin/rules/catalogue/rollback",
        json={
            "to_version": history[1]["version"],
            "expected_version": history[0]["version"],
            "reason": "oops",
        },
        headers=ADMIN,
    )
    assert r.status_code == 200, r.text
    assert (await running.http.get(f"/catalogue/{code}", headers=AGENT)).json()["max_amount_cents"] == 4000


async def test_a_change_against_a_stale_version_is_refused_and_changes_nothing(running: Running) -> None:
    current = await running.rule("abuse-watch")
    first = await running.http.put(
        "/admin/rules/abuse-watch",
        json={
            "document": {"threshold": 3, "window_days": 365},
            "expected_version": current["version"],
            "reason": "a",
        },
        headers=ADMIN,
    )
    assert first.status_code == 200, first.text
    stale = await running.http.put(
        "/admin/rules/abuse-watch",
        json={
            "document": {"threshold": 9, "window_days": 30},
            "expected_version": current["version"],
            "reason": "b",
        },
        headers=ADMIN,
    )
    assert (stale.status_code, stale.json()["field"]) == (409, "expected_version")
    assert (await running.http.get("/rules/abuse-watch", headers=AGENT)).json() == {
        "threshold": 3,
        "window_days": 365,
    }
    assert (await running.write_rule("abuse-watch", {"threshold": 2, "window_days": 365})).status_code == 200


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
        ({"code": "refund-wrong-amount"}, "code"),
    ],
)
async def test_a_bad_entry_is_refused_naming_the_field_and_nothing_changes(
    running: Running, changes: dict[str, Any], field: str
) -> None:
    before = await running.fetchval("select count(*) from kit_rule_versions")
    current = await running.rule("catalogue")
    entries = current["document"]["entries"]
    at = next(i for i, e in enumerate(entries) if e["code"] == "refund-late")
    entries[at] = {**entries[at], **changes}
    r = await running.write_rule("catalogue", {"entries": entries})
    assert r.status_code == 422, r.text
    assert r.json()["field"].startswith("entries.") and r.json()["field"].endswith(field), r.json()
    assert await running.fetchval("select count(*) from kit_rule_versions") == before
    still = (await running.http.get("/catalogue/refund-late", headers=AGENT)).json()
    assert still["categories"] == ["refund.late"]


async def test_only_an_admin_changes_the_rules(running: Running) -> None:
    r = await running.http.put(
        "/admin/rules/mandates",
        json={"document": {}, "expected_version": 0, "reason": "mine"},
        headers=AGENT,
    )
    assert r.status_code == 403


async def test_bad_mandates_and_policies_are_refused_naming_the_field(running: Running) -> None:
    cases = [
        ("abuse-watch", {"threshold": 0, "window_days": 365}, "threshold"),
        ("approval-deadline", {"business_days": 2, "seconds": 5}, ""),
        ("mandates", {"agent": {"amount_cents": 30000, "currency": "EUR"}}, "supervisor"),
        (
            "mandates",
            {
                "agent": {"amount_cents": 1, "currency": "EUR"},
                "supervisor": {"amount_cents": 1, "currency": "GBP"},
            },
            "supervisor.currency",
        ),
    ]
    for name, document, field in cases:
        r = await running.write_rule(name, document)
        assert r.status_code == 422, (name, r.text)
        assert r.json().get("field", "") == field, (name, r.json())
    assert (await running.http.get("/rules/abuse-watch", headers=AGENT)).json()["threshold"] == 2
    assert (await running.http.get("/rules/approval-deadline", headers=AGENT)).json()["business_days"] == 2
