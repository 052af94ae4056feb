"""hoera-kit: migrations, dead-letter topics and parked outbox rows, for operators.

hoera-kit migrate SERVICE [--dir services/SERVICE/migrations] [--check]
hoera-kit dlq list TOPIC.dlq [--limit N]
hoera-kit dlq replay TOPIC.dlq --offset 3 --offset 7 | --all
hoera-kit outbox parked SERVICE [--limit N]
hoera-kit outbox retry SERVICE --seq 12 --seq 13 | --all
hoera-kit token --demo | --sub NAME --role ROLE [--team T] ...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from hoera_kit import db, dlq, kafka, migrations, outbox
from hoera_kit.settings import KitSettings


def _service_dir(service: str, given: str | None) -> Path | None:
    if given:
        return Path(given)
    guess = Path("services") / service / "migrations"
    return guess if guess.exists() else None


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
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
    ob = sub.add_parser("outbox", help="list or retry outbox rows the broker refused (parked)")
    osub = ob.add_subparsers(dest="outbox_cmd", required=True)
    parked = osub.add_parser("parked")
    parked.add_argument("service")
    parked.add_argument("--limit", type=int, default=100)
    retry = osub.add_parser("retry")
    retry.add_argument("service")
    retry.add_argument("--seq", type=int, action="append", default=[])
    retry.add_argument("--all", action="store_true")
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
        bootstrap = kafka.client_options(KitSettings(service_name="cli"))
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
    if args.cmd == "outbox":
        if args.outbox_cmd == "retry" and not args.all and not args.seq:
            parser.error("outbox retry needs --seq N (repeatable) or --all")
        return asyncio.run(_outbox(args))
    return 2


async def _outbox(args: argparse.Namespace) -> int:
    pool = await db.create_pool(KitSettings(service_name=args.service).dsn, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            if args.outbox_cmd == "parked":
                for row in await outbox.parked_rows(conn, limit=args.limit):
                    print(json.dumps(row, default=str, ensure_ascii=False))
                return 0
            n = await outbox.retry_parked(conn, None if args.all else args.seq)
            print(f"moved {n} parked row(s) back into the outbox")
            return 0
    finally:
        await pool.close()


if __name__ == "__main__":
    sys.exit(main())
