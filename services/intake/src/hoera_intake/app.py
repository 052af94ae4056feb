"""The composition root: the kit's Service with intake's routes, consumers, timers and hooks."""

from __future__ import annotations

from pathlib import Path

from fastapi import Request
from fastapi.responses import JSONResponse
from hoera_kit.directory import directory_from_settings
from hoera_kit.service import Service

from hoera_intake import api, consumers
from hoera_intake.domain import RuleViolation
from hoera_intake.handlers import SLA_TIMER, Intake
from hoera_intake.notices import DirectoryUnavailable
from hoera_intake.settings import IntakeSettings

DESCRIPTION = """The central complaint dossier (R1): acknowledgement with a promised date (R2), SLA
timers that remind, escalate and report breaches (R3, R4), the full timeline, step durations (R6),
root causes (R7), first-contact resolution (R9), deceased customers (R10), and the rules operators
change without a release (R8)."""


def create_app(settings: IntakeSettings | None = None) -> Service[IntakeSettings]:
    s = settings or IntakeSettings()
    svc = Service(
        s,
        title="Hoera intake",
        description=DESCRIPTION,
        migrations_dir=Path(__file__).parents[2] / "migrations",
    )
    intake = Intake(svc, directory_from_settings(s), s.base_url)
    svc.api.state.intake = intake
    svc.api.include_router(api.router)
    if s.consumers_enabled:
        consumers.register(svc, intake)
    svc.timer(SLA_TIMER)(intake.on_sla_timer)
    svc.on_delivery_state(intake.on_delivery)

    @svc.api.exception_handler(RuleViolation)
    async def _refused(request: Request, exc: RuleViolation) -> JSONResponse:
        body = {"detail": exc.message, **({"field": exc.field} if exc.field else {})}
        return JSONResponse(body, status_code=422 if exc.invalid else 409)

    @svc.api.exception_handler(DirectoryUnavailable)
    async def _directory_down(request: Request, exc: DirectoryUnavailable) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": "5"})

    return svc
