"""The survey service's HTTP API: figures (R20), suppressions (R21), the contact budget for proactive
messages (R30), opt-outs, and the survey links' signing keys. Every route works in the caller's own
organisation: the tenant comes from the token, never from the request.

The operator's rules (R8) are the kit's /admin/rules routes (hoera_kit.rules_api); the customer's
survey page is in survey_page.py: it has no login, only the signed link.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from hoera_events.common import CustomerId
from hoera_kit.auth import Principal, Role, require_roles
from hoera_kit.refusals import Invalid
from pydantic import BaseModel, Field

from hoera_survey import domain, handlers
from hoera_survey.domain import Allow
from hoera_survey.handlers import Deps
from hoera_survey.store import KeyRow, Segment

router = APIRouter()

Analyst = Annotated[Principal, Depends(require_roles(Role.supervisor, Role.admin))]
Admin = Annotated[Principal, Depends(require_roles(Role.admin))]
Caller = Annotated[Principal, Depends(require_roles(Role.platform, Role.admin))]


def _deps(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


AppDeps = Annotated[Deps, Depends(_deps)]
Since = Annotated[datetime | None, Query(description="from (inclusive); default 30 days ago")]
Until = Annotated[datetime | None, Query(description="until (exclusive); default now")]
CustomerPath = Annotated[CustomerId, Path(description="the platform's customer id")]


def _period(deps: Deps, since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    end = until or deps.now()
    start = since or end - timedelta(days=30)
    for name, value in (("since", start), ("until", end)):
        if value.tzinfo is None:
            raise Invalid(f"{name} needs a time zone, e.g. 2025-03-01T00:00:00Z", field=name)
    if start >= end:
        raise Invalid("since must be before until", field="since")
    return start, end


def _teams(principal: Principal) -> list[str] | None:
    """An admin sees every team; a supervisor the teams they lead (object-level scope)."""
    return None if principal.has_role(Role.admin) else sorted(principal.teams)


# --- figures (R20) --------------------------------------------------------------------------------


class Figures(BaseModel):
    invited: int
    answered: int
    response_rate: float | None = Field(description="answered / invited, in %")
    csat: float | None = Field(description="% of satisfaction answers that are 4 or 5 (top two smileys)")
    satisfaction_mean: float | None = Field(description="mean satisfaction smiley, 1-5")
    nps: float | None = Field(description="% promoters (9-10) minus % detractors (0-6)")
    ces: float | None = Field(description="mean effort smiley, 1-5; 5 is the easiest")
    nps_answers: int
    satisfaction_answers: int
    effort_answers: int

    @classmethod
    def of(cls, t: domain.Tally) -> Figures:
        return cls(
            invited=t.invited,
            answered=t.answered,
            response_rate=domain.response_rate(t),
            csat=domain.csat(t),
            satisfaction_mean=domain.satisfaction_mean(t),
            nps=domain.nps(t),
            ces=domain.ces(t),
            nps_answers=t.nps_answers,
            satisfaction_answers=t.satisfaction_answers,
            effort_answers=t.effort_answers,
        )


class SegmentFigures(BaseModel):
    value: str | None = Field(description="the segment's value; null where the platform gave none")
    figures: Figures


class FiguresReport(BaseModel):
    since: datetime
    until: datetime
    teams: list[str] | None = Field(description="the teams counted; null: every team")
    overall: Figures
    segment: Segment | None = None
    segments: list[SegmentFigures] = Field(default_factory=list)

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "since": "2025-03-01T00:00:00Z",
                    "until": "2025-04-01T00:00:00Z",
                    "teams": None,
                    "overall": {
                        "invited": 1000,
                        "answered": 160,
                        "response_rate": 16.0,
                        "csat": 81.3,
                        "satisfaction_mean": 4.1,
                        "nps": 25.0,
                        "ces": 3.9,
                        "nps_answers": 152,
                        "satisfaction_answers": 160,
                        "effort_answers": 149,
                    },
                    "segment": "channel",
                    "segments": [],
                }
            ]
        }
    }


@router.get(
    "/figures",
    tags=["figures"],
    summary="Response rate, CSAT, NPS and CES over a period, overall and by segment (R20)",
)
async def figures(
    principal: Analyst,
    deps: AppDeps,
    since: Since = None,
    until: Until = None,
    segment: Annotated[Segment | None, Query(description="break down by this segment")] = None,
) -> FiguresReport:
    start, end = _period(deps, since, until)
    teams = _teams(principal)
    total, parts = await handlers.figures(
        deps, principal.tenant, since=start, until=end, segment=segment, teams=teams
    )
    return FiguresReport(
        since=start,
        until=end,
        teams=teams,
        overall=Figures.of(total),
        segment=segment,
        segments=[SegmentFigures(value=value, figures=Figures.of(t)) for value, t in parts],
    )


# --- suppressions (R21) ---------------------------------------------------------------------------


class SuppressionCount(BaseModel):
    kind: domain.BudgetKind
    reason: str
    detail: str
    count: int


class SuppressionReport(BaseModel):
    since: datetime
    until: datetime
    total: int
    by_reason: dict[str, int]
    rows: list[SuppressionCount]


@router.get(
    "/suppressions",
    tags=["figures"],
    summary="How many contacts were not made, and why (R10, R21, R30): never silent",
)
async def suppressions(
    principal: Analyst, deps: AppDeps, since: Since = None, until: Until = None
) -> SuppressionReport:
    start, end = _period(deps, since, until)
    rows = await handlers.suppressions(
        deps, principal.tenant, since=start, until=end, teams=_teams(principal)
    )
    by_reason: dict[str, int] = {}
    for r in rows:
        by_reason[r["reason"]] = by_reason.get(r["reason"], 0) + int(r["n"])
    return SuppressionReport(
        since=start,
        until=end,
        total=sum(by_reason.values()),
        by_reason=by_reason,
        rows=[
            SuppressionCount(kind=r["kind"], reason=r["reason"], detail=r["detail"], count=r["n"])
            for r in rows
        ],
    )


# --- the contact budget and opt-outs (R21, R30) ----------------------------------------------------


class ProactiveRequest(BaseModel):
    reference: Annotated[str, Field(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")]
    """The message's own id: asking twice for the same message spends the budget once."""

    model_config = {"json_schema_extra": {"examples": [{"reference": "intake:sla-notice:0b8c6a52"}]}}


class BudgetDecision(BaseModel):
    granted: bool
    reason: str | None = None
    detail: str | None = None


@router.post(
    "/customers/{customer_id}/proactive-contacts",
    tags=["contact budget"],
    summary="Ask to send a proactive message; granted only within the customer's contact budget (R30)",
    description="Asking again with the same reference for the same customer repeats the grant without "
    "spending the budget twice, unless the customer has since died or opted out. A reference already "
    "used for another customer is refused with 409.",
    responses={409: {"description": "the reference was already used for another customer's message"}},
)
async def proactive_contact(
    customer_id: CustomerPath,
    request_body: Annotated[ProactiveRequest, Body()],
    principal: Caller,
    deps: AppDeps,
) -> BudgetDecision:
    async with deps.transaction() as conn:
        verdict = await handlers.request_proactive_contact(
            deps, conn, principal.tenant, customer_id, request_body.reference
        )
    if isinstance(verdict, Allow):
        return BudgetDecision(granted=True)
    return BudgetDecision(granted=False, reason=verdict.reason.value, detail=verdict.detail)


class CustomerStanding(BaseModel):
    customer_id: str
    deceased_at: datetime | None = Field(
        default=None, description="the deceased mark in force (R10); null when none or withdrawn"
    )
    deceased_mark_withdrawn_at: datetime | None = Field(
        default=None, description="when a deceased mark was last withdrawn as a mistake"
    )
    opted_out_at: datetime | None = None
    opted_out_by: str | None = None


async def _standing(deps: Deps, tenant: str, customer_id: str) -> CustomerStanding:
    async with deps.transaction() as conn:
        row = await handlers.standing(deps, conn, tenant, customer_id)
    return CustomerStanding(**row) if row else CustomerStanding(customer_id=customer_id)


@router.get("/customers/{customer_id}", tags=["contact budget"], summary="A customer's standing")
async def customer(customer_id: CustomerPath, principal: Caller, deps: AppDeps) -> CustomerStanding:
    return await _standing(deps, principal.tenant, customer_id)


@router.put(
    "/customers/{customer_id}/opt-out",
    tags=["contact budget"],
    summary="The customer wants no surveys (recorded by the platform or an operator)",
)
async def opt_out(customer_id: CustomerPath, principal: Caller, deps: AppDeps) -> CustomerStanding:
    async with deps.transaction() as conn:
        await handlers.opt_out(deps, conn, principal.tenant, customer_id, principal.subject)
    return await _standing(deps, principal.tenant, customer_id)


@router.delete(
    "/customers/{customer_id}/opt-out",
    tags=["contact budget"],
    summary="The customer accepts surveys again",
)
async def opt_in(customer_id: CustomerPath, principal: Caller, deps: AppDeps) -> CustomerStanding:
    async with deps.transaction() as conn:
        await handlers.opt_in(deps, conn, principal.tenant, customer_id)
    return await _standing(deps, principal.tenant, customer_id)


# --- the survey links' signing keys -------------------------------------------------------------------


class LinkKeyView(BaseModel):
    """One of the organisation's survey-link keys; the key itself never leaves the service."""

    key_id: str = Field(description="the id every link signed with this key carries")
    generation: int
    state: Literal["signing", "verifying", "retired"] = Field(
        description="signing: signs new links (and verifies); verifying: links signed before the last "
        "rotation still work; retired: links signed with it no longer work"
    )
    created_at: datetime
    created_by: str
    retired_at: datetime | None = None


def _key_views(rows: list[KeyRow]) -> list[LinkKeyView]:
    newest = max((r.generation for r in rows), default=0)
    return [
        LinkKeyView(
            key_id=r.key_id,
            generation=r.generation,
            state="retired" if r.retired_at else "signing" if r.generation == newest else "verifying",
            created_at=r.created_at,
            created_by=r.created_by,
            retired_at=r.retired_at,
        )
        for r in rows
    ]


@router.get(
    "/admin/link-keys",
    tags=["link keys"],
    summary="The keys that sign my organisation's survey links (ids and dates, never the keys)",
)
async def link_keys(principal: Admin, deps: AppDeps) -> list[LinkKeyView]:
    return _key_views(await handlers.link_keys(deps, principal.tenant))


@router.post(
    "/admin/link-keys/rotation",
    tags=["link keys"],
    summary="Rotate: a new key signs from now on; links signed with the previous one keep working",
    description="Links signed with the key before the previous one stop working: rotate twice to end "
    "every link sent so far (a key that may have leaked). 409 when another rotation won the race.",
    status_code=201,
)
async def rotate_link_keys(principal: Admin, deps: AppDeps) -> list[LinkKeyView]:
    return _key_views(await handlers.rotate_link_keys(deps, principal.tenant, principal.subject))
