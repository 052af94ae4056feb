"""Webhooks to the tenant's partners (its CRM, a data warehouse, a ticketing tool): the administrators of
a tenant subscribe HTTPS endpoints to event types, with filters, and follow what was delivered.

The tenant is the administrator's own, from the token; another tenant's endpoint or delivery answers
404 as one that does not exist. Each request a partner receives is a CloudEvent (structured JSON) signed
per Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`); the secret is answered
once, when the endpoint is created or its secret rotated.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Response
from hoera_kit.auth import Principal, Role, require_roles
from hoera_kit.deliveries import DeliveryRecord, DeliveryState
from hoera_kit.webhooks import ID_HEADER
from pydantic import BaseModel, ConfigDict, Field

from hoera_intake.api.deps import Uses
from hoera_intake.handlers import webhooks
from hoera_intake.handlers.webhooks import Endpoint
from hoera_intake.webhooks import EVERY_TYPE, EndpointFilter, subscribable_types

router = APIRouter(prefix="/webhooks", tags=["webhooks"])
Admin = Annotated[Principal, Depends(require_roles(Role.admin))]
"""The tenant's administrators, and only for their own tenant's endpoints."""

Url = Annotated[str, Field(min_length=1, max_length=2048, examples=["https://crm.example.com/hoera"])]
Description = Annotated[str, Field(max_length=500)]
EventTypes = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=100)]],
    Field(
        min_length=1,
        max_length=100,
        description='registered event types (GET /webhooks/event-types), or ["*"] for every one',
        examples=[["survey.answered"]],
    ),
]


class NewEndpoint(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url = Field(description="https (plain http only in development and test)")
    description: Description = ""
    event_types: EventTypes
    filters: EndpointFilter = Field(
        default_factory=EndpointFilter,
        description="conditions on the event's data, all of which must hold, e.g. unhappy answers of "
        'one team: {"equals": {"team_id": "team-nl-1"}, "at_most": {"satisfaction": 2}}',
    )
    ordered: bool = Field(
        default=False,
        description="deliver the events of one key (a complaint, a survey, a customer) one after the "
        "other, in order: one waits while an earlier one is not yet delivered",
    )


class EndpointChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url | None = None
    description: Description | None = None
    event_types: EventTypes | None = None
    filters: EndpointFilter | None = None
    ordered: bool | None = None


class DisableAsk(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, Field(min_length=1, max_length=500)] | None = None


class RotateAsk(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keep_previous: bool = Field(
        default=True,
        description="true: the old secret stays valid beside the new one until the next rotation, so "
        "the partner can switch without losing a request; false: it is dropped at once (it leaked)",
    )


class EndpointView(BaseModel):
    endpoint_id: uuid.UUID
    url: str
    description: str
    event_types: list[str]
    filters: EndpointFilter
    ordered: bool
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    consecutive_failures: int = Field(description="failed attempts in a row since the last success")
    failing_since: datetime | None
    two_secrets: bool = Field(description="the previous secret is still valid beside the current one")
    secret_rotated_at: datetime | None
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


class EndpointWithSecret(EndpointView):
    secret: str = Field(description="whsec_...: shown this once; the partner verifies signatures with it")


class DeliveryView(BaseModel):
    delivery_id: uuid.UUID
    event_id: str | None = Field(description="the webhook-id the partner received")
    event_type: str | None
    state: DeliveryState
    held: bool = Field(description="waiting because the endpoint is disabled")
    replay: bool = Field(description="a copy sent again by an administrator")
    attempts: int
    last_error: str | None
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None = Field(description="when it is tried next (while pending or failed)")
    sent_at: datetime | None


class DeliveryLog(BaseModel):
    endpoint_id: uuid.UUID
    held: bool = Field(description="the endpoint is disabled: its deliveries wait")
    deliveries: list[DeliveryView] = Field(description="newest first")
    next_before: int | None = Field(description="pass as `before` for the next (older) page; null: no more")


class EventTypeView(BaseModel):
    type: str
    versions: int


def _view(e: Endpoint) -> dict[str, Any]:
    return {
        "endpoint_id": e.id,
        "url": e.url,
        "description": e.description,
        "event_types": e.event_types,
        "filters": e.filters,
        "ordered": e.ordered,
        "enabled": e.enabled,
        "disabled_reason": e.disabled_reason,
        "disabled_at": e.disabled_at,
        "consecutive_failures": e.consecutive_failures,
        "failing_since": e.failing_since,
        "two_secrets": e.previous_secret is not None,
        "secret_rotated_at": e.secret_rotated_at,
        "created_at": e.created_at,
        "created_by": e.created_by,
        "updated_at": e.updated_at,
        "updated_by": e.updated_by,
    }


def _delivery(r: DeliveryRecord, held: bool) -> DeliveryView:
    waiting = r.state in (DeliveryState.pending, DeliveryState.failed)
    return DeliveryView(
        delivery_id=r.id,
        event_id=r.headers.get(ID_HEADER),
        event_type=r.subject or None,
        state=r.state,
        held=held and waiting,
        replay=":replay:" in r.idempotency_key,
        attempts=r.attempts,
        last_error=r.last_error,
        created_at=r.created_at,
        last_attempt_at=r.last_attempt_at,
        # A delivery on hold waits at infinity (hoera_kit.deliveries.hold): no time to show.
        next_attempt_at=r.next_attempt_at if waiting and r.next_attempt_at.year < 9999 else None,
        sent_at=r.sent_at,
    )


@router.get(
    "/event-types",
    response_model=list[EventTypeView],
    summary="The event types an endpoint can subscribe to",
)
async def event_types(principal: Admin) -> list[EventTypeView]:
    return [EventTypeView(type=t, versions=len(ms)) for t, ms in sorted(subscribable_types().items())]


@router.post(
    "/endpoints",
    status_code=201,
    response_model=EndpointWithSecret,
    summary="Subscribe a partner's endpoint to events",
    description="Enabled at once; the answer shows its secret, once. Events read from now on that it "
    f"takes (its event types, or {EVERY_TYPE!r}, and its filter) are delivered to it.",
)
async def create_endpoint(new: NewEndpoint, principal: Admin, deps: Uses) -> EndpointWithSecret:
    e = await webhooks.create(
        deps,
        principal,
        url=new.url,
        description=new.description,
        event_types=new.event_types,
        filters=new.filters,
        ordered=new.ordered,
    )
    return EndpointWithSecret(**_view(e), secret=e.secret)


@router.get("/endpoints", response_model=list[EndpointView], summary="The tenant's endpoints")
async def list_endpoints(principal: Admin, deps: Uses) -> list[EndpointView]:
    return [EndpointView(**_view(e)) for e in await webhooks.every_endpoint(deps, principal.tenant)]


@router.get("/endpoints/{endpoint_id}", response_model=EndpointView, summary="One endpoint")
async def read_endpoint(endpoint_id: uuid.UUID, principal: Admin, deps: Uses) -> EndpointView:
    return EndpointView(**_view(await webhooks.read(deps, principal.tenant, endpoint_id)))


@router.patch(
    "/endpoints/{endpoint_id}",
    response_model=EndpointView,
    summary="Change an endpoint's URL, description, subscription or ordering",
    description="Deliveries not yet sent go to the new URL; a new subscription applies to the events "
    "read from now on.",
)
async def change_endpoint(
    endpoint_id: uuid.UUID, change: EndpointChange, principal: Admin, deps: Uses
) -> EndpointView:
    changes = {
        name: getattr(change, name) for name in change.model_fields_set if getattr(change, name) is not None
    }
    return EndpointView(**_view(await webhooks.change(deps, principal, endpoint_id, changes)))


@router.delete(
    "/endpoints/{endpoint_id}",
    status_code=204,
    response_class=Response,
    summary="Remove an endpoint",
    description="Its deliveries not yet sent are given up.",
)
async def delete_endpoint(endpoint_id: uuid.UUID, principal: Admin, deps: Uses) -> Response:
    await webhooks.delete(deps, principal, endpoint_id)
    return Response(status_code=204)


@router.post(
    "/endpoints/{endpoint_id}/disable",
    response_model=EndpointView,
    summary="Stop sending to an endpoint",
    description="Its deliveries, and those of the events that come meanwhile, wait until it is enabled.",
)
async def disable_endpoint(
    endpoint_id: uuid.UUID,
    principal: Admin,
    deps: Uses,
    ask: Annotated[DisableAsk | None, Body()] = None,
) -> EndpointView:
    reason = ask.reason if ask is not None else None
    return EndpointView(**_view(await webhooks.disable(deps, principal, endpoint_id, reason)))


@router.post(
    "/endpoints/{endpoint_id}/enable",
    response_model=EndpointView,
    summary="Send to an endpoint again",
    description="What waited is delivered at once, in order; its run of failures starts anew.",
)
async def enable_endpoint(endpoint_id: uuid.UUID, principal: Admin, deps: Uses) -> EndpointView:
    return EndpointView(**_view(await webhooks.enable(deps, principal, endpoint_id)))


@router.post(
    "/endpoints/{endpoint_id}/rotate-secret",
    response_model=EndpointWithSecret,
    summary="Give an endpoint a new secret",
    description="The answer shows the new secret, once. Every request is then signed with the new one "
    "and, unless keep_previous is false, the old one too, until the next rotation.",
)
async def rotate_secret(
    endpoint_id: uuid.UUID,
    principal: Admin,
    deps: Uses,
    ask: Annotated[RotateAsk | None, Body()] = None,
) -> EndpointWithSecret:
    keep = ask.keep_previous if ask is not None else True
    e = await webhooks.rotate_secret(deps, principal, endpoint_id, keep_previous=keep)
    return EndpointWithSecret(**_view(e), secret=e.secret)


@router.get(
    "/endpoints/{endpoint_id}/deliveries",
    response_model=DeliveryLog,
    summary="An endpoint's delivery log",
    description="Every event delivered (or being delivered) to it, newest first: its state, attempts "
    "and last error.",
)
async def delivery_log(
    endpoint_id: uuid.UUID,
    principal: Admin,
    deps: Uses,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[
        int | None, Query(ge=1, le=2**63 - 1, description="next_before of the previous page")
    ] = None,
    state: DeliveryState | None = None,
) -> DeliveryLog:
    endpoint, page, held = await webhooks.delivery_log(
        deps, principal.tenant, endpoint_id, limit=limit, before=before, state=state
    )
    last = page[-1].seq if len(page) == limit and page else None
    return DeliveryLog(
        endpoint_id=endpoint.id,
        held=held,
        deliveries=[_delivery(r, held) for r in page],
        next_before=last,
    )


@router.post(
    "/deliveries/{delivery_id}/replay",
    status_code=202,
    response_model=DeliveryView,
    summary="Send a delivery again",
    description="A copy with the same body and webhook-id, signed afresh, to the endpoint's current URL "
    "(a partner that de-duplicates on webhook-id may drop it). 409: its content is gone (erased "
    "with its customer, or past the tenant's retention).",
)
async def replay_delivery(delivery_id: uuid.UUID, principal: Admin, deps: Uses) -> DeliveryView:
    record, held = await webhooks.replay(deps, principal, delivery_id)
    return _delivery(record, held)
