"""`python -m hoera_compensation` as its own process: migrates, checks its rule templates, serves."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest
from hoera_devkit.testing import ServiceProcess

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from compensation_support import AGENT

pytestmark = pytest.mark.integration


async def test_the_service_starts_as_a_process_and_serves_the_tenant_s_template_catalogue(
    fresh_db: str, test_tenants: tuple[str, ...]
) -> None:
    env = {"HOERA_DATABASE_URL": fresh_db}
    process = ServiceProcess("hoera_compensation", env=env).start()
    try:
        await process.wait_ready()
        async with httpx.AsyncClient(base_url=process.url) as http:
            catalogue = (await http.get("/catalogue", headers=AGENT)).json()
            docs = await http.get("/openapi.json")
        assert len(catalogue) == 12
        assert "/complaints/{complaint_id}/proposals" in docs.json()["paths"]
    finally:
        process.stop()
