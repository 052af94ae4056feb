"""Kafka subscribers: what compensation learns from intake (never from intake's tables)."""

from __future__ import annotations

from functools import partial

from hoera_events.complaints import (
    ComplaintAssigned,
    ComplaintClosed,
    ComplaintRaised,
    ComplaintResolved,
    CustomerDeceasedMarkWithdrawn,
    CustomerMarkedDeceased,
)
from hoera_kit.service import Service

from hoera_compensation import handlers
from hoera_compensation.settings import CompensationSettings

INTAKE_EVENTS = (
    ComplaintRaised,
    ComplaintAssigned,
    ComplaintResolved,
    ComplaintClosed,
    CustomerMarkedDeceased,
    CustomerDeceasedMarkWithdrawn,
)


def register(svc: Service[CompensationSettings], deps: handlers.Deps) -> None:
    # One consumer (one group) for the complaint's life: a Kafka batch is handled set-based in the
    # kit's inbox transaction, exactly once per event id, so a redelivery changes nothing.
    svc.consumer(*INTAKE_EVENTS, name="complaints", batch=True)(partial(handlers.learn_from_intake, deps))
