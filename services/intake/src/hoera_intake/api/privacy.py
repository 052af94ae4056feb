"""A customer's rights (GDPR): erasure across every service, and one answer to "what do you hold on me".

The platform (on the customer's behalf) and the organisation's administrators ask; the tenant comes
from their token. Erasure is asynchronous: 202 with the request, whose progress per service is read
back until it is complete. Subject access gathers every service's answer to
`GET /privacy/customers/{id}` (each service answers for itself) into one document.
"""

import asyncio
import uuid
from datetime import datetime
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from hoera_events.common import CustomerId
from hoera_kit.auth import Principal, Role, require_roles
from hoera_kit.privacy import CustomerDataView, CustomerIdPath, customer_data
from hoera_kit.refusals import NotFound
from pydantic import BaseModel, ConfigDict, Field

from hoera_intake.api.deps import Uses
from hoera_intake.handlers import Deps, erasures

router = APIRouter(tags=["privacy"])
Asker = Annotated[Principal, Depends(require_roles(Role.platform, Role.admin))]
PEER_TIMEOUT_S = 10.0


class ErasureAsk(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: CustomerId = Field(description="the platform's id of the customer to forget")


class ConfirmationView(BaseModel):
    service: str
    confirmed_at: datetime
    records: dict[str, int] = Field(description="per kind of record, how many were erased or anonymised")


class ErasureView(BaseModel):
    erasure_id: uuid.UUID
    customer_id: str
    requested_by: str
    requested_at: datetime
    completed_at: datetime | None
    complete: bool
    confirmations: list[ConfirmationView]
    waiting_for: list[str] = Field(description="the services that have not confirmed yet")


class SubjectAccess(BaseModel):
    customer_id: str
    complete: bool = Field(description="false: a service did not answer (named in `unavailable`)")
    services: list[CustomerDataView]
    unavailable: list[str]
    erasures: list[ErasureView]


@router.post(
    "/erasures",
    status_code=202,
    response_model=ErasureView,
    summary="Erase a customer in every service (GDPR art. 17)",
    description="202: a new request, published to every service. 200: a request for this customer "
    "was still open; it is published again (a service that missed it erases, the others confirm "
    "again) and answered. Follow it with GET /erasures/{erasure_id}.",
    responses={200: {"model": ErasureView, "description": "an open request, resumed"}},
)
async def request_erasure(body: ErasureAsk, principal: Asker, deps: Uses) -> JSONResponse:
    erasure, created = await erasures.request(deps, principal, body.customer_id)
    view = ErasureView(**erasures.view(erasure))
    return JSONResponse(jsonable_encoder(view), status_code=202 if created else 200)


@router.get("/erasures/{erasure_id}", response_model=ErasureView, summary="An erasure and its progress")
async def read_erasure(erasure_id: uuid.UUID, principal: Asker, deps: Uses) -> ErasureView:
    async with deps.svc.pool.acquire() as conn:
        found = await erasures.read(conn, principal.tenant, erasure_id)
    if found is None:
        raise NotFound("erasure")
    return ErasureView(**erasures.view(found))


def _peers(request: Request) -> dict[str, str]:
    settings = request.app.state.settings
    urls = {**settings.staff_pages, **settings.service_urls}
    return {name: urls[name] for name in erasures.EVERY_HOLDER if name != "intake" and name in urls}


async def _ask(client: httpx.AsyncClient, base: str, customer_id: str, auth: str) -> CustomerDataView | None:
    try:
        resp = await client.get(
            f"{base.rstrip('/')}/privacy/customers/{customer_id}", headers={"Authorization": auth}
        )
    except httpx.HTTPError:
        return None
    if resp.status_code != 200:
        return None
    return CustomerDataView.model_validate(resp.json())


@router.get(
    "/customers/{customer_id}/personal-data",
    response_model=SubjectAccess,
    summary="Everything Hoera holds about a customer, from every service (GDPR art. 15)",
)
async def subject_access(
    request: Request, customer_id: CustomerIdPath, principal: Asker, deps: Uses
) -> SubjectAccess:
    return await gather(
        request, deps, principal.tenant, customer_id, request.headers.get("authorization", "")
    )


async def gather(
    request: Request, deps: Deps, tenant: str, customer_id: str, authorization: str
) -> SubjectAccess:
    """Intake's own part and every other service's, asked with the caller's credentials (each service
    checks the role and the tenant itself); a service that does not answer is named, not skipped."""
    holder = request.app.state.personal_data
    async with deps.svc.pool.acquire() as conn:
        own = await customer_data(deps.svc, holder, conn, tenant, customer_id)
        asked = await erasures.of_customer(conn, tenant, customer_id)
    peers = _peers(request)
    async with httpx.AsyncClient(timeout=PEER_TIMEOUT_S) as client:
        answers = await asyncio.gather(
            *(_ask(client, url, customer_id, authorization) for url in peers.values())
        )
    services = [own, *(a for a in answers if a is not None)]
    answered = {s.service for s in services}
    unavailable = [name for name in erasures.EVERY_HOLDER if name not in answered]
    return SubjectAccess(
        customer_id=customer_id,
        complete=not unavailable,
        services=services,
        unavailable=unavailable,
        erasures=[ErasureView(**erasures.view(e)) for e in asked],
    )
