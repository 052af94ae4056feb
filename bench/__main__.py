"""`make bench`: ceilings first, then the kit's paths and each service's main path, as ratios.

Sizes scale with HOERA_BENCH_SCALE (default 1.0); results go to bench/results/latest.json.
"""

from __future__ import annotations

import asyncio
import os
import sys
from types import ModuleType

from bench import ceilings, kit_paths, system_e2e
from bench.common import Report, quiet_logs


def main() -> int:
    scale = float(os.environ.get("HOERA_BENCH_SCALE", "1.0"))

    def n(base: int) -> int:
        return max(100, int(base * scale))

    report = Report()
    quiet_logs()
    try:
        from hoera_local import ready
        from hoera_local.config import load

        cfg = load()
        if not asyncio.run(ready.kafka_ready(cfg.kafka_bootstrap)):
            print(
                f"no Kafka broker reachable at {cfg.kafka_bootstrap}: start it (make up)",
                file=sys.stderr,
            )
            return 2
        if not asyncio.run(ready.pg_ready(cfg)):
            print(f"no PostgreSQL reachable at {cfg.pg_host}:{cfg.pg_port}", file=sys.stderr)
            return 2
        print("ceilings")
        ceilings.broker_alone(report, n(200_000))
        topic = asyncio.run(ceilings.raw_produce(report, n(100_000)))
        asyncio.run(ceilings.raw_consume(report, topic, n(100_000)))
        asyncio.run(ceilings.raw_inserts(report, n(50_000)))
        print("kit")
        kit_paths.run(report, scale)
        for module in _service_benches():
            print(module.__name__)
            module.run(report, scale)
        print("end to end: intake, survey and alerts under an open-loop load")
        system_e2e.run(report, scale)
    finally:
        path = report.write()
        print(f"figures written to {path}")
    return 0


def _service_benches() -> list[ModuleType]:
    import importlib
    import pkgutil

    import bench

    found = []
    for info in pkgutil.iter_modules(bench.__path__):
        if info.name.startswith("service_"):
            found.append(importlib.import_module(f"bench.{info.name}"))
    return found


if __name__ == "__main__":
    sys.exit(main())
