"""The registry's consumers are exactly what the services subscribe to, so the AsyncAPI document's
receivers tell the truth. Pure: each service's app is built, never started (no broker, no database)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import pytest
from hoera_alerts.app import create_app as alerts_app
from hoera_alerts.settings import AlertsSettings
from hoera_callback.app import create_app as callback_app
from hoera_callback.settings import CallbackSettings
from hoera_compensation.app import create_app as compensation_app
from hoera_compensation.settings import CompensationSettings
from hoera_events.registry import Service, TopicSpec, all_topics
from hoera_intake.app import create_app as intake_app
from hoera_intake.settings import IntakeSettings
from hoera_kit.service import Service as KitService
from hoera_survey.app import create_app as survey_app
from hoera_survey.settings import SurveySettings

# environment is passed by name: the services refuse to guess it.
APPS: dict[Service, Callable[[], KitService[Any]]] = {
    Service.intake: lambda: intake_app(IntakeSettings(environment="test")),
    Service.compensation: lambda: compensation_app(CompensationSettings(environment="test")),
    Service.survey: lambda: survey_app(SurveySettings(environment="test")),
    Service.alerts: lambda: alerts_app(AlertsSettings(environment="test")),
    Service.callback: lambda: callback_app(CallbackSettings(environment="test")),
}


@cache
def subscribed_topics(service: Service) -> frozenset[str]:
    """Every topic the service's consumers read, over all its consumer groups."""
    return frozenset(topic for _group, topics in APPS[service]().subscriptions for topic in topics)


def test_every_service_is_built_and_checked() -> None:
    assert set(APPS) == set(Service) - {Service.platform}
    for service in APPS:
        assert subscribed_topics(service), f"{service} subscribes to nothing: is its app built right?"


@pytest.mark.parametrize("spec", all_topics(), ids=lambda s: s.topic)
def test_the_registered_consumers_of_a_topic_are_the_services_that_subscribe_to_it(spec: TopicSpec) -> None:
    subscribers = {service for service in APPS if spec.topic in subscribed_topics(service)}
    assert set(spec.consumers) == subscribers


@pytest.mark.parametrize("service", list(APPS), ids=str)
def test_a_service_subscribes_only_to_registered_topics(service: Service) -> None:
    registered = {spec.topic for spec in all_topics()}
    assert subscribed_topics(service) <= registered
