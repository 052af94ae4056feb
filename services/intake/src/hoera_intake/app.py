"""The composition root: the kit's Service with intake's rule documents, routes, consumers, timers
and start hook."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from hoera_events.organisation import Organisation
from hoera_kit import privacy as personal_data
from hoera_kit import retention
from hoera_kit.db import Conn
from hoera_kit.deliveries import DeliveryRecord
from hoera_kit.rules import Versioned
from hoera_kit.service import Service
from hoera_kit.timers import Timer
from hoera_kit.webhooks import WebhookTarget

from hoera_intake import api, consumers, customer_data, privacy, rules, workspace
from hoera_intake.handlers import SLA_TIMER, Deps, sla, tenants, timeline, webhooks
from hoera_intake.settings import IntakeSettings

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
DESCRIPTION = """The central complaint dossier (R1): acknowledgement with a promised date (R2), SLA
timers that remind, escalate and report breaches (R3, R4), the full timeline, step durations (R6),
root causes (R7), first-contact resolution (R9), deceased customers (R10), the rules operators
change without a release (R8), and the tenants and their organisations, which every service reads."""


def create_app(settings: IntakeSettings | None = None) -> Service[IntakeSettings]:
    s = settings or IntakeSettings()
    svc = Service(s, title="Hoera intake", description=DESCRIPTION, migrations_dir=MIGRATIONS)
    deps = Deps(svc)
    svc.api.state.deps = deps

    async def organisation_changed(conn: Conn, written: Versioned[Any]) -> None:
        await tenants.publish_organisation(deps, conn, written)

    book = svc.rule_book(rules.TEMPLATES, pages=workspace.PAGES.directory)
    rules.declare(
        book,
        on_organisation_change=organisation_changed,
        on_organisation_committed=partial(tenants.organisation_committed, deps),
    )

    async def promised_now(tenant: str, categories: rules.Categories, language: str) -> list[tuple[str, str]]:
        return rules.promised_dates(deps.calendar(tenant), deps.now(), categories, language)

    async def mailed_today(tenant: str, organisation: Organisation, language: str) -> list[tuple[str, str]]:
        return rules.stand_ins_today(organisation, deps.now(), language)

    book.preview(rules.CATEGORIES.name, promised_now)
    book.preview(rules.ORGANISATION.name, mailed_today)
    svc.api.include_router(api.router)
    svc.api.include_router(workspace.router)
    svc.api.include_router(customer_data.router)
    personal_data.install(svc, erase=privacy.erase, export=privacy.export, consume=s.consumers_enabled)
    retention.install(svc, purges=[privacy.purge_idempotency])
    if s.consumers_enabled:
        consumers.register(svc, deps)

    @svc.timer(SLA_TIMER)
    async def sla_due(conn: Conn, timer: Timer) -> None:
        await sla.on_sla_timer(deps, conn, timer)

    @svc.on_delivery_state
    async def delivered(conn: Conn, record: DeliveryRecord) -> None:
        await timeline.on_delivery(deps, conn, record)

    # Partners' webhooks: signed at send time with the endpoint's secrets; failures counted per endpoint.
    @svc.webhook_targets
    async def webhook_target(record: DeliveryRecord) -> WebhookTarget | None:
        return await webhooks.target(deps, record)

    @svc.on_delivery_state
    async def webhook_attempted(conn: Conn, record: DeliveryRecord) -> None:
        await webhooks.on_delivery(deps, conn, record)

    @svc.on_start
    async def publish_tenants() -> None:
        await tenants.republish_missing(deps)

    return svc
