"""The composition root: settings, the kit's Service, routes, consumers, the approval timer, and the
operator data seeded at start (R8)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

from fastapi import FastAPI
from hoera_kit.service import Service

from hoera_compensation import api, consumers, handlers, rules
from hoera_compensation.settings import CompensationSettings

MIGRATIONS = Path(__file__).parents[2] / "migrations"

TAGS = [
    {"name": "catalogue", "description": "R13: the catalogue of the most common complaints"},
    {"name": "complaints", "description": "R11-R12: apology, damage and proposal, per complaint"},
    {"name": "approvals", "description": "R14: above the mandate an approver decides"},
    {"name": "abuse watch", "description": "R15: customers who keep receiving financial compensation"},
    {"name": "ledger", "description": "R16: what compensation costs"},
    {"name": "rules", "description": "R8: the operator data, read"},
    {"name": "admin", "description": "R8: the operator data, changed with an audit trail"},
]


def create_app(settings: CompensationSettings | None = None) -> handlers.CompensationService:
    s = settings or CompensationSettings()
    svc = Service(
        s,
        title="Hoera compensation",
        description="Apology first, a proposal from the catalogue, the agent's mandate with approval "
        "above it, the abuse watch and the cost ledger (R11-R16).",
        migrations_dir=MIGRATIONS,
        openapi_tags=TAGS,
    )
    svc.api.include_router(api.router)
    consumers.register(svc)
    svc.timer(handlers.APPROVAL_DEADLINE_TIMER)(partial(handlers.approval_overdue, svc))
    _seed_rules_at_start(svc, s.rules_dir)
    return svc


def _seed_rules_at_start(svc: handlers.CompensationService, rules_dir: Path) -> None:
    """Run the seeding inside the kit's lifespan, once the pool exists, before serving requests."""
    kit_lifespan = svc.api.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with kit_lifespan(app):
            await rules.seed(svc.pool, rules_dir)
            yield

    svc.api.router.lifespan_context = lifespan
