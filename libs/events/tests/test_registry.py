"""The topic registry: one well-named topic per event type and version, keyed by an aggregate id."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from uuid import UUID

import hoera_events
import pytest
from hoera_events.base import Event
from hoera_events.complaints import ComplaintRaised
from hoera_events.registry import (
    TOPIC_PATTERN,
    Service,
    TopicSpec,
    UnknownEventError,
    _index,
    all_topics,
    dlq_topic,
    spec_for,
    topic_for,
    topics_to_create,
)


@pytest.mark.parametrize("spec", all_topics(), ids=lambda s: s.topic)
def test_every_topic_is_named_hoera_type_and_version(spec: TopicSpec) -> None:
    assert spec.topic == f"hoera.{spec.type}.v{spec.version}"
    assert TOPIC_PATTERN.match(spec.topic)


@pytest.mark.parametrize("spec", all_topics(), ids=lambda s: s.topic)
def test_every_topic_is_keyed_by_a_required_id_field_of_its_model(spec: TopicSpec) -> None:
    field = spec.model.model_fields[spec.key_field]
    assert field.is_required()
    assert field.annotation in (str, UUID)
    assert spec.key_field.endswith("_id")
    assert spec.key_of(spec.model.example())


def test_no_two_topics_collide_in_kafka_metric_names() -> None:
    # Kafka refuses a topic whose name equals another's once '.' and '_' are treated alike.
    names = [spec.topic.replace(".", "_") for spec in all_topics()]
    assert len(names) == len(set(names))


def test_every_event_model_in_the_package_is_registered() -> None:
    models = set()
    for module_info in pkgutil.iter_modules(hoera_events.__path__):
        module = importlib.import_module(f"hoera_events.{module_info.name}")
        for _, member in inspect.getmembers(module, inspect.isclass):
            if issubclass(member, Event) and member is not Event:
                models.add(member)
    assert models == {spec.model for spec in all_topics()}


def test_topic_for_accepts_a_model_class_or_an_instance() -> None:
    assert topic_for(ComplaintRaised) == "hoera.complaint.raised.v1"
    assert topic_for(ComplaintRaised.example()) == "hoera.complaint.raised.v1"


def test_spec_for_names_what_is_unknown() -> None:
    assert spec_for("complaint.raised", 1).model is ComplaintRaised
    with pytest.raises(UnknownEventError, match="unknown event type"):
        spec_for("complaint.exploded", 1)
    with pytest.raises(UnknownEventError, match="no version 2"):
        spec_for("complaint.raised", 2)


def test_an_unregistered_model_has_no_topic() -> None:
    class NotRegistered(Event):
        event_type = "not.registered"

    with pytest.raises(UnknownEventError, match="NotRegistered"):
        topic_for(NotRegistered)


def test_the_deploy_list_holds_every_topic_and_its_dead_letter_twin() -> None:
    created = dict(topics_to_create())
    for spec in all_topics():
        assert created[spec.topic] == spec.partitions
        assert created[dlq_topic(spec.topic)] >= 1
    assert len(created) == 2 * len(all_topics())
    assert dlq_topic("hoera.complaint.raised.v1") == "hoera.complaint.raised.v1.dlq"


def test_the_registry_refuses_a_key_field_that_its_model_lacks_or_may_leave_empty() -> None:
    with pytest.raises(ValueError, match="not a field"):
        _index([TopicSpec(ComplaintRaised, "ticket_id", Service.intake, (), 6)])
    with pytest.raises(ValueError, match="required str or UUID"):
        _index([TopicSpec(ComplaintRaised, "team_id", Service.intake, (), 6)])


def test_the_registry_refuses_the_same_type_and_version_twice() -> None:
    spec = TopicSpec(ComplaintRaised, "complaint_id", Service.intake, (), 6)
    with pytest.raises(ValueError, match="registered twice"):
        _index([spec, spec])


def test_every_service_but_the_platform_consumes_something() -> None:
    consumers = {c for spec in all_topics() for c in spec.consumers}
    assert consumers == set(Service) - {Service.platform}
