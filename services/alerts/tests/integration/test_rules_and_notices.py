"""R8 operator data through the admin API; R24 threshold alerts; R4 and R15 notices; R7 the
dashboard's split by root cause."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from alerts_support import (
    ADMIN,
    FR,
    NL,
    SARA,
    AlertsService,
    address,
    bearer,
    events_about,
    token,
    unhappy_answer,
)
from hoera_alerts.domain import notice_alert_id
from hoera_devkit.testing import eventually
from hoera_events.alerts import AlertKind, AlertRaised, Severity
from hoera_events.common import Channel, Language, Money
from hoera_events.compensation import CustomerFlaggedForReview, FlagReason
from hoera_events.complaints import ComplaintRaised, ComplaintResolved, ComplaintSlaBreached
from hoera_kit.auth import Role

pytestmark = pytest.mark.integration


def raised(team_id: str = "team-nl-1") -> ComplaintRaised:
    return ComplaintRaised(
        complaint_id=uuid.uuid4(),
        customer_id=f"cust-{uuid.uuid4().hex[:8]}",
        channel=Channel.email,
        category="refund.late",
        language=Language.nl,
        raised_at=datetime.now(UTC),
        due_date=date.today() + timedelta(days=5),
        team_id=team_id,
        agent_id="agent-anna",
    )


# --- R8 -----------------------------------------------------------------------------------------------


async def test_a_bad_rule_change_is_refused_naming_the_field_and_nothing_is_saved(
    alerts: AlertsService,
) -> None:
    before = await alerts.read_rule("threshold")
    texts = await alerts.rule("texts")
    texts["mails"]["unhappy_smiley"]["nl"]["subject"] += " {customer_email}"
    async with alerts.http() as http:
        crossed = await alerts.put_rule("threshold", {**before["document"], "recovered_at": 1.0})
        placeholder = await alerts.put_rule("texts", texts)
        not_admin = await http.put(
            "/admin/rules/threshold",
            json={"document": before["document"], "expected_version": before["version"], "reason": "x"},
            headers=bearer(SARA),
        )
        stale = await http.put(
            "/admin/rules/threshold",
            json={"document": before["document"], "expected_version": before["version"] + 7, "reason": "x"},
            headers=bearer(ADMIN),
        )
        unknown = await http.get("/admin/rules/organisation", headers=bearer(ADMIN))
    assert crossed.status_code == 422 and crossed.json()["field"] == "recovered_at"
    assert placeholder.status_code == 422
    assert placeholder.json()["field"] == "mails.unhappy_smiley.nl.subject"
    assert "customer_email" in placeholder.json()["detail"]
    assert not_admin.status_code == 403
    assert stale.status_code == 409 and stale.json()["field"] == "expected_version"
    # Teams, deputies and absences are the tenant's organisation now, not a document of alerts.
    assert unknown.status_code == 404
    assert await alerts.read_rule("threshold") == before


async def test_a_rule_change_is_kept_with_who_made_it_and_why(alerts: AlertsService) -> None:
    before = await alerts.read_rule("dashboard")
    changed = await alerts.put_rule(
        "dashboard", {**before["document"], "trend_days": 21}, reason="three weeks of trend"
    )
    assert changed.status_code == 200
    assert (changed.json()["changed_by"], changed.json()["version"]) == ("admin-ops", before["version"] + 1)
    async with alerts.http() as http:
        history = (await http.get("/admin/rules/dashboard/history", headers=bearer(ADMIN))).json()
    assert history[0]["version"] == changed.json()["version"]
    assert history[0]["reason"] == "three weeks of trend"
    assert {"path": "trend_days", "before": before["document"]["trend_days"], "after": 21} in history[0][
        "changes"
    ]


# --- R24 ----------------------------------------------------------------------------------------------

THRESHOLD_TEAM = "team-threshold"
ROOT_CAUSE_TEAM = "team-root-cause"


async def _answers(alerts: AlertsService, team_id: str, satisfaction: int, n: int, when: datetime) -> None:
    for i in range(n):
        await alerts.publish(
            unhappy_answer(
                team_id,
                satisfaction=satisfaction,
                effort=None,
                nps=None,
                attributes={},
                answered_at=when + timedelta(seconds=i),
            )
        )

    async def counted() -> int:
        rows = await alerts.fetch(
            "select count(*) as n from answers where team_id = $1 and answered_at >= $2", team_id, when
        )
        return int(rows[0]["n"])

    assert await eventually(counted, lambda c: c == n) == n


async def _threshold_alerts(alerts: AlertsService, team_id: str) -> list[Any]:
    return await alerts.fetch(
        "select alert_id, details from alerts where team_id = $1 and kind = 'threshold' order by raised_at",
        team_id,
    )


async def test_a_team_below_its_level_is_alerted_once_until_it_recovered(alerts: AlertsService) -> None:
    own_team = THRESHOLD_TEAM
    tight = {
        "window_kind": "answers",
        "window_size": 4,
        "alert_below": 5.0,
        "recovered_at": 7.0,
        "min_answers": 3,
    }
    before = await alerts.rule("threshold")
    assert (await alerts.put_rule("threshold", tight)).status_code == 200
    try:
        start = datetime.now(UTC)
        await _answers(alerts, own_team, 1, 3, start)
        await _answers(alerts, own_team, 1, 2, start + timedelta(minutes=1))
        assert len(await _threshold_alerts(alerts, own_team)) == 1

        await _answers(alerts, own_team, 5, 4, start + timedelta(minutes=2))  # recovered: 10/10
        assert len(await _threshold_alerts(alerts, own_team)) == 1
        await _answers(alerts, own_team, 1, 3, start + timedelta(minutes=3))
        found = await _threshold_alerts(alerts, own_team)
        assert len(found) == 2

        first = found[0]["alert_id"]
        sent = await alerts.wait_for_mails(f"alert:{first}:")
        assert [m["to"] for m in sent] == [[address(NL, "sara.janssens")]]
        assert sent[0]["subject"] == f"Tevredenheid van team Test {own_team} gedaald tot 0.0/10"
        event = (await events_about(AlertRaised, first, 1))[0].data
        assert isinstance(event, AlertRaised) and event.reading is not None
        assert (event.kind, event.reading.value, event.reading.sample_size) == (AlertKind.threshold, 0.0, 3)
    finally:
        await alerts.put_rule("threshold", before, reason="as it was")


# --- R7, R25 --------------------------------------------------------------------------------------------


async def test_the_dashboard_splits_satisfaction_by_the_department_at_fault(alerts: AlertsService) -> None:
    own_team = ROOT_CAUSE_TEAM
    complaint = raised(own_team)
    await alerts.publish(complaint)
    await alerts.publish(
        ComplaintResolved(
            complaint_id=complaint.complaint_id,
            customer_id=complaint.customer_id,
            category=complaint.category,
            root_cause_department="claims-processing",
            first_contact_resolution=False,
            resolved_at=datetime.now(UTC),
            team_id=own_team,
        )
    )
    await alerts.publish(unhappy_answer(own_team, satisfaction=2, complaint_id=complaint.complaint_id))
    await alerts.publish(unhappy_answer(own_team, satisfaction=5, effort=5, nps=10, attributes={}))
    sara = token("sup-sara", Role.supervisor, teams=(own_team,), lang="nl")

    async def split() -> dict[str | None, int]:
        async with alerts.http() as http:
            d = (await http.get(f"/teams/{own_team}/dashboard", headers=bearer(sara))).json()
        return {r["department"]: r["answers"] for r in d["root_causes"]}

    assert await eventually(split, lambda s: s == {"claims-processing": 1, None: 1}) == {
        "claims-processing": 1,
        None: 1,
    }


# --- R4, R15 --------------------------------------------------------------------------------------------


async def test_management_is_informed_of_a_new_complaint_and_an_sla_breach(alerts: AlertsService) -> None:
    complaint = raised()
    await alerts.publish(complaint)
    breach = ComplaintSlaBreached(
        complaint_id=complaint.complaint_id,
        customer_id=complaint.customer_id,
        category=complaint.category,
        due_date=complaint.due_date,
        breached_at=datetime.now(UTC),
        team_id="team-nl-1",
    )
    await alerts.publish(breach)
    new_id = notice_alert_id(NL, AlertKind.complaint_new, complaint.complaint_id)
    breach_id = notice_alert_id(NL, AlertKind.sla_breach, complaint.complaint_id, complaint.due_date)

    new = await alerts.wait_for_mails(f"alert:{new_id}:")
    late = await alerts.wait_for_mails(f"alert:{breach_id}:")
    assert [m["to"] for m in new] == [[address(NL, "lena.wouters")]]
    assert new[0]["subject"] == f"New complaint {complaint.complaint_id} (refund.late)"
    assert late[0]["subject"] == f"Promised date missed for complaint {complaint.complaint_id} (refund.late)"
    assert "No action is asked of you" in await alerts.mail_text(new[0]["id"])
    event = (await events_about(AlertRaised, new_id, 1))[0].data
    assert isinstance(event, AlertRaised)
    assert (event.kind, event.severity) == (AlertKind.complaint_new, Severity.info)


async def test_management_can_get_one_digest_instead(alerts: AlertsService) -> None:
    """The French-speaking tenant's management reads a digest (its template's choice; the period is
    shortened here): both notices in one mail, none on its own."""
    digest = {"management": "digest", "digest_every": {"seconds": 2}}
    before = await alerts.rule("notices", tenant=FR)
    assert (await alerts.put_rule("notices", digest, tenant=FR)).status_code == 200
    try:
        complaints = [raised(), raised("team-fr-1")]
        for c in complaints:
            await alerts.publish(c, tenant=FR)
        ids = [notice_alert_id(FR, AlertKind.complaint_new, c.complaint_id) for c in complaints]

        async def digests_with_ours() -> list[tuple[dict[str, Any], str]]:
            found = []
            for m in await alerts.mails_with_key("digest:"):
                text = await alerts.mail_text(m["id"])
                if any(str(c.complaint_id) in text for c in complaints):
                    found.append((m, text))
            return found

        digests = await eventually(digests_with_ours, lambda ds: len(ds) >= 1)
        assert len(digests) == 1, "both complaints in one digest"
        mail, text = digests[0]
        assert mail["to"] == [address(FR, "lena.wouters")]
        assert all(str(c.complaint_id) in text for c in complaints)
        assert "Daily digest:" in text  # the French-speaking template's words, in Lena's English
        for alert_id in ids:
            assert await alerts.mails_with_key(f"alert:{alert_id}:") == []
    finally:
        await alerts.put_rule("notices", before, tenant=FR, reason="as it was")


async def test_a_customer_flagged_for_review_is_told_to_the_back_office(alerts: AlertsService) -> None:
    flag = CustomerFlaggedForReview(
        customer_id=f"cust-{uuid.uuid4().hex[:8]}",
        reason=FlagReason.repeated_financial_compensation,
        financial_compensations=3,
        total=Money.eur(61050),
        window_days=365,
        flagged_at=datetime.now(UTC),
        team_id="team-nl-1",
    )
    await alerts.publish(flag)
    alert_id = notice_alert_id(NL, AlertKind.abuse_flag, flag.customer_id, flag.flagged_at.isoformat())
    sent = await alerts.wait_for_mails(f"alert:{alert_id}:")
    assert [m["to"] for m in sent] == [[address(NL, "back.office")]]
    text = await alerts.mail_text(sent[0]["id"])
    assert flag.customer_id in text and "EUR 610.50" in text and "Content-Language: nl" in text
    event = (await events_about(AlertRaised, alert_id, 1))[0].data
    assert isinstance(event, AlertRaised) and event.team_id is None
