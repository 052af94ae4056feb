"""Closing the loop on the real Kafka, PostgreSQL and SMTP sink: an unhappy answer's reason travels with
its alert and is named in the supervisor's mail in their language; the drill-down filters on a reason
and a topic of the comment, its CSV holding exactly the page's answers; the dashboard counts topics,
reasons and topics with reasons as counted here, each count linking to the drill-down that finds that
many; an overdue recovery case raises one alert and one mail to whoever acts for the team's supervisor,
however often its event arrives."""

from __future__ import annotations

import csv
import html
import io
import re
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alerts_support import (
    CALLBACK_PAGES,
    NL,
    SARA,
    AlertsService,
    address,
    bearer,
    events_about,
    organisation,
    token,
    unhappy_answer,
)
from hoera_alerts.domain import notice_alert_id, unhappy_alert_id
from hoera_devkit.testing import define_tenant, eventually
from hoera_events.alerts import AlertKind, AlertRaised, RecipientRole, Severity
from hoera_events.envelope import make_envelope
from hoera_events.organisation import Absence
from hoera_events.recovery import RecoveryCaseEscalated
from hoera_events.surveys import SurveyAnswered
from hoera_kit.auth import Role

pytestmark = pytest.mark.integration

# The tenants' feedback vocabulary (hoera_devkit.testing.demo_organisation), in English.
REASONS = {"waiting-time": "I had to wait too long", "not-solved": "My question was not solved"}
TOPICS = {"waiting": "Waiting", "payment": "Payment"}


# --- the reason on the alert and in the mail --------------------------------------------------------------


async def test_an_unhappy_answers_reason_travels_with_its_alert_and_is_named_in_the_mail(
    alerts: AlertsService,
) -> None:
    answer = unhappy_answer("team-fr-1", reason="waiting-time", topics=["waiting", "payment"])
    await alerts.publish(answer)
    alert_id = unhappy_alert_id(NL, answer.survey_id)

    sent = await alerts.wait_for_mails(f"alert:{alert_id}:")
    assert [m["to"] for m in sent] == [[address(NL, "marc.lambert")]]
    text = await alerts.mail_text(sent[0]["id"])
    assert "Content-Language: fr" in text
    # Marc reads French: the organisation's French words for the reason and the topics.
    assert "- Raison du mécontentement: J'ai dû attendre trop longtemps\n" in text
    assert "- Sujets du commentaire: Temps d'attente, Remboursement" in text

    event = (await events_about(AlertRaised, alert_id, 1))[0].data
    assert isinstance(event, AlertRaised)
    assert (event.kind, event.reason) == (AlertKind.unhappy_smiley, "waiting-time")
    stored = await alerts.fetch(
        "select a.reason, a.topics, al.reason as alert_reason from answers a "
        "join alerts al on al.tenant = a.tenant and al.survey_id = a.survey_id where a.survey_id = $1",
        answer.survey_id,
    )
    assert [(r["reason"], list(r["topics"]), r["alert_reason"]) for r in stored] == [
        ("waiting-time", ["waiting", "payment"], "waiting-time")
    ]

    marc = token("sup-marc", Role.supervisor, teams=("team-fr-1",), lang="fr")
    async with alerts.signed_in(marc) as http:
        page = await http.get(f"/dashboard/alerts/{alert_id}", params={"lang": "en"})
        api = await http.get(f"/alerts/{alert_id}", headers=bearer(marc))
    assert page.status_code == 200
    assert _cell(page.text, "alert-reason") == REASONS["waiting-time"]
    assert _cell(page.text, "alert-topics") == "Waiting, Payment"
    assert (api.json()["reason"], api.json()["topics"]) == ("waiting-time", ["waiting", "payment"])


def _cell(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}">([^<]*)<', page)
    assert found is not None, f"no #{element_id} on the page"
    return html.unescape(found.group(1))


# --- the drill-down by reason and by topic, and its CSV -------------------------------------------------


def _answers(team: str) -> list[SurveyAnswered]:
    """Unhappy and happy answers with and without a reason and topics."""

    def happy(**fields: Any) -> SurveyAnswered:
        scores: dict[str, Any] = {"satisfaction": 4, "effort": 4, "nps": 9, "attributes": {}}
        answer: SurveyAnswered = unhappy_answer(team, **scores, **fields)
        return answer

    return [
        unhappy_answer(team, reason="waiting-time", topics=["waiting"]),
        unhappy_answer(team, reason="waiting-time", topics=["waiting", "payment"]),
        unhappy_answer(team, reason="not-solved", topics=["payment"]),
        unhappy_answer(team, reason="not-solved", topics=["payment", "waiting"], satisfaction=2),
        unhappy_answer(team, reason="not-solved", topics=[]),
        unhappy_answer(team, reason=None, topics=[]),
        happy(topics=["waiting"]),
        happy(topics=[], comment=None),
    ]


async def _publish_all(alerts: AlertsService, *teams: list[SurveyAnswered]) -> None:
    every = [a for team in teams for a in team]
    for answer in every:
        await alerts.publish(answer)
    ids = [a.survey_id for a in every]
    stored = await eventually(
        lambda: alerts.fetch("select survey_id from answers where survey_id = any($1::uuid[])", ids),
        lambda rows: len(rows) == len(ids),
    )
    assert len(stored) == len(ids)


def _rows(page: str) -> list[str]:
    return re.findall(r'<tr data-survey="([^"]+)"', page)


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


async def test_the_drill_down_filters_by_reason_and_topic_and_its_csv_is_the_page(
    alerts: AlertsService,
) -> None:
    team = f"team-loop-{uuid.uuid4().hex[:6]}"
    other = f"team-other-{uuid.uuid4().hex[:6]}"
    mine = _answers(team)
    theirs = [unhappy_answer(other, reason="waiting-time", topics=["waiting", "payment"])]
    await _publish_all(alerts, mine, theirs)
    sara = token("sup-sara", Role.supervisor, teams=(team,), lang="en")

    views: list[dict[str, str]] = [
        {"topic": "waiting"},
        {"topic": "payment"},
        {"reason": "waiting-time"},
        {"reason": "not-solved"},
        {"reason": "not-solved", "topic": "payment"},
        {"reason": "waiting-time", "topic": "payment", "figure": "csat"},
    ]
    async with alerts.signed_in(sara) as http:
        for view in views:
            expected = {
                str(a.survey_id)
                for a in mine
                if ("topic" not in view or view["topic"] in a.topics)
                and ("reason" not in view or a.reason == view["reason"])
            }
            page = await http.get(f"/dashboard/teams/{team}/answers", params={**view, "lang": "en"})
            exported = await http.get(f"/dashboard/teams/{team}/answers.csv", params={**view, "lang": "en"})
            assert page.status_code == 200 and exported.status_code == 200, view
            shown = _rows(page.text)
            assert set(shown) == expected and len(shown) == len(expected), view
            assert f'data-total="{len(expected)}"' in page.text, view
            rows = _csv(exported.text)
            assert [r["survey_id"] for r in rows] == shown, view
            by_id = {str(a.survey_id): a for a in mine}
            for r in rows:
                answer = by_id[r["survey_id"]]
                assert r["reason"] == (REASONS[answer.reason] if answer.reason else ""), view
                assert r["topics"] == "; ".join(TOPICS[t] for t in answer.topics), view
                assert (r["reason_code"], r["topic_codes"]) == (answer.reason or "", ";".join(answer.topics))
        # The page names them as the CSV does, and offers the organisation's reasons and topics.
        page = await http.get(f"/dashboard/teams/{team}/answers", params={"topic": "payment", "lang": "en"})
    assert f">{REASONS['not-solved']}</td>" in page.text
    assert ">Payment, Waiting</td>" in page.text
    assert '<option value="waiting-time">I had to wait too long</option>' in page.text
    assert '<option value="payment" selected>Payment</option>' in page.text


# --- the dashboard's counts of topics and reasons ---------------------------------------------------------


def _counts(page: str, table: str) -> dict[tuple[str, ...], tuple[int, str]]:
    """A count table of the dashboard: (topic,) or (reason,) or (topic, reason) → (count, link)."""
    found = re.search(rf'<table id="{table}">(.*?)</table>', page, re.S)
    assert found is not None, f"no #{table} on the dashboard"
    out: dict[tuple[str, ...], tuple[int, str]] = {}
    for row in re.findall(r"<tr data-(?:topic|reason)=.*?</tr>", found.group(1), re.S):
        head = re.match(r'<tr data-(topic|reason)="([^"]+)"', row)
        assert head is not None
        cells = re.findall(r'(?:<td data-reason="([^"]+)">)?<a href="([^"]+)" data-count="(\d+)"', row)
        for reason, href, n in cells:
            key = (head.group(2), reason) if reason else (head.group(2),)
            out[key] = (int(n), html.unescape(href))
    return out


async def test_the_dashboard_counts_topics_and_reasons_and_each_count_finds_its_answers(
    alerts: AlertsService,
) -> None:
    team = f"team-loop-{uuid.uuid4().hex[:6]}"
    mine = _answers(team)
    await _publish_all(alerts, mine, _answers(f"team-other-{uuid.uuid4().hex[:6]}"))
    sara = token("sup-sara", Role.supervisor, teams=(team,), lang="en")

    # Counted here, from what was published.
    topics = Counter(t for a in mine for t in a.topics)
    reasons = Counter(a.reason for a in mine if a.reason)
    pairs = Counter((t, a.reason) for a in mine if a.reason for t in a.topics)
    assert topics == {"waiting": 4, "payment": 3} and reasons == {"waiting-time": 2, "not-solved": 3}

    async with alerts.signed_in(sara) as http:
        figures = (await http.get(f"/teams/{team}/dashboard", headers=bearer(sara))).json()
        page = (await http.get(f"/dashboard/teams/{team}", params={"lang": "en"})).text
        assert {c["code"]: c["answers"] for c in figures["topics"]} == topics
        assert {c["code"]: c["answers"] for c in figures["reasons"]} == reasons
        assert {(p["topic"], p["reason"]): p["answers"] for p in figures["topic_reasons"]} == pairs

        shown_topics = _counts(page, "topic-counts")
        shown_reasons = _counts(page, "reason-counts")
        shown_pairs = _counts(page, "topic-reason-counts")
        assert {k[0]: n for k, (n, _) in shown_topics.items()} == topics
        assert {k[0]: n for k, (n, _) in shown_reasons.items()} == reasons
        assert {(k[0], k[1]): n for k, (n, _) in shown_pairs.items()} == pairs
        assert ">Waiting</th>" in page and f">{REASONS['not-solved']}</th>" in page

        # Each count links to the drill-down filtered on it, which finds exactly that many answers.
        for n, link in [*shown_topics.values(), *shown_reasons.values(), *shown_pairs.values()]:
            assert link.startswith(f"/dashboard/teams/{team}/answers?")
            drilled = await http.get(link)
            assert drilled.status_code == 200
            assert f'data-total="{n}"' in drilled.text, link
            assert len(_rows(drilled.text)) == n, link


# --- overdue recovery cases ----------------------------------------------------------------------------


def escalated(team_id: str | None = "team-nl-1") -> RecoveryCaseEscalated:
    now = datetime.now(UTC)
    return RecoveryCaseEscalated(
        case_id=uuid.uuid4(),
        customer_id=f"cust-{uuid.uuid4().hex[:8]}",
        due_at=now - timedelta(minutes=5),
        escalated_at=now,
        team_id=team_id,
        agent_id="agent-anna",
    )


async def test_an_overdue_recovery_case_raises_one_alert_and_one_mail_however_often_it_arrives(
    alerts: AlertsService,
) -> None:
    case = escalated()
    first = await alerts.publish(case)
    await alerts.publish(case, envelope=first)  # Kafka delivers the very same event again
    await alerts.publish(case)  # the callback service publishes it again under a new event id
    # A marker on the same partition: once its mail is out, the repeats were handled before it.
    marker = escalated()
    await alerts.publish(
        marker, envelope=make_envelope(marker, producer="test", tenant=NL, key=str(case.case_id))
    )
    alert_id = notice_alert_id(NL, AlertKind.recovery_overdue, case.case_id, case.due_at.isoformat())
    marker_id = notice_alert_id(NL, AlertKind.recovery_overdue, marker.case_id, marker.due_at.isoformat())
    await alerts.wait_for_mails(f"alert:{marker_id}:")
    await events_about(AlertRaised, marker_id, 1)

    sent = await alerts.mails_with_key(f"alert:{alert_id}:")
    assert len(sent) == 1
    assert sent[0]["to"] == [address(NL, "sara.janssens")]
    text = await alerts.mail_text(sent[0]["id"])
    assert "Content-Language: nl" in text
    assert f"Herstelcase van klant {case.customer_id} is te laat" in sent[0]["subject"]
    assert "Dag Sara Janssens" in text
    assert f"{CALLBACK_PAGES}/recovery/cases/{case.case_id}?lang=nl" in text
    assert f"{alerts.url}/dashboard/alerts/{alert_id}?lang=nl" in text
    rows = await alerts.fetch(
        "select kind, severity, status, recovery_case_id from alerts where recovery_case_id = $1",
        case.case_id,
    )
    assert [tuple(r.values()) for r in rows] == [("recovery_overdue", "warning", "open", case.case_id)]

    raised = await events_about(AlertRaised, alert_id, 1)
    assert len(raised) == 1
    event = raised[0].data
    assert isinstance(event, AlertRaised)
    assert (event.kind, event.severity, event.recovery_case_id, event.team_id, event.customer_id) == (
        AlertKind.recovery_overdue,
        Severity.warning,
        case.case_id,
        "team-nl-1",
        case.customer_id,
    )
    recipients = await alerts.fetch(
        "select recipient_id, role from alert_recipients where alert_id = $1", alert_id
    )
    assert [(r["recipient_id"], r["role"]) for r in recipients] == [("sup-sara", "supervisor")]

    # On the team's dashboard with the other open alerts, its page linking to the case.
    async with alerts.signed_in(SARA) as http:
        dashboard = await http.get("/dashboard/teams/team-nl-1", params={"lang": "en"})
        page = await http.get(f"/dashboard/alerts/{alert_id}", params={"lang": "fr"})
    case_page = f"{CALLBACK_PAGES}/recovery/cases/{case.case_id}"
    item = re.search(rf'<li data-alert-id="{alert_id}">(.*?)</li>', dashboard.text, re.S)
    assert item is not None, "the alert is among the open alerts"
    assert "Recovery case overdue" in item.group(1) and f'href="{case_page}?lang=en"' in item.group(1)
    assert "Dossier de reconquête en retard" in page.text
    assert f'href="{case_page}?lang=fr" id="recovery-case"' in page.text
    assert 'id="acknowledge"' in page.text


async def test_an_overdue_case_goes_to_management_when_the_teams_leads_are_away(
    alerts: AlertsService,
) -> None:
    """R3: sup-sara and her deputy sup-dirk are away today; management (Lena, in English) is told."""
    tenant = "alerts-loop-away"
    today = datetime.now(UTC).date()
    away = [
        Absence(person=p, starts_on=today - timedelta(days=1), ends_on=today + timedelta(days=1))
        for p in ("sup-sara", "sup-dirk")
    ]
    await define_tenant(tenant, organisation=organisation(tenant, absences=away))
    case = escalated()
    await alerts.publish(case, tenant=tenant)
    alert_id = notice_alert_id(tenant, AlertKind.recovery_overdue, case.case_id, case.due_at.isoformat())

    sent = await alerts.wait_for_mails(f"alert:{alert_id}:")
    assert [m["to"] for m in sent] == [[address(tenant, "lena.wouters")]]
    text = await alerts.mail_text(sent[0]["id"])
    assert "Content-Language: en" in text
    assert f"Recovery case of customer {case.customer_id} is overdue" in sent[0]["subject"]
    assert "deputy for Sara Janssens" in text
    assert f"{CALLBACK_PAGES}/recovery/cases/{case.case_id}?lang=en" in text
    recipients = await alerts.fetch(
        "select recipient_id, role, deputy_for from alert_recipients where alert_id = $1", alert_id
    )
    assert [tuple(r.values()) for r in recipients] == [
        ("mgmt-lena", RecipientRole.management.value, "sup-sara")
    ]
