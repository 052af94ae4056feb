"""Fixtures of the end-to-end journeys: the five services as processes (tests/conftest.py's
`running_system`), set up through their admin APIs, exporting traces over OTLP to a collector run
here; a tap on every topic, the platform's publisher, the mail sink and an HTTP client.

Everything is package-scoped (tests/e2e is a package): the system stops when the journeys end, so
it does not go on consuming, mailing and emitting beside later tests on the shared broker (the
fault runs judge every event on the topics by id and would count this system's reactions too).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from hoera_devkit.testing import TEST_TENANTS, eventually
from hoera_local import config, keycloak

from tests.conftest import SERVICES, System, running_system

from .support import Collector, Mailbox, Publisher, Tap, admin_setup


@pytest.fixture(scope="package")
def collector() -> Iterator[Collector]:
    """Where the services send their spans (OTLP/HTTP), as they would to Jaeger or Tempo."""
    running = Collector().start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="package")
async def tap() -> AsyncIterator[Tap]:
    """Started before the system, so no event of a journey can pass unseen."""
    running = await Tap().start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture(scope="package")
async def system(
    tmp_path_factory: pytest.TempPathFactory, collector: Collector, tap: Tap
) -> AsyncIterator[System]:
    """The lead's system (tests/conftest.py) with OTLP export on (spans leave every 200 ms) and the
    test tenants' staff signing in at the local Keycloak."""
    env = {
        # Staff sign in at their organisation's identity provider: the local stack's Keycloak.
        "HOERA_OIDC_PROVIDERS": keycloak.providers_setting(config.load(), list(TEST_TENANTS)),
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }
    async with running_system(Path(tmp_path_factory.mktemp("e2e-logs")), extra_env=env) as running:
        yield running


@pytest.fixture(scope="package")
async def publisher() -> AsyncIterator[Publisher]:
    running = await Publisher().start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture(scope="package")
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=15) as client:
        yield client


@pytest.fixture(scope="package")
def mailbox() -> Mailbox:
    return Mailbox()


@pytest.fixture(scope="package")
async def urls(system: System, http: httpx.AsyncClient) -> dict[str, str]:
    """The running system's base URLs, once the operator set-up is done (admin APIs only)."""
    found = {s: system.url(s) for s in SERVICES}
    await admin_setup(http, found)
    return found


async def _realm_answers(tenant: str) -> bool:
    url = f"{keycloak.issuer(config.load(), tenant)}/.well-known/openid-configuration"
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            return (await http.get(url)).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.fixture
async def identity_provider() -> str:
    """The demo tenant's realm, once Keycloak (started with the stack, not waited for) serves it."""
    answers = await eventually(lambda: _realm_answers("demo"), bool, timeout=240, interval=1)
    assert answers, "Keycloak did not come up"
    return keycloak.issuer(config.load(), "demo")
