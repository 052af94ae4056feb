"""Kafka subscribers: other services' events feed the context read model (R27) and the queue (R26).

Each subscriber only hands a Kafka batch of envelopes to its handler, which writes it in a constant
number of statements, applying its events in their order; the kit's inbox makes it exactly-once per
event id, and the handler runs inside the inbox transaction (for a failed batch: event by event, so
the one at fault is dead-lettered).
"""

from __future__ import annotations

from hoera_events.alerts import AlertRaised
from hoera_events.complaints import (
    ComplaintClosed,
    ComplaintRaised,
    ComplaintReopened,
    ComplaintResolved,
    ComplaintSlaBreached,
    CustomerDeceasedMarkWithdrawn,
    CustomerMarkedDeceased,
)
from hoera_events.envelope import Envelope
from hoera_events.platform import ContactClosed
from hoera_events.surveys import SurveyAnswered
from hoera_kit.db import Conn
from hoera_kit.service import Service

from hoera_callback import handlers
from hoera_callback.handlers import Deps
from hoera_callback.settings import CallbackSettings


def register(svc: Service[CallbackSettings], deps: Deps) -> None:
    @svc.consumer(ContactClosed, name="contacts", batch=True)
    async def contacts(conn: Conn, envelopes: list[Envelope]) -> None:
        await handlers.contacts_closed(deps, conn, envelopes)

    @svc.consumer(
        ComplaintRaised,
        ComplaintSlaBreached,
        ComplaintResolved,
        ComplaintClosed,
        ComplaintReopened,
        CustomerMarkedDeceased,
        name="complaints",
        batch=True,
    )
    async def complaints(conn: Conn, envelopes: list[Envelope]) -> None:
        await handlers.complaint_events(deps, conn, envelopes)

    @svc.consumer(CustomerDeceasedMarkWithdrawn, name="deceased-withdrawn", batch=True)
    async def deceased_mark_withdrawn(conn: Conn, envelopes: list[Envelope]) -> None:
        await handlers.deceased_marks_withdrawn(deps, conn, envelopes)

    @svc.consumer(SurveyAnswered, name="surveys", batch=True)
    async def surveys(conn: Conn, envelopes: list[Envelope]) -> None:
        await handlers.surveys_answered(deps, conn, envelopes)

    @svc.consumer(AlertRaised, name="alerts", batch=True)
    async def alerts(conn: Conn, envelopes: list[Envelope]) -> None:
        await handlers.alerts_raised(deps, conn, envelopes)
