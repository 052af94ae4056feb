"""End-to-end journeys through the five services as separate processes (issue 10, item 2).

Each journey drives only public edges: the services' HTTP APIs and pages, and the platform's Kafka
topics; it observes the topics and the SMTP sink. Every journey uses its own customer, contact and
complaint ids, so the journeys (and anything else on the shared broker) do not see each other.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from hoera_events.alerts import AlertKind, AlertRaised
from hoera_events.callbacks import CallbackCompleted, CallbackOutcome, CallbackRequested, CallbackSource
from hoera_events.common import Channel, Language
from hoera_events.compensation import (
    CompensationApprovalRequested,
    CompensationDecided,
    CompensationOutcome,
    CustomerFlaggedForReview,
)
from hoera_events.complaints import (
    ComplaintAcknowledged,
    ComplaintClosed,
    ComplaintEscalated,
    ComplaintRaised,
    ComplaintResolved,
    ComplaintSlaBreached,
    CustomerMarkedDeceased,
    EscalationStep,
)
from hoera_events.platform import ContactClosed
from hoera_events.surveys import (
    SuppressionReason,
    SurveyAnswered,
    SurveyInvited,
    SurveySuppressed,
    SurveyTrigger,
)

from .support import (
    Mail,
    Mailbox,
    Publisher,
    Tap,
    as_user,
    customer_address,
    submit_complaint,
    survey_link,
    unique,
    wait_until,
)

pytestmark = pytest.mark.integration

# Addresses from the operator data the services were seeded with (alerts' organisation rules,
# intake's team rules).
SARA = "sara.janssens@staff.hoera.test"
MARC = "marc.lambert@staff.hoera.test"
LENA = "lena.wouters@staff.hoera.test"
BACK_OFFICE = "backoffice@staff.hoera.test"

FRENCH_MONTHS = [
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
]  # fmt: skip
FRENCH_DAYS = ["lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"]


def in_french(day: date) -> str:
    """How a French-speaking customer reads a promised date: 'jeudi 14 mai 2026'."""
    return f"{FRENCH_DAYS[day.weekday()]} {day.day} {FRENCH_MONTHS[day.month - 1]} {day.year}"


def contact_closed(customer_id: str, **fields: Any) -> ContactClosed:
    values: dict[str, Any] = {
        "contact_id": unique("CNT-E2E"),
        "customer_id": customer_id,
        "channel": Channel.phone,
        "agent_id": "agent-anna",
        "team_id": "team-nl-1",
        "closed_at": datetime.now(UTC),
        "language": Language.nl,
        **fields,
    }
    return ContactClosed(**values)


async def told_about(
    http: httpx.AsyncClient, urls: dict[str, str], alert_id: uuid.UUID, reader: str
) -> list[tuple[str, str]]:
    """Whom this system's alerts service told of an alert, once the mail server took each mail (a
    look-alike mail may come from another system on the shared broker; this one's API cannot)."""

    def delivered(resp: httpx.Response) -> bool:
        recipients = resp.json().get("recipients", []) if resp.status_code == 200 else []
        return bool(recipients) and all(r["delivered_at"] for r in recipients)

    url = f"{urls['alerts']}/alerts/{alert_id}"
    resp = await wait_until(lambda: http.get(url, headers=as_user(reader)), delivered)
    assert resp.status_code == 200, resp.text
    return [(r["recipient_id"], r["role"]) for r in resp.json()["recipients"] if r["delivered_at"]]


async def test_an_overdue_complaint_is_acknowledged_in_french_escalated_resolved_closed_and_surveyed(
    urls: dict[str, str], http: httpx.AsyncClient, tap: Tap, mailbox: Mailbox
) -> None:
    customer = unique("CUST-E2E-CMP")
    # test.fast: promised 5 seconds after receipt (set up through intake's admin API), so "left
    # overdue" takes seconds; French, so the acknowledgement must be French.
    accepted = await submit_complaint(
        http,
        urls,
        customer,
        category="test.fast",
        language="fr",
        channel="email",
        summary="Remboursement promis deux fois, toujours rien après six semaines.",
        agent_id="agent-luc",
        team_id="team-fr-1",
    )
    complaint_id = uuid.UUID(accepted["complaint_id"])
    promised = date.fromisoformat(accepted["due_date"])

    def mine(event: Any) -> bool:
        return bool(event.complaint_id == complaint_id)

    raised = await tap.wait(ComplaintRaised, mine)
    assert (raised.customer_id, raised.language, raised.due_date) == (customer, Language.fr, promised)

    acknowledged = await tap.wait(ComplaintAcknowledged, mine)
    assert (acknowledged.language, acknowledged.promised_date) == (Language.fr, promised)
    ack_mail = await mailbox.wait_to(customer_address(customer), lambda m: accepted["ref"] in m.subject)
    assert ack_mail.subject.startswith("Nous avons bien reçu votre plainte"), ack_mail.subject
    assert "Content-Language: fr" in ack_mail.text
    assert f"au plus tard le {in_french(promised)}" in ack_mail.body, ack_mail.body

    # Left overdue: the lead is asked to step in, the breach is noted, management is informed.
    escalated = await tap.wait(
        ComplaintEscalated, lambda e: mine(e) and e.step is EscalationStep.escalated_to_lead
    )
    assert escalated.escalated_to_agent_id == "sup-marc"
    breached = await tap.wait(ComplaintSlaBreached, mine)
    assert breached.due_date == promised
    # Refs are numbered per database; the dossier link in the mail names this complaint.
    await mailbox.wait_to(MARC, lambda m: accepted["ref"] in m.subject, contains=str(complaint_id))
    notice = await tap.wait(
        AlertRaised, lambda a: a.complaint_id == complaint_id and a.kind is AlertKind.sla_breach
    )
    assert await told_about(http, urls, notice.alert_id, "mgmt-lena") == [("mgmt-lena", "management")]
    management_mail = await mailbox.wait_to(
        LENA, lambda m: m.idempotency_key == f"alert:{notice.alert_id}:mgmt-lena", contains=str(complaint_id)
    )
    assert management_mail.subject.startswith("Promised date missed for complaint"), management_mail.subject

    # The agent answers with the root cause, then closes the dossier.
    luc = as_user("agent-luc")
    resolved = await http.post(
        f"{urls['intake']}/complaints/{complaint_id}/resolve",
        json={
            "root_cause_department": "claims-processing",
            "first_contact_resolution": False,
            "answer": "Le remboursement de 42,50 EUR a été versé le 4 mars.",
        },
        headers=luc,
    )
    assert resolved.status_code == 200, resolved.text
    assert (await tap.wait(ComplaintResolved, mine)).root_cause_department == "claims-processing"
    closed = await http.post(f"{urls['intake']}/complaints/{complaint_id}/close", json={}, headers=luc)
    assert closed.status_code == 200, closed.text
    assert (await tap.wait(ComplaintClosed, mine)).language is Language.fr

    # A survey invitation follows, in French, with a link to this system's survey page.
    survey_page = f"{urls['survey']}/s/"
    invitation = await mailbox.wait_to(customer_address(customer), contains=survey_page)
    link, survey_id, _ = survey_link(invitation.text)
    assert "Content-Language: fr" in invitation.text
    invited = await tap.wait(SurveyInvited, lambda e: str(e.survey_id) == survey_id)
    assert (invited.complaint_id, invited.trigger, invited.language) == (
        complaint_id,
        SurveyTrigger.complaint_closed,
        Language.fr,
    )
    assert 'lang="fr"' in (await http.get(link)).text

    dossier = (await http.get(f"{urls['intake']}/complaints/{complaint_id}", headers=luc)).json()
    assert dossier["status"] == "closed"
    assert dossier["root_cause_department"] == "claims-processing"
    assert all(
        dossier[k] for k in ("acknowledged_at", "escalated_at", "breached_at", "resolved_at", "closed_at")
    )
    # Exactly once each, whatever retries happened on the way.
    assert len(tap.events(ComplaintAcknowledged, mine)) == 1
    assert len(tap.events(ComplaintSlaBreached, mine)) == 1
    assert len(await mailbox.find(customer_address(customer), contains=survey_page)) == 1


async def test_an_unhappy_answer_asking_for_contact_mails_the_supervisor_and_its_callback_is_closed(
    urls: dict[str, str], http: httpx.AsyncClient, tap: Tap, mailbox: Mailbox, publisher: Publisher
) -> None:
    customer = unique("CUST-E2E-SRV")
    contact = contact_closed(customer, reason_code="refund.status", recording_ref=unique("rec"))
    await publisher.publish(contact)

    invitation = await mailbox.wait_to(customer_address(customer), contains=f"{urls['survey']}/s/")
    link, survey_id, link_token = survey_link(invitation.text)
    invited = await tap.wait(SurveyInvited, lambda e: str(e.survey_id) == survey_id)
    assert (invited.contact_id, invited.team_id, invited.agent_id) == (
        contact.contact_id,
        "team-nl-1",
        "agent-anna",
    )

    # The customer opens the page and answers: unhappy, and "please contact me".
    page = await http.get(link)
    assert page.status_code == 200 and 'name="contact_me"' in page.text, page.text[:500]
    comment = "Vriendelijk, maar ik wacht nog altijd op mijn terugbetaling."
    posted = await http.post(
        f"{urls['survey']}/s/{survey_id}",
        data={
            "t": link_token,
            "lang": "nl",
            "satisfaction": "1",
            "effort": "2",
            "nps": "3",
            "comment": comment,
            "contact_me": "yes",
            "moment": "morning",
            "contact_channel": "phone",
        },
    )
    assert posted.status_code == 303, posted.text[:500]

    def this_survey(event: Any) -> bool:
        return bool(event.survey_id == invited.survey_id)

    answered = await tap.wait(SurveyAnswered, this_survey)
    assert answered.satisfaction == 1 and answered.contact_me is not None

    # The supervisor of the agent's team hears of it at once, in Dutch.
    alert = await tap.wait(AlertRaised, lambda a: this_survey(a) and a.kind is AlertKind.unhappy_smiley)
    assert (alert.team_id, alert.agent_id, alert.satisfaction) == ("team-nl-1", "agent-anna", 1)

    def from_sara_alert(mail: Mail) -> bool:
        return mail.idempotency_key == f"alert:{alert.alert_id}:sup-sara"

    supervisor_mail = await mailbox.wait_to(SARA, from_sara_alert, contains=urls["alerts"])
    assert supervisor_mail.subject == f"Ontevreden klant over contact {contact.contact_id} (agent agent-anna)"
    assert comment in supervisor_mail.body
    assert "Content-Language: nl" in supervisor_mail.text
    assert await told_about(http, urls, alert.alert_id, "sup-sara") == [("sup-sara", "supervisor")]

    # One callback item in the team's queue, with the story the agent reads before dialling.
    anna = as_user("agent-anna")

    async def known_here() -> list[str]:
        """The callbacks requested for this survey that this system's callback service holds
        (another system on the shared broker may queue its own for the same answer)."""
        held = []
        for e in tap.events(CallbackRequested, this_survey):
            resp = await http.get(f"{urls['callback']}/callbacks/{e.callback_id}", headers=anna)
            if resp.status_code == 200:
                held.append(str(e.callback_id))
        return held

    held = await wait_until(known_here, bool)
    assert len(held) == 1, held
    callback_id = held[0]
    requested = await tap.wait(CallbackRequested, lambda e: str(e.callback_id) == callback_id)
    assert requested.source is CallbackSource.contact_me and requested.satisfaction == 1
    detail = await wait_until(
        lambda: http.get(f"{urls['callback']}/callbacks/{callback_id}", headers=anna),
        lambda r: (
            r.status_code == 200
            and r.json()["context"]["survey"] is not None
            and r.json()["context"]["earlier_contact"] is not None
        ),
    )
    assert detail.status_code == 200, detail.text
    context = detail.json()["context"]
    assert context["survey"]["satisfaction"] == 1 and context["survey"]["comment"] == comment
    assert context["earlier_contact"]["contact_id"] == contact.contact_id
    assert context["earlier_contact"]["reason_code"] == "refund.status"

    # An agent of the team claims it and closes it positively.
    claimed = await http.post(f"{urls['callback']}/callbacks/{callback_id}/claim", headers=anna)
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["mine"] is True
    outcome = await http.post(
        f"{urls['callback']}/callbacks/{callback_id}/outcome",
        json={"outcome": "closed_positively", "note": "Terugbetaling uitgelegd; vrijdag betaald."},
        headers=anna,
    )
    assert outcome.status_code == 200, outcome.text
    completed = await tap.wait(CallbackCompleted, lambda e: str(e.callback_id) == callback_id)
    assert (completed.outcome, completed.agent_id) == (CallbackOutcome.closed_positively, "agent-anna")
    after = (await http.get(f"{urls['callback']}/callbacks/{callback_id}", headers=anna)).json()
    assert after["state"] == "done" and after["callback"]["outcome"] == "closed_positively"

    assert await known_here() == [callback_id]
    assert len(await mailbox.find(SARA, from_sara_alert, contains=urls["alerts"])) == 1


async def _compensation_file(
    http: httpx.AsyncClient, urls: dict[str, str], complaint_id: str
) -> httpx.Response:
    """The compensation service learns of a complaint from intake's ComplaintRaised."""
    return await wait_until(
        lambda: http.get(
            f"{urls['compensation']}/complaints/{complaint_id}/compensation", headers=as_user("agent-anna")
        ),
        lambda r: r.status_code == 200,
    )


async def _ledger(http: httpx.AsyncClient, urls: dict[str, str]) -> dict[str, tuple[int, int]]:
    resp = await http.get(
        f"{urls['compensation']}/ledger", params={"group_by": "category"}, headers=as_user("appr-eva")
    )
    assert resp.status_code == 200, resp.text
    return {line["category"]: (line["count"], line["total_cents"]) for line in resp.json()["lines"]}


async def _apologise_and_record_damage(
    http: httpx.AsyncClient, urls: dict[str, str], complaint_id: str, cents: int
) -> None:
    anna = as_user("agent-anna")
    base = f"{urls['compensation']}/complaints/{complaint_id}"
    apology = await http.post(f"{base}/apology", json={}, headers=anna)
    assert apology.status_code == 201, apology.text
    damage = await http.post(
        f"{base}/damage",
        json={
            "amount": {"amount_cents": cents, "currency": "EUR"},
            "description": "Aanmaningskosten en intresten",
        },
        headers=anna,
    )
    assert damage.status_code == 201, damage.text


async def test_a_compensation_above_the_mandate_is_approved_booked_and_a_repeat_receiver_flagged(
    urls: dict[str, str], http: httpx.AsyncClient, tap: Tap, mailbox: Mailbox
) -> None:
    customer = unique("CUST-E2E-CMP")
    anna, eva = as_user("agent-anna"), as_user("appr-eva")
    first = await submit_complaint(http, urls, customer, category="reimbursement.refused")
    assert (await _compensation_file(http, urls, first["complaint_id"])).status_code == 200
    before = await _ledger(http, urls)

    # Apology first, then the real damage, then EUR 450: above the agent's EUR 300 mandate.
    await _apologise_and_record_damage(http, urls, first["complaint_id"], 45000)
    proposed = await http.post(
        f"{urls['compensation']}/complaints/{first['complaint_id']}/proposals",
        json={"kind": "financial", "amount": {"amount_cents": 45000, "currency": "EUR"}},
        headers=anna,
    )
    assert proposed.status_code == 201, proposed.text
    compensation = proposed.json()["compensation"]
    assert compensation["status"] == "awaiting_approval"
    compensation_id = uuid.UUID(compensation["compensation_id"])

    def this(event: Any) -> bool:
        return bool(event.compensation_id == compensation_id)

    requested = await tap.wait(CompensationApprovalRequested, this)
    assert (requested.amount.amount_cents, requested.mandate.amount_cents) == (45000, 30000)

    waiting = (await http.get(f"{urls['compensation']}/approvals", headers=eva)).json()
    assert str(compensation_id) in [c["compensation_id"] for c in waiting]
    approved = await http.post(
        f"{urls['compensation']}/approvals/{compensation_id}/approve",
        json={"reason": "Hospitalisatiekosten aantoonbaar; weigering was een fout van ons."},
        headers=eva,
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    decided = await tap.wait(CompensationDecided, this)
    assert (decided.outcome, decided.decided_by) == (CompensationOutcome.approved, "appr-eva")
    assert decided.amount is not None and decided.amount.amount_cents == 45000

    # The cost ledger books it under the complaint's category.
    after = await _ledger(http, urls)
    count, total = before.get("reimbursement.refused", (0, 0))
    assert after["reimbursement.refused"] == (count + 1, total + 45000)

    # The same customer's second financial compensation (within the mandate) makes a repeat receiver.
    second = await submit_complaint(http, urls, customer, category="refund.late")
    assert (await _compensation_file(http, urls, second["complaint_id"])).status_code == 200
    await _apologise_and_record_damage(http, urls, second["complaint_id"], 2000)
    granted = await http.post(
        f"{urls['compensation']}/complaints/{second['complaint_id']}/proposals",
        json={"kind": "financial", "amount": {"amount_cents": 2000, "currency": "EUR"}},
        headers=anna,
    )
    assert granted.status_code == 201, granted.text
    assert granted.json()["compensation"]["status"] == "granted"
    flag = await tap.wait(CustomerFlaggedForReview, lambda e: e.customer_id == customer)
    assert (flag.financial_compensations, flag.total.amount_cents) == (2, 47000)
    watch = (await http.get(f"{urls['compensation']}/customers/{customer}/abuse-watch", headers=anna)).json()
    assert watch["flagged"] is True

    # The back office is told, once.
    notice = await tap.wait(
        AlertRaised, lambda a: a.customer_id == customer and a.kind is AlertKind.abuse_flag
    )
    back_office_mail = await mailbox.wait_to(
        BACK_OFFICE,
        lambda m: m.idempotency_key == f"alert:{notice.alert_id}:back-office",
        contains=second["complaint_id"],
    )
    assert back_office_mail.subject == f"Klant {customer} ter controle: herhaalde financiële compensatie"
    assert len(tap.events(CustomerFlaggedForReview, lambda e: e.customer_id == customer)) == 1


async def test_a_deceased_customer_gets_no_survey_and_nothing_addressed_to_them(
    urls: dict[str, str], http: httpx.AsyncClient, tap: Tap, mailbox: Mailbox, publisher: Publisher
) -> None:
    customer = unique("CUST-E2E-DEC")
    kin = f"kin-{customer.lower()}@relatives.hoera.test"
    anna = as_user("agent-anna")

    def this_customer(event: Any) -> bool:
        return bool(event.customer_id == customer)

    # A relative phones about the customer's death: the platform closes that contact.
    about_death = contact_closed(customer, about_deceased=True)
    await publisher.publish(about_death)
    suppressed = await tap.wait(SurveySuppressed, lambda e: e.contact_id == about_death.contact_id)
    assert suppressed.reason is SuppressionReason.deceased
    marked = await tap.wait(CustomerMarkedDeceased, this_customer)
    assert marked.owner_agent_id == "agent-anna"

    # The agent's marking over HTTP finds the case marked (one named owner).
    marking = await http.post(
        f"{urls['intake']}/customers/{customer}/deceased",
        json={"owner_agent_id": "agent-anna", "team_id": "team-nl-1", "reason": "a relative phoned"},
        headers=anna,
    )
    assert marking.status_code in (200, 201), marking.text
    assert marking.json()["owner_agent_id"] == "agent-anna"
    standing = await wait_until(
        lambda: http.get(f"{urls['survey']}/customers/{customer}", headers=as_user("admin-ops")),
        lambda r: r.status_code == 200 and r.json()["deceased_at"] is not None,
    )
    assert standing.json()["deceased_at"] is not None, standing.text

    # A later contact about the customer: no survey either.
    later = contact_closed(customer, channel=Channel.email)
    await publisher.publish(later)
    suppressed = await tap.wait(SurveySuppressed, lambda e: e.contact_id == later.contact_id)
    assert suppressed.reason is SuppressionReason.deceased

    # A complaint about the deceased customer's file: the next of kin hears of it, not the customer.
    complaint = await submit_complaint(
        http, urls, customer, about_deceased=True, complainant={"next_of_kin_email": kin}
    )
    complaint_id = uuid.UUID(complaint["complaint_id"])
    kin_mail = await mailbox.wait_to(kin, lambda m: complaint["ref"] in m.subject)
    assert kin_mail.body.startswith("Beste nabestaande"), kin_mail.body
    dossier = (await http.get(f"{urls['intake']}/complaints/{complaint_id}", headers=anna)).json()
    assert dossier["named_owner"] == "agent-anna"
    for step, body in (
        ("resolve", {"root_cause_department": "membership-administration", "first_contact_resolution": True}),
        ("close", {}),
    ):
        done = await http.post(f"{urls['intake']}/complaints/{complaint_id}/{step}", json=body, headers=anna)
        assert done.status_code == 200, done.text
    closed = await tap.wait(ComplaintClosed, lambda e: e.complaint_id == complaint_id)
    assert closed.about_deceased is True
    suppressed = await tap.wait(SurveySuppressed, lambda e: e.complaint_id == complaint_id)
    assert suppressed.reason is SuppressionReason.deceased
    await mailbox.wait_to(kin, lambda m: complaint["ref"] in m.subject and m.id != kin_mail.id)

    # Nothing was ever addressed to the deceased customer: no invitation, no mail, no callback.
    assert tap.events(SurveyInvited, this_customer) == []
    assert tap.events(CallbackRequested, this_customer) == []
    assert await mailbox.to(customer_address(customer)) == []
