"""Where the local stack lives and which ports it uses, all overridable by environment variables.

The prefix is HOERA_, the same as the services' settings, so one environment describes one deployment.

Topics get the partition counts of the registry in libs/events (the counts the AsyncAPI document
states). HOERA_KAFKA_PARTITIONS=<n> is an opt-in cap for a small machine: no topic is created with
more than n partitions. It never shrinks a topic that already has more (Kafka cannot).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[4]
KAFKA_VERSION = "4.1.1"
KEYCLOAK_VERSION = "26.5.6"
SERVICES = ("intake", "compensation", "survey", "alerts", "callback")


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _optional_count(name: str) -> int | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise SystemExit(f"{name} must be a whole number of partitions (1 or more), not {raw!r}")
    return int(raw)


@dataclass(frozen=True)
class KafkaNode:
    node_id: int
    broker_port: int
    controller_port: int


@dataclass(frozen=True)
class LocalConfig:
    run_dir: Path
    cache_dir: Path
    kafka_brokers: int
    kafka_port_base: int
    kafka_heap: str
    kafka_external: bool
    kafka_bootstrap_override: str | None
    partition_cap: int | None
    """HOERA_KAFKA_PARTITIONS: the most partitions any topic is created with; None: the registry's."""
    pg_external: bool
    pg_host: str
    pg_port: int
    pg_user: str
    pg_password: str
    smtp_port: int
    smtp_web_port: int
    keycloak_external: bool = False
    """HOERA_KEYCLOAK_EXTERNAL: the staff's identity provider is not the local stack's."""
    keycloak_port: int = 18080
    keycloak_heap: str = "512m"
    extra_databases: tuple[str, ...] = field(default=("hoera_test",))

    @property
    def kafka_nodes(self) -> list[KafkaNode]:
        # Broker ports are base, base+2, base+4...; each controller listens on the next port up.
        return [
            KafkaNode(i + 1, self.kafka_port_base + 2 * i, self.kafka_port_base + 2 * i + 1)
            for i in range(self.kafka_brokers)
        ]

    @property
    def kafka_bootstrap(self) -> str:
        if self.kafka_bootstrap_override:
            return self.kafka_bootstrap_override
        return ",".join(f"127.0.0.1:{n.broker_port}" for n in self.kafka_nodes)

    def partitions_for(self, registered: int) -> int:
        """The partition count to create for a topic the registry sizes at ``registered``."""
        return registered if self.partition_cap is None else min(registered, self.partition_cap)

    @property
    def default_partitions(self) -> int:
        """The broker's num.partitions, for a topic created without a count (automatic creation is
        off, so only a tool that omits the count): the registry's size of a quiet topic."""
        from hoera_events.registry import QUIET

        return self.partitions_for(QUIET)

    @property
    def replication_factor(self) -> int:
        return 3 if self.kafka_brokers >= 3 else 1

    @property
    def kafka_home(self) -> Path:
        return self.cache_dir / f"kafka-{KAFKA_VERSION}"

    @property
    def logs_dir(self) -> Path:
        return self.run_dir / "logs"

    @property
    def databases(self) -> list[str]:
        return [f"hoera_{s}" for s in SERVICES] + list(self.extra_databases)

    def pg_dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{self.pg_user}:{self.pg_password}@{self.pg_host}:{self.pg_port}/{database}"


def load() -> LocalConfig:
    run_dir = Path(_env("HOERA_RUN_DIR", str(PROJECT_ROOT / ".run"))).resolve()
    cache_default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hoera"
    bootstrap = os.environ.get("HOERA_KAFKA_BOOTSTRAP") or None
    return LocalConfig(
        run_dir=run_dir,
        cache_dir=Path(_env("HOERA_CACHE_DIR", str(cache_default))).resolve(),
        kafka_brokers=int(_env("HOERA_KAFKA_BROKERS", "1")),
        kafka_port_base=int(_env("HOERA_KAFKA_PORT_BASE", "19092")),
        kafka_heap=_env("HOERA_KAFKA_HEAP", "512m"),
        kafka_external=_flag("HOERA_KAFKA_EXTERNAL"),
        kafka_bootstrap_override=bootstrap,
        partition_cap=_optional_count("HOERA_KAFKA_PARTITIONS"),
        pg_external=_flag("HOERA_PG_EXTERNAL"),
        pg_host=_env("HOERA_PG_HOST", "127.0.0.1"),
        pg_port=int(_env("HOERA_PG_PORT", "15432")),
        pg_user=_env("HOERA_PG_USER", "hoera"),
        pg_password=_env("HOERA_PG_PASSWORD", "hoera"),
        smtp_port=int(_env("HOERA_SMTP_PORT", "2525")),
        smtp_web_port=int(_env("HOERA_SMTP_WEB_PORT", "8025")),
        keycloak_external=_flag("HOERA_KEYCLOAK_EXTERNAL"),
        keycloak_port=int(_env("HOERA_KEYCLOAK_PORT", "18080")),
        keycloak_heap=_env("HOERA_KEYCLOAK_HEAP", "512m"),
    )
