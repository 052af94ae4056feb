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
from collections import Counter
from collections.abc import Sequence
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
    await confirmed_many(deps, conn, [env])


async def confirmed_many(deps: Deps, conn: Conn, envelopes: Sequence[Envelope]) -> None:
    """`confirmed` for a Kafka batch, in a constant number of statements, as one by one in order: the
    requests are locked (in a fixed order), each confirmation recorded once, and a request whose
    confirmations are all in completes once, caused by the confirmation that completed it."""
    events = [(env, env.data_as(ErasureConfirmed)) for env in envelopes]
    asked = sorted({(env.tenant, e.erasure_id) for env, e in events})
    rows = await conn.fetch(
        "select r.tenant, r.erasure_id, r.completed_at is null as open from erasures r "
        "join unnest($1::text[], $2::uuid[]) as u(t, i) on r.tenant = u.t and r.erasure_id = u.i "
        "order by r.tenant, r.erasure_id for update of r",
        [t for t, _ in asked],
        [i for _, i in asked],
    )
    open_ = {(r["tenant"], r["erasure_id"]): r["open"] for r in rows}
    # Not asked here (another deployment's request): nothing to follow.
    ours = [(env, e) for env, e in events if (env.tenant, e.erasure_id) in open_]
    if not ours:
        return
    firsts: dict[tuple[str, uuid.UUID, str], ErasureConfirmed] = {}
    for env, e in ours:
        firsts.setdefault((env.tenant, e.erasure_id, e.service.value), e)
    inserted = await conn.fetch(
        "insert into erasure_confirmations (tenant, erasure_id, service, confirmed_at, records) "
        "select t, i, s, a, r::jsonb from unnest($1::text[], $2::uuid[], $3::text[], $4::timestamptz[], "
        "$5::text[]) with ordinality as u(t, i, s, a, r, n) order by n "
        "on conflict do nothing returning tenant, erasure_id, service",
        [t for t, _, _ in firsts],
        [i for _, i, _ in firsts],
        [s for _, _, s in firsts],
        [e.erased_at for e in firsts.values()],
        [json.dumps(e.records) for e in firsts.values()],
    )
    new = {(r["tenant"], r["erasure_id"], r["service"]) for r in inserted}
    still_open = sorted(k for k in {(env.tenant, e.erasure_id) for env, e in ours} if open_[k])
    if not still_open:
        return  # already complete
    counted = await conn.fetch(
        "select c.tenant, c.erasure_id, count(*) as n from erasure_confirmations c "
        "join unnest($1::text[], $2::uuid[]) as u(t, i) on c.tenant = u.t and c.erasure_id = u.i "
        "group by c.tenant, c.erasure_id",
        [t for t, _ in still_open],
        [i for _, i in still_open],
    )
    after = {(r["tenant"], r["erasure_id"]): r["n"] for r in counted}
    # How many each request had before this batch; then, in order, the confirmation that completes it.
    added = Counter((t, i) for t, i, _ in new)
    services = {k: after.get(k, 0) - added[k] for k in still_open}
    now = deps.now()
    completed: list[tuple[str, uuid.UUID]] = []
    events_out: list[Envelope] = []
    counted_in: set[tuple[str, uuid.UUID, str]] = set()
    for env, e in ours:
        request = (env.tenant, e.erasure_id)
        if not open_[request]:
            continue
        confirmation = (env.tenant, e.erasure_id, e.service.value)
        if confirmation in new and confirmation not in counted_in:
            counted_in.add(confirmation)
            services[request] += 1
        if services[request] < len(EVERY_HOLDER):
            continue
        open_[request] = False
        completed.append(request)
        events_out.append(
            deps.svc.envelope(
                ErasureCompleted(erasure_id=e.erasure_id, customer_id=e.customer_id, completed_at=now),
                cause=env,
            )
        )
    if not completed:
        return
    await conn.execute(
        "update erasures r set completed_at = $3 from unnest($1::text[], $2::uuid[]) as u(t, i) "
        "where r.tenant = u.t and r.erasure_id = u.i",
        [t for t, _ in completed],
        [i for _, i in completed],
        now,
    )
    await deps.emit_many(conn, events_out)


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
