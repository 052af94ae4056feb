"""hoera-local: the no-Docker stack's command line (used by the Makefile and the tests)."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
from pathlib import Path

from hoera_local import config, kafka, keycloak, postgres, ready, runner


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hoera-local", description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("fetch", help="fetch the Kafka jars and Keycloak into the cache (once)")
    sub.add_parser("keycloak", help="run Keycloak, the staff's identity provider, in the foreground")
    node = sub.add_parser("kafka-node", help="run one Kafka node in the foreground")
    node.add_argument("node_id", type=int)
    sub.add_parser("postgres", help="run PostgreSQL in the foreground (pg_ctl start, stop on signal)")
    pg = sub.add_parser("pg", help="pg_ctl start/stop/status of the local cluster")
    pg.add_argument("action", choices=["start", "stop", "status"])
    kc = sub.add_parser("kafka", help="stop/start the local brokers (their supervisors stay up)")
    kc.add_argument("action", choices=["start", "stop"])
    sub.add_parser("start", help="start the infrastructure in the background and wait until ready")
    sub.add_parser("prepare", help="wait for readiness, create topics and databases")
    stop = sub.add_parser("stop", help="stop what start or up started")
    stop.add_argument("--all", action="store_true", help="also the services of `up`")
    run = sub.add_parser("run", help="run a command with the stack up; stop it after if we started it")
    run.add_argument("argv", nargs=argparse.REMAINDER)
    up = sub.add_parser("up", help="infrastructure, then a Procfile of services in the foreground")
    up.add_argument("procfile", type=Path)
    sub.add_parser("status", help="is the stack up?")
    sub.add_parser("clean", help="stop and delete the run folder (all local data)")
    args = parser.parse_args(argv)
    cfg = config.load()

    if args.cmd == "fetch":
        print(kafka.fetch(cfg))
        print(keycloak.fetch(cfg))
    elif args.cmd == "keycloak":
        keycloak.run_foreground(cfg)
    elif args.cmd == "kafka-node":
        kafka.run_node(cfg, args.node_id)
    elif args.cmd == "postgres":
        postgres.run_foreground(cfg)
    elif args.cmd == "pg":
        return postgres.pg_ctl_action(cfg, args.action)
    elif args.cmd == "kafka":
        kafka.set_paused(cfg, args.action == "stop")
    elif args.cmd == "start":
        runner.start(cfg)
    elif args.cmd == "prepare":
        asyncio.run(ready.prepare(cfg))
    elif args.cmd == "stop":
        if args.all:
            runner.stop(cfg, "services")
        runner.stop(cfg, "infra")
    elif args.cmd == "run":
        argv_ = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
        return runner.run_with_stack(cfg, argv_)
    elif args.cmd == "up":
        return runner.up(cfg, args.procfile)
    elif args.cmd == "status":
        k = asyncio.run(ready.kafka_ready(cfg.kafka_bootstrap))
        p = asyncio.run(ready.pg_ready(cfg))
        print(f"kafka {cfg.kafka_bootstrap}: {'up' if k else 'down'}")
        print(f"postgresql {cfg.pg_host}:{cfg.pg_port}: {'up' if p else 'down'}")
        return 0 if k and p else 1
    elif args.cmd == "clean":
        runner.stop(cfg, "services")
        runner.stop(cfg, "infra")
        pgdir = cfg.run_dir / "pg"
        if pgdir.is_symlink():
            shutil.rmtree(pgdir.resolve(), ignore_errors=True)
        shutil.rmtree(cfg.run_dir, ignore_errors=True)
        print(f"deleted {cfg.run_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
