"""Erasure requests (GDPR art. 17): intake takes them, every service erases, intake follows to the end.

A request is a row and a `customer.erasure_requested` event in one transaction; each service's
confirmation (intake's own too) is recorded once; when all five have confirmed, the request is
complete and `customer.erasure_completed` tells the platform. Asking again while a request is open
publishes the same request again (a service that missed it erases, the others confirm again without
erasing twice), so a stuck request resumes without a second one.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hoera_events.envelope import Envelope
from hoera_events.privacy import ErasureCompleted, ErasureConfirmed, ErasureRequested, Holder
from hoera_kit.auth import Principal
from hoera_kit.db import Conn

if TYPE_CHECKING:
    from hoera_intake.handlers import Deps

EVERY_HOLDER = tuple(h.value for h in Holder)
_ACTOR = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


@dataclass(frozen=True)
class Confirmation:
    service: str
    confirmed_at: datetime
    records: dict[str, int]


@dataclass(frozen=True)
class Erasure:
    erasure_id: uuid.UUID
    customer_id: str
    requested_by: str
    requested_at: datetime
    completed_at: datetime | None
    confirmations: list[Confirmation] = field(default_factory=list)

    @property
    def waiting_for(self) -> list[str]:
        done = {c.service for c in self.confirmations}
        return [s for s in EVERY_HOLDER if s not in done]


def _actor(principal: Principal) -> str:
    """Who asked, as the event can carry it: their id, or their role when the id does not fit."""
    if _ACTOR.match(principal.subject):
        return principal.subject
    return "platform" if "platform" in {r.value for r in principal.roles} else "admin"


async def request(deps: Deps, principal: Principal, customer_id: str) -> tuple[Erasure, bool]:
    """(the request, True when new). An open request for the customer is published again instead."""
    tenant = principal.tenant
    async with deps.transaction() as conn:
        # One open request per customer (a unique index); the lock makes a concurrent ask wait.
        await conn.execute("select pg_advisory_xact_lock(hashtext($1 || '/' || $2))", tenant, customer_id)
        row = await conn.fetchrow(
            "select erasure_id, requested_by, requested_at from erasures "
            "where tenant = $1 and customer_id = $2 and completed_at is null",
            tenant,
            customer_id,
        )
        created = row is None
        if row is None:
            erasure_id, requested_by, requested_at = uuid.uuid4(), _actor(principal), deps.now()
            await conn.execute(
                "insert into erasures (tenant, erasure_id, customer_id, requested_by, requested_at) "
                "values ($1, $2, $3, $4, $5)",
                tenant,
                erasure_id,
                customer_id,
                requested_by,
                requested_at,
            )
        else:
            erasure_id, requested_by, requested_at = (
                row["erasure_id"],
                row["requested_by"],
                row["requested_at"],
            )
        await deps.emit(
            conn,
            ErasureRequested(
                erasure_id=erasure_id,
                customer_id=customer_id,
                requested_at=requested_at,
                requested_by=requested_by,
                deployment=deps.settings.consumer_group_prefix,
            ),
            tenant=tenant,
        )
        found = await read(conn, tenant, erasure_id)
    assert found is not None
    return found, created


async def confirmed(deps: Deps, conn: Conn, env: Envelope) -> None:
    """A service has erased: record it once; the last one completes the request."""
    event = env.data_as(ErasureConfirmed)
    known = await conn.fetchval(
        "select completed_at is null from erasures where tenant = $1 and erasure_id = $2 for update",
        env.tenant,
        event.erasure_id,
    )
    if known is None:
        return  # not asked here (another deployment's request): nothing to follow
    await conn.execute(
        "insert into erasure_confirmations (tenant, erasure_id, service, confirmed_at, records) "
        "values ($1, $2, $3, $4, $5::text::jsonb) on conflict do nothing",
        env.tenant,
        event.erasure_id,
        event.service.value,
        event.erased_at,
        json.dumps(event.records),
    )
    if not known:
        return  # already complete
    services = await conn.fetchval(
        "select count(*) from erasure_confirmations where tenant = $1 and erasure_id = $2",
        env.tenant,
        event.erasure_id,
    )
    if services < len(EVERY_HOLDER):
        return
    now = deps.now()
    await conn.execute(
        "update erasures set completed_at = $3 where tenant = $1 and erasure_id = $2",
        env.tenant,
        event.erasure_id,
        now,
    )
    await deps.emit(
        conn,
        ErasureCompleted(erasure_id=event.erasure_id, customer_id=event.customer_id, completed_at=now),
        cause=env,
    )


async def read(conn: Conn, tenant: str, erasure_id: uuid.UUID) -> Erasure | None:
    row = await conn.fetchrow(
        "select erasure_id, customer_id, requested_by, requested_at, completed_at from erasures "
        "where tenant = $1 and erasure_id = $2",
        tenant,
        erasure_id,
    )
    if row is None:
        return None
    rows = await conn.fetch(
        "select service, confirmed_at, records::text as records from erasure_confirmations "
        "where tenant = $1 and erasure_id = $2 order by confirmed_at, service",
        tenant,
        erasure_id,
    )
    return Erasure(
        **dict(row),
        confirmations=[Confirmation(r["service"], r["confirmed_at"], json.loads(r["records"])) for r in rows],
    )


async def of_customer(conn: Conn, tenant: str, customer_id: str) -> list[Erasure]:
    ids = await conn.fetch(
        "select erasure_id from erasures where tenant = $1 and customer_id = $2 order by requested_at",
        tenant,
        customer_id,
    )
    found = [await read(conn, tenant, r["erasure_id"]) for r in ids]
    return [e for e in found if e is not None]


def view(e: Erasure) -> dict[str, Any]:
    return {
        "erasure_id": e.erasure_id,
        "customer_id": e.customer_id,
        "requested_by": e.requested_by,
        "requested_at": e.requested_at,
        "completed_at": e.completed_at,
        "complete": e.completed_at is not None,
        "confirmations": [
            {"service": c.service, "confirmed_at": c.confirmed_at, "records": c.records}
            for c in e.confirmations
        ],
        "waiting_for": e.waiting_for,
    }
