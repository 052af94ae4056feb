"""What the alerts service listens to, and which use case each event, timer and delivery reaches."""

from __future__ import annotations

from hoera_events.compensation import CustomerFlaggedForReview
from hoera_events.complaints import (
    ComplaintClosed,
    ComplaintRaised,
    ComplaintResolved,
    ComplaintSlaBreached,
)
from hoera_events.envelope import Envelope
from hoera_events.platform import ContactClosed
from hoera_events.recovery import RecoveryCaseEscalated
from hoera_events.surveys import SurveyAnswered, SurveyInvited
from hoera_kit.db import Conn
from hoera_kit.deliveries import DeliveryRecord
from hoera_kit.timers import Timer

from hoera_alerts import handlers
from hoera_alerts.handlers import DIGEST_TIMER, WEEKLY_TIMER, Deps


def register(deps: Deps) -> None:
    svc = deps.svc

    # The busy topics, in batches: one transaction per Kafka batch is where throughput comes from.
    # Answers have a consumer group of their own: an unhappy one mails the supervisor at once (R23),
    # so it never waits behind a burst of contacts and invitations (a campaign, an outage day).
    @svc.consumer(SurveyAnswered, name="answers", batch=True)
    async def answers(conn: Conn, envelopes: list[Envelope]) -> None:
        await handlers.record_feedback(deps, conn, envelopes)

    @svc.consumer(SurveyInvited, ContactClosed, name="feedback", batch=True)
    async def feedback(conn: Conn, envelopes: list[Envelope]) -> None:
        await handlers.record_feedback(deps, conn, envelopes)

    @svc.consumer(
        ComplaintRaised,
        ComplaintSlaBreached,
        ComplaintResolved,
        ComplaintClosed,
        CustomerFlaggedForReview,
        name="complaints",
        batch=True,
    )
    async def complaints(conn: Conn, envelopes: list[Envelope]) -> None:
        await handlers.record_complaints(deps, conn, envelopes)

    # The callback service's overdue recovery cases (R29): one alert per escalation.
    @svc.consumer(RecoveryCaseEscalated, name="recovery", batch=True)
    async def recovery(conn: Conn, envelopes: list[Envelope]) -> None:
        await handlers.record_recoveries(deps, conn, envelopes)

    @svc.timer(WEEKLY_TIMER)
    async def weekly_digest(conn: Conn, timer: Timer) -> None:
        await handlers.send_weekly_digest(deps, conn, str(timer.payload["tenant"]), timer.due_at)

    @svc.timer(DIGEST_TIMER)
    async def digest(conn: Conn, timer: Timer) -> None:
        await handlers.send_digest(deps, conn, str(timer.payload["tenant"]))

    @svc.on_delivery_state
    async def delivered(conn: Conn, record: DeliveryRecord) -> None:
        await handlers.delivery_changed(deps, conn, record)
