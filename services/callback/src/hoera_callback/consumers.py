"""Kafka subscribers: other services' events feed the context read model (R27) and the queue (R26).

Each subscriber only hands the envelope to its handler; the kit's inbox makes it exactly-once per
event id, and the handler runs inside the inbox transaction.
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
    )
    async def complaints(conn: Conn, env: Envelope) -> None:
        await handlers.complaint_event(deps, conn, env)

    @svc.consumer(CustomerDeceasedMarkWithdrawn, name="deceased-withdrawn")
    async def deceased_mark_withdrawn(conn: Conn, env: Envelope) -> None:
        await handlers.deceased_mark_withdrawn(deps, conn, env)

    @svc.consumer(SurveyAnswered, name="surveys")
    async def surveys(conn: Conn, env: Envelope) -> None:
        await handlers.survey_answered(deps, conn, env)

    @svc.consumer(AlertRaised, name="alerts")
    async def alerts(conn: Conn, env: Envelope) -> None:
        await handlers.alert_raised(deps, conn, env)
