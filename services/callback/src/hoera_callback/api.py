"""HTTP routes of the callback service: the queue, claims, outcomes, context and figures.

Agents and supervisors work their teams' queues (another team's callback or queue answers 404, as one
that does not exist); admins read their organisation's queues and figures. The rule documents (R8)
are the kit's routes under /admin/rules. Each route only turns the request into a handler's call."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Query, Request, Response, status
from hoera_events.common import TeamId
from hoera_kit.auth import Principal, Role, require_roles
from pydantic import BaseModel

from hoera_callback import handlers
from hoera_callback.handlers import (
    CallbackDetail,
    Deps,
    ManualRequest,
    OutcomeCommand,
    OutcomeResult,
    QueueItem,
    WeekFigures,
)
from hoera_callback.store import Callback

router = APIRouter()

Worker = Annotated[Principal, Depends(require_roles(Role.agent, Role.supervisor))]
"""Works a queue: agents, and supervisors who call customers back themselves."""
Reader = Annotated[Principal, Depends(require_roles(Role.agent, Role.supervisor, Role.admin))]


async def _deps(request: Request) -> Deps:
    # async: FastAPI would run a plain def in a worker thread, a hop per request for one attribute.
    deps: Deps = request.app.state.deps
    return deps


CallbackDeps = Annotated[Deps, Depends(_deps)]


class ReleaseCommand(BaseModel):
    claim_id: UUID | None = None


@router.post(
    "/callbacks",
    status_code=status.HTTP_201_CREATED,
    summary="Put a customer in a team's callback queue by hand",
    description="The same `request_ref` again for the same customer and team answers the callback it made "
    "(200); for another customer or team it is refused (409).",
    tags=["queue"],
    responses={200: {"description": "this request_ref was sent before: its callback", "model": Callback}},
)
async def create_callback(
    body: ManualRequest, principal: Worker, deps: CallbackDeps, response: Response
) -> Callback:
    callback, created = await handlers.request_by_agent(deps, principal, body)
    if not created:
        response.status_code = status.HTTP_200_OK
    return callback


@router.get("/callbacks", summary="The open callbacks of my teams, in queue order", tags=["queue"])
async def list_queue(
    principal: Reader,
    deps: CallbackDeps,
    team_id: Annotated[TeamId | None, Query(description="one of your teams")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[QueueItem]:
    return await handlers.queue(deps, principal, team_id=team_id, limit=limit)


@router.post(
    "/callbacks/next",
    summary="Take the next callback (priority, then age) under a lease",
    description="Returns the callback you already hold if your lease still runs. "
    "204 when the queue is empty.",
    tags=["queue"],
    response_model=CallbackDetail,
    responses={204: {"description": "nothing to call: the queue of your teams is empty"}},
)
async def take_next(principal: Worker, deps: CallbackDeps) -> CallbackDetail | Response:
    callback = await handlers.take_next(deps, principal)
    if callback is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return await handlers.detail(deps, principal, callback.callback_id)


@router.get("/callbacks/{callback_id}", summary="A callback with its context (R27)", tags=["queue"])
async def read_callback(callback_id: UUID, principal: Reader, deps: CallbackDeps) -> CallbackDetail:
    return await handlers.detail(deps, principal, callback_id)


@router.post(
    "/callbacks/{callback_id}/claim",
    summary="Take a chosen callback under a lease",
    tags=["queue"],
    responses={409: {"description": "another agent holds it, or you hold another one"}},
)
async def claim_callback(callback_id: UUID, principal: Worker, deps: CallbackDeps) -> CallbackDetail:
    await handlers.claim_chosen(deps, principal, callback_id)
    return await handlers.detail(deps, principal, callback_id)


@router.post("/callbacks/{callback_id}/release", summary="Give a callback back to the queue", tags=["queue"])
async def release_callback(
    callback_id: UUID, principal: Worker, deps: CallbackDeps, body: ReleaseCommand | None = None
) -> Callback:
    return await handlers.release(deps, principal, callback_id, body.claim_id if body else None)


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
    deps: CallbackDeps,
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
    return await handlers.record_outcome(deps, principal, callback_id, body)


@router.get(
    "/figures",
    summary="Items worked, share closed positively, lead time, per agent and team per week",
    tags=["figures"],
)
async def read_figures(
    principal: Reader,
    deps: CallbackDeps,
    weeks: Annotated[int, Query(ge=1, le=53)] = 4,
    team_id: TeamId | None = None,
    agent_id: str | None = None,
) -> list[WeekFigures]:
    return await handlers.figures(deps, principal, weeks=weeks, team_id=team_id, agent_id=agent_id)
