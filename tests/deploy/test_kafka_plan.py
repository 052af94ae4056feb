"""The chart's Kafka plan (deploy/helm/hoera/files/kafka.json) is the registry's, and it grants each service
exactly what its code reads and writes. Pure: the apps are built, never started."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hoera_alerts.app import create_app as alerts_app
from hoera_alerts.settings import AlertsSettings
from hoera_callback.app import create_app as callback_app
from hoera_callback.settings import CallbackSettings
from hoera_compensation.app import create_app as compensation_app
from hoera_compensation.settings import CompensationSettings
from hoera_events import deploy
from hoera_events.cli import main
from hoera_events.registry import Service, dlq_topic
from hoera_intake.app import create_app as intake_app
from hoera_intake.settings import IntakeSettings
from hoera_kit.service import Service as KitService
from hoera_survey.app import create_app as survey_app
from hoera_survey.settings import SurveySettings

GROUP_PREFIX = "hoera"  # the kit's default HOERA_CONSUMER_GROUP_PREFIX, which the chart's values keep
APPS: dict[Service, Callable[[], KitService[Any]]] = {
    Service.intake: lambda: intake_app(IntakeSettings(environment="test")),
    Service.compensation: lambda: compensation_app(CompensationSettings(environment="test")),
    Service.survey: lambda: survey_app(SurveySettings(environment="test")),
    Service.alerts: lambda: alerts_app(AlertsSettings(environment="test")),
    Service.callback: lambda: callback_app(CallbackSettings(environment="test")),
}


@cache
def plan() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(deploy.default_path().read_text(encoding="utf-8"))
    return loaded


@cache
def subscriptions(service: Service) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(consumer group, topics) of everything the service's app reads; the replica has no real group."""
    return tuple((group, tuple(topics)) for group, topics in APPS[service]().subscriptions)


def in_groups(service: Service) -> list[tuple[str, tuple[str, ...]]]:
    return [(g, t) for g, t in subscriptions(service) if not g.startswith("(")]


def test_the_committed_plan_is_what_the_registry_generates_now() -> None:
    assert deploy.is_current(deploy.default_path()), "run `uv run --frozen hoera-events helm`"
    assert main(["helm", "--check"]) == 0


def test_helm_check_exits_one_when_the_committed_plan_is_stale(tmp_path: Path) -> None:
    stale = deploy.build()
    stale["topics"] = stale["topics"][2:]
    path = tmp_path / "kafka.json"
    path.write_text(json.dumps(stale, indent=2) + "\n", encoding="utf-8")
    assert main(["helm", "--check", "--out", str(path)]) == 1


def test_helm_writes_the_committed_plan(tmp_path: Path) -> None:
    out = tmp_path / "files" / "kafka.json"
    assert main(["helm", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == deploy.default_path().read_text(encoding="utf-8")


def test_every_topic_name_is_a_kubernetes_name_and_no_two_collide() -> None:
    names = [t["name"] for t in plan()["topics"]]
    assert len(set(names)) == len(names)
    assert all("_" not in name and name == name.lower() for name in names)


@pytest.mark.parametrize("service", list(APPS), ids=str)
def test_a_service_may_read_exactly_the_topics_its_app_subscribes_to(service: Service) -> None:
    subscribed = {topic for _group, topics in subscriptions(service) for topic in topics}
    assert set(plan()["users"][service.value]["consumes"]) == subscribed


@pytest.mark.parametrize("service", list(APPS), ids=str)
def test_a_service_may_dead_letter_exactly_the_topics_it_reads_in_consumer_groups(service: Service) -> None:
    read_in_groups = {topic for _group, topics in in_groups(service) for topic in topics}
    assert set(plan()["users"][service.value]["deadLetters"]) == {dlq_topic(t) for t in read_in_groups}


@pytest.mark.parametrize("service", list(APPS), ids=str)
def test_every_consumer_group_of_a_service_falls_under_its_acl_prefix_and_no_other(service: Service) -> None:
    own = f"{GROUP_PREFIX}.{plan()['users'][service.value]['groupPrefix']}"
    others = [
        f"{GROUP_PREFIX}.{user['groupPrefix']}"
        for name, user in plan()["users"].items()
        if name != service.value and user["groupPrefix"]
    ]
    groups = [group for group, _topics in in_groups(service)]
    assert groups, f"{service} reads in no consumer group"
    for group in groups:
        assert group.startswith(own), group
        assert not any(group.startswith(other) for other in others), group


def test_intake_may_write_the_contacts_it_relays_in_the_platforms_name() -> None:
    assert "hoera.contact.closed.v1" in plan()["users"]["intake"]["produces"]
    assert "hoera.contact.closed.v1" in plan()["users"]["platform"]["produces"]
    assert "hoera.contact.closed.v1" not in plan()["users"]["survey"]["produces"]


def test_the_operator_reads_every_dead_letter_topic_and_writes_back_to_its_origin() -> None:
    operator = plan()["users"][deploy.OPERATOR]
    main_topics = {t["topic"] for t in plan()["topics"] if not t["deadLetters"]}
    assert set(operator["consumes"]) == {dlq_topic(t) for t in main_topics}
    assert set(operator["produces"]) == main_topics
    assert operator["groupPrefix"] is None
