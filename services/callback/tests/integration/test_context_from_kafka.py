"""R27 against the real Kafka: events from the platform, survey, intake and alerts build the context
panel in the callback service's own tables; a "please contact me" delivered twice gives one callback
(R26); churn-risk signals raise its priority with the reasons shown (R29)."""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hoera_devkit.testing import ServiceProcess, eventually, read_topic
from hoera_events.alerts import AlertKind, AlertRaised, Severity
from hoera_events.callbacks import CallbackRequested
from hoera_events.common import Channel, Language, PreferredMoment
from hoera_events.complaints import ComplaintClosed, ComplaintRaised, ComplaintSlaBreached
from hoera_events.platform import ContactClosed
from hoera_events.registry import topic_for
from hoera_events.surveys import AgentAttribute, ContactMeRequest, SurveyAnswered, SurveyTrigger

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from callback_support import bearer, decoded, envelope, fetch, process_env, publish

pytestmark = pytest.mark.integration

COMMENT = "Vriendelijk, maar ik wacht nog altijd op mijn terugbetaling."


async def test_events_of_survey_intake_and_alerts_build_the_context_and_a_repeated_answer_gives_one_callback(
    fresh_db: str, test_tenants: tuple[str, ...]
) -> None:
    team, customer = f"team-{uuid.uuid4().hex[:8]}", f"CUST-{uuid.uuid4().hex[:10]}"
    contact_id, survey_id, complaint_id, old_complaint = (
        f"CNT-{uuid.uuid4().hex[:8]}",
        uuid.uuid4(),
        uuid.uuid4(),
        uuid.uuid4(),
    )
    alert_id = uuid.uuid4()
    now = datetime.now(UTC)
    proc = ServiceProcess("hoera_callback", env=process_env(fresh_db)).start()
    try:
        await proc.wait_ready()
        answer = SurveyAnswered(
            survey_id=survey_id,
            customer_id=customer,
            trigger=SurveyTrigger.contact_closed,
            channel=Channel.phone,
            language=Language.nl,
            answered_at=now - timedelta(minutes=1),
            contact_id=contact_id,
            agent_id="AGT-0042",
            team_id=team,
            satisfaction=2,
            effort=2,
            nps=3,
            attributes={AgentAttribute.friendly: 5, AgentAttribute.clear: 2},
            comment=COMMENT,
            contact_me=ContactMeRequest(preferred_moment=PreferredMoment.morning),
        )
        first, again = envelope(answer, producer="survey"), envelope(answer, producer="survey")
        await publish(
            envelope(
                ContactClosed(
                    contact_id=contact_id,
                    customer_id=customer,
                    channel=Channel.phone,
                    agent_id="AGT-0042",
                    team_id=team,
                    closed_at=now - timedelta(hours=2),
                    language=Language.nl,
                    reason_code="refund.status",
                    first_contact_resolved=False,
                ),
                producer="platform",
            ),
            envelope(
                ComplaintRaised(
                    complaint_id=old_complaint,
                    customer_id=customer,
                    channel=Channel.email,
                    category="premium.wrong",
                    language=Language.nl,
                    raised_at=now - timedelta(days=40),
                    due_date=(now - timedelta(days=35)).date(),
                    team_id=team,
                ),
                producer="intake",
            ),
            envelope(
                ComplaintClosed(
                    complaint_id=old_complaint,
                    customer_id=customer,
                    category="premium.wrong",
                    channel=Channel.email,
                    language=Language.nl,
                    closed_at=now - timedelta(days=36),
                    team_id=team,
                ),
                producer="intake",
            ),
            envelope(
                ComplaintRaised(
                    complaint_id=complaint_id,
                    customer_id=customer,
                    channel=Channel.phone,
                    category="refund.late",
                    language=Language.nl,
                    raised_at=now - timedelta(days=9),
                    due_date=(now - timedelta(days=2)).date(),
                    team_id=team,
                    agent_id="AGT-0042",
                    contact_id=contact_id,
                ),
                producer="intake",
            ),
            envelope(
                ComplaintSlaBreached(
                    complaint_id=complaint_id,
                    customer_id=customer,
                    category="refund.late",
                    due_date=(now - timedelta(days=2)).date(),
                    breached_at=now - timedelta(days=1),
                    team_id=team,
                ),
                producer="intake",
            ),
            envelope(
                AlertRaised(
                    alert_id=alert_id,
                    kind=AlertKind.unhappy_smiley,
                    severity=Severity.warning,
                    raised_at=now,
                    team_id=team,
                    agent_id="AGT-0042",
                    customer_id=customer,
                    survey_id=survey_id,
                    contact_id=contact_id,
                    satisfaction=2,
                ),
                producer="alerts",
            ),
            first,
            first,  # Kafka redelivers the same message
            again,  # the survey service publishes the same answer twice, as a new event
        )
        supervisor = bearer("sup-sara", "supervisor", teams=[team])
        agent = bearer("agent-anna", "agent", teams=[team])

        async with httpx.AsyncClient(base_url=proc.url, timeout=10) as http:

            async def queue() -> list[dict[str, Any]]:
                return list((await http.get("/callbacks", headers=supervisor)).json())

            def settled(items: list[dict[str, Any]]) -> bool:
                mine = [i for i in items if i["callback"]["source"] == "contact_me"]
                return len(items) == 2 and bool(mine) and len(mine[0]["callback"]["priority_reasons"]) == 4

            await eventually(queue, settled, timeout=45)
            inboxed = await eventually(
                lambda: fetch(fresh_db, "select 1 from kit_inbox where event_id = $1", str(again.id)),
                lambda rows: len(rows) == 1,
            )
            assert inboxed, "the repeated answer was consumed"

            items = await queue()
            assert sorted(i["callback"]["source"] for i in items) == ["complaint", "contact_me"], (
                "one callback per request: the answer (delivered three times) and the breach"
            )
            by_source = {i["callback"]["source"]: i["callback"] for i in items}
            wish = by_source["contact_me"]
            assert wish["customer_id"] == customer and wish["team_id"] == team
            assert wish["priority"] == "urgent" and wish["churn_risk"] is True
            assert wish["priority_reasons"] == [
                "open_sla_breach",
                "nps_detractor",
                "repeated_complaints",
                "unhappy_smiley",
            ]
            assert wish["preferred_moment"] == "morning"

            # Work the complaint's callback first: its note becomes context for the next agent.
            breach = by_source["complaint"]
            claimed = await http.post(f"/callbacks/{breach['callback_id']}/claim", headers=agent)
            assert claimed.status_code == 200, claimed.text
            done = await http.post(
                f"/callbacks/{breach['callback_id']}/outcome",
                json={"outcome": "still_unresolved", "note": "Claims department still has the file."},
                headers=agent,
            )
            assert done.status_code == 200, done.text

            detail = (await http.get(f"/callbacks/{wish['callback_id']}", headers=agent)).json()
            context = detail["context"]
            assert context["topic"] == "refund.status"
            assert context["earlier_contact"]["agent_id"] == "AGT-0042"
            assert context["earlier_contact"]["first_contact_resolved"] is False
            assert context["survey"]["comment"] == COMMENT
            assert (context["survey"]["satisfaction"], context["survey"]["nps"]) == (2, 3)
            assert context["survey"]["attributes"] == {"friendly": 5, "clear": 2}
            assert [(c["category"], c["state"], c["sla_breach_open"]) for c in context["complaints"]] == [
                ("refund.late", "open", True),
                ("premium.wrong", "closed", False),
            ]
            # A running alerts service may raise its own alerts about this customer from the same events.
            assert (str(alert_id), "unhappy_smiley") in {
                (a["alert_id"], a["kind"]) for a in context["alerts"]
            }
            [earlier] = context["earlier_callbacks"]
            assert earlier["callback"]["outcome"] == "still_unresolved"
            assert earlier["attempts"][0]["note"] == "Claims department still has the file."
            assert detail["reach"] is None, "contact details only for the agent who holds the callback"

            taken = (await http.post("/callbacks/next", headers=agent)).json()
            assert taken["callback"]["callback_id"] == wish["callback_id"]
            assert taken["reach"]["phone"], "the holder gets the phone number from the platform's directory"

        requested = await read_topic(
            topic_for(CallbackRequested),
            until=lambda records: len(decoded(records, CallbackRequested, {wish["callback_id"]})) >= 1,
        )
        ours = [
            e for e in decoded(requested, CallbackRequested, {wish["callback_id"], breach["callback_id"]})
        ]
        assert sorted(e.source.value for e in ours) == ["complaint", "contact_me"]
        rows = await fetch(fresh_db, "select count(*) as n from callbacks where customer_id = $1", customer)
        assert rows[0]["n"] == 2
    finally:
        proc.stop()
