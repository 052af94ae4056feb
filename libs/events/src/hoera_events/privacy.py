"""A customer's right to erasure (GDPR art. 17), across every service. Keyed by ``customer_id``.

Intake takes the request (from the platform or an operator) and publishes ``ErasureRequested``; every
service, intake included, erases or anonymises what it holds about the customer in one transaction
and answers with ``ErasureConfirmed``, naming how many records of each kind it changed; intake marks
the request complete when all five confirmed and says so with ``ErasureCompleted``. The events carry
ids and counts only: nothing of what was erased travels or stays in Kafka.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import Field, StrictInt

from hoera_events import examples as ex
from hoera_events.base import Event
from hoera_events.common import Code, CustomerId, ExternalId, UtcDateTime


class Holder(StrEnum):
    """A service that holds data about customers and confirms their erasure."""

    intake = "intake"
    compensation = "compensation"
    survey = "survey"
    alerts = "alerts"
    callback = "callback"


Count = Annotated[StrictInt, Field(ge=0)]


class ErasureRequested(Event):
    """Forget this customer: every service erases what it holds about them and confirms."""

    event_type = "customer.erasure_requested"

    erasure_id: UUID
    customer_id: CustomerId
    requested_at: UtcDateTime
    requested_by: ExternalId
    """Who asked: the platform's client or the operator's id (the audit keeps it)."""
    deployment: Annotated[str, Field(max_length=200)] | None = None
    """The Hoera deployment that took the request (its consumer-group prefix): services of another
    deployment on the same brokers (a staging beside acceptance) neither erase nor confirm it."""

    @classmethod
    def example(cls) -> ErasureRequested:
        return cls(
            erasure_id=ex.ERASURE,
            customer_id=ex.CUSTOMER,
            requested_at=ex.later(days=400),
            requested_by="platform",
        )


class ErasureConfirmed(Event):
    """One service has erased the customer: what kinds of records it changed, and how many."""

    event_type = "customer.erasure_confirmed"

    erasure_id: UUID
    customer_id: CustomerId
    service: Holder
    erased_at: UtcDateTime
    records: dict[Code, Count] = Field(default_factory=dict)
    """Per kind of record (e.g. ``survey_comments``), how many were erased or anonymised."""

    @classmethod
    def example(cls) -> ErasureConfirmed:
        return cls(
            erasure_id=ex.ERASURE,
            customer_id=ex.CUSTOMER,
            service=Holder.survey,
            erased_at=ex.later(days=400, minutes=1),
            records={"survey_comments": 1, "deliveries": 2},
        )


class ErasureCompleted(Event):
    """Every service confirmed: the customer is forgotten (the platform may tell them so)."""

    event_type = "customer.erasure_completed"

    erasure_id: UUID
    customer_id: CustomerId
    completed_at: UtcDateTime

    @classmethod
    def example(cls) -> ErasureCompleted:
        return cls(erasure_id=ex.ERASURE, customer_id=ex.CUSTOMER, completed_at=ex.later(days=400, minutes=2))
