"""Shared pieces of the benchmarks: where the stack is, results table, JSON output."""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from hoera_devkit.testing import define_tenant
from hoera_devkit.tokens import mint_token
from hoera_kit.settings import DEV_ISSUER, DEV_SIGNING_SECRET

RESULTS = Path(__file__).parent / "results"


def bootstrap() -> str:
    return os.environ.get("HOERA_KAFKA_BOOTSTRAP", "127.0.0.1:19092")


def pg_dsn(database: str = "postgres") -> str:
    user = os.environ.get("HOERA_PG_USER", "hoera")
    pw = os.environ.get("HOERA_PG_PASSWORD", "hoera")
    host = os.environ.get("HOERA_PG_HOST", "127.0.0.1")
    port = os.environ.get("HOERA_PG_PORT", "15432")
    return f"postgresql://{user}:{pw}@{host}:{port}/{database}"


@dataclass
class Figure:
    name: str
    value: float
    unit: str
    ceiling: str | None = None
    ratio: float | None = None
    note: str = ""


@dataclass
class Report:
    figures: list[Figure] = field(default_factory=list)
    started: float = field(default_factory=time.time)

    def add(self, fig: Figure) -> Figure:
        self.figures.append(fig)
        ratio = f"{fig.ratio:6.1%} of {fig.ceiling}" if fig.ratio is not None else ""
        print(f"  {fig.name:<58} {fig.value:>12,.1f} {fig.unit:<10} {ratio} {fig.note}", flush=True)
        return fig

    def get(self, name: str) -> Figure | None:
        return next((f for f in self.figures if f.name == name), None)

    def ratio_to(self, fig: Figure, ceiling_name: str) -> Figure:
        ceiling = self.get(ceiling_name)
        if ceiling and ceiling.value:
            fig.ceiling = ceiling_name
            fig.ratio = fig.value / ceiling.value
        return fig

    def write(self) -> Path:
        RESULTS.mkdir(exist_ok=True)
        versions = {}
        for dist in ("faststream", "aiokafka", "asyncpg", "fastapi", "pydantic"):
            try:
                versions[dist] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                pass
        from hoera_local.config import KAFKA_VERSION

        versions["kafka"] = KAFKA_VERSION
        doc: dict[str, Any] = {
            "date": datetime.now(UTC).isoformat(),
            "machine": {"cores": os.cpu_count(), "platform": platform.platform()},
            "python": platform.python_version(),
            "versions": versions,
            "seconds": round(time.time() - self.started, 1),
            "figures": [asdict(f) for f in self.figures],
        }
        path = RESULTS / "latest.json"
        path.write_text(json.dumps(doc, indent=2))
        return path


def quiet_logs() -> None:
    """A benchmark prints figures, not traffic: FastStream logs every batch at INFO, httpx every
    request of the load generator."""
    logging.getLogger("faststream").setLevel(logging.WARNING)
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    logging.getLogger("httpx").setLevel(logging.WARNING)


async def define_bench_tenant(tenant: str) -> None:
    """The bench's own organisation on the tenant topics, as bench/system_e2e.py defines it (the demo
    organisation's teams and people, the test platform's key): services admit events and requests
    only for tenants they know, and read the topics at start, so this comes before a service starts."""
    await define_tenant(tenant, template="nl", bootstrap=bootstrap())


def bearer(tenant: str, *roles: str, teams: tuple[str, ...] = (), subject: str = "bench") -> dict[str, str]:
    """An Authorization header with a development token of one tenant (what the identity provider
    would issue), valid for an hour."""
    token = mint_token(
        subject=subject,
        roles=list(roles),
        teams=teams,
        tenant=tenant,
        secret=DEV_SIGNING_SECRET,
        issuer=DEV_ISSUER,
        audience="hoera",
        ttl_seconds=3600,
    )
    return {"Authorization": f"Bearer {token}"}


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else 0.0


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]
