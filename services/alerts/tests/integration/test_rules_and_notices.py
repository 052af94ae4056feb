"""R8 operator data through the admin API; R24 threshold alerts; R4 and R15 notices; R7 the
dashboard's split by root cause."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from alerts_support import (
    ADMIN,
    SARA,
    AlertsService,
    bearer,
    events_about,
    mail_text,
    mails_with_key,
    token,
    unhappy_answer,
    wait_for_mails,
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
    before = await alerts.rule("organisation")
    body: Any = {**before, "teams": [{**before["teams"][0], "supervisor": "sup-ghost"}]}
    async with alerts.http() as http:
        refused = await alerts.put_rule("organisation", body)
        not_admin = await http.put("/admin/rules/organisation", json=before, headers=bearer(SARA))
        unknown = await alerts.put_rule("horoscope", {})
        absent_stranger = await alerts.put_rule(
            "absences",
            {"absences": [{"person": "sup-ghost", "first_day": "2025-01-01", "last_day": "2025-01-02"}]},
        )
        history = await http.get("/admin/rules/organisation/history", headers=bearer(ADMIN))
    assert refused.status_code == 422
    assert refused.json()["field"] == "teams.0.supervisor"
    assert "sup-ghost" in refused.json()["detail"]
    assert not_admin.status_code == 403
    assert unknown.status_code == 404
    assert absent_stranger.status_code == 422 and absent_stranger.json()["field"] == "absences.0.person"
    assert await alerts.rule("organisation") == before
    assert all(v["changed_by"] in ("seed", "admin-ops") for v in history.json())


async def test_a_rule_change_is_kept_with_who_made_it(alerts: AlertsService) -> None:
    before = await alerts.rule("dashboard")
    changed = await alerts.put_rule("dashboard", {**before, "trend_days": 21})
    try:
        assert changed.status_code == 200
        assert changed.json()["changed_by"] == "admin-ops"
        async with alerts.http() as http:
            history = (await http.get("/admin/rules/dashboard/history", headers=bearer(ADMIN))).json()
        assert history[0]["version"] == changed.json()["version"]
        assert history[0]["body"]["trend_days"] == 21
        assert history[-1]["changed_by"] == "seed"
    finally:
        await alerts.put_rule("dashboard", before)


# --- R24 ----------------------------------------------------------------------------------------------


@pytest.fixture
async def own_team(alerts: AlertsService) -> AsyncIterator[str]:
    """A team of this test only (led by sup-sara), so nobody else's answers move its figures."""
    team_id = f"team-t-{uuid.uuid4().hex[:8]}"
    org = await alerts.rule("organisation")
    added = {
        **org,
        "teams": [*org["teams"], {"id": team_id, "name": f"Test {team_id}", "supervisor": "sup-sara"}],
    }
    assert (await alerts.put_rule("organisation", added)).status_code == 200
    yield team_id
    org = await alerts.rule("organisation")
    org["teams"] = [t for t in org["teams"] if t["id"] != team_id]
    await alerts.put_rule("organisation", org)


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


async def test_a_team_below_its_level_is_alerted_once_until_it_recovered(
    alerts: AlertsService, own_team: str
) -> None:
    rule = await alerts.rule("threshold")
    tight = {
        "window_kind": "answers",
        "window_size": 4,
        "alert_below": 5.0,
        "recovered_at": 7.0,
        "min_answers": 3,
    }
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
        sent = await wait_for_mails(f"alert:{first}:")
        assert [m["to"] for m in sent] == [["sara.janssens@staff.hoera.test"]]
        assert sent[0]["subject"] == f"Tevredenheid van team Test {own_team} gedaald tot 0.0/10"
        event = (await events_about(AlertRaised, first, 1))[0].data
        assert isinstance(event, AlertRaised) and event.reading is not None
        assert (event.kind, event.reading.value, event.reading.sample_size) == (AlertKind.threshold, 0.0, 3)
    finally:
        await alerts.put_rule("threshold", rule)


# --- R7, R25 --------------------------------------------------------------------------------------------


async def test_the_dashboard_splits_satisfaction_by_the_department_at_fault(
    alerts: AlertsService, own_team: str
) -> None:
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
    new_id = notice_alert_id("demo", AlertKind.complaint_new, complaint.complaint_id)
    breach_id = notice_alert_id("demo", AlertKind.sla_breach, complaint.complaint_id, complaint.due_date)

    new = await wait_for_mails(f"alert:{new_id}:")
    late = await wait_for_mails(f"alert:{breach_id}:")
    assert [m["to"] for m in new] == [["lena.wouters@staff.hoera.test"]]
    assert new[0]["subject"] == f"New complaint {complaint.complaint_id} (refund.late)"
    assert late[0]["subject"] == f"Promised date missed for complaint {complaint.complaint_id} (refund.late)"
    assert "No action is asked of you" in await mail_text(new[0]["id"])
    event = (await events_about(AlertRaised, new_id, 1))[0].data
    assert isinstance(event, AlertRaised)
    assert (event.kind, event.severity) == (AlertKind.complaint_new, Severity.info)


async def test_management_can_get_one_digest_instead(alerts: AlertsService) -> None:
    rule = await alerts.rule("notices")
    assert (
        await alerts.put_rule("notices", {"management": "digest", "digest_every_seconds": 2})
    ).status_code == 200
    try:
        complaints = [raised(), raised("team-fr-1")]
        for c in complaints:
            await alerts.publish(c)
        ids = [notice_alert_id("demo", AlertKind.complaint_new, c.complaint_id) for c in complaints]

        async def digests_with_ours() -> list[str]:
            found = []
            for m in await mails_with_key("digest:"):
                text = await mail_text(m["id"])
                if any(str(c.complaint_id) in text for c in complaints):
                    found.append(text)
            return found

        texts = await eventually(digests_with_ours, lambda ts: len(ts) >= 1)
        assert len(texts) == 1, "both complaints in one digest"
        assert all(str(c.complaint_id) in texts[0] for c in complaints)
        assert "Digest:" in texts[0]
        for alert_id in ids:
            assert await mails_with_key(f"alert:{alert_id}:") == []
    finally:
        await alerts.put_rule("notices", rule)


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
    alert_id = notice_alert_id("demo", AlertKind.abuse_flag, flag.customer_id, flag.flagged_at.isoformat())
    sent = await wait_for_mails(f"alert:{alert_id}:")
    assert [m["to"] for m in sent] == [["backoffice@staff.hoera.test"]]
    text = await mail_text(sent[0]["id"])
    assert flag.customer_id in text and "EUR 610.50" in text and "Content-Language: nl" in text
    event = (await events_about(AlertRaised, alert_id, 1))[0].data
    assert isinstance(event, AlertRaised) and event.team_id is None
