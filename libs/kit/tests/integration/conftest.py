"""The kit's integration tests run services that admit events of defined tenants only."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _tenants_defined(test_tenants: tuple[str, ...]) -> tuple[str, ...]:
    return test_tenants
