"""Kafka subscribers: wire input to handlers, exactly once per event id (the kit's inbox)."""

from __future__ import annotations

import asyncpg
from hoera_events.callbacks import CallbackCompleted
from hoera_events.complaints import ComplaintClosed, CustomerMarkedDeceased
from hoera_events.envelope import Envelope
from hoera_events.platform import ContactClosed
from hoera_kit.service import Service

from hoera_survey import handlers
from hoera_survey.handlers import Deps


def register(svc: Service, deps: Deps) -> None:
    @svc.consumer(ContactClosed, ComplaintClosed, CallbackCompleted, name="triggers", batch=True)
    async def triggers(conn: asyncpg.Connection, envelopes: list[Envelope]) -> None:
        await handlers.request_surveys(deps, conn, envelopes)

    @svc.consumer(CustomerMarkedDeceased, name="deceased")
    async def deceased(conn: asyncpg.Connection, envelope: Envelope) -> None:
        await handlers.customer_deceased(deps, conn, envelope)
