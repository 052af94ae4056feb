"""What a service holds about a customer: erasure on request, and access (GDPR art. 15 and 17).

Every service declares two functions over its own tables, `erase(conn, tenant, customer_id)` and
`export(conn, tenant, customer_id)`, with `install(service, erase=..., export=...)`; the kit does the
rest the same way in all five services:

- erasure: a consumer of `customer.erasure_requested` runs the service's `erase` and blanks the
  recipient and body of every delivery to or about the customer (mail bodies hold survey links and the
  customer's words), records the erasure in `kit_erasures` (ids and counts, never the data) and
  publishes `customer.erasure_confirmed`, all in the inbox transaction: a crash midway rolls back and
  the redelivered request erases once. A second request for the same erasure confirms again without
  erasing anything twice.
- access: `GET /privacy/customers/{customer_id}` answers the service's `export`, its deliveries and
  its erasures, for the platform and the organisation's administrators.

`erase` keeps rows that figures count (a complaint, an answer's smileys, a compensation's amount) and
removes what identifies or quotes the customer: free text they or an agent wrote about them, contact
details, links. It returns how many records of each kind it changed; the counts travel in the
confirmation, so the request shows what each service did.
"""

# No `from __future__ import annotations`: the route built in router() resolves its annotations
# (the role dependency) when FastAPI reads them.

import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Path, Request
from hoera_events.envelope import Envelope
from hoera_events.privacy import ErasureConfirmed, ErasureRequested, Holder
from pydantic import BaseModel, Field

from hoera_kit.auth import Principal, Role, require_roles
from hoera_kit.db import Conn, count_changed

if TYPE_CHECKING:
    from hoera_kit.service import Service

Erase = Callable[[Conn, str, str], Awaitable[dict[str, int]]]
"""(conn, tenant, customer_id) -> records changed per kind; only kinds with a count above 0."""
Export = Callable[[Conn, str, str], Awaitable[dict[str, Any]]]
"""(conn, tenant, customer_id) -> everything held about the customer, JSON-serialisable, per kind."""

ERASED = "(erased)"
"""What stands where a recipient or a name was, so a row keeps its shape and its counts."""

CustomerIdPath = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$", description="the platform's customer id")
]


@dataclass(frozen=True)
class PersonalData:
    erase: Erase
    export: Export


class DeliveryView(BaseModel):
    id: UUID
    channel: str
    recipient: str
    subject: str
    body_text: str
    state: str
    reference: str
    created_at: datetime
    sent_at: datetime | None


class ErasureView(BaseModel):
    erasure_id: UUID
    requested_by: str
    erased_at: datetime
    records: dict[str, int]


class CustomerDataView(BaseModel):
    """What one service holds about one customer (subject access)."""

    service: str
    customer_id: str
    records: dict[str, Any] = Field(description="per kind of record, what the service holds")
    deliveries: list[DeliveryView] = Field(description="messages to or about the customer")
    erasures: list[ErasureView] = Field(description="erasures carried out here (ids and counts only)")


async def erase_deliveries(conn: Conn, tenant: str, customer_id: str) -> int:
    """Blank the recipient, subject, bodies and error (a mail server's answer may quote the address)
    of every delivery to or about the customer; one not yet sent is given up (nothing left to send)."""
    n = await count_changed(
        conn,
        "update kit_deliveries set recipient = $3, subject = '', body_text = '', "
        "body_html = null, headers = '{}', updated_at = now(), "
        "last_error = case when state in ('pending', 'failed') then 'customer erased' "
        "when last_error is null then null else $3 end, "
        "state = case when state in ('pending', 'failed') then 'given_up' else state end "
        "where tenant = $1 and customer_id = $2 and recipient <> $3",
        tenant,
        customer_id,
        ERASED,
    )
    return int(n)


async def erased(conn: Conn, tenant: str, customer_id: str) -> bool:
    """True once this service erased the customer: a late event must not bring their words back."""
    found = await conn.fetchval(
        "select 1 from kit_erasures where tenant = $1 and customer_id = $2 limit 1", tenant, customer_id
    )
    return found is not None


async def erased_many(conn: Conn, customers: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these (tenant, customer id) this service erased: erased for a whole batch at once."""
    if not customers:
        return set()
    wanted = sorted(set(customers))
    rows = await conn.fetch(
        "select distinct tenant, customer_id from kit_erasures "
        "where (tenant, customer_id) in (select * from unnest($1::text[], $2::text[]))",
        [tenant for tenant, _ in wanted],
        [customer for _, customer in wanted],
    )
    return {(r["tenant"], r["customer_id"]) for r in rows}


async def carry_out(
    svc: "Service[Any]", holder: PersonalData, conn: Conn, env: Envelope
) -> ErasureConfirmed | None:
    """Erase in the caller's (inbox) transaction and put the confirmation in the outbox."""
    request = env.data_as(ErasureRequested)
    if request.deployment is not None and request.deployment != svc.settings.consumer_group_prefix:
        return None  # another deployment's customer: its own services erase and confirm
    previous = await conn.fetchval(
        "select records::text from kit_erasures where tenant = $1 and erasure_id = $2",
        env.tenant,
        request.erasure_id,
    )
    if previous is None:
        records = {k: v for k, v in (await holder.erase(conn, env.tenant, request.customer_id)).items() if v}
        deliveries = await erase_deliveries(conn, env.tenant, request.customer_id)
        if deliveries:
            records["deliveries"] = deliveries
        await conn.execute(
            "insert into kit_erasures (tenant, erasure_id, customer_id, requested_by, erased_at, records) "
            "values ($1, $2, $3, $4, $5, $6::text::jsonb)",
            env.tenant,
            request.erasure_id,
            request.customer_id,
            request.requested_by,
            datetime.now(UTC),
            json.dumps(records),
        )
    else:
        # The same erasure asked again (a resumed request): confirm what was done, erase nothing twice.
        records = json.loads(previous)
    confirmation = ErasureConfirmed(
        erasure_id=request.erasure_id,
        customer_id=request.customer_id,
        service=Holder(svc.name),
        erased_at=datetime.now(UTC),
        records=records,
    )
    await svc.emit(conn, confirmation, cause=env)
    return confirmation


async def customer_data(
    svc: "Service[Any]", holder: PersonalData, conn: Conn, tenant: str, customer_id: str
) -> CustomerDataView:
    rows = await conn.fetch(
        "select id, channel, recipient, subject, body_text, state, reference, created_at, sent_at "
        "from kit_deliveries where tenant = $1 and customer_id = $2 order by created_at, id",
        tenant,
        customer_id,
    )
    erasures = await conn.fetch(
        "select erasure_id, requested_by, erased_at, records::text as records from kit_erasures "
        "where tenant = $1 and customer_id = $2 order by erased_at",
        tenant,
        customer_id,
    )
    return CustomerDataView(
        service=svc.name,
        customer_id=customer_id,
        records=await holder.export(conn, tenant, customer_id),
        deliveries=[DeliveryView(**dict(r)) for r in rows],
        erasures=[
            ErasureView(
                erasure_id=r["erasure_id"],
                requested_by=r["requested_by"],
                erased_at=r["erased_at"],
                records=json.loads(r["records"]),
            )
            for r in erasures
        ],
    )


def router(holder: PersonalData) -> APIRouter:
    api = APIRouter(prefix="/privacy", tags=["privacy"])
    Asker = Annotated[Principal, Depends(require_roles(Role.platform, Role.admin))]

    @api.get(
        "/customers/{customer_id}",
        summary="Everything this service holds about a customer (subject access, GDPR art. 15)",
        response_model=CustomerDataView,
    )
    async def read_customer_data(
        request: Request, customer_id: CustomerIdPath, principal: Asker
    ) -> CustomerDataView:
        svc = request.app.state.service
        async with svc.pool.acquire() as conn:
            return await customer_data(svc, holder, conn, principal.tenant, customer_id)

    return api


def install(svc: "Service[Any]", *, erase: Erase, export: Export, consume: bool = True) -> PersonalData:
    """Declare what the service holds about customers: it erases on request and answers access.

    consume=False: a replica that reads no Kafka still answers access (another one erases)."""
    holder = PersonalData(erase, export)

    if consume:

        @svc.consumer(ErasureRequested, name="erasure")
        async def erasure_requested(conn: Conn, env: Envelope) -> None:
            await carry_out(svc, holder, conn, env)

    svc.api.include_router(router(holder))
    svc.api.state.personal_data = holder
    return holder
