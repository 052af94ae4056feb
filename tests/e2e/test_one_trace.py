"""One trace (issue 10, item 4): a complaint submitted over HTTP, and a survey answer, each followed
across every service they touch, as an SRE sees it in a trace backend.

The journeys' system runs with OTEL_EXPORTER_OTLP_ENDPOINT pointing at a tiny OTLP/HTTP collector
(support.Collector, see conftest.py), exactly as it would point at Jaeger, Tempo or an OpenTelemetry
Collector. The trace id is read from the W3C traceparent the event carried on Kafka; the collector
must then hold the HTTP request's span and the consumers' spans under that one trace id.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest
from hoera_events.alerts import AlertKind, AlertRaised
from hoera_events.common import Channel, Language
from hoera_events.complaints import ComplaintRaised
from hoera_events.platform import ContactClosed
from hoera_events.registry import spec_of
from hoera_events.surveys import SurveyAnswered

from .support import (
    Collector,
    Mailbox,
    Publisher,
    Tap,
    customer_address,
    platform_headers,
    survey_link,
    unique,
    wait_until,
)

pytestmark = pytest.mark.integration

SERVER, CONSUMER = 2, 5  # OTLP SpanKind


def consumers_of(model: type) -> set[str]:
    """The services the topic registry names as readers of an event."""
    return {str(s) for s in spec_of(model).consumers}


async def test_a_complaint_submitted_over_http_is_one_trace_from_intake_through_its_consumers(
    urls: dict[str, str], collector: Collector, http: httpx.AsyncClient, tap: Tap
) -> None:
    customer = unique("CUST-E2E-TRC")
    resp = await http.post(
        f"{urls['intake']}/complaints",
        headers=platform_headers(),
        json={
            "customer_id": customer,
            "channel": "phone",
            "category": "refund.late",
            "language": "nl",
            "summary": "Terugbetaling nog altijd niet ontvangen.",
            "received_at": datetime.now(UTC).isoformat(),
            "agent_id": "agent-anna",
            "team_id": "team-nl-1",
        },
    )
    assert resp.status_code == 201, resp.text
    complaint_id = uuid.UUID(resp.json()["complaint_id"])

    raised = await tap.seen_one(ComplaintRaised, lambda e: e.complaint_id == complaint_id)
    trace_id = raised.trace_id
    assert trace_id, "ComplaintRaised travelled without a traceparent header"
    readers = consumers_of(ComplaintRaised)
    # intake too: it forwards every event to the tenant's partners (webhooks)
    assert readers == {"alerts", "callback", "compensation", "intake"}

    await reached(collector, trace_id, readers)
    spans = collector.trace(trace_id)
    server = [s for s in spans if s.service == "intake" and s.kind == SERVER]
    assert [s.attributes.get("http.route") for s in server] == ["/complaints"], spans
    handled = {s.service for s in spans if s.kind == CONSUMER and s.name.endswith("complaint.raised")}
    assert handled, f"no consumer continued the trace: {[(s.service, s.name) for s in spans]}"
    assert readers <= collector.services_reaching(trace_id)
    # Each consumer span hangs under a span of the trace (the trace is one tree, not loose spans).
    ids = {s.span_id for s in spans}
    assert all(s.parent_span_id in ids for s in spans if s.name.endswith("handle complaint.raised"))

    # What alerts raised about it (management's notice) carries the same trace onwards.
    notices = await tap.wait_all(
        AlertRaised, lambda a: a.complaint_id == complaint_id and a.kind is AlertKind.complaint_new
    )
    assert trace_id in {n.trace_id for n in notices}


async def test_a_survey_answer_is_one_trace_from_the_survey_page_into_alerts_and_callback(
    urls: dict[str, str],
    collector: Collector,
    http: httpx.AsyncClient,
    tap: Tap,
    mailbox: Mailbox,
    publisher: Publisher,
) -> None:
    customer = unique("CUST-E2E-TRC")
    await publisher.publish(
        ContactClosed(
            contact_id=unique("CNT-E2E-TRC"),
            customer_id=customer,
            channel=Channel.chat,
            agent_id="agent-anna",
            team_id="team-nl-1",
            closed_at=datetime.now(UTC),
            language=Language.nl,
        )
    )
    invitation = await mailbox.wait_to(customer_address(customer), contains=f"{urls['survey']}/s/")
    _, survey_id, link_token = survey_link(invitation.text)
    posted = await http.post(
        f"{urls['survey']}/s/{survey_id}",
        data={"t": link_token, "lang": "nl", "satisfaction": "1", "contact_me": "yes", "moment": "asap"},
    )
    assert posted.status_code == 303, posted.text[:500]

    answered = await tap.seen_one(SurveyAnswered, lambda e: str(e.survey_id) == survey_id)
    trace_id = answered.trace_id
    assert trace_id, "SurveyAnswered travelled without a traceparent header"
    readers = consumers_of(SurveyAnswered)
    assert readers == {"alerts", "callback", "intake"}

    await reached(collector, trace_id, readers)
    spans = collector.trace(trace_id)
    server = [s for s in spans if s.service == "survey" and s.kind == SERVER]
    assert [s.attributes.get("http.route") for s in server] == ["/s/{survey_id}"], spans
    handled = {s.service for s in spans if s.kind == CONSUMER and s.name.endswith("survey.answered")}
    assert handled, f"no consumer continued the trace: {[(s.service, s.name) for s in spans]}"
    assert readers <= collector.services_reaching(trace_id)

    # The supervisor's alert that followed carries the same trace onwards.
    alerts = await tap.wait_all(
        AlertRaised, lambda a: str(a.survey_id) == survey_id and a.kind is AlertKind.unhappy_smiley
    )
    assert trace_id in {a.trace_id for a in alerts}


async def reached(collector: Collector, trace_id: str, services: set[str]) -> set[str]:
    """Wait until every one of `services` has a span in (or linked to) the trace."""

    async def probe() -> set[str]:
        return collector.services_reaching(trace_id)

    found: set[str] = await wait_until(probe, lambda found: services <= found)
    assert services <= found, f"trace {trace_id} reached only {sorted(found)}, not {sorted(services)}"
    return found
