"""The whole system for end-to-end and fault tests: the five services as separate processes, each with its own
fresh database, driven only through their public edges (HTTP and the platform's Kafka topics)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hoera_devkit.testing import (
    TEST_TENANTS,
    ServiceProcess,
    create_database,
    define_tenant,
    drop_database,
    free_port,
    pg_dsn,
)

SERVICES = ("intake", "compensation", "survey", "alerts", "callback")


@dataclass
class System:
    processes: dict[str, ServiceProcess]
    databases: dict[str, str]
    group_prefix: str

    def url(self, service: str) -> str:
        return self.processes[service].url

    def dsn(self, service: str) -> str:
        return pg_dsn(self.databases[service])


def system_env(ports: dict[str, int]) -> dict[str, str]:
    """What every service needs to know about the others (links in e-mails point at them)."""
    return {
        "HOERA_LOG_JSON": "false",
        "HOERA_SURVEY_BASE_URL": f"http://127.0.0.1:{ports['survey']}",
        "HOERA_ALERTS_BASE_URL": f"http://127.0.0.1:{ports['alerts']}",
        "HOERA_CALLBACK_BASE_URL": f"http://127.0.0.1:{ports['callback']}",
        "HOERA_INTAKE_BASE_URL": f"http://127.0.0.1:{ports['intake']}",
        # The staff navigation links every service's pages (hoera_kit.pages).
        "HOERA_STAFF_PAGES": json.dumps({s: f"http://127.0.0.1:{port}" for s, port in ports.items()}),
    }


@asynccontextmanager
async def running_system(log_dir: Path, *, extra_env: dict[str, str] | None = None) -> AsyncIterator[System]:
    """Start the five services as processes on fresh databases; stop them and drop the databases."""
    group_prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    # The tenants are defined on the cluster the services are given (a fault run may bring its own).
    bootstrap = (extra_env or {}).get("HOERA_KAFKA_BOOTSTRAP")
    for tenant, template in zip(TEST_TENANTS, ("nl", "fr"), strict=True):
        await define_tenant(tenant, template=template, bootstrap=bootstrap)
    databases = {s: await create_database(f"e2e_{s}") for s in SERVICES}
    ports = {s: free_port() for s in SERVICES}
    common = system_env(ports)
    processes = {
        s: ServiceProcess(
            f"hoera_{s}",
            port=ports[s],
            log_dir=log_dir,
            group_prefix=group_prefix,
            env={**common, **(extra_env or {}), "HOERA_DATABASE_URL": pg_dsn(databases[s])},
        ).start()
        for s in SERVICES
    }
    try:
        await asyncio.gather(*(p.wait_ready(timeout=120) for p in processes.values()))
        yield System(processes, databases, group_prefix)
    finally:
        for p in processes.values():
            p.stop()
        for db in databases.values():
            await drop_database(db)


def admin_token_headers(tenant: str = "demo") -> dict[str, str]:
    """An administrator of the tenant, as the identity provider would sign them in development."""
    from hoera_devkit.tokens import mint_token
    from hoera_kit.settings import DEV_ISSUER, DEV_SIGNING_SECRET

    token = mint_token(
        subject="admin-ops",
        roles=["admin"],
        tenant=tenant,
        secret=DEV_SIGNING_SECRET,
        issuer=DEV_ISSUER,
        audience="hoera",
    )
    return {"Authorization": f"Bearer {token}"}


async def change_rule(
    http: Any, base_url: str, name: str, edit: Any, *, tenant: str = "demo", reason: str = "test set-up"
) -> dict[str, Any]:
    """Change one of a service's rule documents as an administrator does: read, edit, write with the
    version it was read at (the kit's /admin/rules routes)."""
    headers = admin_token_headers(tenant)
    current = await http.get(f"{base_url}/admin/rules/{name}", headers=headers)
    assert current.status_code == 200, current.text
    body = current.json()
    change = {"document": edit(body["document"]), "expected_version": body["version"], "reason": reason}
    written = await http.put(f"{base_url}/admin/rules/{name}", json=change, headers=headers)
    assert written.status_code == 200, written.text
    result: dict[str, Any] = written.json()
    return result


def _at_once(triggers: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {**rule, "delay_minutes": 0, "send_window": None} if isinstance(rule, dict) else rule
        for name, rule in triggers.items()
    }


async def invitations_at_once(http: Any, survey_url: str, *, tenant: str = "demo") -> None:
    """Survey invitations go out right after a contact, day or night (a test must not wait)."""
    await change_rule(http, survey_url, "triggers", _at_once, tenant=tenant, reason="tests: at once")
