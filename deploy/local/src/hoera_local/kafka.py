"""Apache Kafka in KRaft mode from Maven Central's jars: fetch once, format once, run in the foreground."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from hoera_local.config import KAFKA_VERSION, PROJECT_ROOT, KafkaNode, LocalConfig

POM = PROJECT_ROOT / "deploy" / "local" / "kafka" / "pom.xml"
LOG4J = PROJECT_ROOT / "deploy" / "local" / "kafka" / "log4j2.yaml"
# The dependency plugin is pinned in the POM; Maven 3.8 would otherwise fall back to 2.8.
_MVN_GOAL = "dependency:copy-dependencies"


def libs_dir(cfg: LocalConfig) -> Path:
    return cfg.kafka_home / "libs"


def fetch(cfg: LocalConfig) -> Path:
    """Copy the broker's runtime jars into the cache outside the repository, once."""
    libs = libs_dir(cfg)
    marker = cfg.kafka_home / ".complete"
    if marker.exists():
        return libs
    if shutil.which("mvn") is None:
        raise SystemExit("mvn is not installed: install Maven (apt-get install maven) and retry")
    tmp = cfg.kafka_home / "libs.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    print(f"fetching Apache Kafka {KAFKA_VERSION} jars from Maven Central into {libs}", flush=True)
    subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(POM),
            _MVN_GOAL,
            f"-Dkafka.version={KAFKA_VERSION}",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={tmp}",
        ],
        check=True,
    )
    shutil.rmtree(libs, ignore_errors=True)
    tmp.rename(libs)
    marker.write_text(KAFKA_VERSION)
    return libs


def node_dir(cfg: LocalConfig, node: KafkaNode) -> Path:
    return cfg.run_dir / "kafka" / f"node-{node.node_id}"


def _voters(cfg: LocalConfig) -> str:
    return ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in cfg.kafka_nodes)


def write_properties(cfg: LocalConfig, node: KafkaNode) -> Path:
    """The single-node defaults assume three brokers; these lines make one (or three) work on loopback."""
    rf = cfg.replication_factor
    min_isr = 2 if rf >= 3 else 1
    props = {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        "controller.quorum.voters": _voters(cfg),
        "listeners": (
            f"PLAINTEXT://127.0.0.1:{node.broker_port},CONTROLLER://127.0.0.1:{node.controller_port}"
        ),
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{node.broker_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(node_dir(cfg, node) / "data"),
        "num.partitions": str(cfg.default_partitions),
        "default.replication.factor": str(rf),
        "min.insync.replicas": str(min_isr),
        "offsets.topic.replication.factor": str(rf),
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": str(rf),
        "transaction.state.log.min.isr": str(min_isr),
        "share.coordinator.state.topic.replication.factor": str(rf),
        "share.coordinator.state.topic.min.isr": str(min_isr),
        # The 3 s default delays every consumer group's first join, and so every test.
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "false",
        "unclean.leader.election.enable": "false",
        "log.retention.hours": "168",
        "log.segment.bytes": str(256 * 1024 * 1024),
    }
    path = node_dir(cfg, node) / "server.properties"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
    return path


def _java() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise SystemExit("java is not installed: Kafka needs a JDK 17 or newer")
    return found


def _classpath(cfg: LocalConfig) -> str:
    return str(libs_dir(cfg)) + "/*"


def cluster_id(cfg: LocalConfig) -> str:
    """One id for every node of the cluster, created once per run folder."""
    path = cfg.run_dir / "kafka" / "cluster.id"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(
        [_java(), "-cp", _classpath(cfg), "kafka.tools.StorageTool", "random-uuid"],
        check=True,
        capture_output=True,
        text=True,
    )
    cid = out.stdout.strip().splitlines()[-1]
    path.write_text(cid)
    return cid


def format_node(cfg: LocalConfig, node: KafkaNode) -> None:
    props = write_properties(cfg, node)
    if (node_dir(cfg, node) / "data" / "meta.properties").exists():
        return
    # A static controller.quorum.voters list is formatted WITHOUT --standalone (4.1 refuses both).
    subprocess.run(
        [
            _java(),
            "-cp",
            _classpath(cfg),
            "kafka.tools.StorageTool",
            "format",
            "--cluster-id",
            cluster_id(cfg),
            "--config",
            str(props),
            "--ignore-formatted",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def command(cfg: LocalConfig, node: KafkaNode) -> list[str]:
    logs = node_dir(cfg, node) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    return [
        _java(),
        f"-Xms{cfg.kafka_heap}",
        f"-Xmx{cfg.kafka_heap}",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-XX:InitiatingHeapOccupancyPercent=35",
        "-XX:+ExplicitGCInvokesConcurrent",
        "-Djava.awt.headless=true",
        f"-Dkafka.logs.dir={logs}",
        f"-Dlog4j2.configurationFile={LOG4J}",
        "-cp",
        _classpath(cfg),
        "kafka.Kafka",
        str(node_dir(cfg, node) / "server.properties"),
    ]


def pause_flag(cfg: LocalConfig, node: KafkaNode) -> Path:
    return node_dir(cfg, node) / "paused"


def run_node(cfg: LocalConfig, node_id: int) -> None:
    """Foreground entry for the process runner: runs the broker's JVM and watches over it.

    A fault-injection test stops the broker with `hoera-local kafka stop` (a flag file): the JVM gets
    SIGTERM and this supervisor stays, so the process runner keeps the rest of the stack up; `kafka
    start` removes the flag and the JVM starts again. SIGTERM to the supervisor stops both.
    """
    node = next(n for n in cfg.kafka_nodes if n.node_id == node_id)
    fetch(cfg)
    format_node(cfg, node)
    flag = pause_flag(cfg, node)
    flag.unlink(missing_ok=True)
    stopping = False
    child: subprocess.Popen[bytes] | None = None

    def _stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    while not stopping:
        if flag.exists():
            if child is not None and child.poll() is None:
                child.send_signal(signal.SIGTERM)
                child.wait()
                child = None
                print(f"kafka node {node_id} stopped on request", flush=True)
            time.sleep(0.2)
            continue
        if child is None or child.poll() is not None:
            if child is not None and not flag.exists():
                print(f"kafka node {node_id} exited ({child.returncode}); restarting", flush=True)
            child = subprocess.Popen(command(cfg, node))
        time.sleep(0.2)
    if child is not None:
        child.wait()


def set_paused(cfg: LocalConfig, paused: bool) -> None:
    """Stop (paused) or start again every local broker, leaving their supervisors running."""
    for node in cfg.kafka_nodes:
        flag = pause_flag(cfg, node)
        if paused:
            flag.touch()
        else:
            flag.unlink(missing_ok=True)
