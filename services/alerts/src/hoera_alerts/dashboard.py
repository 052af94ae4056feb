"""R25: the supervisors' live dashboard and alert pages (server-rendered, nl/fr/en).

Supervisors sign in on /dashboard/sign-in and the kit's staff session (hoera_kit.sessions) carries
them from there: a cookie, which the browser's EventSource sends with the live stream as well, so no
URL ever holds a token. The acknowledgement is a plain form POST with the session's CSRF value. The
live stream sends the re-rendered figures and alerts as HTML, so the page needs no client-side
templating. Every route checks that the supervisor leads the team (404 otherwise), the stream
included; team names and times are the supervisor's tenant's (its organisation and calendar). A
stream ends when the service stops (LiveHub.close) or after HOERA_LIVE_STREAM_MAX_S.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from hoera_events.organisation import Feedback, Organisation
from hoera_events.surveys import AgentAttribute
from hoera_kit.auth import Principal, Role
from hoera_kit.pages import PageView, StaffPages
from hoera_kit.refusals import Refusal
from hoera_kit.sessions import CSRF_FIELD, SignedForm, StaffSession
from pydantic import ValidationError

from hoera_alerts import handlers, store
from hoera_alerts.api import AcknowledgementIn, Uses
from hoera_alerts.domain import team_name
from hoera_alerts.handlers import Deps, TeamDashboard, TrendPoint
from hoera_alerts.live import LiveHub

KEEP_ALIVE_S = 15.0

# Pages are not part of the OpenAPI document: they take a session cookie, not a bearer token, and
# answer HTML; GET /teams/{team_id}/dashboard is the documented JSON twin.
router = APIRouter(tags=["dashboard"], include_in_schema=False)
PAGES = StaffPages(
    service="alerts", directory=Path(__file__).parent / "pages", roles=(Role.supervisor,), home="/dashboard"
)
SESSIONS = PAGES.sessions
router.include_router(PAGES.router())

SupervisorPage = Annotated[StaffSession, Depends(SESSIONS.page)]
SupervisorForm = Annotated[SignedForm, Depends(SESSIONS.form)]
SupervisorStream = Annotated[StaffSession, Depends(SESSIONS.stream)]
Lang = Annotated[str | None, Query(pattern="^(nl|fr|en)$", description="page language")]


def hub_of(request: Request) -> LiveHub[TeamDashboard]:
    hub: LiveHub[TeamDashboard] = request.app.state.live
    return hub


Hub = Annotated[LiveHub[TeamDashboard], Depends(hub_of)]


# --- rendering ------------------------------------------------------------------------------------------


@dataclass
class Chart:
    title: str
    width: int = 560
    height: int = 170
    left: int = 34
    grid: list[dict[str, Any]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    points: list[dict[str, Any]] = field(default_factory=list)
    ticks: list[dict[str, Any]] = field(default_factory=list)


def chart(
    title: str, days: list[str], values: list[float | None], low: float, high: float, grid: list[float]
) -> Chart:
    """An inline SVG line per run of days with answers; a day without answers leaves a gap."""
    c = Chart(title=title)
    top, bottom = 8.0, c.height - 18.0
    step = (c.width - c.left - 12) / max(1, len(days) - 1)

    def x(i: int) -> float:
        return round(c.left + 6 + i * step, 1)

    def y(v: float) -> float:
        return round(top + (high - v) / (high - low) * (bottom - top), 1)

    c.grid = [{"y": y(g), "label": f"{g:g}"} for g in grid]
    run: list[str] = []
    for i, (day, v) in enumerate(zip(days, values, strict=True)):
        if v is None:
            if len(run) > 1:
                c.lines.append(" ".join(run))
            run = []
            continue
        run.append(f"{x(i)},{y(v)}")
        c.points.append({"x": x(i), "y": y(v), "label": f"{day}: {v:g}"})
    if len(run) > 1:
        c.lines.append(" ".join(run))
    every = max(1, len(days) // 7)
    last = len(days) - 1
    c.ticks = [
        {
            "x": x(i),
            "label": date.fromisoformat(d).strftime("%d/%m"),
            "anchor": "start" if i == 0 else "end" if i == last else "middle",
        }
        for i, d in enumerate(days)
        if (i % every == 0 and last - i >= every / 2) or i == last
    ]
    return c


def charts(d: TeamDashboard, t: dict[str, Any]) -> list[Chart]:
    days = [p.day for p in d.trend]

    def of(pick: Callable[[TrendPoint], float | None]) -> list[float | None]:
        return [pick(p) for p in d.trend]

    return [
        chart(t["trend_csat"], days, of(lambda p: p.csat), 0, 10, [0, 5, 10]),
        chart(t["trend_nps"], days, of(lambda p: p.nps), -100, 100, [-100, 0, 100]),
    ]


class Page(PageView):
    """A dashboard page: the kit's view with links that keep the language (and never a token) and
    the figures in the page's words."""

    def __init__(self, request: Request, lang: str | None, *, session: StaffSession) -> None:
        super().__init__(PAGES, request, session, lang)

    @classmethod
    def of(cls, request: Request, deps: Deps, session: StaffSession, lang: str | None) -> Page:
        return cls(request, lang, session=session)

    def query(self, **overrides: str) -> str:
        params = {"lang": self.lang, **overrides}
        return urlencode({k: v for k, v in params.items() if v})

    def local(self, moment: datetime | None) -> str:
        return self.when(moment) if moment else ""

    def reading(self, reading: dict[str, Any]) -> str:
        text: str = self.t["reading"]
        return (
            text.replace("{value}", f"{reading['value']:.1f}")
            .replace("{n}", str(reading["sample_size"]))
            .replace("{threshold}", f"{reading['threshold']:.1f}")
        )

    @property
    def feedback(self) -> Feedback:
        """The tenant's reasons and comment topics, whose labels the pages show (R22)."""
        deps: Deps = self.request.app.state.deps
        return deps.tenants.organisation(self.session.principal.tenant).feedback

    def reason_label(self, code: str | None) -> str:
        """A reason in the page's language; the code of a reason since removed; "" for none."""
        return (self.feedback.reason_label(code, self.lang) or "") if code else ""

    def topic_label(self, code: str) -> str:
        return self.feedback.topic_label(code, self.lang)

    def case_page(self, case_id: uuid.UUID | str | None) -> str | None:
        """R29: the recovery case's page, which the callback service serves (None where not reached)."""
        return self.elsewhere("callback", f"/recovery/cases/{case_id}") if case_id else None

    def context(self) -> dict[str, Any]:
        return {
            **super().context(),
            "query": self.query,
            "local": self.local,
            "reading": self.reading,
            "number": _number,
            "percent": _percent,
            "callbacks": lambda team_id: self.elsewhere("callback", "/agent", team=team_id),
            "reason_label": self.reason_label,
            "topic_label": self.topic_label,
            "case_page": self.case_page,
            "csrf_field": CSRF_FIELD,
            "csrf": self.session.csrf,
        }

    def live(self, d: TeamDashboard) -> str:
        """The live part alone, as the stream sends it."""
        template = PAGES.environment.get_template("_live.html")
        return template.render(
            {**self.context(), "lang": self.lang, "t": self.t, "d": d, "charts": charts(d, self.t)}
        )


def _number(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}%"


def teams_of(principal: Principal, org: Organisation) -> list[dict[str, str]]:
    return [{"id": team, "name": team_name(org, team)} for team in handlers.led_teams(principal, None)]


def _sse(event: str, data: str) -> str:
    lines = data.splitlines() or [""]
    return f"event: {event}\n" + "".join(f"data: {line}\n" for line in lines) + "\n"


# --- routes -----------------------------------------------------------------------------------------------


@router.get("/dashboard", summary="The teams I lead", response_class=HTMLResponse)
async def teams_page(request: Request, session: SupervisorPage, deps: Uses, lang: Lang = None) -> Response:
    page = Page.of(request, deps, session, lang)
    teams = teams_of(session.principal, deps.tenants.organisation(session.principal.tenant))
    if len(teams) == 1:
        return RedirectResponse(f"/dashboard/teams/{teams[0]['id']}?{page.query()}", status_code=303)
    return page.render("teams.html", teams=teams)


@router.get(
    "/dashboard/teams/{team_id}", summary="A team's live dashboard (R25)", response_class=HTMLResponse
)
async def team_page(
    request: Request, team_id: str, session: SupervisorPage, deps: Uses, lang: Lang = None
) -> HTMLResponse:
    principal = session.principal
    handlers.led_teams(principal, team_id)
    d = await handlers.team_dashboard(deps, principal.tenant, team_id)
    page = Page.of(request, deps, session, lang)
    stream_url = f"/dashboard/teams/{team_id}/stream?{page.query()}"
    return page.render(
        "dashboard.html",
        d=d,
        charts=charts(d, page.t),
        teams=teams_of(principal, deps.tenants.organisation(principal.tenant)),
        stream_url=stream_url,
    )


@router.get(
    "/dashboard/teams/{team_id}/stream",
    summary="Server-sent events: the team's dashboard, re-rendered whenever it changes",
    response_class=StreamingResponse,
)
async def team_stream(
    request: Request, team_id: str, session: SupervisorStream, deps: Uses, hub: Hub, lang: Lang = None
) -> StreamingResponse:
    principal = session.principal
    handlers.led_teams(principal, team_id)  # 404 before a single byte of the team is sent
    page = Page.of(request, deps, session, lang)
    tenant = principal.tenant
    # The stream ends with the session's token at the latest; the browser's reconnection is then
    # refused (401), and the page sends the supervisor to sign in again.
    max_s = min(deps.settings.live_stream_max_s, (session.expires_at - datetime.now(UTC)).total_seconds())

    async def events() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        ends = loop.time() + max_s
        yield "retry: 1000\n\n"
        async with hub.subscribe(tenant, team_id) as stream:
            # The current state first: whatever changed while the browser reconnected is in it.
            yield _sse("update", page.live(await handlers.team_dashboard(deps, tenant, team_id)))
            quiet = 0.0
            while loop.time() < ends and not stream.ended:
                d = await stream.next(timeout=1.0)
                if d is None:
                    quiet += 1.0
                    if quiet >= KEEP_ALIVE_S and not stream.ended:
                        quiet = 0.0
                        yield ": keep-alive\n\n"
                    continue
                quiet = 0.0
                yield _sse("update", page.live(d))

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.get(
    "/dashboard/alerts/{alert_id}",
    summary="One alert, with the form to record what was done",
    response_class=HTMLResponse,
)
async def alert_page(
    request: Request, alert_id: uuid.UUID, session: SupervisorPage, deps: Uses, lang: Lang = None
) -> HTMLResponse:
    return await _alert_page(request, deps, session, alert_id, lang)


@router.post(
    "/dashboard/alerts/{alert_id}/acknowledgement",
    summary="Record what I did about an alert, from its page (R23)",
    response_class=HTMLResponse,
)
async def acknowledge_from_page(
    request: Request, alert_id: uuid.UUID, posted: SupervisorForm, deps: Uses
) -> Response:
    """The form's answer: back to the alert's page (303), or the page again with what was wrong."""
    form = posted.form
    lang = form.get("lang")
    entered = {
        k: v for k in ("action", "root_cause_department", "note") if (v := (form.get(k) or "").strip())
    }
    try:
        body = AcknowledgementIn.model_validate(entered)
    except ValidationError as exc:
        field = str(exc.errors()[0]["loc"][0]) if exc.errors() and exc.errors()[0]["loc"] else None
        return await _alert_page(
            request, deps, posted.session, alert_id, lang, error=_refusal_key(422, field), entered=entered
        )
    try:
        await handlers.acknowledge(
            deps, posted.principal, alert_id, body.action, body.note, body.root_cause_department
        )
    except Refusal as exc:
        if exc.status in (403, 404):
            raise  # as on the page itself: nothing of another team's alert is shown
        return await _alert_page(
            request,
            deps,
            posted.session,
            alert_id,
            lang,
            error=_refusal_key(exc.status, exc.field),
            entered=entered,
        )
    page = Page(request, lang, session=posted.session)
    return page.redirect(f"/dashboard/alerts/{alert_id}")


def _refusal_key(status: int, field: str | None) -> tuple[str, int]:
    """The text that says what was wrong, in the page's language, and the status to answer with."""
    if status == 409:
        return "ack_conflict", 409
    if field == "root_cause_department":
        return "ack_department", 422
    return "ack_invalid", 422


async def _alert_page(
    request: Request,
    deps: Deps,
    session: StaffSession,
    alert_id: uuid.UUID,
    lang: str | None,
    *,
    error: tuple[str, int] | None = None,
    entered: dict[str, str] | None = None,
) -> HTMLResponse:
    view = await handlers.read_alert(deps, session.principal, alert_id)
    alert = view.alert
    page = Page.of(request, deps, session, lang)
    org = deps.tenants.organisation(session.principal.tenant)
    return page.render(
        "alert.html",
        status_code=error[1] if error else 200,
        a=alert,
        team_name=team_name(org, alert.team_id),
        recipients=view.recipients,
        scores=_scores(alert),
        topics=(alert.details.get("answer") or {}).get("topics") or [],
        due_at=_moment(alert.details.get("values", {}).get("due_at")),
        error=page.t[error[0]] if error else None,
        entered=entered or {},
    )


def _moment(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _scores(alert: store.StoredAlert) -> list[tuple[str, int, int, bool]]:
    answer = alert.details.get("answer") or {}
    unhappy = {f["question"] for f in alert.details.get("findings", [])}
    out = [
        (q, answer[q], 10 if q == "nps" else 5, q in unhappy)
        for q in ("satisfaction", "effort", "nps")
        if answer.get(q) is not None
    ]
    attributes = answer.get("attributes") or {}
    out += [
        (a.value, attributes[a.value], 5, a.value in unhappy)
        for a in AgentAttribute
        if attributes.get(a.value) is not None
    ]
    return out
