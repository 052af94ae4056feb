"""Run the probe service as real OS processes (so tests can SIGKILL and restart them)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

PROBE = Path(__file__).parent / "probe_app.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ProbeProcess:
    dsn: str
    topic: str
    instance: int = 1
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, log_dir: Path, **env: str) -> ProbeProcess:
        self.log_path = log_dir / f"probe-{self.instance}-{self.port}.log"
        full_env = {
            **os.environ,
            "HOERA_DATABASE_URL": self.dsn,
            "HOERA_HTTP_PORT": str(self.port),
            "HOERA_PROBE_TOPIC": self.topic,
            "HOERA_PROBE_INSTANCE": str(self.instance),
            "HOERA_ENVIRONMENT": "test",
            "HOERA_OUTBOX_POLL_INTERVAL_S": "0.2",
            "HOERA_TIMER_POLL_INTERVAL_S": "0.2",
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
            **env,
        }
        self.proc = subprocess.Popen(
            [sys.executable, str(PROBE)],
            env=full_env,
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
        )
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"probe exited with {self.proc.returncode}: {self.log()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"probe not ready: {self.log()}")

    def log(self) -> str:
        return self.log_path.read_text()[-3000:] if self.log_path and self.log_path.exists() else ""

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
