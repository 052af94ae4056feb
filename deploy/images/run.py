"""Run a Hoera image on a machine without a container engine: a chroot of the image's root filesystem.

    python3 deploy/images/run.py [--env NAME=VALUE]... IMAGE [-- COMMAND...]

What a container runtime would do, with buildah and util-linux only: buildah makes a working
container of the image and mounts it; in new mount and PID namespaces the root filesystem is made
read-only, with a tmpfs on /tmp, a minimal /dev and a fresh /proc; then the process is started as the
image says (its USER, WORKDIR, Env and CMD, or COMMAND), on the host's network. SIGTERM and SIGINT
reach the process; its exit status is this command's. The working container is removed afterwards.

Needs root (mounts, chroot). Podman does the same in one command where it can run; on this kind of
machine its OCI runtime may not set resource limits, hence this. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SPEC = "HOERA_RUN_SPEC"
DEVICES = ("null", "zero", "full", "random", "urandom")


def buildah_options() -> list[str]:
    """The image store's options, from common.sh: the one place the defaults live."""
    out = subprocess.run(
        ["bash", "-c", '. "$0" && printf "%s" "$HOERA_BUILDAH_OPTS"', str(HERE / "common.sh")],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.split()


def buildah(*args: str) -> str:
    out = subprocess.run(["buildah", *buildah_options(), *args], check=True, capture_output=True, text=True)
    return out.stdout.strip()


def image_config(image: str) -> dict[str, Any]:
    config: dict[str, Any] = json.loads(buildah("inspect", "--type", "image", image))["OCIv1"]["config"]
    return config


def numeric_user(rootfs: Path, user: str) -> tuple[int, int]:
    """USER as uid and gid: numbers as they are, a name looked up in the image's /etc/passwd."""
    name, _, group = (user or "0").partition(":")
    if name.isdigit():
        return int(name), int(group) if group.isdigit() else int(name)
    for line in (rootfs / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return int(fields[2]), int(fields[3])
    raise SystemExit(f"run.py: user {name!r} is not in the image's /etc/passwd")


def assignment(item: str) -> tuple[str, str]:
    name, _, value = item.partition("=")
    return name, value


def mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True)


def enter(spec: dict[str, Any]) -> None:
    """Inside the new namespaces (PID 1 of its own): shape the root filesystem, then become the
    image's process."""
    root = Path(spec["rootfs"])
    mount("--bind", str(root), str(root))
    # Name resolution as a runtime provides it; the files are created in the working container's
    # own layer, never in the image.
    for name in ("hosts", "resolv.conf"):
        target = root / "etc" / name
        if Path("/etc", name).exists():
            target.touch()
            mount("--bind", "-o", "ro", f"/etc/{name}", str(target))
    mount("-t", "tmpfs", "-o", "mode=1777,nosuid,nodev,size=64m", "tmpfs", str(root / "tmp"))
    mount("-t", "tmpfs", "-o", "mode=755,nosuid,size=1m", "tmpfs", str(root / "dev"))
    for device in DEVICES:
        (root / "dev" / device).touch()
        mount("--bind", f"/dev/{device}", str(root / "dev" / device))
    (root / "dev/shm").mkdir()
    mount("-t", "tmpfs", "-o", "mode=1777,nosuid,nodev,size=16m", "tmpfs", str(root / "dev/shm"))
    (root / "dev/fd").symlink_to("/proc/self/fd")
    mount("-t", "proc", "-o", "nosuid,nodev,noexec", "proc", str(root / "proc"))
    mount("-o", "remount,bind,ro", str(root))

    os.chroot(root)
    os.chdir(spec["workdir"] or "/")
    os.setgroups([])
    os.setgid(spec["gid"])
    os.setuid(spec["uid"])
    env: dict[str, str] = spec["env"]
    argv: list[str] = spec["argv"]
    program = shutil.which(argv[0], path=env.get("PATH", "/usr/bin:/bin")) or argv[0]
    os.execve(program, argv, env)


def child_of(pid: int) -> int | None:
    """The process unshare forked into the new PID namespace (seen from here)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def run(image: str, overrides: list[str], command: list[str]) -> int:
    config = image_config(image)
    container = buildah("from", "--pull=never", "--quiet", "--name", f"hoera-run-{os.getpid()}", image)
    try:
        rootfs = Path(buildah("mount", container))
        env = dict(assignment(item) for item in [*(config.get("Env") or []), *overrides])
        argv = command or [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])]
        if not argv:
            raise SystemExit("run.py: the image names no command; give one after --")
        uid, gid = numeric_user(rootfs, config.get("User", ""))
        env.setdefault("HOME", "/nonexistent" if uid else "/root")
        spec = {
            "rootfs": str(rootfs),
            "workdir": config.get("WorkingDir", "/"),
            "uid": uid,
            "gid": gid,
            "env": env,
            "argv": argv,
        }
        unshare = subprocess.Popen(
            [
                "unshare",
                "--mount",
                "--pid",
                "--fork",
                "--propagation",
                "private",
                "--kill-child",
                sys.executable,
                str(Path(__file__).resolve()),
                "--enter",
            ],
            env={**os.environ, SPEC: json.dumps(spec)},
        )

        def forward(signum: int, _frame: object) -> None:
            # The image's process is PID 1 of its namespace: it gets the signals it handles.
            target = child_of(unshare.pid)
            os.kill(target or unshare.pid, signum)

        signal.signal(signal.SIGTERM, forward)
        signal.signal(signal.SIGINT, forward)
        return unshare.wait()
    finally:
        for attempt in range(5):
            try:
                buildah("rm", container)
                break
            except subprocess.CalledProcessError:
                time.sleep(0.5 * (attempt + 1))


def main() -> int:
    if sys.argv[1:] == ["--enter"]:
        enter(json.loads(os.environ[SPEC]))
        return 127  # execve does not return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--env", "-e", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("image")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if os.geteuid() != 0:
        raise SystemExit("run.py needs root: it mounts and chroots")
    return run(args.image, args.env, command)


if __name__ == "__main__":
    sys.exit(main())
