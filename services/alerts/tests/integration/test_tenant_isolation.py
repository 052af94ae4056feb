"""Many contact centres on one platform: an unhappy smiley in tenant A can never mail tenant B's
supervisor, a caller of tenant B sees and changes nothing of tenant A's alerts and rule documents,
and tenant B's rules never decide for tenant A."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from alerts_support import (
    FR,
    NL,
    AlertsService,
    address,
    bearer,
    events_about,
    organisation,
    token,
    unhappy_answer,
)
from hoera_alerts.domain import unhappy_alert_id
from hoera_devkit.testing import define_tenant
from hoera_events.alerts import AlertDelivered, RecipientRole
from hoera_events.envelope import make_envelope
from hoera_events.organisation import Absence, Organisation, Person, Team
from hoera_events.surveys import AgentAttribute
from hoera_kit.auth import Role
from hoera_kit.calendar import BusinessCalendar
from hoera_kit.organisation import stand_in

pytestmark = pytest.mark.integration

TEAM = "team-1"
"""The same team id in both tenants, led by different people."""


def _person(tenant: str, pid: str, name: str, language: str) -> Person:
    local = name.lower().replace(" ", ".")
    return Person(id=pid, name=name, email=address(tenant, local), language=language)


def tenant_a(tenant: str, today: datetime) -> Organisation:
    """Team-1 of A: sup-sara and her first deputy are away today, so her second deputy stands in."""
    day = today.date()
    away = [
        Absence(person=p, starts_on=day - timedelta(days=1), ends_on=day + timedelta(days=1))
        for p in ("sup-sara", "sup-dirk")
    ]
    return organisation(
        tenant,
        people=[*organisation(tenant).people, _person(tenant, "sup-ines", "Ines Maes", "nl")],
        teams=[
            Team(
                id=TEAM,
                name="Klantendienst A",
                language="nl",
                supervisor="sup-sara",
                deputies=["sup-dirk", "sup-ines"],
            )
        ],
        absences=away,
    )


def tenant_b(tenant: str) -> Organisation:
    """Team-1 of B is led by sup-marc; B has a person named sup-ines too, someone else entirely."""
    return organisation(
        tenant,
        people=[*organisation(tenant).people, _person(tenant, "sup-ines", "Ines Dupont", "fr")],
        teams=[Team(id=TEAM, name="Service B", language="fr", supervisor="sup-marc", deputies=["sup-ines"])],
    )


async def test_an_unhappy_smiley_mails_only_its_own_tenants_lead(alerts: AlertsService) -> None:
    a, b = "alerts-iso-a", "alerts-iso-b"
    now = datetime.now(UTC)
    orgs = {a: tenant_a(a, now), b: tenant_b(b)}
    for tenant, org in orgs.items():
        await define_tenant(tenant, organisation=org)

    answers = {tenant: unhappy_answer(TEAM) for tenant in orgs}
    for tenant, answer in answers.items():
        await alerts.publish(answer, tenant=tenant)

    for tenant, answer in answers.items():
        org = orgs[tenant]
        expected = stand_in(org, TEAM, BusinessCalendar(org.calendar).local_date(now))
        assert expected is not None
        alert_id = unhappy_alert_id(tenant, answer.survey_id)
        sent = await alerts.wait_for_mails(f"alert:{alert_id}:")
        assert [m["to"] for m in sent] == [[expected.email]], tenant
        assert all(to.endswith(f"@{tenant}.staff.hoera.test") for m in sent for to in m["to"])
        delivered = (await events_about(AlertDelivered, alert_id, 1))[0].data
        assert isinstance(delivered, AlertDelivered)
        assert delivered.recipient_id == expected.id
    # A's supervisor is away and so is her first deputy: her second deputy, the kit's stand-in.
    a_told = (await events_about(AlertDelivered, unhappy_alert_id(a, answers[a].survey_id), 1))[0].data
    assert isinstance(a_told, AlertDelivered)
    assert (a_told.recipient_id, a_told.recipient_role, a_told.deputy_for) == (
        "sup-ines",
        RecipientRole.deputy,
        "sup-sara",
    )
    b_mail = await alerts.wait_for_mails(f"alert:{unhappy_alert_id(b, answers[b].survey_id)}:")
    assert b_mail[0]["to"] == [address(b, "marc.lambert")]


@pytest.fixture
async def nl_alert(alerts: AlertsService) -> uuid.UUID:
    answer = unhappy_answer("team-nl-1", comment="Alleen voor de ogen van tenant NL.")
    await alerts.publish(answer)
    alert_id = unhappy_alert_id(NL, answer.survey_id)
    await alerts.wait_for_mails(f"alert:{alert_id}:")
    return alert_id


async def test_another_tenants_supervisor_of_a_team_of_the_same_name_sees_and_changes_nothing(
    alerts: AlertsService, nl_alert: uuid.UUID
) -> None:
    # sup-sara of FR leads FR's team-nl-1: the same names, another organisation.
    other = token("sup-sara", Role.supervisor, teams=("team-nl-1",), lang="nl", tenant=FR)
    async with alerts.http() as http:
        read = await http.get(f"/alerts/{nl_alert}", headers=bearer(other))
        acknowledged = await http.post(
            f"/alerts/{nl_alert}/acknowledgement", json={"action": "coached"}, headers=bearer(other)
        )
        listed = await http.get("/alerts", params={"team_id": "team-nl-1"}, headers=bearer(other))
        figures = await http.get("/teams/team-nl-1/dashboard", headers=bearer(other))
    async with alerts.signed_in(other) as pages:
        page = await pages.get(f"/dashboard/alerts/{nl_alert}")
        dashboard = await pages.get("/dashboard/teams/team-nl-1")
    assert (read.status_code, acknowledged.status_code) == (404, 404)
    assert read.json() == {"detail": "alert not found"}
    assert listed.status_code == 200 and str(nl_alert) not in listed.text
    assert figures.status_code == 200 and str(nl_alert) not in figures.text
    assert page.status_code == 404 and "Alleen voor de ogen" not in page.text
    assert dashboard.status_code == 200 and str(nl_alert) not in dashboard.text
    rows = await alerts.fetch("select status, acknowledged_by from alerts where alert_id = $1", nl_alert)
    assert [(r["status"], r["acknowledged_by"]) for r in rows] == [("open", None)]


async def test_another_tenants_admin_reads_and_changes_only_its_own_rule_documents(
    alerts: AlertsService,
) -> None:
    mark = f"matrix-{uuid.uuid4().hex[:8]}"
    nl_admin = token(f"admin-{mark}", Role.admin, tenant=NL)
    fr_admin = token("admin-ops", Role.admin, tenant=FR)
    url = f"https://platform.hoera.test/{mark}/{{recording_ref}}"
    async with alerts.http() as http:
        # Two writes in NL, so NL has a version FR will not have.
        for n, template in enumerate((url + "?first", url)):
            nl_before = (await http.get("/admin/rules/links", headers=bearer(nl_admin))).json()
            written = await http.put(
                "/admin/rules/links",
                json={
                    "document": {"recording_url_template": template},
                    "expected_version": nl_before["version"],
                    "reason": f"{mark} {n}",
                },
                headers=bearer(nl_admin),
            )
            assert written.status_code == 200, written.text
        nl_after = (await http.get("/admin/rules/links", headers=bearer(nl_admin))).json()

        fr_reads = [
            await http.get(path, headers=bearer(fr_admin))
            for path in ("/admin/rules", "/admin/rules/links", "/admin/rules/links/history")
        ]
        fr_current = fr_reads[1].json()
        fr_write = await http.put(
            "/admin/rules/links",
            json={
                "document": {"recording_url_template": "https://fr.example/{recording_ref}"},
                "expected_version": fr_current["version"],
                "reason": "acme's own",
            },
            headers=bearer(fr_admin),
        )
        fr_rollback = await http.post(
            "/admin/rules/links/rollback",
            json={
                "to_version": nl_after["version"],
                "expected_version": fr_current["version"] + 1,
                "reason": "x",
            },
            headers=bearer(fr_admin),
        )
        nl_final = (await http.get("/admin/rules/links", headers=bearer(nl_admin))).json()
    for answer in fr_reads:
        assert answer.status_code == 200
        assert mark not in answer.text, answer.text
    assert fr_current["document"]["recording_url_template"].startswith(
        "https://platform.hoera.test/{tenant}/"
    )  # the French-speaking template's own
    assert fr_write.status_code == 200
    assert nl_after["version"] > fr_current["version"] + 1
    # FR has no version of that number: rolling back to NL's version cannot reach NL's document.
    assert fr_rollback.status_code == 404
    assert nl_final == nl_after and nl_final["document"]["recording_url_template"] == url


async def test_another_tenants_rules_never_decide_for_this_tenant(alerts: AlertsService) -> None:
    everything_unhappy = {
        "satisfaction_at_most": 5,
        "effort_at_most": 5,
        "nps_at_most": 10,
        "attribute_at_most": 5,
        "attributes": None,
    }
    before = await alerts.rule("unhappy", tenant=FR)
    assert (await alerts.put_rule("unhappy", everything_unhappy, tenant=FR)).status_code == 200
    try:
        scores = {"satisfaction": 4, "effort": 4, "nps": 9, "attributes": {AgentAttribute.clear: 4}}
        in_nl, in_fr = unhappy_answer("team-nl-1", **scores), unhappy_answer("team-nl-1", **scores)
        await alerts.publish(in_fr, tenant=FR)
        await alerts.publish(in_nl, tenant=NL)
        # A marker after NL's answer on its partition: once its mail is out, NL's answer was decided.
        marker = unhappy_answer("team-nl-1")
        await alerts.publish(
            marker, envelope=make_envelope(marker, producer="test", tenant=NL, key=str(in_nl.survey_id))
        )
        await alerts.wait_for_mails(f"alert:{unhappy_alert_id(NL, marker.survey_id)}:")
        await alerts.wait_for_mails(f"alert:{unhappy_alert_id(FR, in_fr.survey_id)}:")
        assert await alerts.mails_with_key(f"alert:{unhappy_alert_id(NL, in_nl.survey_id)}:") == []
        counted = await alerts.fetch(
            "select tenant, unhappy from answers where survey_id = any($1::uuid[]) order by tenant",
            [in_nl.survey_id, in_fr.survey_id],
        )
        assert [(r["tenant"], r["unhappy"]) for r in counted] == [(FR, True), (NL, False)]
    finally:
        await alerts.put_rule("unhappy", before, tenant=FR, reason="as it was")
