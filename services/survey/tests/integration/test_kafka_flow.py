"""The survey service as its own process on the real Kafka, PostgreSQL and SMTP sink: trigger events
in, SurveyInvited / SurveySuppressed out, an e-mail whose link works, one SurveyAnswered per link."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest
from hoera_devkit.testing import ServiceProcess, mail_text
from hoera_events.callbacks import CallbackCompleted, CallbackOutcome
from hoera_events.common import Channel, Language
from hoera_events.complaints import ComplaintClosed
from hoera_events.surveys import SurveyAnswered, SurveyInvited, SurveySuppressed

from .support import auth, contact_closed, envelope, events_of, link_in, mail_to, publish, unique

pytestmark = pytest.mark.integration


async def test_a_closed_contact_brings_an_invitation_mail_whose_link_takes_one_answer(
    survey_process: ServiceProcess,
) -> None:
    customer = unique("kafka")
    contact = contact_closed(customer, language=Language.nl, team_id="team-nl-1")
    await publish(envelope(contact))

    invited = await events_of(SurveyInvited, {customer}, until=1)
    assert len(invited) == 1
    event = invited[0].data
    assert isinstance(event, SurveyInvited)
    assert (event.contact_id, event.agent_id, event.team_id) == (contact.contact_id, "AGT-0042", "team-nl-1")

    mail = await mail_to(f"{customer}@customers.hoera.test")
    assert mail["subject"] == "Hoe was uw contact met ons?"
    link = link_in(await mail_text(mail["id"]))
    assert link.startswith(f"{survey_process.url}/s/{event.survey_id}?t=")

    async with httpx.AsyncClient() as http:
        page = await http.get(link)
        assert page.status_code == 200 and "Hoe tevreden bent u over dit contact?" in page.text
        token = httpx.URL(link).params["t"]
        answer = {
            "t": token,
            "satisfaction": "2",
            "effort": "4",
            "nps": "6",
            "attr_clear": "1",
            "comment": "Vriendelijk, maar onduidelijk.",
            "contact_me": "yes",
            "moment": "morning",
            "contact_channel": "phone",
        }
        first = await http.post(link.split("?")[0], data=answer)
        second = await http.post(link.split("?")[0], data=answer)
    assert (first.status_code, second.status_code) == (303, 409)

    answered = await events_of(SurveyAnswered, {customer}, until=1)
    # Read on for a while: a second SurveyAnswered would arrive within the outbox relay's poll.
    answered = await events_of(SurveyAnswered, {customer}, until=2, timeout=3)
    assert len(answered) == 1
    data = answered[0].data
    assert isinstance(data, SurveyAnswered)
    assert (data.survey_id, data.satisfaction, data.effort, data.nps) == (event.survey_id, 2, 4, 6)
    assert data.contact_me is not None and data.contact_me.preferred_moment.value == "morning"
    assert data.agent_id == "AGT-0042" and data.team_id == "team-nl-1"
    assert answered[0].correlation_id == invited[0].correlation_id

    async with httpx.AsyncClient(base_url=survey_process.url) as http:
        report = await http.get(
            "/figures", params={"segment": "team"}, headers=auth("supervisor", teams=("team-nl-1",))
        )
    assert report.status_code == 200
    body = report.json()
    assert body["teams"] == ["team-nl-1"]
    assert body["overall"]["answered"] >= 1
    assert [s["value"] for s in body["segments"]] == ["team-nl-1"]


async def test_twenty_contacts_of_one_customer_from_kafka_give_one_invitation_and_nineteen_suppressions(
    survey_process: ServiceProcess,
) -> None:
    customer = unique("burst")
    await publish(*(envelope(contact_closed(customer)) for _ in range(20)))
    suppressed = await events_of(SurveySuppressed, {customer}, until=19)
    invited = await events_of(SurveyInvited, {customer}, until=1)
    assert len(invited) == 1 and len(suppressed) == 19
    assert {e.data.reason.value for e in suppressed} == {"fatigue_cap"}  # type: ignore[attr-defined]
    async with httpx.AsyncClient(base_url=survey_process.url) as http:
        counts = await http.get("/suppressions", headers=auth("admin"))
    assert counts.json()["by_reason"]["fatigue_cap"] >= 19


async def test_closed_complaints_positive_callbacks_and_deceased_contacts_are_decided_by_their_rules(
    survey_process: ServiceProcess,
) -> None:
    complainant, called, unreachable, bereaved = (unique(p) for p in ("cmp", "cb", "cbx", "rip"))
    now = datetime.now(UTC)
    await publish(
        envelope(
            ComplaintClosed(
                complaint_id=uuid.uuid4(),
                customer_id=complainant,
                category="refund.late",
                channel=Channel.email,
                language=Language.fr,
                closed_at=now,
                team_id="team-fr-1",
            )
        ),
        envelope(
            CallbackCompleted(
                callback_id=uuid.uuid4(),
                customer_id=called,
                agent_id="AGT-1",
                outcome=CallbackOutcome.closed_positively,
                attempt=1,
                completed_at=now,
                channel=Channel.phone,
                language=Language.nl,
            )
        ),
        envelope(
            CallbackCompleted(
                callback_id=uuid.uuid4(),
                customer_id=unreachable,
                agent_id="AGT-1",
                outcome=CallbackOutcome.not_reachable,
                attempt=1,
                completed_at=now,
                channel=Channel.phone,
                language=Language.nl,
            )
        ),
        envelope(contact_closed(bereaved, about_deceased=True)),
    )
    invited = await events_of(SurveyInvited, {complainant, called}, until=2)
    suppressed = await events_of(SurveySuppressed, {bereaved}, until=1)
    by_customer = {e.data.customer_id: e.data for e in invited}  # type: ignore[attr-defined]
    assert by_customer[complainant].trigger.value == "complaint_closed"
    assert by_customer[complainant].language is Language.fr
    assert by_customer[called].trigger.value == "callback_completed"
    assert [e.data.reason.value for e in suppressed] == ["deceased"]  # type: ignore[attr-defined]
    # An unreachable customer is no contact to ask about: neither invited nor suppressed.
    nothing = await events_of(SurveyInvited, {unreachable}, until=1, timeout=2)
    assert nothing == []
    mail = await mail_to(f"{complainant}@customers.hoera.test")
    assert mail["subject"] == "Comment s'est passé votre contact avec nous ?"
