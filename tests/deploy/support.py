"""The Helm chart's tools and renderings, for the deploy tests.

The tools (helm, promtool, the operators' CRDs, the manifest validator) come from
deploy/helm/tools/tools.sh, which builds and fetches them once into ~/.cache/hoera/tools and finds them
there on every later run.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "hoera"
TOOLS_SH = ROOT / "deploy" / "helm" / "tools" / "tools.sh"
VALUES_FILES = ("values-small.yaml", "values-platform.yaml")
SERVICES = ("intake", "compensation", "survey", "alerts", "callback")
RELEASE = "hoera"
NAMESPACE = "hoera"
# A first run builds helm and promtool from source (minutes on two cores); later runs take a second.
FIRST_RUN_TIMEOUT_S = 1800


@dataclass(frozen=True)
class Tools:
    helm: Path
    promtool: Path
    validator_python: Path
    validator: Path
    kubernetes_version: str
    crds: tuple[Path, ...]


def find_tools() -> Tools:
    done = subprocess.run(
        ["bash", str(TOOLS_SH)], capture_output=True, text=True, timeout=FIRST_RUN_TIMEOUT_S, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"tools.sh failed ({done.returncode}):\n{done.stderr[-4000:]}")
    found = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    return Tools(
        helm=Path(found["HELM"]),
        promtool=Path(found["PROMTOOL"]),
        validator_python=Path(found["VALIDATOR_PYTHON"]),
        validator=Path(found["VALIDATOR"]),
        kubernetes_version=found["KUBERNETES_VERSION"],
        crds=tuple(Path(p) for p in found["CRDS"].split(":")),
    )


def run(args: list[str | Path], timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=timeout_s, check=False, cwd=ROOT
    )


def helm_template(
    tools: Tools, *values_files: str, extra: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    args: list[str | Path] = [tools.helm, "template", RELEASE, CHART, "--namespace", NAMESPACE]
    for name in values_files:
        args += ["--values", CHART / name]
    return run([*args, *extra])


def documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


@dataclass(frozen=True)
class Rendering:
    """One values file's manifests, rendered and parsed."""

    values_file: str
    path: Path
    docs: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [d for d in self.docs if d["kind"] == kind]

    def one(self, kind: str, name: str) -> dict[str, Any]:
        found = [d for d in self.of_kind(kind) if d["metadata"]["name"] == name]
        assert len(found) == 1, f"{len(found)} {kind} named {name} in {self.values_file}"
        return found[0]

    def of_service(self, kind: str, service: str) -> dict[str, Any]:
        return self.one(kind, f"{RELEASE}-{service}")


def container_env(container: dict[str, Any]) -> dict[str, Any]:
    """name -> value, or name -> valueFrom for those taken from a Secret."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}
