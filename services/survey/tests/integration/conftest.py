"""Fixtures of the survey service's integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from hoera_kit.testing import ServiceProcess, create_database, drop_database, pg_dsn

from .support import auth, immediate_triggers


@pytest.fixture(scope="module")
async def survey_process() -> AsyncIterator[ServiceProcess]:
    """One survey process per test module, with its own database and no invitation delay."""
    database = await create_database("survey")
    process = ServiceProcess("hoera_survey", env={"HOERA_DATABASE_URL": pg_dsn(database)}).start()
    try:
        await process.wait_ready()
        async with httpx.AsyncClient(base_url=process.url) as http:
            changed = await http.put(
                "/rules/triggers", json=immediate_triggers().model_dump(mode="json"), headers=auth("admin")
            )
            assert changed.status_code == 200, changed.text
        yield process
    finally:
        process.stop()
        await drop_database(database)
