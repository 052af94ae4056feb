"""R25's drill-down: from a figure on the dashboard to the answers behind it, and their CSV export.

Every satisfaction, effort and NPS figure on the dashboard links here with its figure, and every count
of a topic, a reason or a topic with a reason with those; without days the page covers the dashboard's
own period, so its figures are the card's and its total the count's. Filters: agent, channel, period
(whole days of the tenant's calendar), figure and score, the customer's reason and a topic of their
comment. Each answer shows the customer's words, their reason and topics by name (the tenant's
feedback vocabulary, in the page's language) and links to the alert it raised; the export is the same
query as CSV (every answer selected, not only the page's first rows), with the same names. Only a
team's supervisors (or who leads it) read it, as the dashboard: 404 for any other team.

The CSV is for spreadsheets: UTF-8 with a byte-order mark (so accents survive Excel), and a cell that
a spreadsheet would take for a formula (a comment starting with =, +, -, @) is prefixed with '.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from hoera_events.common import Channel
from hoera_kit.refusals import Invalid
from hoera_kit.sessions import StaffSession

from hoera_alerts import handlers
from hoera_alerts.api import Uses
from hoera_alerts.dashboard import Lang, Page, SupervisorPage, teams_of
from hoera_alerts.handlers import Deps

router = APIRouter(include_in_schema=False)

PAGE_ROWS = 200
EXPORT_ROWS = 50_000
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# The form is a GET: a filter left empty arrives as "" and means "any".
Figure = Annotated[str, Query(pattern="^(csat|ces|nps)?$")]
Score = Annotated[str, Query(pattern="^([0-9]|10)?$")]
Day = Annotated[str, Query(pattern=r"^(\d{4}-\d{2}-\d{2})?$")]
Agent = Annotated[str, Query(max_length=64)]
ChannelFilter = Annotated[str, Query(pattern="^(" + "|".join(c.value for c in Channel) + ")?$")]
CodeFilter = Annotated[str, Query(pattern=r"^([a-z0-9][a-z0-9_.-]{0,63})?$")]
"""A reason's or a topic's code (hoera_events.common.Code), or "" for any."""


def _day(value: str, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{field}: {value!r} is not a day (YYYY-MM-DD)", field=f"query.{field}") from None


@dataclass(frozen=True)
class AnswerFilters:
    """The drill-down's filters, from the query string (the page's form is a GET, so a view is a link)."""

    figure: Figure = ""
    score: Score = ""
    agent: Agent = ""
    channel: ChannelFilter = ""
    first: Day = ""
    last: Day = ""
    reason: CodeFilter = ""
    topic: CodeFilter = ""

    def query(self) -> dict[str, str]:
        return {
            "figure": self.figure,
            "score": self.score if self.figure else "",
            "agent": self.agent.strip(),
            "channel": self.channel,
            "first": self.first,
            "last": self.last,
            "reason": self.reason,
            "topic": self.topic,
        }


Filters = Annotated[AnswerFilters, Depends()]


async def _select(
    deps: Deps, session: StaffSession, team_id: str, filters: AnswerFilters, *, limit: int
) -> handlers.AnswersBehind:
    principal = session.principal
    handlers.led_teams(principal, team_id)  # 404 for a team they do not lead, before any read
    return await handlers.answers_behind(
        deps,
        principal.tenant,
        team_id,
        first_day=_day(filters.first, "first"),
        last_day=_day(filters.last, "last"),
        agent_id=filters.agent.strip() or None,
        channel=filters.channel or None,
        figure=filters.figure or None,
        score=int(filters.score) if filters.figure and filters.score else None,
        reason=filters.reason or None,
        topic=filters.topic or None,
        limit=limit,
    )


@router.get("/dashboard/teams/{team_id}/answers", response_class=HTMLResponse)
async def answers_page(
    request: Request,
    team_id: str,
    session: SupervisorPage,
    deps: Uses,
    filters: Filters,
    lang: Lang = None,
) -> HTMLResponse:
    found = await _select(deps, session, team_id, filters, limit=PAGE_ROWS)
    page = Page.of(request, deps, session, lang)
    org = deps.tenants.organisation(session.principal.tenant)
    # The tenant's reasons and topics, and one a link names that the organisation has since removed.
    reasons = [r.code for r in org.feedback.reasons]
    topics = [t.code for t in org.feedback.topics]
    return page.render(
        "answers.html",
        found=found,
        team_id=team_id,
        team=next((t for t in teams_of(session.principal, org) if t["id"] == team_id), {"name": team_id}),
        filters=filters.query(),
        channels=[c.value for c in Channel],
        reasons=reasons + ([filters.reason] if filters.reason and filters.reason not in reasons else []),
        topics=topics + ([filters.topic] if filters.topic and filters.topic not in topics else []),
        export=f"/dashboard/teams/{team_id}/answers.csv?{page.query(**filters.query())}",
        dossier=lambda complaint_id: page.elsewhere("intake", f"/workspace/complaints/{complaint_id}"),
    )


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


CSV_COLUMNS = (
    "answered_at",
    "team_id",
    "agent_id",
    "channel",
    "satisfaction",
    "effort",
    "nps",
    "unhappy",
    "reason",
    "topics",
    "comment",
    "contact_id",
    "complaint_id",
    "survey_id",
    "alert_id",
    "reason_code",
    "topic_codes",
)
"""The reason and topics by name in the page's language (as the page shows them), then by code."""


@router.get("/dashboard/teams/{team_id}/answers.csv")
async def answers_csv(
    request: Request,
    team_id: str,
    session: SupervisorPage,
    deps: Uses,
    filters: Filters,
    lang: Lang = None,
) -> Response:
    found = await _select(deps, session, team_id, filters, limit=EXPORT_ROWS)
    zone = deps.tenants.calendar(session.principal.tenant).zone
    page = Page.of(request, deps, session, lang)
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in found.rows:
        writer.writerow(
            [
                r.answered_at.astimezone(zone).isoformat(timespec="seconds"),
                team_id,
                _cell(r.agent_id),
                r.channel or "",
                "" if r.satisfaction is None else r.satisfaction,
                "" if r.effort is None else r.effort,
                "" if r.nps is None else r.nps,
                "true" if r.unhappy else "false",
                _cell(page.reason_label(r.reason)),
                _cell("; ".join(page.topic_label(code) for code in r.topics)),
                _cell(r.comment),
                _cell(r.contact_id),
                r.complaint_id or "",
                r.survey_id,
                r.alert_id or "",
                r.reason or "",
                ";".join(r.topics),
            ]
        )
    day = deps.now().astimezone(zone).date().isoformat()
    safe_team = re.sub(r"[^A-Za-z0-9._-]", "_", team_id)
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            **page.pages.headers(request),
            "Content-Disposition": f'attachment; filename="answers-{safe_team}-{day}.csv"',
        },
    )
