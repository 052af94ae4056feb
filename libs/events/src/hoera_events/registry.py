"""The topic registry: which events exist, on which topic, keyed by what, sent and read by whom.

One topic per event type and major version, named ``hoera.<type>.v<version>``. The partition key
is the id of the aggregate the event belongs to, so the events of one complaint (or survey,
callback...) are read in the order they were written. This table is the one place that says so: the
outbox relay, the consumers, the deploy scripts, the JSON Schema snapshots and the AsyncAPI document
all read it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from hoera_events import (
    alerts,
    callbacks,
    compensation,
    complaints,
    organisation,
    platform,
    privacy,
    recovery,
    surveys,
)
from hoera_events.base import Event

TOPIC_PREFIX = "hoera."
SCHEMA_URN_PREFIX = "urn:hoera:schema:"
DLQ_SUFFIX = ".dlq"
DLQ_PARTITIONS = 1
"""Dead letters are rare and read by people and replay tools; one partition keeps them in order."""

TYPE_PATTERN = re.compile(r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$")
TOPIC_PATTERN = re.compile(r"^hoera\.[a-z][a-z_]*(\.[a-z][a-z_]*)+\.v[1-9][0-9]*$")

# Partition counts are hard to change later (a key moves to another partition and loses its order),
# so they are sized for the busiest tenant mix up front: contacts and surveys are the volume
# (tens of millions a year, docs/requirements.md "Scale"), complaints and the rest are a few percent of that.
# These are the counts the topics really have: deploy scripts create them as registered (the local
# stack too, unless HOERA_KAFKA_PARTITIONS caps them on a small machine), and the AsyncAPI states them.
BUSY = 12
QUIET = 6


class Service(StrEnum):
    """The producers and consumers of events: the five services and the contact-centre platform."""

    platform = "platform"
    intake = "intake"
    compensation = "compensation"
    survey = "survey"
    alerts = "alerts"
    callback = "callback"


@dataclass(frozen=True)
class TopicSpec:
    """One registered event: its model, topic, partition key field, producer and consumers."""

    model: type[Event]
    key_field: str
    """The model field whose value is the Kafka partition key (the aggregate id)."""
    producer: Service
    consumers: tuple[Service, ...]
    """The services that subscribe to the topic, exactly: the AsyncAPI document's receivers.
    tests/integration/test_registry_matches_services.py compares it with what each service's app
    subscribes to, both ways."""
    partitions: int
    compacted: bool = False
    relayed_by: tuple[Service, ...] = ()
    """Services that publish the producer's event in its name (intake passes on a contact the platform
    reported over HTTP, signed with its relay key)."""
    """A snapshot per key (the latest wins): Kafka keeps the last record of each key for ever."""
    also_produced_by: tuple[Service, ...] = ()
    """Services that publish this event for themselves besides its producer (each service confirms an
    erasure of what it holds)."""

    @property
    def type(self) -> str:
        return self.model.event_type

    @property
    def version(self) -> int:
        return self.model.event_version

    @property
    def topic(self) -> str:
        return f"{TOPIC_PREFIX}{self.type}.v{self.version}"

    @property
    def schema_uri(self) -> str:
        """Names the committed JSON Schema snapshot (``schemas/<topic>.json``): the CloudEvents
        ``dataschema`` and the snapshot's ``$id``."""
        return SCHEMA_URN_PREFIX + self.topic

    def key_of(self, event: Event) -> str:
        return str(getattr(event, self.key_field))


class UnknownEventError(LookupError):
    """No topic is registered for this event type, version or model."""


WEBHOOK_FORWARDER = Service.intake
"""The service that forwards every event type to the partners a tenant subscribes (webhooks): it is a
consumer of every topic. The compacted tenant and organisation snapshots it reads as every service does
(its replica); they are configuration, not events for partners."""


def _spec(
    model: type[Event],
    key_field: str,
    producer: Service,
    consumers: Iterable[Service] = (),
    partitions: int = QUIET,
    *,
    compacted: bool = False,
    relayed_by: Iterable[Service] = (),
    also_produced_by: Iterable[Service] = (),
) -> TopicSpec:
    return TopicSpec(
        model,
        key_field,
        producer,
        # Intake reads every topic: it forwards the tenants' events to their partners (webhooks).
        tuple(dict.fromkeys([*consumers, WEBHOOK_FORWARDER])),
        partitions,
        compacted,
        tuple(relayed_by),
        tuple(also_produced_by),
    )


S = Service
EVERY_SERVICE = [S.intake, S.compensation, S.survey, S.alerts, S.callback]
_SPECS: tuple[TopicSpec, ...] = (
    # Tenants and their organisation (teams, deputies, absences, calendar): intake owns them, every
    # service keeps a replica of the latest snapshot per tenant (hoera_kit.tenants), intake included.
    _spec(organisation.TenantDefined, "tenant_id", S.intake, EVERY_SERVICE, 3, compacted=True),
    _spec(organisation.OrganisationChanged, "tenant_id", S.intake, EVERY_SERVICE, 3, compacted=True),
    # The platform's inputs. A contact is keyed by its customer, so the survey service sees one
    # customer's contacts in order when it spends their contact budget (R21).
    # Intake also records contacts, for first-contact resolution (R9).
    _spec(
        platform.ContactClosed,
        "customer_id",
        S.platform,
        [S.intake, S.survey, S.callback, S.alerts],
        BUSY,
        relayed_by=[S.intake],
    ),
    _spec(platform.ComplaintReceived, "customer_id", S.platform, [S.intake]),
    # intake
    _spec(complaints.ComplaintRaised, "complaint_id", S.intake, [S.alerts, S.callback, S.compensation]),
    _spec(complaints.ComplaintAcknowledged, "complaint_id", S.intake),
    _spec(complaints.ComplaintAssigned, "complaint_id", S.intake, [S.compensation]),
    _spec(complaints.ComplaintEscalated, "complaint_id", S.intake),
    _spec(complaints.ComplaintSlaBreached, "complaint_id", S.intake, [S.alerts, S.callback]),
    _spec(
        complaints.ComplaintResolved,
        "complaint_id",
        S.intake,
        [S.alerts, S.callback, S.compensation],
    ),
    _spec(
        complaints.ComplaintClosed,
        "complaint_id",
        S.intake,
        [S.survey, S.callback, S.alerts, S.compensation],
    ),
    _spec(complaints.ComplaintReopened, "complaint_id", S.intake, [S.callback]),
    _spec(complaints.ComplaintDueDateChanged, "complaint_id", S.intake),
    _spec(
        complaints.CustomerMarkedDeceased,
        "customer_id",
        S.intake,
        [S.survey, S.callback, S.compensation],
    ),
    _spec(
        complaints.CustomerDeceasedMarkWithdrawn,
        "customer_id",
        S.intake,
        [S.survey, S.callback, S.compensation],
    ),
    # compensation: intake shows the proposals and decisions on the dossier's timeline (R1).
    _spec(compensation.CompensationProposed, "compensation_id", S.compensation, [S.intake]),
    _spec(compensation.CompensationApprovalRequested, "compensation_id", S.compensation, [S.intake]),
    _spec(compensation.CompensationApprovalEscalated, "compensation_id", S.compensation),
    _spec(compensation.CompensationDecided, "compensation_id", S.compensation, [S.intake]),
    _spec(compensation.CustomerFlaggedForReview, "customer_id", S.compensation, [S.alerts]),
    # survey
    _spec(surveys.SurveyInvited, "survey_id", S.survey, [S.alerts], BUSY),
    _spec(surveys.SurveySuppressed, "customer_id", S.survey, (), BUSY),
    _spec(surveys.SurveyAnswered, "survey_id", S.survey, [S.alerts, S.callback], BUSY),
    # alerts
    _spec(alerts.AlertRaised, "alert_id", S.alerts, [S.callback]),
    _spec(alerts.AlertDelivered, "alert_id", S.alerts),
    _spec(alerts.AlertAcknowledged, "alert_id", S.alerts),
    # callback
    _spec(callbacks.CallbackRequested, "callback_id", S.callback),
    _spec(callbacks.CallbackClaimed, "callback_id", S.callback),
    _spec(callbacks.CallbackCompleted, "callback_id", S.callback, [S.survey, S.intake]),
    _spec(callbacks.CallbackEscalated, "callback_id", S.callback),
    # the recovery loop: callback owns the cases; an overdue one becomes the supervisor's alert
    _spec(recovery.RecoveryCaseOpened, "case_id", S.callback),
    _spec(recovery.RecoveryCaseEscalated, "case_id", S.callback, [S.alerts]),
    _spec(recovery.RecoveryCaseClosed, "case_id", S.callback),
    # a customer's erasure: intake takes the request, every service (intake too) erases and confirms
    _spec(privacy.ErasureRequested, "customer_id", S.intake, EVERY_SERVICE),
    _spec(
        privacy.ErasureConfirmed,
        "customer_id",
        S.intake,
        [S.intake],
        also_produced_by=[S.compensation, S.survey, S.alerts, S.callback],
    ),
    _spec(privacy.ErasureCompleted, "customer_id", S.intake),
)


def _check(spec: TopicSpec) -> None:
    """Refuse a registry mistake when the package is imported, not when the first event flows."""
    name = spec.model.__name__
    if not TYPE_PATTERN.match(spec.type):
        raise ValueError(f"{name}: event type {spec.type!r} is not dotted lower case")
    if not isinstance(spec.version, int) or spec.version < 1:
        raise ValueError(f"{name}: event version must be an integer >= 1")
    field = spec.model.model_fields.get(spec.key_field)
    if field is None:
        raise ValueError(f"{name}: key field {spec.key_field!r} is not a field of the model")
    if not field.is_required() or field.annotation not in (str, UUID):
        raise ValueError(f"{name}: key field {spec.key_field!r} must be a required str or UUID")
    if spec.partitions < 1:
        raise ValueError(f"{name}: partitions must be >= 1")


def _index(specs: Iterable[TopicSpec]) -> dict[tuple[str, int], TopicSpec]:
    index: dict[tuple[str, int], TopicSpec] = {}
    for spec in specs:
        _check(spec)
        if (spec.type, spec.version) in index:
            raise ValueError(f"{spec.type} v{spec.version} is registered twice")
        index[(spec.type, spec.version)] = spec
    return index


_BY_TYPE = _index(_SPECS)
# Every decoded event asks for its type's versions: answered from a table, not a scan of the registry.
_VERSIONS: dict[str, list[int]] = {}
for _type, _version in sorted(_BY_TYPE):
    _VERSIONS.setdefault(_type, []).append(_version)
_BY_MODEL = {spec.model: spec for spec in _SPECS}


def all_topics() -> tuple[TopicSpec, ...]:
    """Every registered topic, in registry order."""
    return _SPECS


def known_versions(type: str) -> list[int]:
    """The registered versions of an event type, oldest first (empty for an unknown type)."""
    return list(_VERSIONS.get(type, ()))


def spec_for(type: str, version: int) -> TopicSpec:
    """The registration of an event type and version; ``UnknownEventError`` if there is none."""
    try:
        return _BY_TYPE[(type, version)]
    except KeyError:
        known = known_versions(type)
        if known:
            raise UnknownEventError(
                f"{type} has no version {version} (known: {', '.join(map(str, known))})"
            ) from None
        raise UnknownEventError(f"unknown event type {type!r}") from None


def spec_of(model: type[Event] | Event) -> TopicSpec:
    """The registration of an event model class or instance."""
    cls = model if isinstance(model, type) else type(model)
    try:
        return _BY_MODEL[cls]
    except KeyError:
        raise UnknownEventError(f"{cls.__name__} is not a registered event model") from None


def topic_for(model: type[Event] | Event) -> str:
    """The topic an event model (class or instance) is published on."""
    return spec_of(model).topic


def dlq_topic(topic: str) -> str:
    """The dead-letter twin of a topic, where its poison messages go."""
    return topic + DLQ_SUFFIX


EVENT_RETENTION_DAYS = 7
"""How long an event topic keeps its records: long enough to catch up after an outage or a bad deploy;
shorter than any tenant's inbox retention (at least 8 days), so a record still on a topic is never
handled twice. Events carry no free text or contact details (docs/architecture.md)."""
DEAD_LETTER_RETENTION_DAYS = 14
"""How long a dead-letter topic keeps a poison record for an operator to read and replay."""
_DAY_MS = 24 * 3600 * 1000


def topic_configs(topic: str) -> dict[str, str]:
    """Broker settings a topic is created with: compaction for snapshots, a retention for the rest."""
    for spec in _SPECS:
        if spec.topic == topic and spec.compacted:
            return {"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"}
    days = DEAD_LETTER_RETENTION_DAYS if topic.endswith(DLQ_SUFFIX) else EVENT_RETENTION_DAYS
    return {"retention.ms": str(days * _DAY_MS)}


def topics_to_create() -> list[tuple[str, int]]:
    """What a deploy script creates: every topic and its dead-letter twin, with partition counts."""
    out: list[tuple[str, int]] = []
    for spec in _SPECS:
        out.append((spec.topic, spec.partitions))
        out.append((dlq_topic(spec.topic), DLQ_PARTITIONS))
    return out
