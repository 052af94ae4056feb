"""Intake's HTTP edges: the platform's, the agents', management's figures, the operators' tenants.
The tenants' administrators change intake's rule documents through the kit's /admin/rules routes, and
subscribe their partners' endpoints to events (webhooks)."""

from fastapi import APIRouter

from hoera_intake.api import dossiers, figures, platform, privacy, tenants, webhooks

router = APIRouter()
router.include_router(platform.router)
router.include_router(dossiers.router)
router.include_router(figures.router)
router.include_router(tenants.router)
router.include_router(privacy.router)
router.include_router(webhooks.router)
