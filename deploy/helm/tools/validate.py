"""Validate rendered Kubernetes manifests without a cluster.

Core kinds (Deployment, Service, NetworkPolicy...) against the Kubernetes JSON schemas that
kubernetes-validate ships for each Kubernetes version, strictly (an unknown field is an error, as the
API server's strict field validation makes it). Custom resources against the openAPIV3Schema of the
operators' own CRDs (Strimzi, CloudNativePG, KEDA, the Prometheus Operator), made strict the same way.
Names are checked as the API server checks them. CEL rules (x-kubernetes-validations) are not evaluated.

Runs in the validator's own venv (tools.sh installs validate-requirements.txt there):

    python validate.py --kubernetes-version 1.33.0 --crds DIR [--crds DIR ...] rendered.yaml [...]

Prints one line per problem and a summary; exits 1 when anything is wrong.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
# Kinds whose names become DNS labels (a Service's name is a host name; a pod's must fit one too).
LABEL_NAMED = {"Service"}


def strict_schema(node: Any) -> Any:
    """An OpenAPI v3 structural schema as a JSON Schema that refuses unknown fields."""
    if isinstance(node, list):
        return [strict_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: strict_schema(value) for key, value in node.items()}
    if out.pop("x-kubernetes-int-or-string", False):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if out.pop("nullable", False) and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    preserve = out.get("x-kubernetes-preserve-unknown-fields", False)
    if "properties" in out and "additionalProperties" not in out and not preserve:
        out["additionalProperties"] = False
    return out


def load_crds(folders: list[Path]) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> strict schema, for every served version of every CRD in the folders."""
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for folder in folders:
        for path in sorted(folder.glob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                group = doc["spec"]["group"]
                kind = doc["spec"]["names"]["kind"]
                for version in doc["spec"]["versions"]:
                    if not version.get("served", True):
                        continue
                    schema = copy.deepcopy(version["schema"]["openAPIV3Schema"])
                    # metadata is the API server's to check (names below), not the CRD's.
                    schema.setdefault("properties", {})["metadata"] = {"type": "object"}
                    schemas[(f"{group}/{version['name']}", kind)] = strict_schema(schema)
    return schemas


def documents(paths: list[Path]) -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in paths:
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc:
                yield path, doc


def name_problems(doc: dict[str, Any]) -> list[str]:
    name = str(doc.get("metadata", {}).get("name", ""))
    if not name:
        return ["metadata.name is missing"]
    if doc.get("kind") in LABEL_NAMED:
        if len(name) > 63 or not DNS_LABEL.match(name):
            return [f"metadata.name {name!r} is not a DNS label (RFC 1035, at most 63 characters)"]
    elif len(name) > 253 or not DNS_SUBDOMAIN.match(name):
        return [f"metadata.name {name!r} is not a DNS subdomain (RFC 1123, at most 253 characters)"]
    return []


def check(doc: dict[str, Any], version: str, crds: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    problems = name_problems(doc)
    key = (str(doc.get("apiVersion")), str(doc.get("kind")))
    if key in crds:
        validator = jsonschema.Draft4Validator(crds[key])
        for error in sorted(validator.iter_errors(doc), key=lambda e: list(e.path)):
            where = ".".join(str(p) for p in error.path) or "(document)"
            problems.append(f"{where}: {error.message}")
        return problems
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        where = ".".join(str(p) for p in error.path) or "(document)"
        problems.append(f"{where}: {error.message}")
    except kubernetes_validate.SchemaNotFoundError:
        problems.append(f"no schema for {key[1]} {key[0]} (neither Kubernetes {version} nor a given CRD)")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kubernetes-version", required=True)
    parser.add_argument("--crds", type=Path, action="append", default=[])
    parser.add_argument("manifests", type=Path, nargs="+")
    args = parser.parse_args(argv)

    crds = load_crds(args.crds)
    counted = {"core": 0, "custom": 0}
    failures = 0
    for path, doc in documents(args.manifests):
        custom = (str(doc.get("apiVersion")), str(doc.get("kind"))) in crds
        counted["custom" if custom else "core"] += 1
        name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        for problem in check(doc, args.kubernetes_version, crds):
            failures += 1
            print(f"INVALID {path.name}: {name}: {problem}")
    print(
        f"validated {counted['core']} core and {counted['custom']} custom resources against Kubernetes "
        f"{args.kubernetes_version} and {len(crds)} CRD versions: {failures} problem(s)"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
