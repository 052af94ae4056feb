"""Kafka subscribers: wire input to handlers, exactly once per event id (the kit's inbox)."""

from __future__ import annotations

import asyncpg
from hoera_events.callbacks import CallbackCompleted
from hoera_events.complaints import ComplaintClosed, CustomerDeceasedMarkWithdrawn, CustomerMarkedDeceased
from hoera_events.envelope import Envelope
from hoera_events.platform import ContactClosed
from hoera_kit.service import Service

from hoera_survey import handlers
from hoera_survey.handlers import Deps
from hoera_survey.settings import SurveySettings


def register(svc: Service[SurveySettings], deps: Deps) -> None:
    @svc.consumer(ContactClosed, ComplaintClosed, CallbackCompleted, name="triggers", batch=True)
    async def triggers(conn: asyncpg.Connection, envelopes: list[Envelope]) -> None:
        await handlers.request_surveys(deps, conn, envelopes)

    @svc.consumer(CustomerMarkedDeceased, name="deceased", batch=True)
    async def deceased(conn: asyncpg.Connection, envelopes: list[Envelope]) -> None:
        await handlers.deceased_marks(deps, conn, envelopes)

    @svc.consumer(CustomerDeceasedMarkWithdrawn, name="deceased-withdrawn", batch=True)
    async def deceased_mark_withdrawn(conn: asyncpg.Connection, envelopes: list[Envelope]) -> None:
        await handlers.deceased_marks(deps, conn, envelopes)
