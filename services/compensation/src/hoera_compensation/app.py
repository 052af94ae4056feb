"""The composition root: settings, the kit's Service, the rule book, routes, consumers and the
approval timer, with the one `Deps` every handler takes."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from hoera_kit import privacy as personal_data
from hoera_kit import retention
from hoera_kit.deps import Clock
from hoera_kit.service import Service

from hoera_compensation import api, consumers, handlers, privacy, rules, web
from hoera_compensation.settings import CompensationSettings

MIGRATIONS = Path(__file__).parents[2] / "migrations"

TAGS = [
    {"name": "catalogue", "description": "R13: the catalogue of the most common complaints"},
    {"name": "complaints", "description": "R11-R12: apology, damage and proposal, per complaint"},
    {"name": "approvals", "description": "R14: above the mandate an approver decides"},
    {"name": "abuse watch", "description": "R15: customers who keep receiving financial compensation"},
    {"name": "ledger", "description": "R16: what compensation costs"},
    {
        "name": "rules",
        "description": "R8: the organisation's rule documents, read (changed under /admin/rules)",
    },
]


def create_app(
    settings: CompensationSettings | None = None, *, clock: Clock | None = None
) -> Service[CompensationSettings]:
    s = settings or CompensationSettings()
    svc = Service(
        s,
        title="Hoera compensation",
        description="Apology first, a proposal from the catalogue, the agent's mandate with approval "
        "above it, the abuse watch and the cost ledger (R11-R16), per organisation.",
        migrations_dir=MIGRATIONS,
        openapi_tags=TAGS,
    )
    deps = handlers.Deps(svc, clock=clock)
    svc.api.state.deps = deps
    rules.declare(svc.rule_book(rules.TEMPLATES, pages=web.PAGES.directory))
    svc.api.include_router(api.router)
    svc.api.include_router(web.router)
    personal_data.install(svc, erase=privacy.erase, export=privacy.export)
    retention.install(svc)
    consumers.register(svc, deps)
    svc.timer(handlers.APPROVAL_DEADLINE_TIMER)(partial(handlers.approval_overdue, deps))
    return svc
