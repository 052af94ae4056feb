"""Agents' edge: read and search dossiers (any of the organisation, R1), work on their team's."""

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from hoera_events.common import CustomerId, TeamId
from hoera_kit.db import Conn

from hoera_intake import rules, store
from hoera_intake.api.deps import Staff, Supervisor, Uses, Worker
from hoera_intake.api.models import (
    Assignment,
    Closing,
    ComplaintPage,
    ComplaintView,
    DeceasedReport,
    DeceasedView,
    DossierView,
    DueDateChange,
    Label,
    MarkWithdrawal,
    MovedComplaint,
    Note,
    Reopening,
    Resolution,
    Step,
    WithdrawalView,
)
from hoera_intake.domain import Status
from hoera_intake.handlers import deceased, work

router = APIRouter(tags=["dossiers"])

ComplaintId = Annotated[
    uuid.UUID, Path(description="The complaint's id", examples=["0b8c6a52-4b9e-4b0c-9d5e-3f6a1d2c7e01"])
]
_ACTING: dict[int | str, dict[str, Any]] = {
    403: {"description": "not an agent or supervisor"},
    404: {"description": "no such complaint in your organisation, or one of a team you are not in"},
    409: {"description": "the complaint's status does not allow it (`field` names what)"},
    422: {"description": "a field is missing or wrong (named)"},
}


@router.get(
    "/complaints/{complaint_id}",
    response_model=DossierView,
    summary="Read a dossier with its timeline",
    description="R1: every employee of the organisation reads every dossier, with every change "
    "(what, who, when, why), every message and its delivery state.",
    responses={404: {"description": "no such complaint in your organisation"}},
)
async def read_dossier(complaint_id: ComplaintId, principal: Staff, deps: Uses) -> DossierView:
    return DossierView.of_dossier(await work.dossier(deps, principal, complaint_id), deps.now())


@router.get(
    "/complaints",
    response_model=ComplaintPage,
    summary="Search dossiers",
    description="Newest first; filters combine. `overdue=true`: not answered and past the promised "
    "date (not counting a paused clock). Pages of `limit`; follow `next_cursor`.",
)
async def search_complaints(
    principal: Staff,
    deps: Uses,
    customer_id: Annotated[CustomerId | None, Query(examples=["CUST-0012345"])] = None,
    status: Status | None = None,
    category: Annotated[str | None, Query(max_length=64, examples=["refund.late"])] = None,
    team_id: Annotated[TeamId | None, Query(examples=["team-nl-1"])] = None,
    overdue: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> ComplaintPage:
    query = work.Search(customer_id, status, category, team_id, overdue, cursor, limit)
    page = await work.search(deps, principal, query)
    now = deps.now()
    return ComplaintPage(items=[ComplaintView.of(c, now) for c in page.items], next_cursor=page.next_cursor)


@router.post(
    "/complaints/{complaint_id}/assign",
    response_model=ComplaintView,
    summary="Assign the complaint to an agent",
    description="Within your own teams; a supervisor may hand it to another team. A deceased "
    "customer's case keeps its one named owner unless a supervisor hands it over (R10).",
    responses=_ACTING,
)
async def assign(complaint_id: ComplaintId, body: Assignment, principal: Worker, deps: Uses) -> ComplaintView:
    async def act(conn: Conn) -> ComplaintView:
        c = await work.assign(
            deps, conn, principal, complaint_id, agent_id=body.agent_id, team_id=body.team_id, note=body.note
        )
        return ComplaintView.of(c, deps.now())

    return await deps.atomically(act)


@router.post(
    "/complaints/{complaint_id}/notes",
    status_code=201,
    response_model=ComplaintView,
    summary="Add a note to the timeline",
    responses=_ACTING,
)
async def add_note(complaint_id: ComplaintId, body: Note, principal: Worker, deps: Uses) -> ComplaintView:
    async def act(conn: Conn) -> ComplaintView:
        c = await work.add_note(deps, conn, principal, complaint_id, body.text)
        return ComplaintView.of(c, deps.now())

    return await deps.atomically(act)


@router.post(
    "/complaints/{complaint_id}/steps",
    response_model=ComplaintView,
    summary="Record a step (a change of working status)",
    description="in_progress, waiting_on_customer, waiting_on_department. Time in each status is "
    "measured (R6); in the rules' waiting statuses the SLA clock stands still and the promised date "
    "moves by the waiting time when work resumes (told to the customer, R3). The customer hears of "
    "the steps the rules name (R5).",
    responses=_ACTING,
)
async def record_step(complaint_id: ComplaintId, body: Step, principal: Worker, deps: Uses) -> ComplaintView:
    async def act(conn: Conn) -> ComplaintView:
        c = await work.record_step(deps, conn, principal, complaint_id, status=body.status, note=body.note)
        return ComplaintView.of(c, deps.now())

    return await deps.atomically(act)


@router.post(
    "/complaints/{complaint_id}/due-date",
    response_model=ComplaintView,
    summary="Move the promised date",
    description="A business day, not in the past; logged on the timeline and told to the customer.",
    responses=_ACTING,
)
async def change_due_date(
    complaint_id: ComplaintId, body: DueDateChange, principal: Worker, deps: Uses
) -> ComplaintView:
    async def act(conn: Conn) -> ComplaintView:
        c = await work.change_due_date(
            deps, conn, principal, complaint_id, due_date=body.due_date, reason=body.reason, note=body.note
        )
        return ComplaintView.of(c, deps.now())

    return await deps.atomically(act)


@router.post(
    "/complaints/{complaint_id}/resolve",
    response_model=ComplaintView,
    summary="Resolve: the answer, the root cause, first-contact resolution",
    description="R7: root_cause_department from the operator's list (GET /root-causes) is required; "
    "R9: say whether the first contact resolved it.",
    responses=_ACTING,
)
async def resolve(
    complaint_id: ComplaintId, body: Resolution, principal: Worker, deps: Uses
) -> ComplaintView:
    async def act(conn: Conn) -> ComplaintView:
        c = await work.resolve(
            deps,
            conn,
            principal,
            complaint_id,
            root_cause_department=body.root_cause_department,
            first_contact_resolution=body.first_contact_resolution,
            note=body.note,
            answer=body.answer,
        )
        return ComplaintView.of(c, deps.now())

    return await deps.atomically(act)


@router.post(
    "/complaints/{complaint_id}/close",
    response_model=ComplaintView,
    summary="Close a resolved complaint",
    description="Emits ComplaintClosed: the survey service may then ask for feedback (R5), never "
    "about a deceased customer (R10).",
    responses=_ACTING,
)
async def close(complaint_id: ComplaintId, body: Closing, principal: Worker, deps: Uses) -> ComplaintView:
    async def act(conn: Conn) -> ComplaintView:
        c = await work.close(deps, conn, principal, complaint_id, note=body.note)
        return ComplaintView.of(c, deps.now())

    return await deps.atomically(act)


@router.post(
    "/complaints/{complaint_id}/reopen",
    response_model=ComplaintView,
    summary="Reopen a resolved or closed complaint",
    description="The only way out of closed. A new promised date from the category's SLA, told to "
    "the customer.",
    responses=_ACTING,
)
async def reopen(complaint_id: ComplaintId, body: Reopening, principal: Worker, deps: Uses) -> ComplaintView:
    async def act(conn: Conn) -> ComplaintView:
        c = await work.reopen(deps, conn, principal, complaint_id, reason=body.reason, note=body.note)
        return ComplaintView.of(c, deps.now())

    return await deps.atomically(act)


CustomerPath = Annotated[CustomerId, Path(description="The customer's id", examples=["CUST-0012345"])]
_DECEASED: dict[int | str, dict[str, Any]] = {
    403: {"description": "not an agent or supervisor, or the case's team (`team_id`) is not one of yours"},
    404: {
        "description": "no such customer, or one with an open complaint of a team you are not in "
        "(the same answer: another team's customers cannot be probed)"
    },
    422: {
        "description": "a field is missing or wrong (named): no reason, an owner who is not in the "
        "case's team, a complaint of another customer, complaints in several teams and no `team_id`"
    },
}


def _deceased_view(d: store.Deceased) -> DeceasedView:
    return DeceasedView(
        customer_id=d.customer_id,
        owner_agent_id=d.owner_agent_id,
        team_id=d.team_id,
        marked_at=d.marked_at,
        marked_by=d.marked_by,
        complaint_id=d.complaint_id,
        has_next_of_kin=d.next_of_kin_email is not None,
        reason=d.reason,
    )


def _withdrawal_view(a: store.DeceasedAudit) -> WithdrawalView:
    return WithdrawalView(
        customer_id=a.customer_id,
        withdrawn_at=a.at,
        withdrawn_by=a.actor,
        reason=a.reason,
        owner_agent_id=a.owner_agent_id,
        team_id=a.team_id,
        restored=[
            MovedComplaint(complaint_id=m.complaint_id, agent_id=m.to_agent_id, team_id=m.to_team_id)
            for m in a.moved
        ],
    )


@router.post(
    "/customers/{customer_id}/deceased",
    status_code=201,
    response_model=DeceasedView,
    summary="Mark a customer deceased",
    description="R10: one named owner takes every open complaint of the customer; messages go to the "
    "next of kin or are held; CustomerMarkedDeceased stops surveys and proactive contact elsewhere. "
    "Only for a customer whose open complaints are all of your teams (without open complaints: one "
    "your team has dealt with); any other customer answers 404, as an unknown one does. The owner "
    "must be in the case's team (`team_id`, one of yours), and the complaints move to that team. "
    "The `reason` is kept in the audit and on each moved dossier's timeline, with the owners the "
    "complaints had. Marking again answers the marking in force (200) and changes nothing. A "
    "supervisor of the team can withdraw a mistaken marking (`POST .../deceased/withdraw`).",
    responses={
        201: {"description": "marked: the open complaints moved to the owner, the marking audited"},
        200: {"model": DeceasedView, "description": "marked before: the marking in force, nothing changed"},
        **_DECEASED,
    },
)
async def mark_deceased(
    customer_id: CustomerPath, body: DeceasedReport, principal: Worker, deps: Uses
) -> Any:
    async def act(conn: Conn) -> JSONResponse:
        d, created = await deceased.mark(
            deps,
            conn,
            principal,
            customer_id,
            owner_agent_id=body.owner_agent_id,
            team_id=body.team_id,
            complaint_id=body.complaint_id,
            next_of_kin_email=body.next_of_kin_email,
            reason=body.reason,
        )
        view = _deceased_view(d)
        return JSONResponse(view.model_dump(mode="json"), status_code=201 if created else 200)

    return await deps.atomically(act)


@router.post(
    "/customers/{customer_id}/deceased/withdraw",
    status_code=201,
    response_model=WithdrawalView,
    summary="Withdraw a mistaken deceased marking (supervisor)",
    description="R10, undone by a supervisor of the case's team: each complaint the marking moved "
    "goes back to its previous owner and team where it is still open and still with the case's "
    "owner; nothing is addressed to the next of kin any more; the `reason` is kept in the audit and "
    "on each dossier's timeline; CustomerDeceasedMarkWithdrawn lets the other services reach the "
    "customer again. Withdrawing again answers the withdrawal (200) and changes nothing.",
    responses={
        201: {"description": "withdrawn: `restored` lists the complaints that went back to their owner"},
        200: {"model": WithdrawalView, "description": "withdrawn before: that withdrawal, nothing changed"},
        403: {"description": "not a supervisor (an agent cannot withdraw a marking)"},
        404: {"description": "no such customer, or one of a team you do not lead (the same answer)"},
        409: {"description": "the customer is not marked deceased"},
        422: {"description": "no reason or one over 500 characters, or a customer id that is not an id"},
    },
)
async def withdraw_deceased(
    customer_id: CustomerPath, body: MarkWithdrawal, principal: Supervisor, deps: Uses
) -> Any:
    async def act(conn: Conn) -> JSONResponse:
        withdrawal, created = await deceased.withdraw(deps, conn, principal, customer_id, reason=body.reason)
        view = _withdrawal_view(withdrawal)
        return JSONResponse(view.model_dump(mode="json"), status_code=201 if created else 200)

    return await deps.atomically(act)


@router.get("/categories", response_model=list[Label], summary="The complaint categories (R8, R13)")
async def categories(principal: Staff, deps: Uses) -> list[Label]:
    async with deps.transaction() as conn:
        found = await deps.rules.get(conn, principal.tenant, rules.CATEGORIES)
    return [Label(code=c.code, names=c.names.model_dump()) for c in found.categories]


@router.get(
    "/root-causes", response_model=list[Label], summary="The root-cause departments to resolve with (R7)"
)
async def root_causes(principal: Staff, deps: Uses) -> list[Label]:
    async with deps.transaction() as conn:
        found = await deps.rules.get(conn, principal.tenant, rules.ROOT_CAUSES)
    return [Label(code=d.code, names=d.names.model_dump()) for d in found.departments]
