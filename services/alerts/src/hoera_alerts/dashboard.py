"""R25: the supervisors' live dashboard and alert pages (server-rendered, nl/fr/en).

A browser's EventSource cannot send an Authorization header, so these GET routes also accept the
bearer token as `?token=` (the kit's allow_query_token); the acknowledgement itself is a JSON POST
with the header. The live stream sends the re-rendered figures and alerts as HTML, so the page
needs no client-side templating. Every route checks that the supervisor leads the team (404
otherwise), the stream included.
"""

from __future__ import annotations

import asyncio
import json
import signal
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from hoera_events.surveys import AgentAttribute
from hoera_kit.auth import Principal, Role, require_roles
from jinja2 import Environment, FileSystemLoader, select_autoescape

from hoera_alerts import handlers, store
from hoera_alerts.api import App, led_teams
from hoera_alerts.domain import Organisation
from hoera_alerts.handlers import TeamDashboard, TrendPoint
from hoera_alerts.live import LiveHub

PAGES = Path(__file__).parent / "pages"
LANGUAGES = ("nl", "fr", "en")
TEXTS: dict[str, dict[str, Any]] = json.loads((PAGES / "texts.json").read_text())
KEEP_ALIVE_S = 15.0

router = APIRouter(tags=["dashboard"])
_env = Environment(loader=FileSystemLoader(PAGES), autoescape=select_autoescape(["html"]), enable_async=False)

LiveSupervisor = Annotated[Principal, Depends(require_roles(Role.supervisor, allow_query_token=True))]
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


class Page:
    """What every template needs: the language's words, links that keep the token and language."""

    def __init__(self, request: Request, principal: Principal, lang: str | None, org: Organisation) -> None:
        self.lang = lang or principal.language or "en"
        if self.lang not in LANGUAGES:
            self.lang = "en"
        self.t = TEXTS[self.lang]
        self.token = request.query_params.get("token")
        self.org = org

    def query(self, **overrides: str) -> str:
        params = {"token": self.token, "lang": self.lang, **overrides}
        return urlencode({k: v for k, v in params.items() if v})

    def local(self, moment: datetime | None) -> str:
        if moment is None:
            return ""
        return moment.astimezone(self.org.zone).strftime("%Y-%m-%d %H:%M")

    def reading(self, reading: dict[str, Any]) -> str:
        text: str = self.t["reading"]
        return (
            text.replace("{value}", f"{reading['value']:.1f}")
            .replace("{n}", str(reading["sample_size"]))
            .replace("{threshold}", f"{reading['threshold']:.1f}")
        )

    def render(self, template: str, **context: Any) -> str:
        return _env.get_template(template).render(
            lang=self.lang,
            t=self.t,
            token=self.token,
            query=self.query,
            local=self.local,
            reading=self.reading,
            number=_number,
            percent=_percent,
            **context,
        )

    def live(self, d: TeamDashboard) -> str:
        return self.render("_live.html", d=d, charts=charts(d, self.t))


def _number(value: float | None, digits: int) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}%"


def _teams(principal: Principal, org: Organisation) -> list[dict[str, str]]:
    out = []
    for team_id in sorted(principal.teams):
        team = org.team(team_id)
        out.append({"id": team_id, "name": team.name if team else team_id})
    return out


def _sse(event: str, data: str) -> str:
    lines = data.splitlines() or [""]
    return f"event: {event}\n" + "".join(f"data: {line}\n" for line in lines) + "\n"


def _server_stopping() -> bool:
    """True once uvicorn began to shut down. It waits for open responses before it stops the app,
    so an open stream must notice by itself; uvicorn's SIGTERM handler is a bound method of its
    Server, whose should_exit says so."""
    server = getattr(signal.getsignal(signal.SIGTERM), "__self__", None)
    return bool(getattr(server, "should_exit", False))


# --- routes -----------------------------------------------------------------------------------------------


@router.get("/dashboard", summary="The teams I lead", response_class=HTMLResponse)
async def teams_page(request: Request, principal: LiveSupervisor, app: App, lang: Lang = None) -> Response:
    async with app.svc.pool.acquire() as conn:
        org = await app.rules.organisation(conn)
    page = Page(request, principal, lang, org)
    teams = _teams(principal, org)
    if len(teams) == 1:
        return RedirectResponse(f"/dashboard/teams/{teams[0]['id']}?{page.query()}", status_code=303)
    return HTMLResponse(page.render("teams.html", teams=teams))


@router.get(
    "/dashboard/teams/{team_id}", summary="A team's live dashboard (R25)", response_class=HTMLResponse
)
async def team_page(
    team_id: str, request: Request, principal: LiveSupervisor, app: App, lang: Lang = None
) -> HTMLResponse:
    led_teams(principal, team_id)
    async with app.svc.pool.acquire() as conn:
        org = await app.rules.organisation(conn)
        d = await handlers.team_dashboard(app, conn, principal.tenant, team_id)
    page = Page(request, principal, lang, org)
    stream_url = f"/dashboard/teams/{team_id}/stream?{page.query()}"
    return HTMLResponse(
        page.render(
            "dashboard.html",
            d=d,
            charts=charts(d, page.t),
            teams=_teams(principal, org),
            stream_url=stream_url,
        ),
        headers={"Cache-Control": "no-store"},
    )


@router.get(
    "/dashboard/teams/{team_id}/stream",
    summary="Server-sent events: the team's dashboard, re-rendered whenever it changes",
    response_class=StreamingResponse,
)
async def team_stream(
    team_id: str, request: Request, principal: LiveSupervisor, app: App, hub: Hub, lang: Lang = None
) -> StreamingResponse:
    led_teams(principal, team_id)  # 404 before a single byte of the team is sent
    async with app.svc.pool.acquire() as conn:
        org = await app.rules.organisation(conn)
    page = Page(request, principal, lang, org)
    tenant = principal.tenant
    max_s = app.settings.live_stream_max_s

    async def events() -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        ends = loop.time() + max_s
        yield "retry: 1000\n\n"
        async with hub.subscribe(tenant, team_id) as queue:
            # The current state first: whatever changed while the browser reconnected is in it.
            async with app.svc.pool.acquire() as conn:
                yield _sse("update", page.live(await handlers.team_dashboard(app, conn, tenant, team_id)))
            quiet = 0.0
            while loop.time() < ends and not _server_stopping():
                try:
                    d = await asyncio.wait_for(queue.get(), timeout=1.0)
                except TimeoutError:
                    quiet += 1.0
                    if quiet >= KEEP_ALIVE_S:
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
    alert_id: uuid.UUID, request: Request, principal: LiveSupervisor, app: App, lang: Lang = None
) -> HTMLResponse:
    async with app.svc.pool.acquire() as conn:
        alert = handlers.visible_alert(principal, await store.get_alert(conn, alert_id))
        recipients = await store.recipients_of(conn, alert_id)
        org = await app.rules.organisation(conn)
    page = Page(request, principal, lang, org)
    team = org.team(alert.team_id)
    return HTMLResponse(
        page.render(
            "alert.html",
            a=alert,
            team_name=team.name if team else alert.team_id,
            recipients=recipients,
            scores=_scores(alert),
        ),
        headers={"Cache-Control": "no-store"},
    )


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
