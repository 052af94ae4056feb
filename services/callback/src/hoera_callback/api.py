"""HTTP routes of the callback service: the queue, claims, outcomes, context, figures and rules.

Agents and supervisors work their teams' queues (another team's callback answers 404, as one that
does not exist); admins read everything and change the rules (R8)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Query, Request, Response, status
from hoera_events.common import Channel, Code, CustomerId, Language, PreferredMoment, TeamId
from hoera_kit.auth import Principal, Role, require_roles
from pydantic import BaseModel, Field

from hoera_callback import handlers
from hoera_callback.handlers import (
    CallbackApp,
    CallbackDetail,
    OutcomeCommand,
    OutcomeResult,
    QueueItem,
    WeekFigures,
)
from hoera_callback.rules import AuditEntry, CallbackRules, RulesVersion
from hoera_callback.store import Callback

router = APIRouter()

Worker = Annotated[Principal, Depends(require_roles(Role.agent, Role.supervisor))]
"""Works a queue: agents, and supervisors who call customers back themselves."""
Reader = Annotated[Principal, Depends(require_roles(Role.agent, Role.supervisor, Role.admin))]
RulesReader = Annotated[Principal, Depends(require_roles(Role.supervisor, Role.admin))]
Admin = Annotated[Principal, Depends(require_roles(Role.admin))]


async def _callbacks(request: Request) -> CallbackApp:
    # async: FastAPI would run a plain def in a worker thread, a hop per request for one attribute.
    app: CallbackApp = request.app.state.callbacks
    return app


App = Annotated[CallbackApp, Depends(_callbacks)]


class ManualRequest(BaseModel):
    """An agent or supervisor puts a customer in their team's queue (source "agent")."""

    customer_id: CustomerId
    team_id: TeamId
    language: Language
    reason_code: Code | None = None
    note: Annotated[str, Field(max_length=2000)] | None = None
    complaint_id: UUID | None = None
    preferred_channel: Channel = Channel.phone
    preferred_moment: PreferredMoment | None = None
    request_ref: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")] | None = None
    """Your own reference: sending the same one again adds nothing."""

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "customer_id": "CUST-0012345",
                    "team_id": "team-nl-1",
                    "language": "nl",
                    "reason_code": "refund.status",
                    "note": "Asked at the desk to be called about the refund",
                    "request_ref": "desk-2025-03-03-17",
                }
            ]
        }
    }


class ReleaseCommand(BaseModel):
    claim_id: UUID | None = None


@router.post(
    "/callbacks",
    status_code=status.HTTP_201_CREATED,
    summary="Put a customer in a team's callback queue by hand",
    tags=["queue"],
)
async def create_callback(body: ManualRequest, principal: Worker, app: App, response: Response) -> Callback:
    callback, created = await handlers.request_by_agent(
        app,
        principal,
        customer_id=body.customer_id,
        team_id=body.team_id,
        language=body.language,
        reason_code=body.reason_code,
        note=body.note,
        complaint_id=body.complaint_id,
        preferred_channel=body.preferred_channel,
        preferred_moment=body.preferred_moment,
        request_ref=body.request_ref,
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return callback


@router.get("/callbacks", summary="The open callbacks of my teams, in queue order", tags=["queue"])
async def list_queue(
    principal: Reader,
    app: App,
    team_id: Annotated[TeamId | None, Query(description="one of your teams")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[QueueItem]:
    return await handlers.queue(app, principal, team_id=team_id, limit=limit)


@router.post(
    "/callbacks/next",
    summary="Take the next callback (priority, then age) under a lease",
    description="Returns the callback you already hold if your lease still runs. "
    "204 when the queue is empty.",
    tags=["queue"],
    response_model=CallbackDetail,
    responses={204: {"description": "nothing to call: the queue of your teams is empty"}},
)
async def take_next(principal: Worker, app: App) -> CallbackDetail | Response:
    callback = await handlers.take_next(app, principal)
    if callback is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return await handlers.detail(app, principal, callback.callback_id)


@router.get("/callbacks/{callback_id}", summary="A callback with its context (R27)", tags=["queue"])
async def read_callback(callback_id: UUID, principal: Reader, app: App) -> CallbackDetail:
    return await handlers.detail(app, principal, callback_id)


@router.post(
    "/callbacks/{callback_id}/claim",
    summary="Take a chosen callback under a lease",
    tags=["queue"],
    responses={409: {"description": "another agent holds it, or you hold another one"}},
)
async def claim_callback(callback_id: UUID, principal: Worker, app: App) -> CallbackDetail:
    await handlers.claim_chosen(app, principal, callback_id)
    return await handlers.detail(app, principal, callback_id)


@router.post("/callbacks/{callback_id}/release", summary="Give a callback back to the queue", tags=["queue"])
async def release_callback(
    callback_id: UUID, principal: Worker, app: App, body: ReleaseCommand | None = None
) -> Callback:
    return await handlers.release(app, principal, callback_id, body.claim_id if body else None)


@router.post(
    "/callbacks/{callback_id}/outcome",
    summary="Record how the call went (R28)",
    description="Only the holder of a running lease may record. `not_reachable` plans the next attempt "
    "(`retry_at`); after the last planned attempt the callback closes as `unreachable_final`.",
    tags=["queue"],
    responses={
        409: {"description": "not held by you, or your lease lapsed"},
        422: {"description": "bad outcome"},
    },
)
async def record_outcome(
    callback_id: UUID,
    principal: Worker,
    app: App,
    body: Annotated[
        OutcomeCommand,
        Body(
            openapi_examples={
                "positive": {
                    "summary": "the customer is happy again",
                    "value": {"outcome": "closed_positively", "note": "Refund explained; paid on Friday."},
                },
                "no answer": {"summary": "voicemail", "value": {"outcome": "not_reachable"}},
            }
        ),
    ],
) -> OutcomeResult:
    return await handlers.record_outcome(app, principal, callback_id, body)


@router.get(
    "/figures",
    summary="Items worked, share closed positively, lead time, per agent and team per week",
    tags=["figures"],
)
async def read_figures(
    principal: Reader,
    app: App,
    weeks: Annotated[int, Query(ge=1, le=53)] = 4,
    team_id: TeamId | None = None,
    agent_id: str | None = None,
) -> list[WeekFigures]:
    return await handlers.figures(app, principal, weeks=weeks, team_id=team_id, agent_id=agent_id)


@router.get("/rules", summary="The callback rules in force (R8)", tags=["rules"])
async def read_rules(principal: RulesReader, app: App) -> RulesVersion:
    async with app.pool.acquire() as conn:
        return await app.rules.current_version(conn)


@router.put(
    "/rules",
    summary="Replace the callback rules (validated whole; audited)",
    tags=["rules"],
    responses={422: {"description": "a field is wrong; nothing was changed"}},
)
async def replace_rules(body: CallbackRules, principal: Admin, app: App) -> RulesVersion:
    async with app.pool.acquire() as conn, conn.transaction():
        changed = await app.rules.replace(conn, body, changed_by=principal.subject)
    app.rules.forget()
    return changed


@router.get("/rules/history", summary="Who changed the rules, when, and what", tags=["rules"])
async def rules_history(
    principal: RulesReader, app: App, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[AuditEntry]:
    async with app.pool.acquire() as conn:
        return await app.rules.history(conn, limit=limit)
