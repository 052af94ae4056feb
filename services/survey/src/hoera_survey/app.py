"""The composition root of the survey service (R10, R17-R22, R30)."""

from __future__ import annotations

from pathlib import Path

from hoera_kit import privacy as personal_data
from hoera_kit import retention
from hoera_kit.db import Conn
from hoera_kit.service import Service
from hoera_kit.timers import Timer

from hoera_survey import api, consumers, handlers, internal, privacy, rules, survey_page
from hoera_survey.handlers import Deps
from hoera_survey.settings import SurveySettings

DESCRIPTION = (
    "Smiley surveys right after a contact, within one contact budget per customer, behind signed "
    "single-use links; response rates, CSAT, NPS and CES. Every organisation (tenant) has its own "
    "rules, texts, calendar and link keys."
)


def create_app(settings: SurveySettings | None = None) -> Service[SurveySettings]:
    s = settings or SurveySettings()
    svc = Service(
        s,
        title="Hoera survey",
        description=DESCRIPTION,
        migrations_dir=Path(__file__).parents[2] / "migrations",
    )
    rules.declare(svc.rule_book(rules.TEMPLATES))
    deps = Deps(svc)
    svc.api.state.deps = deps
    svc.api.include_router(api.router)
    svc.api.include_router(survey_page.router)
    svc.api.include_router(internal.router)
    personal_data.install(svc, erase=privacy.erase, export=privacy.export, consume=s.survey_run_consumers)
    retention.install(svc, purges=[privacy.purge_comments])
    if s.survey_run_consumers:
        consumers.register(svc, deps)

    @svc.timer(handlers.INVITE_TIMER)
    async def invitation_due(conn: Conn, timer: Timer) -> None:
        await handlers.invitation_due(deps, conn, timer)

    return svc
