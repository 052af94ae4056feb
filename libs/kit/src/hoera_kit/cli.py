"""hoera-kit: migrations, dead-letter topics and development tokens, for operators and developers.

hoera-kit migrate SERVICE [--dir services/SERVICE/migrations] [--check]
hoera-kit dlq list TOPIC.dlq [--limit N]
hoera-kit dlq replay TOPIC.dlq --offset 3 --offset 7 | --all
hoera-kit token --demo | --sub NAME --role ROLE [--team T] ...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from hoera_kit import dlq, migrations
from hoera_kit.settings import KitSettings


def _service_dir(service: str, given: str | None) -> Path | None:
    if given:
        return Path(given)
    guess = Path("services") / service / "migrations"
    return guess if guess.exists() else None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["token"]:
        from hoera_kit.auth import token_command

        return token_command(argv[1:])
    parser = argparse.ArgumentParser(
        prog="hoera-kit", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    mig = sub.add_parser("migrate", help="apply (or --check) a service's migrations")
    mig.add_argument("service")
    mig.add_argument("--dir")
    mig.add_argument("--check", action="store_true", help="exit 1 when migrations are pending")
    d = sub.add_parser("dlq", help="list or replay a dead-letter topic")
    dsub = d.add_subparsers(dest="dlq_cmd", required=True)
    lst = dsub.add_parser("list")
    lst.add_argument("topic")
    lst.add_argument("--limit", type=int, default=100)
    rep = dsub.add_parser("replay")
    rep.add_argument("topic")
    rep.add_argument("--offset", type=int, action="append", default=[])
    rep.add_argument("--partition", type=int, default=None)
    rep.add_argument("--all", action="store_true")
    sub.add_parser("token", help="mint development tokens (see --help of `hoera-kit token`)")
    args = parser.parse_args(argv)

    if args.cmd == "migrate":
        settings = KitSettings(service_name=args.service)
        folder = _service_dir(args.service, args.dir)
        if args.check:
            todo = migrations.pending(settings.dsn, folder)
            print("\n".join(todo) if todo else "up to date")
            return 1 if todo else 0
        applied = migrations.apply(settings.dsn, folder)
        print(f"applied {len(applied)}: {', '.join(applied) or '-'}")
        return 0
    if args.cmd == "dlq":
        bootstrap = KitSettings(service_name="cli").kafka_bootstrap
        if args.dlq_cmd == "list":
            for letter in asyncio.run(dlq.list_letters(bootstrap, args.topic, limit=args.limit)):
                print(json.dumps(letter.summary(), ensure_ascii=False))
            return 0
        if not args.all and not args.offset:
            parser.error("dlq replay needs --offset N (repeatable) or --all")
        n = asyncio.run(
            dlq.replay(
                bootstrap,
                args.topic,
                offsets=None if args.all else set(args.offset),
                partition=args.partition,
            )
        )
        print(f"replayed {n} message(s) to their original topic")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
