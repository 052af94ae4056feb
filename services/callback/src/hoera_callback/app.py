"""The composition root: settings, routes, consumers, timers, rules seeding."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from hoera_kit.directory import directory_from_settings
from hoera_kit.service import Service

from hoera_callback import api, consumers, handlers, web
from hoera_callback.handlers import CallbackApp
from hoera_callback.rules import RuleStore
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
            {"name": "rules", "description": "operator data (R8)"},
        ],
    )
    app = CallbackApp(svc=svc, rules=RuleStore(s.rules_dir), directory=directory_from_settings(s))
    svc.api.state.callbacks = app
    svc.api.include_router(api.router)
    svc.api.include_router(web.router)
    consumers.register(app)
    svc.timer(handlers.LEAD_TIME_TIMER)(handlers.lead_time_missed(app))
    svc.timer(handlers.RETRY_TIMER)(handlers.retry_due)

    started = svc.api.router.lifespan_context

    @asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncIterator[None]:
        async with started(api):
            async with svc.pool.acquire() as conn:
                await app.rules.seed(conn)  # R8: the seed file, only into an empty table
            yield

    svc.api.router.lifespan_context = lifespan
    return svc
