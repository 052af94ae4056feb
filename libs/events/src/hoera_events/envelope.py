"""The envelope around every event and its wire format: a structured-mode CloudEvents 1.0 message.

Why structured mode (the whole event, attributes and data, in the Kafka message value, content type
``application/cloudevents+json``) rather than binary mode (attributes in ``ce_*`` Kafka headers):
- The message is self-contained. A dead-lettered or replayed message, a message copied to a file
  or pasted in an issue still says what it is, where it came from, for which tenant and when;
  headers are easily lost on the way (DLQ tools, mirroring, ``kafka-console-consumer``).
- The event ``id`` that consumers de-duplicate on (the inbox) is inside the payload, so it cannot
  be separated from the data it identifies.
- One JSON Schema describes the whole message (see ``asyncapi.json``).
The only CloudEvents header is ``content-type`` (``event_headers``). No attribute is copied into a
``ce_*`` header: the Kafka binding reserves those for binary mode, and readers that detect the mode
(the CloudEvents Python SDK's ``from_kafka``, for one) take any ``ce_`` header as the sign of a
binary-mode message, look for the attributes in the headers and the data in the value, and fail.
Tools that need the type read the JSON ``type``. The W3C ``traceparent`` is not part of the event
at all: it travels in Kafka headers, added by the kit's outbox relay.

Mapping of the envelope to CloudEvents attributes:

=================  ==================  =============================================================
Envelope           CloudEvents         Note
=================  ==================  =============================================================
(constant)         ``specversion``     ``"1.0"``
``id``             ``id``              UUID; consumers de-duplicate on it
``producer``       ``source``          the producing service, e.g. ``intake`` (a URI-reference)
``type``           ``type``            ``hoera.`` + type, e.g. ``hoera.complaint.raised``:
                                       CloudEvents asks for a prefixed, globally unique type;
                                       the prefix is dropped again on reading
``key``            ``subject``         the aggregate id, also the Kafka partition key
``occurred_at``    ``time``            RFC 3339 in UTC (``Z``)
(constant)         ``datacontenttype`` ``application/json``
``version``        ``dataversion``     extension attribute (integer): the event's major version
(derived)          ``dataschema``      ``urn:hoera:schema:<topic>``, naming the committed snapshot
``tenant``         ``tenant``          extension attribute: the organisation
``correlation_id`` ``correlationid``   extension attribute, absent when unset
``causation_id``   ``causationid``     extension attribute, absent when unset
``data``           ``data``            the event model as a JSON object
=================  ==================  =============================================================

Reading is tolerant: attributes and data fields it does not know are ignored, so producers may add
optional ones within a version. Everything else that is wrong raises ``EventDecodeError`` naming the
offending attribute or data field; the kit dead-letters such a message.
"""

from __future__ import annotations

import builtins
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

import pydantic_core
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    StrictInt,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from hoera_events.base import Event
from hoera_events.common import UtcDateTime
from hoera_events.registry import known_versions, spec_for, spec_of

SPECVERSION = "1.0"
TYPE_PREFIX = "hoera."
DATA_CONTENT_TYPE = "application/json"
CONTENT_TYPE = "application/cloudevents+json; charset=UTF-8"
"""The Kafka ``content-type`` header of a structured-mode CloudEvent (CloudEvents Kafka binding)."""

HEADER_CONTENT_TYPE = "content-type"

Tenant = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
"""The organisation, as a short lower-case id, e.g. ``partena``."""
Source = Annotated[str, StringConstraints(min_length=1, max_length=256)]
"""The producer: a Hoera service name (``intake``) or, for the platform, any URI-reference."""
Key = Annotated[str, StringConstraints(min_length=1, max_length=256)]

E = TypeVar("E", bound=Event)


class EventDecodeError(ValueError):
    """A message that can never be turned into an event: the kit dead-letters it.

    ``field`` names the first offending attribute or data field (``time``, ``data.amount``), or is
    ``None`` when the message is not JSON at all.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Envelope(BaseModel):
    """An event with the metadata every consumer needs (docs/architecture.md)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    id: uuid.UUID
    type: str
    version: Annotated[StrictInt, Field(ge=1)]
    occurred_at: UtcDateTime
    producer: Source
    key: Key
    tenant: Tenant
    correlation_id: uuid.UUID | None = None
    causation_id: uuid.UUID | None = None
    data: SerializeAsAny[Event]

    @field_validator("data", mode="before")
    @classmethod
    def _a_concrete_event(cls, value: object) -> object:
        # Only a built event model fits: a dict would silently become a field-less base Event.
        if not isinstance(value, Event) or type(value) is Event:
            raise ValueError("data must be an instance of a registered event model")
        return value

    @model_validator(mode="after")
    def _type_and_version_match_the_data(self) -> Envelope:
        data = type(self.data)
        if (self.type, self.version) != (data.event_type, data.event_version):
            raise ValueError(
                f"type/version {self.type} v{self.version} do not match the data "
                f"({data.__name__} is {data.event_type} v{data.event_version})"
            )
        return self

    def data_as(self, model: builtins.type[E]) -> E:
        """The data as the given model, for handlers that subscribe to one event type."""
        if not isinstance(self.data, model):
            raise TypeError(f"{self.type} v{self.version} is not a {model.__name__}")
        return self.data


def make_envelope(
    event: Event,
    *,
    producer: str,
    tenant: str,
    key: str | None = None,
    correlation_id: uuid.UUID | None = None,
    causation_id: uuid.UUID | None = None,
    occurred_at: datetime | None = None,
    id: uuid.UUID | None = None,
) -> Envelope:
    """Wrap an event for publishing. ``key`` defaults to the event's registered key field."""
    spec = spec_of(event)
    return Envelope(
        id=id or uuid.uuid4(),
        type=spec.type,
        version=spec.version,
        occurred_at=occurred_at or datetime.now(UTC),
        producer=producer,
        key=key if key is not None else spec.key_of(event),
        tenant=tenant,
        correlation_id=correlation_id,
        causation_id=causation_id,
        data=event,
    )


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def encode(env: Envelope) -> bytes:
    """The structured-mode CloudEvents JSON of an envelope (UTF-8)."""
    message: dict[str, Any] = {
        "specversion": SPECVERSION,
        "id": str(env.id),
        "source": env.producer,
        "type": TYPE_PREFIX + env.type,
        "subject": env.key,
        "time": _time(env.occurred_at),
        "datacontenttype": DATA_CONTENT_TYPE,
        "dataschema": spec_for(env.type, env.version).schema_uri,
        "dataversion": env.version,
        "tenant": env.tenant,
    }
    if env.correlation_id is not None:
        message["correlationid"] = str(env.correlation_id)
    if env.causation_id is not None:
        message["causationid"] = str(env.causation_id)
    message["data"] = env.data.model_dump(mode="json")
    return pydantic_core.to_json(message)  # compact, UTF-8 (as json.dumps with ensure_ascii=False)


class CloudEvent(BaseModel):
    """The attributes of a Hoera event on the wire, as read (unknown attributes are ignored).

    Its JSON Schema is the envelope part of each message in the AsyncAPI document.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    specversion: Literal["1.0"]
    id: uuid.UUID
    source: Source
    """The producing service."""
    type: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    """``hoera.`` followed by the event type."""
    subject: Key
    """The aggregate id; also the Kafka partition key."""
    time: UtcDateTime
    datacontenttype: Annotated[str, StringConstraints(pattern=r"^application/json(;.*)?$")] = (
        DATA_CONTENT_TYPE
    )
    dataschema: str | None = None
    """Names the JSON Schema snapshot; informative, ``dataversion`` is what is read."""
    dataversion: Annotated[StrictInt, Field(ge=1)]
    """The major version of the event type."""
    tenant: Tenant
    """The organisation (one deployment serves many contact centres)."""
    correlationid: uuid.UUID | None = None
    causationid: uuid.UUID | None = None
    data: dict[str, Any]


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(message)"


def _problem(errors: list[ErrorDetails], prefix: tuple[str, ...] = ()) -> EventDecodeError:
    """One readable message naming every offending field (the first few), e.g.
    ``data.amount.amount_cents: Input should be a valid integer``."""
    parts = [f"{_where((*prefix, *e['loc']))}: {e['msg']}" for e in errors[:5]]
    if len(errors) > 5:
        parts.append(f"... and {len(errors) - 5} more")
    first = _where((*prefix, *errors[0]["loc"])) if errors else None
    return EventDecodeError("; ".join(parts), field=first)


def decode(raw: bytes) -> Envelope:
    """Read a structured-mode CloudEvents JSON message into an envelope with its typed data.

    Raises ``EventDecodeError`` (a ``ValueError``) naming the offending field for anything that can
    never become a valid event: not JSON, a missing or malformed attribute, a naive time, an unknown
    type or version, data that does not fit the registered model.
    """
    try:
        # pydantic-core's parser (Rust): twice as fast as the json module, and stricter (NaN, a lone
        # surrogate, invalid UTF-8 are refused).
        message = pydantic_core.from_json(raw, allow_inf_nan=False)
    except ValueError as exc:
        raise EventDecodeError(f"not a JSON message: {exc}") from None
    if not isinstance(message, dict):
        raise EventDecodeError("not a JSON object: a CloudEvent is an object")
    try:
        wire = CloudEvent.model_validate(message)
    except ValidationError as exc:
        raise _problem(exc.errors()) from None

    event_type = wire.type.removeprefix(TYPE_PREFIX)
    versions = known_versions(event_type) if wire.type.startswith(TYPE_PREFIX) else []
    if not versions:
        raise EventDecodeError(f"type: unknown event type {wire.type!r}", field="type")
    if wire.dataversion not in versions:
        known = ", ".join(map(str, versions))
        raise EventDecodeError(
            f"dataversion: {event_type} has no version {wire.dataversion} (known: {known})",
            field="dataversion",
        )
    spec = spec_for(event_type, wire.dataversion)
    try:
        data = spec.model.model_validate(wire.data)
    except ValidationError as exc:
        raise _problem(exc.errors(), ("data",)) from None

    # Built without validating again: every field passed the wire model's same constraints, and the
    # data's model was chosen by this type and version (what Envelope's validators check). Every
    # consumer decodes every record: this is its hot path.
    return Envelope.model_construct(
        id=wire.id,
        type=event_type,
        version=wire.dataversion,
        occurred_at=wire.time,
        producer=wire.source,
        key=wire.subject,
        tenant=wire.tenant,
        correlation_id=wire.correlationid,
        causation_id=wire.causationid,
        data=data,
    )


def event_headers(env: Envelope) -> list[tuple[str, bytes]]:
    """The Kafka headers of a structured-mode CloudEvent: ``content-type`` alone.

    Deliberately no ``ce_`` copies of the attributes (see the module docstring): with them, a
    CloudEvents reader takes the message for binary mode. ``env`` is taken so that every producer calls
    this one function, whatever it may carry later.
    """
    return [(HEADER_CONTENT_TYPE, CONTENT_TYPE.encode())]
