"""The composition root: the kit's Service, the rule documents, the routes, consumers and live hub."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hoera_kit import privacy as personal_data
from hoera_kit import retention
from hoera_kit.loops import wait_any
from hoera_kit.service import Service

from hoera_alerts import api, consumers, dashboard, drill_down, handlers, privacy, rules
from hoera_alerts.handlers import Deps, TeamDashboard
from hoera_alerts.live import LiveHub
from hoera_alerts.settings import AlertsSettings
from hoera_alerts.store import LIVE_CHANNEL

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"

DESCRIPTION = """Every unhappy smiley e-mails the supervisor of the agent's team at once (R23; the deputy
when the supervisor is absent, R3), a team's rolling satisfaction below its level raises one alert until
it recovers (R24), management is informed of new complaints and SLA breaches (R4) and the back office of
abuse flags (R15); supervisors acknowledge alerts and follow their teams live (R25). Each tenant's own
organisation, calendar and rule documents decide."""


def create_app(settings: AlertsSettings | None = None) -> Service[AlertsSettings]:
    s = settings or AlertsSettings()
    svc = Service(
        s,
        title="Hoera alerts",
        description=DESCRIPTION,
        migrations_dir=MIGRATIONS,
        openapi_tags=[
            {"name": "alerts", "description": "alerts of the teams a supervisor leads (R23, R24)"},
            {"name": "dashboard", "description": "the live supervisor dashboard (R25)"},
            {"name": "rules", "description": "the tenant's operator data, for its administrators (R8)"},
        ],
    )
    rules.declare(svc.rule_book(rules.TEMPLATES, pages=dashboard.PAGES.directory))
    deps = Deps(svc)

    async def read_dashboard(tenant: str, team_id: str) -> TeamDashboard:
        return await handlers.team_dashboard(deps, tenant, team_id)

    hub: LiveHub[TeamDashboard] = LiveHub(read_dashboard, debounce_s=s.live_debounce_s)
    svc.notifications.on(LIVE_CHANNEL, hub.on_notify)

    async def end_streams_when_stopping(stop: asyncio.Event) -> None:
        # At SIGTERM already: open streams would otherwise hold uvicorn's shutdown for its grace period.
        await wait_any(stop, None, svc.stopping)
        await hub.close()

    @svc.on_start
    async def follow_the_stop() -> None:
        svc.background.start("live streams", end_streams_when_stopping)

    @svc.on_start
    async def plan_weekly_digests() -> None:
        await handlers.plan_weekly_digests(deps)

    svc.on_stop(hub.close)
    svc.api.state.deps = deps
    svc.api.state.live = hub
    svc.api.include_router(api.router)
    svc.api.include_router(dashboard.router)
    svc.api.include_router(drill_down.router)
    personal_data.install(svc, erase=privacy.erase, export=privacy.export)
    retention.install(svc, purges=[privacy.purge_comments])
    consumers.register(deps)
    return svc
