"""The composition root: settings, rule documents, routes, consumers and timers."""

from __future__ import annotations

from pathlib import Path

from hoera_kit import privacy as personal_data
from hoera_kit import retention
from hoera_kit.db import Conn
from hoera_kit.service import Service
from hoera_kit.timers import Timer

from hoera_callback import api, consumers, handlers, privacy, recovery_api, recovery_web, rules, web
from hoera_callback.handlers import Deps
from hoera_callback.settings import CallbackSettings

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def create_app(settings: CallbackSettings | None = None) -> Service[CallbackSettings]:
    s = settings or CallbackSettings()
    svc = Service(
        s,
        title="Hoera callback",
        description="The 'please contact me' queue: context, claims under a lease, outcomes, retries, "
        "churn-risk priority (R26-R29).",
        migrations_dir=MIGRATIONS,
        openapi_tags=[
            {"name": "queue", "description": "callbacks, claims and outcomes"},
            {"name": "figures", "description": "work per agent and team per week"},
            {"name": "recovery", "description": "recovery cases per unhappy customer and their figures"},
            {
                "name": "outer loop",
                "description": "root-cause departments, their figures and improvement actions (R7)",
            },
            {
                "name": "rules",
                "description": "operator data (R8): the queue, priority, triggers and recovery documents",
            },
        ],
    )
    rules.declare(svc.rule_book(rules.TEMPLATES, pages=web.PAGES.directory))
    deps = Deps(svc)
    svc.api.state.deps = deps
    svc.api.include_router(api.router)
    svc.api.include_router(recovery_api.router)
    svc.api.include_router(web.router)
    svc.api.include_router(recovery_web.router)
    personal_data.install(svc, erase=privacy.erase, export=privacy.export)
    retention.install(svc, purges=[privacy.purge_comments])
    consumers.register(svc, deps)

    @svc.timer(handlers.LEAD_TIME_TIMER)
    async def lead_time(conn: Conn, timer: Timer) -> None:
        await handlers.lead_time_missed(deps, conn, timer)

    @svc.timer(handlers.RETRY_TIMER)
    async def retry(conn: Conn, timer: Timer) -> None:
        await handlers.retry_due(deps, conn, timer)

    @svc.timer(handlers.RECOVERY_TIMER)
    async def recovery_due(conn: Conn, timer: Timer) -> None:
        await handlers.recovery.target_missed(deps, conn, timer)

    return svc
