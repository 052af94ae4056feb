"""/livez (the process answers) and /readyz (database and broker reachable, migrations current)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

Check = Callable[[], Awaitable[bool]]


def health_router(checks: dict[str, Check], *, timeout_s: float = 2.0) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/livez", summary="The process is alive")
    async def livez() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", summary="Database, broker and migrations are ready")
    async def readyz() -> JSONResponse:
        results: dict[str, Any] = {}
        for name, check in checks.items():
            try:
                results[name] = bool(await asyncio.wait_for(check(), timeout_s))
            except Exception as exc:
                results[name] = False
                results[f"{name}_error"] = repr(exc)[:200]
        ok = all(v for k, v in results.items() if not k.endswith("_error"))
        return JSONResponse({"status": "ok" if ok else "unavailable", **results}, 200 if ok else 503)

    @router.get("/metrics", summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router
