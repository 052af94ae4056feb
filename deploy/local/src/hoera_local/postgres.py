"""PostgreSQL from Debian's packages, its cluster in the project's run folder, started with pg_ctl."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

from hoera_local.config import LocalConfig


def bin_dir() -> Path | None:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
    for cand in reversed(candidates):
        if (Path(cand) / "pg_ctl").exists():
            return Path(cand)
    found = shutil.which("pg_ctl")
    return Path(found).resolve().parent if found else None


def ensure_installed() -> Path:
    found = bin_dir()
    if found:
        return found
    print("PostgreSQL is missing: installing Debian's postgresql package", flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*sudo, "apt-get", "update", "-q"], check=True, env=env)
    subprocess.run([*sudo, "apt-get", "install", "-y", "-q", "postgresql"], check=True, env=env)
    found = bin_dir()
    if not found:
        raise SystemExit("apt-get installed postgresql but no pg_ctl was found")
    return found


def _as_owner() -> list[str]:
    # initdb and postgres refuse to run as root: run them as the postgres user the package created.
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _traversable_by_postgres(path: Path) -> bool:
    if os.geteuid() != 0:
        return True
    probe = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-x", str(path)], capture_output=True)
    return probe.returncode == 0


def data_dir(cfg: LocalConfig) -> Path:
    """The cluster lives in the run folder; where the postgres user cannot reach it (say, a clone
    under /root), it lives under /var/tmp and the run folder holds a link to it."""
    link = cfg.run_dir / "pg"
    if link.is_symlink():
        return link.resolve()
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    if _traversable_by_postgres(cfg.run_dir):
        return link
    import hashlib

    digest = hashlib.sha1(str(cfg.run_dir).encode()).hexdigest()[:12]
    target = Path("/var/tmp/hoera") / digest / "pg"
    target.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(target.parent.parent, 0o755)
    os.chmod(target.parent, 0o755)
    link.symlink_to(target)
    return target


def _chown_to_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(path, pw.pw_uid, pw.pw_gid)


def init_cluster(cfg: LocalConfig, bindir: Path) -> Path:
    pgdata = data_dir(cfg)
    if (pgdata / "PG_VERSION").exists():
        return pgdata
    pgdata.mkdir(parents=True, exist_ok=True)
    os.chmod(pgdata, 0o700)
    _chown_to_postgres(pgdata)
    pwfile = pgdata.parent / ".pgpass-init"
    pwfile.write_text(cfg.pg_password + "\n")
    _chown_to_postgres(pwfile)
    try:
        subprocess.run(
            [
                *_as_owner(),
                str(bindir / "initdb"),
                "-D",
                str(pgdata),
                "-U",
                cfg.pg_user,
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    finally:
        pwfile.unlink(missing_ok=True)
    conf = pgdata / "postgresql.conf"
    with conf.open("a") as fh:
        fh.write(
            "\n# hoera local stack\n"
            f"listen_addresses = '127.0.0.1'\nport = {cfg.pg_port}\n"
            f"unix_socket_directories = '{pgdata}'\n"
            "max_connections = 300\nshared_buffers = 256MB\n"
            "logging_collector = off\nlog_min_messages = warning\n"
        )
    return pgdata


def _pg_ctl(bindir: Path, pgdata: Path, *args: str, log: Path | None = None) -> int:
    # The port is also given on the command line at start, so a cluster made with another port
    # (an older run folder) listens where the settings say.
    cmd = [*_as_owner(), str(bindir / "pg_ctl"), "-D", str(pgdata), *args]
    if log is not None:
        cmd += ["-l", str(log)]
    return subprocess.run(cmd, stdout=subprocess.DEVNULL).returncode


def run_foreground(cfg: LocalConfig) -> None:
    """Start the cluster with pg_ctl, stay in the foreground for the process runner, stop on a signal."""
    bindir = ensure_installed()
    pgdata = init_cluster(cfg, bindir)
    log = pgdata.parent / "postgresql.log"
    if not log.exists():
        log.touch()
    _chown_to_postgres(log)
    if (
        _pg_ctl(bindir, pgdata, "status") != 0
        and _pg_ctl(bindir, pgdata, "start", "-w", "-t", "60", "-o", f"-p {cfg.pg_port}", log=log) != 0
    ):
        raise SystemExit(f"pg_ctl start failed; see {log}")
    print(f"postgresql ready on 127.0.0.1:{cfg.pg_port} (data {pgdata})", flush=True)

    stopping = False

    def _stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while not stopping:
        time.sleep(0.5)
        if _pg_ctl(bindir, pgdata, "status") != 0 and not stopping:
            # Stopped from outside (a fault-injection test, say): wait, it may be started again.
            time.sleep(1.0)
    _pg_ctl(bindir, pgdata, "stop", "-m", "fast", "-w")
    print("postgresql stopped", flush=True)


def pg_ctl_action(cfg: LocalConfig, action: str) -> int:
    """stop/start the cluster from outside the runner (used by fault-injection tests)."""
    bindir = ensure_installed()
    pgdata = data_dir(cfg)
    log = pgdata.parent / "postgresql.log"
    if action == "start":
        return _pg_ctl(bindir, pgdata, "start", "-w", "-t", "60", "-o", f"-p {cfg.pg_port}", log=log)
    return (
        _pg_ctl(bindir, pgdata, action, "-m", "fast", "-w")
        if action == "stop"
        else _pg_ctl(bindir, pgdata, action)
    )
