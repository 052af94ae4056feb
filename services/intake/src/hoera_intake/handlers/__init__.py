"""Intake's use cases: functions taking `deps` first. Each opens a transaction (or joins the consumer's
or timer's), loads, asks the domain and saves the dossier, its timeline, timers, messages and events
together; consumers, timers and HTTP routes only turn wire input into a call of one of these.

complaints  R1, R2, R9: the platform's complaints and contacts (idempotent over HTTP)
work        R1, R3, R5-R7: reading, searching and working on a dossier
sla         R3: the SLA timer: reminder, escalation to who stands in, breach, absent owners
deceased    R10: marking a customer deceased and withdrawing it
timeline    R1, R2: delivery states and other services' events on the dossier
figures     R6, R9: step durations and first-contact resolution
tenants     tenants and their organisation, published to every service
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
from hoera_events.base import Event
from hoera_events.envelope import Envelope, make_envelope
from hoera_events.organisation import Organisation
from hoera_kit.calendar import BusinessCalendar
from hoera_kit.db import Conn
from hoera_kit.deps import ServiceDeps

from hoera_intake import rules
from hoera_intake.domain import Complaint
from hoera_intake.settings import IntakeSettings

T = TypeVar("T")


class Deps(ServiceDeps[IntakeSettings]):
    """Intake's parts as its use cases see them: transactions, the clock, the tenants and their
    organisations and calendars (intake owns them, and reads them from the replica as every service
    does, so its escalations and alerts' notices name the same person), the rule documents, the
    platform's customer directory and the outbox."""

    async def atomically(self, work: Callable[[Conn], Awaitable[T]]) -> T:
        """One transaction; tried again when PostgreSQL picks it as a deadlock victim (a timer and a
        request can lock a dossier and its timer in opposite order)."""
        for attempt in range(5):
            try:
                async with self.transaction() as conn:
                    return await work(conn)
            except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
                if attempt == 4:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    def organisation(self, tenant: str) -> Organisation:
        return self.tenants.organisation(tenant)

    def calendar(self, tenant: str) -> BusinessCalendar:
        return self.tenants.calendar(tenant)

    async def tenant_rules(self, conn: Conn, tenant: str) -> rules.TenantRules:
        return rules.TenantRules(
            categories=await self.rules.get(conn, tenant, rules.CATEGORIES),
            templates=await self.rules.get(conn, tenant, rules.TEMPLATES_DOCUMENT),
            root_causes=await self.rules.get(conn, tenant, rules.ROOT_CAUSES),
            workflow=await self.rules.get(conn, tenant, rules.WORKFLOW),
        )

    def envelope(self, c: Complaint, event: Event, cause: Envelope | None = None) -> Envelope:
        """As the outbox's emit builds it, for writing several events in one statement."""
        return make_envelope(
            event,
            producer=self.svc.name,
            tenant=c.tenant,
            correlation_id=(cause.correlation_id or cause.id) if cause else None,
            causation_id=cause.id if cause else None,
        )

    async def emit_about(self, conn: Conn, c: Complaint, event: Event, cause: Envelope | None = None) -> None:
        """An event about a dossier, in its tenant."""
        await self.emit(conn, event, tenant=c.tenant, cause=cause)


# The use cases, after Deps: their modules name it for type checking only.
from hoera_intake.handlers import complaints, deceased, figures, sla, tenants, timeline, work  # noqa: E402
from hoera_intake.handlers.common import SLA_TIMER  # noqa: E402

__all__ = ["SLA_TIMER", "Deps", "complaints", "deceased", "figures", "sla", "tenants", "timeline", "work"]
