"""Many contact centres on one platform: demo (a Dutch-speaking insurer's template) and acme (a
French-speaking one's) share this survey service. Each decides with its own rules, speaks with its
own texts and name, signs its links with its own keys; a caller of one never reads or changes the
other's rules, customers, figures or surveys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx
import pytest
from hoera_devkit.testing import mail_text
from hoera_events.common import Language
from hoera_kit.directory import CustomerContact, CustomerDirectory
from hoera_kit.service import Service
from hoera_survey import handlers, links, store
from hoera_survey.rules import CAPS, TRIGGERS
from hoera_survey.settings import SurveySettings

from .support import (
    OTHER_TENANT,
    TENANT,
    auth,
    contact_closed,
    envelope,
    immediate_triggers,
    link_in,
    mail_to,
    running,
    settings_for,
    unique,
    write_rules,
)

pytestmark = pytest.mark.integration
Survey = Service[SurveySettings]
BRUSSELS = ZoneInfo("Europe/Brussels")


@pytest.fixture
async def service(fresh_db: str) -> AsyncIterator[tuple[Survey, httpx.AsyncClient]]:
    async with running(settings_for(fresh_db)) as (svc, http):
        for tenant, template in ((TENANT, "nl"), (OTHER_TENANT, "fr")):
            await write_rules(svc, TRIGGERS, immediate_triggers(template), tenant=tenant)
        yield svc, http


async def _close_contact(svc: Survey, tenant: str, customer: str, **kwargs: Any) -> Any:
    async with svc.pool.acquire() as conn, conn.transaction():
        event = contact_closed(customer, **kwargs)
        await handlers.request_surveys(svc.api.state.deps, conn, [envelope(event, tenant)])
        return await conn.fetchrow(
            "select s.survey_id, s.state, s.language, d.subject, d.body_text from surveys s "
            "left join kit_deliveries d on d.reference = 'survey:' || s.survey_id "
            "where s.tenant = $1 and s.customer_id = $2",
            tenant,
            customer,
        )


def _token(link: str) -> str:
    return parse_qs(urlsplit(link).query)["t"][0]


async def _written(svc: Survey) -> list[Any]:
    async with svc.pool.acquire() as conn:
        return [
            tuple(r)
            for r in await conn.fetch(
                "select s.tenant, s.survey_id, s.state, s.link_nonce, c.opted_out_at from surveys s "
                "left join customers c using (tenant, customer_id) order by s.survey_id"
            )
        ]


async def test_one_tenants_rules_never_decide_for_another(service: tuple[Survey, httpx.AsyncClient]) -> None:
    svc, http = service
    closed = immediate_triggers("fr")
    closed["contact_closed"]["enabled"] = False
    await write_rules(svc, TRIGGERS, closed, tenant=OTHER_TENANT)
    pause = {"name": "pause", "kinds": ["proactive"], "max_contacts": 0, "period_days": 7}
    await write_rules(svc, CAPS, {"caps": [pause]}, tenant=OTHER_TENANT)

    ours, theirs = unique("demo"), unique("acme")
    assert (await _close_contact(svc, TENANT, ours))["state"] == "invited"
    assert await _close_contact(svc, OTHER_TENANT, theirs) is None  # suppressed before any survey
    async with svc.pool.acquire() as conn:
        reasons = await conn.fetch("select tenant, detail from suppressions order by tenant")
    assert [tuple(r) for r in reasons] == [(OTHER_TENANT, "trigger_disabled")]

    ask = {"reference": unique("notice")}
    for tenant, granted in ((TENANT, True), (OTHER_TENANT, False)):
        answer = await http.post(
            f"/customers/{unique('pro')}/proactive-contacts",
            json=ask,
            headers=auth("platform", tenant=tenant),
        )
        assert answer.json()["granted"] is granted, (tenant, answer.text)


async def test_another_tenants_admin_reads_and_changes_none_of_our_rule_documents(
    service: tuple[Survey, httpx.AsyncClient],
) -> None:
    _, http = service
    ours, theirs = auth("admin"), auth("admin", tenant=OTHER_TENANT)
    before = (await http.get("/admin/rules/triggers", headers=ours)).json()
    assert before["version"] == 1 and before["changed_by"] == "tester"

    seen = (await http.get("/admin/rules/triggers", headers=theirs)).json()
    assert seen["version"] == 1 and sorted(seen["document"]["contact_closed"]["channels"]) == [
        "email",
        "phone",
    ]
    assert (await http.get("/admin/rules/caps", headers=theirs)).json()["document"]["caps"][0]["name"] == (
        "enquetes-par-90-jours"
    )
    their_history = (await http.get("/admin/rules/caps/history", headers=theirs)).json()
    assert their_history == []
    change = {"document": seen["document"] | {}, "expected_version": 1, "reason": "acme's own"}
    change["document"]["contact_closed"]["delay_minutes"] = 45
    assert (await http.put("/admin/rules/triggers", json=change, headers=theirs)).json()["version"] == 2
    after = (await http.get("/admin/rules/triggers", headers=ours)).json()
    assert after == before


async def test_another_tenants_callers_see_and_change_none_of_our_customers_and_figures(
    service: tuple[Survey, httpx.AsyncClient],
) -> None:
    svc, http = service
    customer = unique("quiet")
    assert (await http.put(f"/customers/{customer}/opt-out", headers=auth("platform"))).status_code == 200
    await _close_contact(svc, TENANT, unique("counted"))
    theirs = auth("platform", tenant=OTHER_TENANT)

    assert (await http.get(f"/customers/{customer}", headers=theirs)).json()["opted_out_at"] is None
    assert (await http.delete(f"/customers/{customer}/opt-out", headers=theirs)).status_code == 200
    assert (await http.get(f"/customers/{customer}", headers=auth("platform"))).json()["opted_out_at"]
    figures = (await http.get("/figures", headers=auth("admin", tenant=OTHER_TENANT))).json()
    assert figures["overall"]["invited"] == 0
    assert (await http.get("/figures", headers=auth("admin"))).json()["overall"]["invited"] == 1
    refused = await http.post(
        f"/customers/{customer}/proactive-contacts", json={"reference": "x"}, headers=auth("platform")
    )
    assert refused.json()["reason"] == "opted_out"
    suppressed = (await http.get("/suppressions", headers=auth("admin", tenant=OTHER_TENANT))).json()
    assert suppressed["total"] == 0


async def test_a_link_of_one_tenant_never_opens_a_survey_through_another_tenants_key(
    service: tuple[Survey, httpx.AsyncClient],
) -> None:
    svc, http = service
    ours = await _close_contact(svc, TENANT, unique("demo"))
    await _close_contact(svc, OTHER_TENANT, unique("acme"))  # acme's first key
    link = link_in(ours["body_text"])
    survey_id: UUID = ours["survey_id"]
    deps = svc.api.state.deps
    async with svc.pool.acquire() as conn:
        our_key = await store.link_key(conn, links.key_id(_token(link)) or "")
        their_key = await store.signing_key(conn, OTHER_TENANT)
    claims = links.verify(_token(link), survey_id=survey_id, key=our_key, now=deps.now())
    assert isinstance(claims, links.LinkClaims) and their_key is not None and our_key is not None

    before = await _written(svc)
    for forged in (
        links.sign(claims, their_key),  # acme's genuine key, demo's survey
        links.sign(claims, links.LinkKey(TENANT, their_key.key_id, their_key.secret)),
        links.sign(claims, links.LinkKey(OTHER_TENANT, our_key.key_id, our_key.secret)),
    ):
        page = await http.get(f"/s/{survey_id}", params={"t": forged})
        post = await http.post(f"/s/{survey_id}", data={"t": forged, "satisfaction": "1"})
        opt_out = await http.post(f"/s/{survey_id}/opt-out", data={"t": forged})
        assert {page.status_code, post.status_code, opt_out.status_code} <= {403, 404}, forged
        assert "satisfaction" not in page.text
    assert await _written(svc) == before
    assert (await http.get(urlsplit(link).path, params={"t": _token(link)})).status_code == 200


async def test_a_rotation_keeps_the_links_sent_and_a_second_one_ends_them_for_that_tenant_only(
    service: tuple[Survey, httpx.AsyncClient],
) -> None:
    svc, http = service
    link = link_in((await _close_contact(svc, TENANT, unique("demo")))["body_text"])
    await _close_contact(svc, OTHER_TENANT, unique("acme"))
    ours, theirs = auth("admin"), auth("admin", tenant=OTHER_TENANT)
    their_keys = (await http.get("/admin/link-keys", headers=theirs)).json()
    first = (await http.get("/admin/link-keys", headers=ours)).json()
    assert [(k["generation"], k["state"]) for k in first] == [(1, "signing")]
    assert first[0]["key_id"] == links.key_id(_token(link)) and "secret" not in str(first)

    rotated = await http.post("/admin/link-keys/rotation", headers=ours)
    assert rotated.status_code == 201
    assert [(k["generation"], k["state"]) for k in rotated.json()] == [(2, "signing"), (1, "verifying")]
    assert (await http.get(link)).status_code == 200
    newer = link_in((await _close_contact(svc, TENANT, unique("demo")))["body_text"])
    assert links.key_id(_token(newer)) == rotated.json()[0]["key_id"]

    again = (await http.post("/admin/link-keys/rotation", headers=ours)).json()
    assert [k["state"] for k in again] == ["signing", "verifying", "retired"]
    assert (await http.get(link)).status_code == 403
    assert (await http.get(newer)).status_code == 200
    assert (await http.get("/admin/link-keys", headers=theirs)).json() == their_keys
    ours_now = (await http.get("/admin/link-keys", headers=ours)).json()
    for _ in range(2):
        assert (await http.post("/admin/link-keys/rotation", headers=theirs)).status_code == 201
    assert (await http.get("/admin/link-keys", headers=ours)).json() == ours_now
    assert (await http.get(newer)).status_code == 200
    assert (await http.post("/admin/link-keys/rotation", headers=auth("supervisor"))).status_code == 403
    async with svc.pool.acquire() as conn:
        secrets = await conn.fetch(
            "select generation, secret is null from link_keys where tenant = $1 order by generation", TENANT
        )
    assert [tuple(r) for r in secrets] == [(1, True), (2, False), (3, False)]


async def test_each_tenant_invites_with_its_own_texts_and_name_in_the_customers_language(
    service: tuple[Survey, httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    svc, http = service
    ours = await _close_contact(svc, TENANT, unique("demo"), language=Language.nl)
    theirs = await _close_contact(svc, OTHER_TENANT, unique("acme"), language=Language.nl)
    assert ours["subject"] == "Hoe was uw contact met ons?" and "Demo (test)" in ours["body_text"]
    assert theirs["subject"] == "Uw mening over uw contact met Acme (test)"
    assert "De klantendienst van Acme (test)" in theirs["body_text"]
    their_page = await http.get(link_in(theirs["body_text"]))
    our_page = await http.get(link_in(ours["body_text"]))
    assert "Verstuur mijn mening" in their_page.text and "Verstuur mijn antwoord" in our_page.text

    class French(CustomerDirectory):
        async def lookup(self, tenant: str, customer_id: str) -> CustomerContact:
            email = f"{customer_id}@customers.hoera.test"
            return CustomerContact(customer_id, email=email, phone=None, language="fr")

    monkeypatch.setattr(svc, "_directory", French())
    french = await _close_contact(svc, OTHER_TENANT, unique("acme"), language=Language.nl)
    assert (french["language"], french["subject"]) == ("fr", "Votre avis sur votre contact avec Acme (test)")
    page = await http.get(link_in(french["body_text"]))
    assert '<html lang="fr">' in page.text and "Envoyer mon avis" in page.text


async def test_a_contact_closed_late_in_the_evening_is_surveyed_the_next_morning_on_the_tenants_clock(
    service: tuple[Survey, httpx.AsyncClient],
) -> None:
    svc, _ = service
    deps = svc.api.state.deps
    evening = datetime(2031, 3, 4, 22, 30, tzinfo=BRUSSELS)  # ahead of the timer scanner's clock
    triggers = immediate_triggers()
    triggers["contact_closed"]["send_window"] = {"opens": "08:00", "closes": "21:00"}
    await write_rules(svc, TRIGGERS, triggers)
    real_clock, deps.clock = deps.clock, lambda: evening
    try:
        customer = unique("night")
        survey = await _close_contact(svc, TENANT, customer, closed_at=evening - timedelta(minutes=1))
    finally:
        deps.clock = real_clock
    assert survey["state"] == "scheduled"
    async with svc.pool.acquire() as conn:
        due = await conn.fetchval(
            "select due_at from kit_timers where key = $1", handlers.timer_key(TENANT, survey["survey_id"])
        )
    assert due == datetime(2031, 3, 5, 8, 0, tzinfo=BRUSSELS)


async def test_an_invitation_comes_from_its_tenants_own_address(
    service: tuple[Survey, httpx.AsyncClient],
) -> None:
    svc, _ = service
    customer = unique("sender")
    await _close_contact(svc, OTHER_TENANT, customer)
    mail = await mail_to(f"{customer}@customers.hoera.test")
    assert mail["from"] == "no-reply@acme.hoera.test"
    assert "From: Acme <no-reply@acme.hoera.test>" in await mail_text(mail["id"])
