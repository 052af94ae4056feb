"""``hoera-events``: keep the committed contract files in step with the models, and list topics.

uv run hoera-events schemas     # regenerate schemas/<topic>.json (refuses breaking changes)
uv run hoera-events check       # models vs snapshots and asyncapi.json; exit 1 on any difference
uv run hoera-events asyncapi    # regenerate asyncapi.json
uv run hoera-events topics      # "<topic> <partitions>" per line, for deploy scripts
uv run hoera-events helm        # regenerate deploy/helm/hoera/files/kafka.json (topics, users' ACLs)
uv run hoera-events helm --check  # exit 1 when the committed kafka.json differs from the registry
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from hoera_events import asyncapi, deploy, schemas
from hoera_events.registry import all_topics, topics_to_create


def _schemas(args: argparse.Namespace) -> int:
    report = schemas.write_snapshots(args.dir, allow_breaking=args.allow_breaking)
    for topic in report.written:
        print(f"wrote {args.dir / topic}.json")
    for topic, changes in report.refused.items():
        print(f"{topic}: REFUSED, backward-incompatible:", file=sys.stderr)
        for change in changes:
            print(f"  {change}", file=sys.stderr)
    for topic in report.stale:
        print(f"{topic}: REFUSED, the topic is no longer registered", file=sys.stderr)
    if not report.ok:
        print(
            "A breaking change needs a new event version (a new model and topic). If this topic "
            "never shipped, rerun with --allow-breaking.",
            file=sys.stderr,
        )
        return 1
    if not report.written:
        print(f"all {len(all_topics())} snapshots are current")
    return 0


def _check(args: argparse.Namespace) -> int:
    problems = schemas.check_snapshots(args.dir)
    if not asyncapi.is_current(args.asyncapi):
        problems.append(f"{args.asyncapi}: out of date; run `uv run hoera-events asyncapi`")
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(f"ok: {len(all_topics())} topics match their snapshots and the AsyncAPI document")
    return 0


def _asyncapi(args: argparse.Namespace) -> int:
    asyncapi.write(args.out)
    print(f"wrote {args.out}")
    return 0


def _topics(args: argparse.Namespace) -> int:
    rows = [(spec.topic, spec.partitions) for spec in all_topics()] if args.main_only else topics_to_create()
    for topic, partitions in rows:
        print(f"{topic} {partitions}")
    return 0


def _helm(args: argparse.Namespace) -> int:
    if args.check:
        if deploy.is_current(args.out):
            print(f"ok: {args.out} matches the registry")
            return 0
        print(f"{args.out}: out of date; run `uv run hoera-events helm`", file=sys.stderr)
        return 1
    deploy.write(args.out)
    print(f"wrote {args.out}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hoera-events",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    write = commands.add_parser("schemas", help="regenerate the JSON Schema snapshots")
    write.add_argument("--dir", type=Path, default=schemas.default_dir())
    write.add_argument(
        "--allow-breaking",
        action="store_true",
        help="overwrite a snapshot even with a backward-incompatible change (unreleased topics)",
    )
    write.set_defaults(run=_schemas)

    check = commands.add_parser("check", help="compare the models with the committed files")
    check.add_argument("--dir", type=Path, default=schemas.default_dir())
    check.add_argument("--asyncapi", type=Path, default=asyncapi.default_path())
    check.set_defaults(run=_check)

    doc = commands.add_parser("asyncapi", help="regenerate the AsyncAPI document")
    doc.add_argument("--out", type=Path, default=asyncapi.default_path())
    doc.set_defaults(run=_asyncapi)

    topics = commands.add_parser("topics", help="print '<topic> <partitions>' per line")
    topics.add_argument("--main-only", action="store_true", help="leave out the .dlq dead-letter twins")
    topics.set_defaults(run=_topics)

    helm = commands.add_parser("helm", help="regenerate the Helm chart's Kafka topics and users (kafka.json)")
    helm.add_argument("--out", type=Path, default=deploy.default_path())
    helm.add_argument(
        "--check", action="store_true", help="compare instead of writing; exit 1 on a difference"
    )
    helm.set_defaults(run=_helm)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
