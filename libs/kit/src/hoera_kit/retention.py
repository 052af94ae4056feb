"""Storage limitation: every service purges what a tenant's retention rules say is old enough.

The rules are part of the tenant's organisation document (`hoera_events.organisation.Retention`,
edited by the tenant's administrator in intake's console), so every service reads the same ones from
its replica. A durable timer (`retention.purge`, one per service database, fired every hour by
whichever replica's timer scanner takes it) purges, per tenant, in one transaction:

- the kit's records, the same in every service: the recipients, subjects and bodies of deliveries
  sent or given up longer ago than `delivery_contents_days` (the row stays: its state and idempotency
  key still answer "was it sent?"), inbox records older than `inbox_days`, parked outbox records
  older than `parked_days`;
- what the service declares with `install(service, purges=[...])`: survey comments, idempotency
  records.

Kafka keeps events as its topics' retention says (hoera_events.registry.topic_configs: events 7 days,
dead letters 14); no free text or contact detail travels in them (docs/architecture.md).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from hoera_events.organisation import Retention

from hoera_kit import timers
from hoera_kit.db import Conn, count_changed
from hoera_kit.timers import Timer

if TYPE_CHECKING:
    from hoera_kit.service import Service

log = logging.getLogger(__name__)

PURGE_TIMER = "retention.purge"
PURGE_KEY = "retention"
PURGE_EVERY = timedelta(hours=1)
PURGED = "(purged)"
"""What stands where a delivery's recipient was once its retention ran out."""

Purge = Callable[[Conn, str, Retention, datetime], Awaitable[dict[str, int]]]
"""(conn, tenant, the tenant's rules, now) -> records purged per kind; a service's own records."""


def cutoff(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)


async def purge_kit(
    conn: Conn, tenant: str, rules: Retention, now: datetime, *, default_tenant: str
) -> dict[str, int]:
    """The kit's records of one tenant older than its rules."""
    contents = await count_changed(
        conn,
        "update kit_deliveries set recipient = $3, subject = '', body_text = '', body_html = null, "
        "headers = '{}', last_error = case when last_error is null then null else $3 end "
        "where tenant = $1 and state in ('sent', 'given_up') and updated_at < $2 and recipient <> $3 "
        "and recipient <> '(erased)'",
        tenant,
        cutoff(now, rules.delivery_contents_days),
        PURGED,
    )
    inbox = await count_changed(
        conn,
        "delete from kit_inbox where (tenant = $1 or (tenant is null and $3)) and processed_at < $2",
        tenant,
        cutoff(now, rules.inbox_days),
        tenant == default_tenant,
    )
    # A parked record is an envelope this service wrote itself: its tenant is in the JSON.
    parked = await count_changed(
        conn,
        "delete from kit_outbox_parked where parked_at < $2 "
        "and convert_from(payload, 'UTF8')::jsonb ->> 'tenant' = $1",
        tenant,
        cutoff(now, rules.parked_days),
    )
    return {"delivery_contents": contents, "inbox": inbox, "parked": parked}


async def purge(
    svc: Service[Any], conn: Conn, tenant: str, now: datetime, purges: Sequence[Purge] = ()
) -> dict[str, int]:
    """Everything of one tenant this service holds longer than the tenant's rules allow."""
    rules = svc.tenants.organisation(tenant).retention
    counts = await purge_kit(conn, tenant, rules, now, default_tenant=svc.settings.tenant)
    for own in purges:
        counts.update(await own(conn, tenant, rules, now))
    return {kind: n for kind, n in counts.items() if n}


def install(svc: Service[Any], *, purges: Sequence[Purge] = (), every: timedelta = PURGE_EVERY) -> None:
    """Purge on a durable timer, every tenant the service knows, `every` so often."""

    @svc.timer(PURGE_TIMER)
    async def purge_due(conn: Conn, timer: Timer) -> None:
        now = datetime.now(UTC)
        for tenant in svc.tenants.tenant_ids:
            counts = await purge(svc, conn, tenant, now, purges)
            if counts:
                log.info("retention: purged for tenant %s: %s", tenant, counts)
        await timers.schedule(conn, PURGE_TIMER, PURGE_KEY, now + every)

    @svc.on_start
    async def plan() -> None:
        async with svc.pool.acquire() as conn:
            await conn.execute(
                "insert into kit_timers (kind, key, due_at, payload) values ($1, $2, $3, '{}') "
                "on conflict (kind, key) do nothing",
                PURGE_TIMER,
                PURGE_KEY,
                datetime.now(UTC) + every,
            )
