"""Intake's HTTP edges: the platform's, the agents', management's figures, the operators' rules."""

from fastapi import APIRouter

from hoera_intake.api import admin, dossiers, figures, platform

router = APIRouter()
router.include_router(platform.router)
router.include_router(dossiers.router)
router.include_router(figures.router)
router.include_router(admin.router)
