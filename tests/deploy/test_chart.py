"""The Helm chart, without a cluster: helm lint, helm template for each values file, the manifests checked
against the Kubernetes schemas and the operators' CRDs, and what they must say about every service, topic,
user and database. The tools come from deploy/helm/tools/tools.sh (built once into the cache)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hoera_events.registry import Service, all_topics, dlq_topic, topic_configs

from .support import (
    CHART,
    RELEASE,
    SERVICES,
    VALUES_FILES,
    Rendering,
    Tools,
    container_env,
    documents,
    helm_template,
    run,
)

pytestmark = pytest.mark.integration

READ = ["Read", "Describe"]
WRITE = ["Write", "Describe"]


@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_helm_lint_passes_for_each_values_file(tools: Tools, values_file: str) -> None:
    done = run([tools.helm, "lint", CHART, "--strict", "--values", CHART / values_file])
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_rendering_matches_the_kubernetes_schemas_and_the_operators_crds(
    tools: Tools, renderings: dict[str, Rendering]
) -> None:
    crds = [arg for folder in tools.crds for arg in ("--crds", str(folder))]
    paths = [r.path for r in renderings.values()]
    done = run(
        [
            tools.validator_python,
            tools.validator,
            "--kubernetes-version",
            tools.kubernetes_version,
            *crds,
            *paths,
        ]
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert " 0 problem(s)" in done.stdout


def test_the_chart_refuses_to_render_without_an_identity_provider(tools: Tools) -> None:
    done = helm_template(tools)  # values.yaml alone names no token issuer
    assert done.returncode != 0
    assert "identityProvider.issuer is required" in done.stderr


def test_the_chart_refuses_a_database_without_a_standby(tools: Tools) -> None:
    done = helm_template(tools, "values-small.yaml", extra=("--set", "postgres.instances=1"))
    assert done.returncode != 0
    assert "postgres.instances must be 2 or more" in done.stderr


@pytest.mark.parametrize(
    "kind",
    [
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "ScaledObject",
        "NetworkPolicy",
        "ServiceMonitor",
        "ServiceAccount",
    ],
)
def test_rendering_finds_every_service(rendering: Rendering, kind: str) -> None:
    names = {d["metadata"]["name"] for d in rendering.of_kind(kind)}
    assert names == {f"{RELEASE}-{s}" for s in SERVICES}


def test_rendering_finds_every_database_with_a_standby_and_daily_backups(rendering: Rendering) -> None:
    clusters = {d["metadata"]["name"]: d for d in rendering.of_kind("Cluster")}
    assert set(clusters) == {f"{RELEASE}-{s}-db" for s in SERVICES}
    backups = {d["spec"]["cluster"]["name"] for d in rendering.of_kind("ScheduledBackup")}
    assert backups == set(clusters)
    for service in SERVICES:
        cluster = clusters[f"{RELEASE}-{service}-db"]
        assert cluster["spec"]["instances"] >= 2
        assert cluster["spec"]["bootstrap"]["initdb"]["database"] == f"hoera_{service}"
        assert cluster["spec"]["backup"]["barmanObjectStore"]["destinationPath"].endswith(f"/{service}")
        main = rendering.of_service("Deployment", service)["spec"]["template"]["spec"]["containers"][0]
        url = container_env(main)["HOERA_DATABASE_URL"]["secretKeyRef"]
        assert url == {"name": f"{RELEASE}-{service}-db-app", "key": "uri"}


def test_every_registry_topic_and_its_dead_letter_twin_has_a_kafka_topic(rendering: Rendering) -> None:
    topics = {d["spec"]["topicName"]: d["spec"] for d in rendering.of_kind("KafkaTopic")}
    expected = {spec.topic: spec.partitions for spec in all_topics()}
    expected |= {dlq_topic(spec.topic): 1 for spec in all_topics()}
    assert {name: spec["partitions"] for name, spec in topics.items()} == expected
    for spec in all_topics():
        assert topics[spec.topic].get("config", {}) == topic_configs(spec.topic)
        assert topics[dlq_topic(spec.topic)]["config"] == topic_configs(dlq_topic(spec.topic))
    assert {spec["replicas"] for spec in topics.values()} == {3}


def expected_acls(who: str) -> list[tuple[str, str, str, tuple[str, ...]]]:
    """What the registry says a user reads and writes, worked out here apart from the generator."""
    acls: list[tuple[str, str, str, tuple[str, ...]]] = []
    if who == "operator":
        for spec in all_topics():
            acls.append(("topic", dlq_topic(spec.topic), "literal", tuple(READ)))
            acls.append(("topic", spec.topic, "literal", tuple(WRITE)))
        return acls
    service = Service(who)
    # Relayed in another's name, or confirmed for itself (every service confirms an erasure).
    relayed = {
        spec.topic for spec in all_topics() if service in spec.relayed_by or service in spec.also_produced_by
    }
    for spec in all_topics():
        if service in spec.consumers:
            acls.append(("topic", spec.topic, "literal", tuple(READ)))
            if not spec.compacted:  # the tenant replica reads the compacted topics without a group
                acls.append(("topic", dlq_topic(spec.topic), "literal", tuple(WRITE)))
        if spec.producer is service or spec.topic in relayed:
            acls.append(("topic", spec.topic, "literal", tuple(WRITE)))
    if any(service in spec.consumers and not spec.compacted for spec in all_topics()):
        acls.append(("group", f"hoera.{who}.", "prefix", ("Read",)))
    return acls


@pytest.mark.parametrize("who", [*SERVICES, "platform", "operator"])
def test_every_kafka_users_acls_are_exactly_what_the_registry_says_it_reads_and_writes(
    rendering: Rendering, who: str
) -> None:
    user = rendering.one("KafkaUser", f"{RELEASE}-{who}")
    assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
    got = sorted(
        (a["resource"]["type"], a["resource"]["name"], a["resource"]["patternType"], tuple(a["operations"]))
        for a in user["spec"]["authorization"]["acls"]
    )
    assert got == sorted(expected_acls(who))


def test_kafka_runs_three_brokers_with_replication_three_and_min_insync_two(rendering: Rendering) -> None:
    kafka = rendering.one("Kafka", f"{RELEASE}-kafka")["spec"]["kafka"]
    assert kafka["config"]["default.replication.factor"] == 3
    assert kafka["config"]["min.insync.replicas"] == 2
    assert kafka["authorization"] == {"type": "simple"}
    assert [listener["authentication"]["type"] for listener in kafka["listeners"]] == ["scram-sha-512"]
    assert all(listener["tls"] for listener in kafka["listeners"])
    pools = rendering.of_kind("KafkaNodePool")
    assert sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"]) == 3
    assert sum(p["spec"]["replicas"] for p in pools if "controller" in p["spec"]["roles"]) == 3


@pytest.mark.parametrize("service", SERVICES)
def test_autoscaling_never_passes_the_partitions_a_service_reads(rendering: Rendering, service: str) -> None:
    scaled = rendering.of_service("ScaledObject", service)["spec"]
    ceiling = max(spec.partitions for spec in all_topics() if Service(service) in spec.consumers)
    assert scaled["minReplicaCount"] <= scaled["maxReplicaCount"] <= ceiling
    assert scaled["scaleTargetRef"]["name"] == f"{RELEASE}-{service}"
    (trigger,) = scaled["triggers"]
    assert f'service="{service}"' in trigger["metadata"]["query"]
    assert "replicas" not in rendering.of_service("Deployment", service)["spec"]  # KEDA owns the count


def test_the_platform_values_let_the_busiest_services_scale_to_the_partition_count(
    renderings: dict[str, Rendering],
) -> None:
    platform = renderings["values-platform.yaml"]
    assert platform.of_service("ScaledObject", "intake")["spec"]["maxReplicaCount"] == 12
    assert platform.of_service("ScaledObject", "compensation")["spec"]["maxReplicaCount"] == 6


def test_a_replica_ceiling_above_the_partition_count_is_cut_to_it(tools: Tools) -> None:
    done = helm_template(tools, "values-small.yaml", extra=("--set", "services.compensation.maxReplicas=50"))
    assert done.returncode == 0, done.stderr
    rendered = Rendering("values-small.yaml", CHART, documents(done.stdout))
    assert rendered.of_service("ScaledObject", "compensation")["spec"]["maxReplicaCount"] == 6


@pytest.mark.parametrize("service", SERVICES)
def test_a_pod_outlives_the_kits_shutdown_and_runs_locked_down(rendering: Rendering, service: str) -> None:
    pod = rendering.of_service("Deployment", service)["spec"]["template"]["spec"]
    main = pod["containers"][0]
    env = container_env(main)
    grace = float(env["HOERA_SHUTDOWN_GRACE_S"])
    sleep = main["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pod["terminationGracePeriodSeconds"] > sleep + math.ceil(grace)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    for container in [*pod["initContainers"], *pod["containers"]]:
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    assert main["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert main["startupProbe"]["httpGet"]["path"] == "/livez"
    assert {c["topologyKey"] for c in pod["topologySpreadConstraints"]} == {
        "topology.kubernetes.io/zone",
        "kubernetes.io/hostname",
    }


@pytest.mark.parametrize("service", SERVICES)
def test_a_new_version_starts_only_on_a_migrated_database(rendering: Rendering, service: str) -> None:
    pod = rendering.of_service("Deployment", service)["spec"]["template"]["spec"]
    (migrate,) = pod["initContainers"]
    assert migrate["command"][:3] == ["hoera-kit", "migrate", service]
    assert migrate["image"] == pod["containers"][0]["image"]
    assert container_env(pod["containers"][0])["HOERA_MIGRATE_ON_START"] == "false"
    assert (
        container_env(migrate)["HOERA_DATABASE_URL"]
        == container_env(pod["containers"][0])["HOERA_DATABASE_URL"]
    )


def peers_of(rule: dict[str, Any]) -> list[dict[str, Any]]:
    peers: list[dict[str, Any]] = rule["to"]
    return peers


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_may_reach_its_own_database_the_brokers_and_the_configured_peers_only(
    rendering: Rendering, service: str
) -> None:
    policy = rendering.of_service("NetworkPolicy", service)["spec"]
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    rules = policy["egress"]
    assert all(rule.get("to") for rule in rules), "an egress rule without peers allows everything"
    selected = [
        peer.get("podSelector", {}).get("matchLabels", {}) for rule in rules for peer in peers_of(rule)
    ]
    databases = [labels["cnpg.io/cluster"] for labels in selected if "cnpg.io/cluster" in labels]
    assert databases == [f"{RELEASE}-{service}-db"]
    assert {"strimzi.io/cluster": f"{RELEASE}-kafka", "strimzi.io/broker-role": "true"} in selected
    ports = {port["port"] for rule in rules for port in rule["ports"]}
    mail = {"intake": True, "compensation": False, "survey": True, "alerts": True, "callback": False}[service]
    assert (587 in ports) is mail, "only the services that send mail reach the SMTP relay"
    # Alerts and callback ask survey for the customers' comments (which events leave out); intake asks
    # every service for its part of a subject access request; in the cluster, nothing else.
    callees = {"intake": {"compensation", "survey", "alerts", "callback"}, "alerts": {"survey"}}
    callees["callback"] = {"survey"}
    for peer, port in (("compensation", 8102), ("survey", 8103), ("alerts", 8104), ("callback", 8105)):
        pods = {"app.kubernetes.io/name": "hoera", "app.kubernetes.io/instance": RELEASE}
        pods["app.kubernetes.io/component"] = peer
        calls = peer in callees.get(service, set())
        assert (pods in selected) is calls, (service, peer)
        assert (port in ports) is calls, (service, port)
    assert ports <= {53, 5432, 9093, 4318, 443, 587, 8102, 8103, 8104, 8105}


def test_secrets_come_from_existing_secrets_and_the_operators(rendering: Rendering) -> None:
    assert rendering.of_kind("Secret") == []
    allowed = {f"{RELEASE}-{s}-db-app" for s in SERVICES} | {f"{RELEASE}-{s}" for s in SERVICES}
    allowed |= {"hoera-smtp", "hoera-directory", "hoera-relay-signing-key", "hoera-service-clients"}
    for service in SERVICES:
        pod = rendering.of_service("Deployment", service)["spec"]["template"]["spec"]
        for container in [*pod["initContainers"], *pod["containers"]]:
            for value in container_env(container).values():
                if isinstance(value, dict):
                    assert value["secretKeyRef"]["name"] in allowed
        (ca,) = [v for v in pod["volumes"] if "secret" in v]
        assert ca["secret"]["secretName"] == f"{RELEASE}-kafka-cluster-ca-cert"
    intake = container_env(
        rendering.of_service("Deployment", "intake")["spec"]["template"]["spec"]["containers"][0]
    )
    assert intake["HOERA_RELAY_SIGNING_KEY"]["secretKeyRef"]["name"] == "hoera-relay-signing-key"
