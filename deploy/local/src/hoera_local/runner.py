"""Start and stop the local stack under honcho, the Procfile runner.

honcho is small, kept, pure Python, and stops every process it started when one of them dies or when it
is told to stop; the stack is one Procfile, so `make up` shows every process's output in one stream.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from hoera_local import ready
from hoera_local.config import PROJECT_ROOT, LocalConfig

# Where `make up` serves each service (their settings' default HTTP ports).
STAFF_PAGES = {
    service: f"http://127.0.0.1:{port}"
    for service, port in (
        ("intake", 8101),
        ("compensation", 8102),
        ("survey", 8103),
        ("alerts", 8104),
        ("callback", 8105),
    )
}


def _py() -> str:
    return sys.executable


def infra_procfile(cfg: LocalConfig) -> Path:
    lines = []
    if not cfg.kafka_external:
        for node in cfg.kafka_nodes:
            lines.append(f"kafka{node.node_id}: {_py()} -m hoera_local.cli kafka-node {node.node_id}")
    if not cfg.pg_external:
        lines.append(f"postgres: {_py()} -m hoera_local.cli postgres")
    lines.append(f"smtp: {_py()} -m hoera_devkit.smtp_sink")
    if not cfg.keycloak_external:
        # The staff's identity provider. Nothing waits for it at start: only sign-in needs it, and
        # the pages' tests and `make up`'s banner wait for its realms themselves.
        lines.append(f"keycloak: {_py()} -m hoera_local.cli keycloak")
    path = cfg.run_dir / "Procfile.infra"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def _pid_file(cfg: LocalConfig, name: str) -> Path:
    return cfg.run_dir / f"{name}.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def running_pid(cfg: LocalConfig, name: str) -> int | None:
    path = _pid_file(cfg, name)
    if not path.exists():
        return None
    pid = int(path.read_text().strip() or 0)
    if pid and _alive(pid):
        return pid
    path.unlink(missing_ok=True)
    return None


def _env(cfg: LocalConfig) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("HOERA_RUN_DIR", str(cfg.run_dir))
    env["PYTHONUNBUFFERED"] = "1"
    return env


async def _already_up(cfg: LocalConfig) -> bool:
    return await ready.kafka_ready(cfg.kafka_bootstrap) and await ready.pg_ready(cfg)


def start(cfg: LocalConfig) -> bool:
    """Start the infrastructure in the background; True when this call started it."""
    from hoera_local import kafka, keycloak

    if running_pid(cfg, "infra") is None and asyncio.run(_already_up(cfg)):
        print(f"reusing the running Kafka ({cfg.kafka_bootstrap}) and PostgreSQL", flush=True)
        asyncio.run(ready.prepare(cfg))
        return False
    if running_pid(cfg, "infra") is not None:
        asyncio.run(ready.prepare(cfg))
        return False
    if not cfg.kafka_external:
        kafka.fetch(cfg)
    if not cfg.keycloak_external:
        keycloak.fetch(cfg)
    if not cfg.pg_external:
        from hoera_local import postgres

        postgres.ensure_installed()
    cfg.logs_dir.mkdir(parents=True, exist_ok=True)
    procfile = infra_procfile(cfg)
    log = (cfg.logs_dir / "infra.log").open("ab")
    proc = subprocess.Popen(
        [_py(), "-m", "honcho", "-f", str(procfile), "-d", str(PROJECT_ROOT), "start"],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=_env(cfg),
        start_new_session=True,
    )
    _pid_file(cfg, "infra").write_text(str(proc.pid))
    try:
        asyncio.run(ready.prepare(cfg, alive=lambda: proc.poll() is None))
    except BaseException:
        stop(cfg)
        raise
    return True


def stop(cfg: LocalConfig, name: str = "infra", timeout: float = 40) -> bool:
    pid = running_pid(cfg, name)
    if pid is None:
        return False
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
    if _alive(pid):
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    _pid_file(cfg, name).unlink(missing_ok=True)
    print(f"stopped {name}", flush=True)
    return True


def run_with_stack(cfg: LocalConfig, argv: list[str]) -> int:
    """Run a command against the stack; stop afterwards only what this call started."""
    started = start(cfg)
    try:
        env = _env(cfg)
        env.setdefault("HOERA_KAFKA_BOOTSTRAP", cfg.kafka_bootstrap)
        return subprocess.call(argv, env=env)
    finally:
        if started:
            stop(cfg)


def up(cfg: LocalConfig, procfile: Path) -> int:
    """`make up`: infrastructure in the background, then the services in the foreground until Ctrl-C."""
    started = start(cfg)
    env = _env(cfg)
    env.setdefault("HOERA_KAFKA_BOOTSTRAP", cfg.kafka_bootstrap)
    # The staff navigation links every service's pages, at the ports the services listen on by default.
    env.setdefault("HOERA_STAFF_PAGES", json.dumps(STAFF_PAGES))
    if not cfg.keycloak_external:
        from hoera_devkit.tokens import DEMO_TENANTS

        from hoera_local import keycloak

        # The demo organisations' staff sign in at their realm of the local Keycloak.
        env.setdefault("HOERA_OIDC_PROVIDERS", keycloak.providers_setting(cfg, list(DEMO_TENANTS)))
    proc = subprocess.Popen(
        [_py(), "-m", "honcho", "-f", str(procfile), "-d", str(PROJECT_ROOT), "start"],
        env=env,
        start_new_session=True,
    )
    _pid_file(cfg, "services").write_text(str(proc.pid))

    def _forward(signum: int, frame: object) -> None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGINT, _forward)
    signal.signal(signal.SIGTERM, _forward)
    try:
        return proc.wait()
    finally:
        _pid_file(cfg, "services").unlink(missing_ok=True)
        if started:
            stop(cfg)
