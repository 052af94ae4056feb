"""Pieces every service's table uses."""

from __future__ import annotations

import uuid

from ..matrix import Access, Call

HEALTH = {
    ("GET", "/livez"): Access(public=True, why="liveness: no token, nothing to hide"),
    ("GET", "/readyz"): Access(public=True, why="readiness: no token, nothing to hide"),
}


def idempotency_key(call: Call) -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}
