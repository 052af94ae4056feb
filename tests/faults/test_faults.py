"""Fault injection (issue 10, item 3): each run starts the whole system, streams demo traffic, injects
one fault while it flows, drains, and compares the outcome with the stream's ledger by id (see
conftest.py for what is judged). Nothing may be lost and nothing done twice.

The broker and PostgreSQL runs stop the SHARED local stack (`hoera-local kafka stop|start`,
`hoera-local pg stop|start`): they run last, and CI runs these tests one after the other.
Run: `uv run pytest tests/faults -m faults -s -p no:logging` (the figures print with -s).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from hoera_devkit.testing import eventually
from hoera_local import config, kafka, ready

from tests.faults.conftest import CONTACT_TOPIC, FaultRun, StreamPlan, Verdict, fault_run

pytestmark = [pytest.mark.integration, pytest.mark.faults, pytest.mark.timeout(480)]


def finish(run: FaultRun, verdict: Verdict) -> None:
    print(run.report(verdict), flush=True)
    assert sum(verdict.lost.values()) == 0, verdict.detail()
    assert sum(verdict.doubled.values()) == 0, verdict.detail()
    assert sum(verdict.wrong.values()) == 0, verdict.detail()
    assert verdict.sent["complaints"] and verdict.sent["unhappy answers"] and verdict.sent["poison"], (
        f"the stream was too thin to judge: {dict(verdict.sent)}"
    )


# ---- (1) SIGKILL of each service at random moments ---------------------------------------------------


async def test_sigkill_of_each_service_at_random_moments_loses_and_doubles_nothing(faults_dir: Path) -> None:
    async with fault_run("sigkill", faults_dir / "sigkill") as run:
        plan = StreamPlan()
        rng = random.Random()
        victims = list(run.system.processes)
        rng.shuffle(victims)
        victims.append(rng.choice(victims))  # one service twice: maybe while it is still starting
        moments = sorted(rng.uniform(2.0, plan.seconds - 4.0) for _ in victims)

        async def kill_and_restart() -> None:
            started = time.monotonic()
            for at, name in zip(moments, victims, strict=True):
                await asyncio.sleep(max(0.0, at - (time.monotonic() - started)))
                process = run.system.processes[name]
                process.kill()
                run.figures.kills += 1
                run.figures.notes.append(f"t={time.monotonic() - started:.1f}s {name}")
                await asyncio.sleep(rng.uniform(0.3, 1.5))
                process.start()
            for name in dict.fromkeys(victims):
                await run.system.processes[name].wait_ready(timeout=120)
                run.figures.restarts += victims.count(name)

        verdict = await run.stream(kill_and_restart, plan)
    finish(run, verdict)


# ---- (5) the SMTP server down for a while -------------------------------------------------------------


async def test_smtp_server_down_for_a_while_delays_but_loses_no_mail(faults_dir: Path) -> None:
    async with fault_run("smtp-down", faults_dir / "smtp-down") as run:

        async def smtp_down() -> None:
            await asyncio.sleep(6)
            await run.sink.down()
            started = time.monotonic()
            await asyncio.sleep(12)
            await run.sink.up()
            run.figures.notes.append(f"SMTP refused connections for {time.monotonic() - started:.0f} s")

        verdict = await run.stream(smtp_down)
    finish(run, verdict)


# ---- (3) the 3-broker mode: one broker killed for good -----------------------------------------------


def _ports_free(base: int, n: int) -> bool:
    for port in range(base, base + n):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def start_nodes(cfg: config.LocalConfig, procs: dict[int, subprocess.Popen[bytes]]) -> None:
    kafka.fetch(cfg)
    for node in cfg.kafka_nodes:
        kafka.format_node(cfg, node)
    for node in cfg.kafka_nodes:
        log = (kafka.node_dir(cfg, node) / "stdout.log").open("wb")
        procs[node.node_id] = subprocess.Popen(kafka.command(cfg, node), stdout=log, stderr=subprocess.STDOUT)


@asynccontextmanager
async def three_brokers(
    run_dir: Path,
) -> AsyncIterator[tuple[config.LocalConfig, dict[int, subprocess.Popen[bytes]]]]:
    """deploy/local's 3-broker mode in its own run folder and ports (as test_kafka_failover does),
    with every registry topic and its .dlq at replication 3, min ISR 2."""
    base = int(os.environ.get("HOERA_FAULTS_PORT_BASE", "19292"))
    while not _ports_free(base, 6):
        base += 10
    cfg = dataclasses.replace(
        config.load(),
        run_dir=run_dir,
        kafka_brokers=3,
        kafka_port_base=base,
        kafka_heap="384m",
        kafka_bootstrap_override=None,
    )
    procs: dict[int, subprocess.Popen[bytes]] = {}
    try:
        await asyncio.to_thread(start_nodes, cfg, procs)
        await ready.wait_for("3-broker Kafka", lambda: ready.kafka_ready(cfg.kafka_bootstrap), 120)
        await ready.create_topics(cfg, ready.project_topics(cfg))
        yield cfg, procs
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


async def test_one_of_three_brokers_killed_for_good_loses_and_doubles_nothing(
    faults_dir: Path, tmp_path: Path
) -> None:
    async with three_brokers(tmp_path / "kafka3") as (cfg, procs):
        # The services get one broker to bootstrap from (they find the others in the cluster's
        # metadata), because the kit hands HOERA_KAFKA_BOOTSTRAP to FastStream as ONE address:
        # "a:1,b:2,c:3" becomes a single host name there. That broker is not the one killed.
        first = cfg.kafka_nodes[0]
        async with fault_run(
            "3-brokers-one-killed",
            faults_dir / "three-brokers",
            bootstrap=cfg.kafka_bootstrap,
            service_bootstrap=f"127.0.0.1:{first.broker_port}",
        ) as run:

            async def kill_a_broker() -> None:
                await asyncio.sleep(10)
                # A leader of busy partitions, so its loss forces elections under load.
                probe = AIOKafkaProducer(bootstrap_servers=cfg.kafka_bootstrap)
                await probe.start()
                try:
                    cluster = await probe.client.fetch_all_metadata()
                    leaders = {
                        cluster.leader_for_partition(TopicPartition(CONTACT_TOPIC, p))
                        for p in cluster.partitions_for_topic(CONTACT_TOPIC) or ()
                    }
                finally:
                    await probe.stop()
                victim = min((n for n in leaders if n in procs and n != first.node_id), default=2)
                procs[victim].send_signal(signal.SIGKILL)
                await asyncio.to_thread(procs[victim].wait, 10)
                run.figures.kills += 1
                run.figures.notes.append(f"broker {victim} of 3 SIGKILLed at t=10 s and left dead")

            verdict = await run.stream(kill_a_broker)
    finish(run, verdict)


# ---- the shared stack: (2) the broker stopped and started, (4) PostgreSQL stopped 15 s ---------------


def hoera_local(*args: str, check: bool = True) -> None:
    subprocess.run([sys.executable, "-m", "hoera_local.cli", *args], check=check, timeout=120)


def self_connected(port: int) -> str:
    """Sockets connected to themselves on the port. While a server is down, a client reconnecting to
    127.0.0.1:<port> can be given <port> as its own ephemeral port (the stack's ports lie inside
    Linux's ephemeral range) and then holds it: the server cannot bind it when it starts again."""
    out = subprocess.run(["ss", "-tanp"], capture_output=True, text=True, check=False).stdout
    mine = f"127.0.0.1:{port}"
    return "\n".join(line for line in out.splitlines() if line.split()[3:5] == [mine, mine])


async def until(what: str, check: Callable[[], Awaitable[bool]], want: bool, timeout: float) -> float:
    """Seconds until check() gives want (the server really down)."""
    started = time.monotonic()
    if await eventually(check, lambda up: up == want, timeout=timeout, interval=0.5) != want:
        raise TimeoutError(f"{what} was not {'up' if want else 'down'} after {timeout:.0f} s")
    return time.monotonic() - started


async def restart(what: str, port: int, *start: str, check: Callable[[], Awaitable[bool]]) -> float:
    """Start the shared server again, and again, until it answers (bounded): the other developers'
    and CI's tests need it back. Returns the seconds it took."""
    began = time.monotonic()
    while time.monotonic() - began < 150:
        await asyncio.to_thread(hoera_local, *start, check=False)
        if await eventually(check, bool, timeout=15, interval=0.5):
            return time.monotonic() - began
    raise TimeoutError(
        f"{what} did not come back in {time.monotonic() - began:.0f} s; "
        f"self-connected sockets on its port {port}: {self_connected(port) or 'none'}"
    )


def broker_port(cfg: config.LocalConfig) -> int:
    return int(cfg.kafka_bootstrap.split(",")[0].rsplit(":", 1)[1])


async def test_broker_stopped_and_started_loses_and_doubles_nothing(faults_dir: Path) -> None:
    cfg = config.load()
    if cfg.kafka_external:
        pytest.skip("the broker is not the local stack's (HOERA_KAFKA_EXTERNAL): cannot stop it")

    async def answers() -> bool:
        return await ready.kafka_ready(cfg.kafka_bootstrap)

    async with fault_run("broker-stop-start", faults_dir / "broker-stop") as run:

        async def broker_down() -> None:
            await asyncio.sleep(8)
            try:
                await asyncio.to_thread(hoera_local, "kafka", "stop")
                gone = await until(
                    "the broker (a stack started before `hoera-local kafka stop` existed runs the JVM "
                    "without its supervisor: restart the stack)",
                    answers,
                    False,
                    45,
                )
                await asyncio.sleep(10)
            finally:
                back = await restart("the broker", broker_port(cfg), "kafka", "start", check=answers)
            run.figures.kills += 1
            run.figures.restarts += 1
            run.figures.notes.append(
                f"`hoera-local kafka stop`: broker gone after {gone:.0f} s, kept down 10 s; "
                f"`kafka start`: answering after {back:.0f} s"
            )

        # The platform waits while the broker is away: a longer stream keeps enough of it flowing.
        verdict = await run.stream(broker_down, StreamPlan(seconds=40))
    finish(run, verdict)


async def test_postgresql_stopped_for_15_seconds_loses_and_doubles_nothing(faults_dir: Path) -> None:
    cfg = config.load()
    if cfg.pg_external:
        pytest.skip("PostgreSQL is not the local stack's (HOERA_PG_EXTERNAL): cannot stop it")

    async def answers() -> bool:
        return await ready.pg_ready(cfg)

    async with fault_run("postgresql-stop-15s", faults_dir / "pg-stop") as run:

        async def postgres_down() -> None:
            await asyncio.sleep(8)
            try:
                await asyncio.to_thread(hoera_local, "pg", "stop")
                await asyncio.sleep(15)
            finally:
                back = await restart("PostgreSQL", cfg.pg_port, "pg", "start", check=answers)
            run.figures.kills += 1
            run.figures.restarts += 1
            run.figures.notes.append(f"`hoera-local pg stop`, 15 s, `pg start`: answering after {back:.0f} s")

        verdict = await run.stream(postgres_down)
    finish(run, verdict)
