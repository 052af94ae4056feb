"""Start a service's image against the running local stack, see /readyz answer 200, stop it.

    uv run --frozen python deploy/images/smoke.py [SERVICE]      (make images-test: intake)

The image runs through run.py (a chroot of its root filesystem: read-only, a tmpfs on /tmp, the
image's user, on the host's network) in development mode, against the local Kafka and PostgreSQL
of deploy/local, in a database of its own that is dropped afterwards. It joins consumer groups of
its own that start at the end of each topic, and its mail goes nowhere (an SMTP port nothing
listens on), so it stays out of the way of `make up` and of tests running beside it.

Prints what it saw; exits 0 only if the service became ready, ran as the image's unprivileged user
on a read-only root, passed the image's HEALTHCHECK command and stopped cleanly on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import asyncpg
from hoera_local.config import load

HERE = Path(__file__).resolve().parent
RUN = [sys.executable, str(HERE / "run.py")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def image_name(service: str) -> str:
    prefix = os.environ.get("HOERA_IMAGE_PREFIX", "localhost/hoera")
    return f"{prefix}/{service}:{os.environ.get('HOERA_IMAGE_TAG', 'latest')}"


async def recreate_database(admin_dsn: str, name: str, *, create: bool) -> None:
    conn = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=3) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def innermost(pid: int) -> int:
    """run.py -> unshare -> the image's process: follow the first child down."""
    while True:
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return pid
        if not children:
            return pid
        pid = int(children[0])


def uid_and_root_mount(pid: int) -> tuple[str, str]:
    status = Path(f"/proc/{pid}/status").read_text()
    uid = next(line.split()[1] for line in status.splitlines() if line.startswith("Uid:"))
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4] == "/":
            return uid, fields[5].split(",")[0]
    return uid, "?"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("service", nargs="?", default="intake")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for /readyz")
    args = parser.parse_args()

    cfg = load()
    image = image_name(args.service)
    database = f"hoera_image_smoke_{args.service}"
    port = free_port()
    env = {
        "HOERA_ENVIRONMENT": "development",
        "HOERA_HTTP_PORT": str(port),
        "HOERA_KAFKA_BOOTSTRAP": cfg.kafka_bootstrap,
        "HOERA_DATABASE_URL": cfg.pg_dsn(database),
        "HOERA_CONSUMER_GROUP_PREFIX": "hoera-image-smoke",
        "HOERA_CONSUMER_START": "end",
        "HOERA_SMTP_PORT": str(free_port()),
    }
    log_path = Path(os.environ.get("HOERA_ARTIFACTS", "artifacts")) / "logs" / f"image-{args.service}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)

    asyncio.run(recreate_database(cfg.pg_dsn("postgres"), database, create=True))
    print(f"image:     {image}")
    print(f"against:   kafka {cfg.kafka_bootstrap}, postgresql {cfg.pg_host}:{cfg.pg_port}/{database}")
    started = time.monotonic()
    with log_path.open("wb") as log:
        container = subprocess.Popen(
            [*RUN, *(f"--env={k}={v}" for k, v in env.items()), image], stdout=log, stderr=subprocess.STDOUT
        )
    failures: list[str] = []
    try:
        deadline = started + args.timeout
        code, body = 0, ""
        while time.monotonic() < deadline and container.poll() is None:
            try:
                code, body = get(f"http://127.0.0.1:{port}/readyz")
            except OSError:
                code = 0
            if code == 200:
                break
            time.sleep(0.5)
        ready_after = time.monotonic() - started
        if code != 200:
            failures.append(f"/readyz answered {code or 'nothing'} in {ready_after:.0f} s")
        else:
            print(
                f"readyz:    {code} after {ready_after:.1f} s  {json.dumps(json.loads(body), sort_keys=True)}"
            )

        if container.poll() is None:
            uid, root_mode = uid_and_root_mount(innermost(container.pid))
            print(f"process:   uid {uid}, root filesystem {root_mode}")
            if uid == "0" or root_mode != "ro":
                failures.append(
                    f"expected a non-root user on a read-only root, saw uid {uid} and {root_mode}"
                )
            probe = subprocess.run(
                [
                    *RUN,
                    f"--env=HOERA_HTTP_PORT={port}",
                    image,
                    "--",
                    "python",
                    "/usr/local/lib/hoera/livez.py",
                ],
                capture_output=True,
                text=True,
            )
            print(f"health:    the image's HEALTHCHECK command exited {probe.returncode}")
            if probe.returncode != 0:
                failures.append(f"HEALTHCHECK failed: {probe.stderr.strip()[-300:]}")
    finally:
        if container.poll() is None:
            stopping = time.monotonic()
            container.send_signal(signal.SIGTERM)
            try:
                container.wait(30)
                took = time.monotonic() - stopping
                print(f"stopped:   SIGTERM, exit {container.returncode} after {took:.1f} s")
                if container.returncode != 0:
                    failures.append(f"exit {container.returncode} on SIGTERM")
            except subprocess.TimeoutExpired:
                container.kill()
                container.wait()
                failures.append("did not stop within 30 s of SIGTERM")
        else:
            failures.append(f"the container exited by itself with {container.returncode}")
        asyncio.run(recreate_database(cfg.pg_dsn("postgres"), database, create=False))

    if failures:
        print("FAILED: " + "; ".join(failures))
        print(f"--- last lines of {log_path}")
        print("\n".join(log_path.read_text(errors="replace").splitlines()[-30:]))
        return 1
    print(f"ok:        {image} served /readyz against the local stack (log: {log_path})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
