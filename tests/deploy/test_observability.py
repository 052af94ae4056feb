"""Observability as code: the alert rules pass promtool's check and fire as their unit tests say, every
dashboard query is valid PromQL, and dashboards and alerts ask only for metrics the services expose (or
that are named as missing)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import hoera_kit.metrics  # noqa: F401  (registers the kit's metrics)
import pytest
import yaml
from prometheus_client import REGISTRY

from .support import CHART, RELEASE, Rendering, Tools, run

DASHBOARDS = CHART / "files" / "dashboards"
RULES = CHART / "files" / "prometheus" / "alerts.yaml"
RULE_TESTS = Path(__file__).parent / "alerts" / "alerts.test.yaml"
CONCERNS = {"consumer-lag", "handler-latency", "outbox", "dead-letters", "deliveries", "sla", "csat"}
# Metrics the dashboards and rules use that no service exposes: none (a new one fails the test below).
MISSING_METRICS: set[str] = set()
# Grafana's variables, replaced by values a query may hold, so promtool can parse the query.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$namespace": "hoera", "$service": "intake", "$tenant": "demo"}
METRIC = re.compile(r"\bhoera_[a-z_]+\b")


def dashboard_queries() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text(encoding="utf-8"))
        out[path.stem] = [t["expr"] for panel in board["panels"] for t in panel["targets"]]
    return out


def rule_expressions() -> list[str]:
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def exposed_metrics() -> set[str]:
    """Every series name the kit's and the services' metrics produce (histograms and counters add
    their suffixes)."""
    import hoera_intake.metrics
    import hoera_survey.metrics

    del hoera_intake.metrics, hoera_survey.metrics  # imported to register their metrics
    suffixes = ("", "_total", "_bucket", "_count", "_sum", "_created")
    return {family.name + suffix for family in REGISTRY.collect() for suffix in suffixes}


def test_the_chart_ships_one_dashboard_per_concern() -> None:
    assert set(dashboard_queries()) == CONCERNS
    for name, queries in dashboard_queries().items():
        assert queries, f"{name} has no panel"


def test_dashboards_and_alerts_ask_only_for_metrics_the_services_expose_or_that_are_named_missing() -> None:
    used = {
        m
        for q in [*rule_expressions(), *(q for qs in dashboard_queries().values() for q in qs)]
        for m in METRIC.findall(q)
    }
    exposed = exposed_metrics()
    assert used - exposed == MISSING_METRICS
    assert not MISSING_METRICS & exposed, "a missing metric is exposed now: take it off MISSING_METRICS"


@pytest.mark.integration
def test_the_shipped_prometheus_rule_holds_the_rule_file(renderings: dict[str, Rendering]) -> None:
    for rendering in renderings.values():
        rule = rendering.one("PrometheusRule", RELEASE)
        assert rule["spec"] == yaml.safe_load(RULES.read_text(encoding="utf-8"))


@pytest.mark.integration
def test_the_alert_rules_pass_promtools_check(
    tools: Tools, renderings: dict[str, Rendering], tmp_path: Path
) -> None:
    shipped = renderings["values-platform.yaml"].one("PrometheusRule", RELEASE)["spec"]
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(shipped), encoding="utf-8")
    done = run([tools.promtool, "check", "rules", "--lint=all", "--lint-fatal", path])
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(rule_expressions())} rules found" in done.stdout


@pytest.mark.integration
def test_the_alert_rules_fire_as_their_unit_tests_expect(tools: Tools, tmp_path: Path) -> None:
    shutil.copy(RULES, tmp_path / "alerts.yaml")
    shutil.copy(RULE_TESTS, tmp_path / "alerts.test.yaml")
    done = run([tools.promtool, "test", "rules", tmp_path / "alerts.test.yaml"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


@pytest.mark.integration
def test_every_dashboard_query_is_valid_promql(tools: Tools, tmp_path: Path) -> None:
    # promtool parses rule expressions: each query becomes a recording rule of a throwaway group.
    rules: list[dict[str, Any]] = []
    for name, queries in dashboard_queries().items():
        for i, query in enumerate(queries):
            for variable, value in GRAFANA_VARIABLES.items():
                query = query.replace(variable, value)
            rules.append({"record": f"dashboard:{name.replace('-', '_')}:{i}", "expr": query})
    path = tmp_path / "dashboards.rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}), encoding="utf-8")
    done = run([tools.promtool, "check", "rules", path])
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.integration
def test_each_dashboard_ships_in_a_configmap_that_grafanas_sidecar_loads(
    renderings: dict[str, Rendering],
) -> None:
    for rendering in renderings.values():
        maps = {d["metadata"]["name"]: d for d in rendering.of_kind("ConfigMap")}
        for concern in CONCERNS:
            shipped = maps[f"{RELEASE}-dashboard-{concern}"]
            assert shipped["metadata"]["labels"]["grafana_dashboard"] == "1"
            board = json.loads(shipped["data"][f"{concern}.json"])
            assert board["uid"] == f"hoera-{concern}"
