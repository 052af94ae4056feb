"""Webhooks to a tenant's partners: its administrators' endpoints, the dispatch of every event to the
endpoints that take it, the failure policy, and the delivery log with replay.

Dispatch runs in the `webhooks` consumer's inbox transaction: one query loads the endpoints of the
batch's tenants, one statement records a kit delivery per (endpoint, event) that matches, keyed
`webhook:<endpoint>:<event>`, so a redelivered event records nothing twice and a rolled-back batch
leaves nothing behind. Nothing is cached between batches. A disabled endpoint still gets its deliveries
recorded: they wait, held by the kit, and go out in order once it is enabled again.

The deliveries are the kit's (retries with backoff, leases, at least once); the secrets are not in
them: the sender asks `target` for the endpoint's URL and secrets at send time. Every recorded attempt
passes `on_delivery`, in its transaction: a success resets the endpoint's run of failures; a failure
extends it, and past HOERA_WEBHOOK_DISABLE_AFTER_FAILURES attempts and HOERA_WEBHOOK_DISABLE_AFTER_S
of failing the endpoint is disabled (the kit holds its deliveries) until an administrator enables it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import asyncpg
from hoera_events.envelope import Envelope
from hoera_kit import deliveries
from hoera_kit.auth import Principal
from hoera_kit.db import Conn
from hoera_kit.deliveries import Channel, DeliveryRecord, DeliveryState, OutgoingMessage
from hoera_kit.refusals import Conflict, NotFound
from hoera_kit.webhooks import CLOUDEVENTS_JSON, ID_HEADER, WebhookTarget, new_secret

from hoera_intake import webhooks as rules
from hoera_intake.webhooks import EndpointFilter

if TYPE_CHECKING:
    from hoera_intake.handlers import Deps

log = logging.getLogger(__name__)

REFERENCE_PREFIX = "webhook:"
MAX_ENDPOINTS = 50
"""Endpoints per tenant: each one multiplies the deliveries of every event it takes."""
SYSTEM = "intake"

_COLUMNS = (
    "id, tenant, url, description, event_types, filters::text as filters, ordered, state, "
    "disabled_reason, disabled_at, secret, previous_secret, secret_rotated_at, consecutive_failures, "
    "failing_since, created_at, created_by, updated_at, updated_by"
)


@dataclass(frozen=True)
class Endpoint:
    id: uuid.UUID
    tenant: str
    url: str
    description: str
    event_types: list[str]
    filters: EndpointFilter
    ordered: bool
    state: str
    disabled_reason: str | None
    disabled_at: datetime | None
    secret: str
    previous_secret: str | None
    secret_rotated_at: datetime | None
    consecutive_failures: int
    failing_since: datetime | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str

    @property
    def reference(self) -> str:
        return reference_of(self.id)

    @property
    def enabled(self) -> bool:
        return self.state == "enabled"


def reference_of(endpoint_id: uuid.UUID) -> str:
    return f"{REFERENCE_PREFIX}{endpoint_id}"


def endpoint_of(reference: str) -> uuid.UUID | None:
    if not reference.startswith(REFERENCE_PREFIX):
        return None
    try:
        return uuid.UUID(reference[len(REFERENCE_PREFIX) :])
    except ValueError:
        return None


def _endpoint(row: asyncpg.Record | Mapping[str, Any] | None) -> Endpoint:
    """An endpoint from its row (a row that a statement of this module just returned, so never None)."""
    assert row is not None
    values = dict(row)
    values["filters"] = EndpointFilter.model_validate_json(row["filters"])
    values["event_types"] = list(row["event_types"])
    return Endpoint(**values)


async def _load(conn: Conn, tenant: str, endpoint_id: uuid.UUID, *, lock: bool = False) -> Endpoint:
    row = await conn.fetchrow(
        f"select {_COLUMNS} from webhook_endpoints where tenant = $1 and id = $2"
        + (" for update" if lock else ""),
        tenant,
        endpoint_id,
    )
    if row is None:
        raise NotFound("webhook endpoint")
    return _endpoint(row)


# ---- the administrators' use cases -------------------------------------------------------------------


async def create(
    deps: Deps,
    principal: Principal,
    *,
    url: str,
    description: str,
    event_types: list[str],
    filters: EndpointFilter,
    ordered: bool,
) -> Endpoint:
    """A new endpoint, enabled, with a fresh secret (answered once, in the endpoint)."""
    url = rules.check_url(url, allow_plain_http=deps.settings.is_dev)
    types = rules.check_subscription(event_types, filters)

    async def work(conn: Conn) -> Endpoint:
        # One writer per tenant at a time, so the count below cannot be raced past.
        await conn.execute(
            "select pg_advisory_xact_lock(hashtext('webhook_endpoints:' || $1))", principal.tenant
        )
        count = await conn.fetchval(
            "select count(*) from webhook_endpoints where tenant = $1", principal.tenant
        )
        if count >= MAX_ENDPOINTS:
            raise Conflict(f"a tenant has at most {MAX_ENDPOINTS} webhook endpoints", field="url")
        row = await conn.fetchrow(
            "insert into webhook_endpoints (id, tenant, url, description, event_types, filters, ordered, "
            "secret, created_by, updated_by) "
            "values ($1, $2, $3, $4, $5, $6::text::jsonb, $7, $8, $9, $9) "
            f"returning {_COLUMNS}",
            uuid.uuid4(),
            principal.tenant,
            url,
            description,
            types,
            filters.model_dump_json(),
            ordered,
            new_secret(),
            principal.subject,
        )
        return _endpoint(row)

    return await deps.atomically(work)


async def every_endpoint(deps: Deps, tenant: str) -> list[Endpoint]:
    async with deps.svc.pool.acquire() as conn:
        rows = await conn.fetch(
            f"select {_COLUMNS} from webhook_endpoints where tenant = $1 order by created_at, id", tenant
        )
    return [_endpoint(r) for r in rows]


async def read(deps: Deps, tenant: str, endpoint_id: uuid.UUID) -> Endpoint:
    async with deps.svc.pool.acquire() as conn:
        return await _load(conn, tenant, endpoint_id)


async def change(
    deps: Deps, principal: Principal, endpoint_id: uuid.UUID, changes: dict[str, Any]
) -> Endpoint:
    """Change what is given of url, description, event_types, filters and ordered. Deliveries not yet
    sent go to the new URL; the new subscription applies to events read from now on."""

    async def work(conn: Conn) -> Endpoint:
        current = await _load(conn, principal.tenant, endpoint_id, lock=True)
        url = changes.get("url", current.url)
        if "url" in changes:
            url = rules.check_url(url, allow_plain_http=deps.settings.is_dev)
        filters = changes.get("filters", current.filters)
        types = rules.check_subscription(changes.get("event_types", current.event_types), filters)
        row = await conn.fetchrow(
            "update webhook_endpoints set url = $3, description = $4, event_types = $5, "
            "filters = $6::text::jsonb, ordered = $7, updated_at = now(), updated_by = $8 "
            f"where tenant = $1 and id = $2 returning {_COLUMNS}",
            principal.tenant,
            endpoint_id,
            url,
            changes.get("description", current.description),
            types,
            filters.model_dump_json(),
            changes.get("ordered", current.ordered),
            principal.subject,
        )
        return _endpoint(row)

    return await deps.atomically(work)


async def delete(deps: Deps, principal: Principal, endpoint_id: uuid.UUID) -> int:
    """Remove an endpoint; its deliveries not yet sent are given up (the log keeps them). Returns how
    many were given up."""

    async def work(conn: Conn) -> int:
        endpoint = await _load(conn, principal.tenant, endpoint_id, lock=True)
        await conn.execute("delete from webhook_endpoints where id = $1", endpoint.id)
        return await deliveries.give_up_all(
            conn, endpoint.reference, f"endpoint deleted by {principal.subject}"
        )

    return await deps.atomically(work)


async def _disable(conn: Conn, endpoint: Endpoint, reason: str, by: str) -> Endpoint:
    row = await conn.fetchrow(
        "update webhook_endpoints set state = 'disabled', disabled_reason = $2, disabled_at = now(), "
        f"updated_at = now(), updated_by = $3 where id = $1 returning {_COLUMNS}",
        endpoint.id,
        reason[:2000],
        by,
    )
    await deliveries.hold(conn, endpoint.reference, reason)
    return _endpoint(row)


async def disable(deps: Deps, principal: Principal, endpoint_id: uuid.UUID, reason: str | None) -> Endpoint:
    """Stop sending: the endpoint's deliveries wait (new ones too) until it is enabled again."""

    async def work(conn: Conn) -> Endpoint:
        endpoint = await _load(conn, principal.tenant, endpoint_id, lock=True)
        if not endpoint.enabled:
            return endpoint
        return await _disable(conn, endpoint, reason or f"disabled by {principal.subject}", principal.subject)

    return await deps.atomically(work)


async def enable(deps: Deps, principal: Principal, endpoint_id: uuid.UUID) -> Endpoint:
    """Send again: the deliveries that waited go at once, in order; the run of failures starts anew."""

    async def work(conn: Conn) -> Endpoint:
        endpoint = await _load(conn, principal.tenant, endpoint_id, lock=True)
        row = await conn.fetchrow(
            "update webhook_endpoints set state = 'enabled', disabled_reason = null, disabled_at = null, "
            "consecutive_failures = 0, failing_since = null, updated_at = now(), updated_by = $2 "
            f"where id = $1 returning {_COLUMNS}",
            endpoint.id,
            principal.subject,
        )
        await deliveries.release(conn, endpoint.reference)
        return _endpoint(row)

    return await deps.atomically(work)


async def rotate_secret(
    deps: Deps, principal: Principal, endpoint_id: uuid.UUID, *, keep_previous: bool = True
) -> Endpoint:
    """A new secret becomes the current one; the old one stays valid beside it until the next rotation
    (every request carries a signature by each), or is dropped at once when it leaked."""

    async def work(conn: Conn) -> Endpoint:
        endpoint = await _load(conn, principal.tenant, endpoint_id, lock=True)
        row = await conn.fetchrow(
            "update webhook_endpoints set secret = $2, previous_secret = $3, secret_rotated_at = now(), "
            f"updated_at = now(), updated_by = $4 where id = $1 returning {_COLUMNS}",
            endpoint.id,
            new_secret(),
            endpoint.secret if keep_previous else None,
            principal.subject,
        )
        return _endpoint(row)

    return await deps.atomically(work)


async def delivery_log(
    deps: Deps,
    tenant: str,
    endpoint_id: uuid.UUID,
    *,
    limit: int,
    before: int | None,
    state: DeliveryState | None,
) -> tuple[Endpoint, list[DeliveryRecord], bool]:
    """The endpoint, a page of its deliveries (newest first) and whether they are on hold."""
    async with deps.svc.pool.acquire() as conn:
        endpoint = await _load(conn, tenant, endpoint_id)
        page = await deliveries.history(conn, endpoint.reference, limit=limit, before_seq=before, state=state)
        held = await deliveries.is_held(conn, endpoint.reference)
    return endpoint, page, held


async def replay(deps: Deps, principal: Principal, delivery_id: uuid.UUID) -> tuple[DeliveryRecord, bool]:
    """Send a copy of a delivery again (a partner lost what it received): the same body and webhook-id,
    signed afresh, to the endpoint's current URL. Returns the copy and whether it waits (endpoint
    disabled)."""

    async def work(conn: Conn) -> tuple[DeliveryRecord, bool]:
        original = await deliveries.get(conn, delivery_id)
        endpoint_id = endpoint_of(original.reference) if original is not None else None
        if original is None or endpoint_id is None or original.tenant != principal.tenant:
            raise NotFound("webhook delivery")
        endpoint = await _load(conn, principal.tenant, endpoint_id, lock=True)
        if not original.body_text:
            raise Conflict(
                "the delivery's content is gone (erased with its customer, or past the retention)",
                field="delivery_id",
            )
        copy = OutgoingMessage(
            channel=Channel.webhook,
            recipient=endpoint.url,
            subject=original.subject,
            body_text=original.body_text,
            idempotency_key=f"{original.idempotency_key}:replay:{uuid.uuid4()}",
            reference=endpoint.reference,
            headers=original.headers,
            tenant=principal.tenant,
            max_attempts=deps.settings.webhook_max_attempts,
            customer_id=original.customer_id,
            ordering_key=original.ordering_key,
        )
        record = await deliveries.enqueue(conn, copy)
        return record, not endpoint.enabled

    return await deps.atomically(work)


# ---- dispatch, send time and outcomes ----------------------------------------------------------------


async def dispatch(deps: Deps, conn: Conn, envelopes: Sequence[Envelope]) -> int:
    """Record a delivery per (endpoint, event) that matches, in the consumer's transaction: one query
    and one statement for the batch (the query only, when none of the batch's tenants has an
    endpoint). An event of a tenant without endpoints, or of a type no endpoint takes, costs nothing
    more. Returns how many were new."""
    tenants = sorted({env.tenant for env in envelopes})
    rows = await conn.fetch(
        "select id, tenant, url, event_types, filters::text as filters, ordered from webhook_endpoints "
        "where tenant = any($1::text[]) order by created_at, id",
        tenants,
    )
    if not rows:
        return 0
    by_tenant: dict[str, list[asyncpg.Record]] = {}
    filters: dict[uuid.UUID, EndpointFilter] = {}
    types: dict[uuid.UUID, list[str]] = {}
    for row in rows:
        by_tenant.setdefault(row["tenant"], []).append(row)
        filters[row["id"]] = EndpointFilter.model_validate_json(row["filters"])
        types[row["id"]] = list(row["event_types"])
    max_attempts = deps.settings.webhook_max_attempts
    messages: list[OutgoingMessage] = []
    for env in envelopes:
        endpoints = [
            row for row in by_tenant.get(env.tenant, ()) if rules.subscribed(types[row["id"]], env.type)
        ]
        if not endpoints:
            continue
        data = env.data.model_dump(mode="json")
        text: str | None = None
        for row in endpoints:
            if not filters[row["id"]].matches(data):
                continue
            text = text or rules.body(env)
            messages.append(
                OutgoingMessage(
                    channel=Channel.webhook,
                    recipient=row["url"],
                    subject=env.type,
                    body_text=text,
                    idempotency_key=f"{REFERENCE_PREFIX}{row['id']}:{env.id}",
                    reference=reference_of(row["id"]),
                    headers={ID_HEADER: str(env.id)},
                    tenant=env.tenant,
                    max_attempts=max_attempts,
                    customer_id=rules.customer_of(env),
                    ordering_key=f"{row['id']}:{env.key}" if row["ordered"] else None,
                )
            )
    return await deliveries.enqueue_many(conn, messages)


async def target(deps: Deps, record: DeliveryRecord) -> WebhookTarget | None:
    """Where a webhook delivery goes and with which secrets, read when it is sent (not stored with it).

    None: not one of ours. A deleted endpoint gives the delivery up; a disabled one does not send (a
    delivery claimed just before the endpoint was disabled waits with the others)."""
    endpoint_id = endpoint_of(record.reference)
    if endpoint_id is None:
        return None
    async with deps.svc.pool.acquire() as conn:
        row = await conn.fetchrow(
            "select url, state, secret, previous_secret from webhook_endpoints where tenant = $1 and id = $2",
            record.tenant,
            endpoint_id,
        )
    if row is None:
        raise deliveries.PermanentDeliveryError("the webhook endpoint was deleted")
    if row["state"] != "enabled":
        raise deliveries.TransientDeliveryError("the webhook endpoint is disabled; waiting until enabled")
    secrets = (row["secret"], *([row["previous_secret"]] if row["previous_secret"] else []))
    return WebhookTarget(url=row["url"], secrets=secrets, content_type=CLOUDEVENTS_JSON)


async def on_delivery(deps: Deps, conn: Conn, record: DeliveryRecord) -> None:
    """Each recorded attempt, in its transaction: a success ends the endpoint's run of failures; a
    failure extends it, and a long enough run disables the endpoint (its deliveries then wait)."""
    endpoint_id = endpoint_of(record.reference)
    if endpoint_id is None or record.channel is not Channel.webhook:
        return
    if record.state is DeliveryState.sent:
        # Only a failing endpoint's row is written: a healthy one is not touched on every success.
        await conn.execute(
            "update webhook_endpoints set consecutive_failures = 0, failing_since = null "
            "where id = $1 and tenant = $2 and consecutive_failures > 0",
            endpoint_id,
            record.tenant,
        )
        return
    if record.state not in (DeliveryState.failed, DeliveryState.given_up):
        return
    row = await conn.fetchrow(
        "update webhook_endpoints set consecutive_failures = consecutive_failures + 1, "
        "failing_since = coalesce(failing_since, now()) where id = $1 and tenant = $2 "
        f"returning {_COLUMNS}, now() - coalesce(failing_since, now()) as failing_for",
        endpoint_id,
        record.tenant,
    )
    if row is None:
        return
    endpoint = _endpoint(_without(row, "failing_for"))
    s = deps.settings
    if (
        endpoint.enabled
        and endpoint.consecutive_failures >= s.webhook_disable_after_failures
        and row["failing_for"].total_seconds() >= s.webhook_disable_after_s
    ):
        reason = (
            f"{endpoint.consecutive_failures} failed attempts in a row since "
            f"{endpoint.failing_since:%Y-%m-%d %H:%M:%S}Z; last: {record.last_error or 'unknown'}"
        )
        log.warning("webhook endpoint %s of %s disabled: %s", endpoint.id, endpoint.tenant, reason)
        await _disable(conn, endpoint, reason, SYSTEM)


def _without(row: asyncpg.Record, *names: str) -> dict[str, Any]:
    return {k: v for k, v in dict(row).items() if k not in names}
