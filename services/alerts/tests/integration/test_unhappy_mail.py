"""R23, R3 on the real Kafka, PostgreSQL and SMTP sink: an unhappy answer e-mails the team's
supervisor (or whoever stands in) of the answer's tenant once, in their language, with what the
customer answered and wrote."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alerts_support import (
    NL,
    AlertsService,
    address,
    events_about,
    organisation,
    unhappy_answer,
)
from hoera_alerts.domain import unhappy_alert_id
from hoera_devkit.testing import define_tenant
from hoera_events.alerts import AlertDelivered, AlertKind, AlertRaised, RecipientRole
from hoera_events.envelope import make_envelope
from hoera_events.organisation import Absence
from hoera_events.surveys import AgentAttribute

pytestmark = pytest.mark.integration


async def test_an_unhappy_answer_mails_the_team_supervisor_once_in_their_language(
    alerts: AlertsService,
) -> None:
    answer = unhappy_answer(
        "team-fr-1",
        satisfaction=2,
        effort=4,
        nps=8,
        attributes={AgentAttribute.friendly: 5, AgentAttribute.clear: 1},
        comment="Personne ne m'a rappelé, trois fois promis.",
    )
    await alerts.publish(answer)
    alert_id = unhappy_alert_id(NL, answer.survey_id)

    sent = await alerts.wait_for_mails(f"alert:{alert_id}:")
    assert [m["to"] for m in sent] == [[address(NL, "marc.lambert")]]
    assert sent[0]["idempotency_key"] == f"alert:{alert_id}:sup-marc"
    text = await alerts.mail_text(sent[0]["id"])
    assert "Content-Language: fr" in text
    assert f"Client mécontent du contact {answer.contact_id} (agent agent-anna)" in sent[0]["subject"]
    assert "Bonjour Marc Lambert" in text
    assert "Personne ne m'a rappelé, trois fois promis." in text
    assert "- Satisfaction: 2/5  <<" in text
    assert "- Clair: 1/5  <<" in text
    assert "- Aimable: 5/5\n" in text
    assert f"Contact : {answer.contact_id} (téléphone)" in text
    assert "Agent : agent-anna" in text
    assert f"https://platform.hoera.test/recordings/{answer.recording_ref}" in text
    assert f"{alerts.url}/dashboard/alerts/{alert_id}?lang=fr" in text

    raised = await events_about(AlertRaised, alert_id, 1)
    delivered = await events_about(AlertDelivered, alert_id, 1)
    assert len(raised) == 1 and len(delivered) == 1
    event = raised[0].data
    assert isinstance(event, AlertRaised)
    assert (event.kind, event.team_id, event.agent_id, event.satisfaction) == (
        AlertKind.unhappy_smiley,
        "team-fr-1",
        "agent-anna",
        2,
    )
    assert raised[0].causation_id is not None  # caused by the survey answer's event
    done = delivered[0].data
    assert isinstance(done, AlertDelivered)
    assert (done.recipient_id, done.recipient_role, done.deputy_for) == (
        "sup-marc",
        RecipientRole.supervisor,
        None,
    )


async def test_the_same_answer_delivered_twice_mails_once(alerts: AlertsService) -> None:
    answer = unhappy_answer("team-nl-1")
    first = await alerts.publish(answer)
    alert_id = unhappy_alert_id(NL, answer.survey_id)
    await alerts.wait_for_mails(f"alert:{alert_id}:")

    await alerts.publish(answer, envelope=first)  # Kafka redelivers the very same event
    # The survey service publishes the same answer again under a new event id (a retry).
    await alerts.publish(answer)
    # A marker on the same partition: once its mail is out, both repeats were handled before it.
    marker = unhappy_answer("team-nl-1")
    await alerts.publish(
        marker,
        envelope=make_envelope(marker, producer="test", tenant=NL, key=str(answer.survey_id)),
    )
    await alerts.wait_for_mails(f"alert:{unhappy_alert_id(NL, marker.survey_id)}:")

    assert len(await alerts.mails_with_key(f"alert:{alert_id}:")) == 1
    rows = await alerts.fetch("select count(*) as n from alerts where survey_id = $1", answer.survey_id)
    assert rows[0]["n"] == 1


async def test_a_happy_answer_mails_nobody(alerts: AlertsService) -> None:
    happy = unhappy_answer(
        "team-nl-1", satisfaction=5, effort=5, nps=10, attributes={AgentAttribute.clear: 5}
    )
    await alerts.publish(happy)
    marker = unhappy_answer("team-nl-1")
    await alerts.publish(
        marker,
        envelope=make_envelope(marker, producer="test", tenant=NL, key=str(happy.survey_id)),
    )
    await alerts.wait_for_mails(f"alert:{unhappy_alert_id(NL, marker.survey_id)}:")
    assert await alerts.mails_with_key(f"alert:{unhappy_alert_id(NL, happy.survey_id)}:") == []
    counted = await alerts.fetch("select unhappy from answers where survey_id = $1", happy.survey_id)
    assert [r["unhappy"] for r in counted] == [False]


async def test_the_deputy_gets_it_while_the_supervisor_is_absent(alerts: AlertsService) -> None:
    """R3: the tenant's organisation says sup-sara is away today; her first deputy is told."""
    tenant = "alerts-absent"
    today = datetime.now(UTC).date()
    away = Absence(person="sup-sara", starts_on=today - timedelta(days=1), ends_on=today + timedelta(days=1))
    await define_tenant(tenant, organisation=organisation(tenant, absences=[away]))

    answer = unhappy_answer("team-nl-1", comment="Ik wacht al weken.")
    await alerts.publish(answer, tenant=tenant)
    alert_id = unhappy_alert_id(tenant, answer.survey_id)
    sent = await alerts.wait_for_mails(f"alert:{alert_id}:")
    assert [m["to"] for m in sent] == [[address(tenant, "dirk.claes")]]
    text = await alerts.mail_text(sent[0]["id"])
    assert "Content-Language: nl" in text
    assert "Dag Dirk Claes" in text
    assert "vervanger van Sara Janssens" in text
    assert "Ik wacht al weken." in text
    delivered = await events_about(AlertDelivered, alert_id, 1)
    event = delivered[0].data
    assert isinstance(event, AlertDelivered)
    assert (event.recipient_id, event.recipient_role, event.deputy_for) == (
        "sup-dirk",
        RecipientRole.deputy,
        "sup-sara",
    )
