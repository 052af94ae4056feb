"""The intake image, built from deploy/images/Containerfile and run as a chroot of its root filesystem
(deploy/images/run.py): what it holds, how it runs, and that it serves against the local stack.

Not part of `make test` by default (marker `images`): it needs root, buildah and mmdebstrap, and builds
the image first (about a minute). `make images-test` shows the same against the local stack by hand.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.images, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "deploy" / "images"
UV = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
UNPRIVILEGED = 10001


def image_name(service: str) -> str:
    prefix = os.environ.get("HOERA_IMAGE_PREFIX", "localhost/hoera")
    return f"{prefix}/{service}:{os.environ.get('HOERA_IMAGE_TAG', 'latest')}"


def in_image(image: str, code: str) -> subprocess.CompletedProcess[str]:
    """Python code run inside the image, as the image's user on its read-only root."""
    return subprocess.run(
        [sys.executable, str(IMAGES / "run.py"), image, "--", "python", "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def intake_image() -> str:
    if os.geteuid() != 0 or not (shutil.which("buildah") and shutil.which("mmdebstrap")):
        pytest.skip("needs root, buildah and mmdebstrap (make images-deps)")
    env = {**os.environ, "UV": UV}
    base = subprocess.run(
        [
            "bash",
            "-c",
            '. "$0" && buildah inspect --type image "$HOERA_BASE_IMAGE"',
            str(IMAGES / "common.sh"),
        ],
        capture_output=True,
        env=env,
    )
    if base.returncode != 0:
        subprocess.run(["bash", str(IMAGES / "base.sh")], check=True, env=env)
    built = subprocess.run(
        ["bash", str(IMAGES / "build.sh"), "intake"], capture_output=True, text=True, env=env, timeout=900
    )
    assert built.returncode == 0, built.stderr
    return built.stdout.strip()


def test_the_intake_image_runs_as_an_unprivileged_user_on_a_read_only_root(intake_image: str) -> None:
    done = in_image(
        intake_image,
        "import json, os\n"
        "def writable(path):\n"
        "    try:\n"
        "        open(path, 'w').close()\n"
        "        return True\n"
        "    except OSError:\n"
        "        return False\n"
        "print(json.dumps({'uid': os.getuid(), 'cwd': os.getcwd(),\n"
        "    'app': writable('/app/x'), 'venv': writable('/opt/hoera/x'), 'tmp': writable('/tmp/x')}))",
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen == {"uid": UNPRIVILEGED, "cwd": "/app", "app": False, "venv": False, "tmp": True}


def test_the_intake_image_holds_no_development_packages(intake_image: str) -> None:
    done = in_image(
        intake_image,
        "import importlib.util as u\n"
        "print(' '.join(m for m in ('pytest', 'hoera_devkit', 'aiosmtpd', 'hypothesis', 'pip', 'hatchling')"
        " if u.find_spec(m)))",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def test_the_intake_image_installs_exactly_the_lock_files_versions(intake_image: str) -> None:
    exported = subprocess.run(
        [
            UV,
            "export",
            "--frozen",
            "--no-dev",
            "--package",
            "hoera-intake",
            "--no-emit-workspace",
            "--no-hashes",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout
    locked = {
        m.group(1).lower().replace("_", "-"): m.group(2)
        for m in re.finditer(r"^([A-Za-z0-9_.-]+)==([^\s;]+)", exported, re.MULTILINE)
    }
    done = in_image(
        intake_image,
        "import importlib.metadata as m, json\n"
        "names = {d.metadata['Name'].lower().replace('_', '-'): d.version for d in m.distributions()}\n"
        "print(json.dumps(names))",
    )
    assert done.returncode == 0, done.stderr
    installed: dict[str, str] = json.loads(done.stdout)
    workspace = {"hoera-events", "hoera-kit", "hoera-intake"}
    assert {k: v for k, v in installed.items() if k not in workspace} == locked
    assert workspace <= set(installed)


def test_the_intake_image_answers_readyz_against_the_local_stack(intake_image: str) -> None:
    done = subprocess.run(
        [sys.executable, str(IMAGES / "smoke.py"), "intake"],
        capture_output=True,
        text=True,
        timeout=400,
        env={**os.environ, "HOERA_IMAGE_PREFIX": intake_image.rsplit("/", 1)[0]},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^readyz: +200 ", done.stdout, re.MULTILINE), done.stdout
    assert re.search(r"^process: +uid 10001, root filesystem ro$", done.stdout, re.MULTILINE), done.stdout
