"""Management's figures: step durations (R6) and first-contact resolution (R9), of the teams a
supervisor leads (an administrator's: every team)."""

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query
from hoera_events.common import TeamId
from pydantic import AwareDatetime

from hoera_intake.api.deps import Management, Uses
from hoera_intake.api.models import FcrFigures, FcrRow, StepDuration, StepDurations
from hoera_intake.domain import Status
from hoera_intake.handlers import figures

router = APIRouter(prefix="/figures", tags=["figures"])

TeamFilter = Annotated[
    TeamId | None,
    Query(
        description="One team (a supervisor: one you lead, else 404); default: every team you may see",
        examples=["team-nl-1"],
    ),
]
_SCOPED: dict[int | str, dict[str, Any]] = {
    403: {"description": "not a supervisor or administrator"},
    404: {"description": "`team_id` names a team you do not lead"},
    422: {"description": "a period or filter is wrong (named)"},
}
SCOPE = (
    " A supervisor sees the teams they lead only (those in their token); an administrator sees "
    "every team, and the complaints without one."
)

Since = Annotated[
    AwareDatetime | None,
    Query(
        description="Start of the period, timezone-aware (default: 30 days ago)",
        examples=["2026-03-01T00:00:00+01:00"],
    ),
]
Until = Annotated[
    AwareDatetime | None,
    Query(
        description="End of the period, exclusive, timezone-aware (default: now)",
        examples=["2026-04-01T00:00:00+02:00"],
    ),
]


class Bucket(StrEnum):
    day = "day"
    week = "week"
    month = "month"


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


@router.get(
    "/step-durations",
    response_model=StepDurations,
    summary="Time spent in each step (R6)",
    description="p50 and p90 seconds spent in each status, per category and team, over the status "
    "periods that ended in the period: where complaints wait, and on whom." + SCOPE,
    responses=_SCOPED,
)
async def step_durations(
    principal: Management,
    deps: Uses,
    since: Since = None,
    until: Until = None,
    team_id: TeamFilter = None,
    category: Annotated[str | None, Query(max_length=64, examples=["refund.late"])] = None,
) -> StepDurations:
    start, end = figures.period(deps.now(), since, until)
    rows = await figures.step_durations(deps, principal, start, end, team_id=team_id, category=category)
    return StepDurations(
        since=start,
        until=end,
        steps=[
            StepDuration(
                status=Status(r["status"]),
                category=r["category"],
                team_id=r["team_id"],
                periods=r["periods"],
                p50_seconds=round(float(r["p50"]), 3),
                p90_seconds=round(float(r["p90"]), 3),
            )
            for r in rows
        ],
    )


@router.get(
    "/fcr",
    response_model=FcrFigures,
    summary="First-contact resolution rate (R9)",
    description="Per day, week or month and team: the share of resolved complaints that the first "
    "contact resolved, and the share of the platform's contacts it marked resolved first time." + SCOPE,
    responses=_SCOPED,
)
async def first_contact_resolution(
    principal: Management,
    deps: Uses,
    since: Since = None,
    until: Until = None,
    bucket: Bucket = Bucket.month,
    team_id: TeamFilter = None,
) -> FcrFigures:
    start, end = figures.period(deps.now(), since, until)
    complaints, contacts = await figures.first_contact_resolution(
        deps, principal, start, end, bucket=bucket.value, team_id=team_id
    )
    rows: dict[tuple[object, str | None], FcrRow] = {}
    for r in complaints:
        rows[(r["period"], r["team_id"])] = FcrRow(
            period=r["period"],
            team_id=r["team_id"],
            complaints_resolved=r["resolved"],
            complaints_first_contact=r["first_contact"],
            complaint_rate=_rate(r["first_contact"], r["resolved"]),
            contacts_reported=0,
            contacts_first_contact=0,
            contact_rate=None,
        )
    for r in contacts:
        row = rows.get((r["period"], r["team_id"])) or FcrRow(
            period=r["period"],
            team_id=r["team_id"],
            complaints_resolved=0,
            complaints_first_contact=0,
            complaint_rate=None,
            contacts_reported=0,
            contacts_first_contact=0,
            contact_rate=None,
        )
        rows[(r["period"], r["team_id"])] = row.model_copy(
            update={
                "contacts_reported": r["reported"],
                "contacts_first_contact": r["first_contact"],
                "contact_rate": _rate(r["first_contact"], r["reported"]),
            }
        )
    ordered = sorted(rows.values(), key=lambda row: (row.period, row.team_id or ""))
    return FcrFigures(
        since=start,
        until=end,
        bucket=bucket.value,
        rows=ordered,
        complaint_rate=_rate(
            sum(r.complaints_first_contact for r in ordered), sum(r.complaints_resolved for r in ordered)
        ),
    )
