"""The contract suites' system: the five services as processes on fresh databases, once per module
(tests/conftest.py's `running_system`), and the OpenAPI document each one serves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hoera_devkit.testing import define_tenant

from tests.conftest import SERVICES, System, running_system


@pytest.fixture(scope="module")
async def system(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[System]:
    """A module may set SYSTEM_ENV (e.g. to keep its mail away from the shared sink) and SYSTEM_TENANTS
    (tenants of its own, defined before the services start, beside "demo" and "acme")."""
    env: dict[str, str] = getattr(request.module, "SYSTEM_ENV", {})
    for tenant in getattr(request.module, "SYSTEM_TENANTS", ()):
        await define_tenant(tenant)
    async with running_system(Path(tmp_path_factory.mktemp("contract-logs")), extra_env=env) as running:
        yield running


@pytest.fixture(scope="module")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
async def urls(system: System) -> dict[str, str]:
    return {s: system.url(s) for s in SERVICES}


@pytest.fixture(scope="module")
async def documents(urls: dict[str, str], http: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """GET /openapi.json of each running service."""
    found = {}
    for service, url in urls.items():
        resp = await http.get(f"{url}/openapi.json")
        assert resp.status_code == 200, f"{service} /openapi.json: {resp.status_code}"
        found[service] = resp.json()
    return found


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from .report import LINES

    if LINES:
        terminalreporter.section("contract suites")
        for line in LINES:
            terminalreporter.write_line(line)
