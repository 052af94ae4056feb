"""The composition root of the survey service (R10, R17-R22, R30)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from hoera_kit.db import Conn
from hoera_kit.directory import directory_from_settings
from hoera_kit.service import Service
from hoera_kit.timers import Timer

from hoera_survey import api, consumers, handlers, rules, survey_page
from hoera_survey.handlers import Deps
from hoera_survey.settings import SurveySettings

DESCRIPTION = (
    "Smiley surveys right after a contact, within one contact budget per customer, behind signed "
    "single-use links; response rates, CSAT, NPS and CES."
)


def create_app(settings: SurveySettings | None = None) -> Service[SurveySettings]:
    s = settings or SurveySettings()
    rules.seed_documents(s.survey_rules_dir)  # a broken seed stops the service here, by name
    svc = Service(
        s,
        title="Hoera survey",
        description=DESCRIPTION,
        migrations_dir=Path(__file__).parents[2] / "migrations",
    )
    deps = Deps(svc=svc, settings=s, directory=directory_from_settings(s))
    svc.api.state.deps = deps
    svc.api.include_router(api.router)
    svc.api.include_router(survey_page.router)
    if s.survey_run_consumers:
        consumers.register(svc, deps)

    @svc.timer(handlers.INVITE_TIMER)
    async def invitation_due(conn: Conn, timer: Timer) -> None:
        await handlers.invitation_due(deps, conn, timer)

    _seed_rules_at_start(svc, s)
    return svc


def _seed_rules_at_start(svc: Service[SurveySettings], settings: SurveySettings) -> None:
    """R8: the seed files become the rules' first version when the database has none."""
    started = svc.api.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with started(app):
            async with svc.pool.acquire() as conn, conn.transaction():
                await rules.seed(conn, settings.survey_rules_dir)
            yield

    svc.api.router.lifespan_context = lifespan
