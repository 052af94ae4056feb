"""Webhooks to a tenant's partners, the pure part: which events an endpoint takes, its filter, its URL,
and the body it receives.

An endpoint subscribes to event types (`survey.answered`, or `*` for every type) and may narrow them
with a filter on the event's data, every condition of which must hold:

    {"equals":   {"team_id": "team-nl-1"},     a top-level data field has exactly this value
     "at_most":  {"satisfaction": 2},          a numeric top-level field is at most this
     "at_least": {"nps": 9}}                   ... or at least this

A field the event lacks, or holds no value in, fails its condition: `{"at_most": {"satisfaction": 2}}`
takes answers with an unhappy smiley and never one where the question was skipped. Each field must be
a field of at least one subscribed type (numeric for a bound), so a typing error is refused when the
endpoint is written rather than silently matching nothing.

The body is the event as CloudEvents structured JSON (`application/cloudevents+json`), exactly as it
travels on Kafka (hoera_events.envelope).
"""

from __future__ import annotations

import ipaddress
import re
from functools import cache
from typing import Annotated, Any, TypeGuard
from urllib.parse import urlsplit

from hoera_events.envelope import Envelope, encode
from hoera_events.registry import all_topics
from hoera_events.surveys import SurveyAnswered
from hoera_kit.refusals import Invalid
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, StringConstraints

EVERY_TYPE = "*"
FieldName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Scalar = StrictStr | StrictInt | StrictBool
Bound = Annotated[float, Field(allow_inf_nan=False)]
MAX_URL = 2048


def subscribable_types() -> dict[str, list[type[BaseModel]]]:
    """Every event type a partner may subscribe to, with its models (one per version). The tenant and
    organisation snapshots are configuration, not events: they are not forwarded."""
    types: dict[str, list[type[BaseModel]]] = {}
    for spec in all_topics():
        if not spec.compacted:
            types.setdefault(spec.type, []).append(spec.model)
    return types


class EndpointFilter(BaseModel):
    """Conditions on the event's top-level data fields; all must hold (an empty filter takes all)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    equals: dict[FieldName, Scalar] = Field(
        default_factory=dict, max_length=20, description="field: the exact value (text, number, boolean)"
    )
    at_most: dict[FieldName, Bound] = Field(
        default_factory=dict, max_length=20, description="numeric field: the largest value taken"
    )
    at_least: dict[FieldName, Bound] = Field(
        default_factory=dict, max_length=20, description="numeric field: the smallest value taken"
    )

    def matches(self, data: dict[str, Any]) -> bool:
        for name, expected in self.equals.items():
            value = data.get(name)
            if value is None or value != expected or isinstance(value, bool) != isinstance(expected, bool):
                return False
        for name, bound in self.at_most.items():
            value = data.get(name)
            if not _number(value) or value > bound:
                return False
        for name, bound in self.at_least.items():
            value = data.get(name)
            if not _number(value) or value < bound:
                return False
        return True


def _number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


@cache
def _fields(model: type[BaseModel]) -> dict[str, frozenset[str]]:
    """The JSON types each top-level field of an event model can take."""
    schema = model.model_json_schema()
    out: dict[str, frozenset[str]] = {}
    for name, prop in schema.get("properties", {}).items():
        kinds: set[str] = set()
        for option in [prop, *prop.get("anyOf", []), *prop.get("allOf", [])]:
            if "type" in option:
                kinds.add(option["type"])
            if "$ref" in option or "enum" in option:
                kinds.add("enum-or-object")
        out[name] = frozenset(kinds)
    return out


def check_subscription(event_types: list[str], filters: EndpointFilter) -> list[str]:
    """The event types, checked and without repeats; Invalid naming the field otherwise."""
    if not event_types:
        raise Invalid("name at least one event type, or * for every one", field="event_types")
    known = subscribable_types()
    for i, name in enumerate(event_types):
        if name != EVERY_TYPE and name not in known:
            raise Invalid(
                f"{name!r} is not an event type one can subscribe to (see GET /webhooks/event-types)",
                field=f"event_types.{i}",
            )
    chosen = list(dict.fromkeys(event_types))
    if EVERY_TYPE in chosen:
        chosen = [EVERY_TYPE]
    models = [m for name, ms in known.items() if EVERY_TYPE in chosen or name in chosen for m in ms]
    for part, conditions in (
        ("equals", filters.equals),
        ("at_most", filters.at_most),
        ("at_least", filters.at_least),
    ):
        for name in conditions:
            kinds = [_fields(m)[name] for m in models if name in _fields(m)]
            if not kinds:
                raise Invalid(
                    f"no subscribed event type has a field {name!r}", field=f"filters.{part}.{name}"
                )
            if part != "equals" and not any(k & {"integer", "number"} for k in kinds):
                raise Invalid(f"{name!r} is not a numeric field", field=f"filters.{part}.{name}")
    return chosen


def subscribed(event_types: list[str], event_type: str) -> bool:
    """Whether an endpoint subscribed to these types takes events of this type (before its filter)."""
    return EVERY_TYPE in event_types or event_type in event_types


def takes(event_types: list[str], filters: EndpointFilter, env: Envelope, data: dict[str, Any]) -> bool:
    """Whether an endpoint subscribed so takes this event (`data`: the event's data as JSON)."""
    return subscribed(event_types, env.type) and filters.matches(data)


_HOSTNAME = re.compile(r"^[A-Za-z0-9.-]+$")


def check_url(url: str, *, allow_plain_http: bool) -> str:
    """An endpoint's URL: https (http too in development and test), a host, no credentials in it.
    Outside development and test, no loopback, private or link-local address either: a tenant's
    administrator must not make Hoera call into its own network."""
    if len(url) > MAX_URL or any(c.isspace() or ord(c) < 32 for c in url):
        raise Invalid("the URL is too long or holds spaces or control characters", field="url")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise Invalid(f"not a URL: {exc}", field="url") from None
    schemes = ("https", "http") if allow_plain_http else ("https",)
    if parts.scheme not in schemes:
        raise Invalid("the URL must be https", field="url")
    if not parts.hostname or not _HOSTNAME.match(parts.hostname.strip("[]").replace(":", ".")):
        raise Invalid("the URL names no valid host", field="url")
    if parts.username or parts.password:
        raise Invalid("the URL must not hold credentials: the signature says who calls", field="url")
    if parts.fragment:
        raise Invalid("the URL must not have a fragment", field="url")
    try:
        _ = parts.port
    except ValueError:
        raise Invalid("the URL's port is not a number from 1 to 65535", field="url") from None
    if not allow_plain_http:
        host = parts.hostname.lower()
        if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
            raise Invalid("the URL must reach a public host", field="url")
        try:
            address = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            address = None
        if address is not None and not address.is_global:
            raise Invalid("the URL must reach a public address", field="url")
    return url


def body(env: Envelope) -> str:
    """The CloudEvents structured JSON of an event, as a partner receives it. A survey answer of old may
    carry the customer's words in its deprecated `comment`: they stay in the survey service, and are
    not passed on."""
    if isinstance(env.data, SurveyAnswered) and env.data.comment is not None:
        env = env.model_copy(update={"data": env.data.model_copy(update={"comment": None})})
    return encode(env).decode()


ABOUT_ERASURE = frozenset(
    {"customer.erasure_requested", "customer.erasure_confirmed", "customer.erasure_completed"}
)


def customer_of(env: Envelope) -> str | None:
    """The customer a delivery is about, so erasure blanks it. Not for the erasure events themselves:
    they carry nothing but the customer's id, and a partner must learn of the erasure to erase too."""
    if env.type in ABOUT_ERASURE:
        return None
    value = getattr(env.data, "customer_id", None)
    return None if value is None else str(value)
