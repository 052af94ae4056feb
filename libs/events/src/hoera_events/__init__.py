"""Hoera's event contracts: the envelope (CloudEvents), every event model, the topic registry.

Services import the envelope functions from here and the models from their modules
(``hoera_events.complaints``, ``hoera_events.surveys``, ...). See libs/events/README.md.
"""

from hoera_events.base import Event
from hoera_events.envelope import (
    CONTENT_TYPE,
    HEADER_CONTENT_TYPE,
    Envelope,
    EventDecodeError,
    decode,
    encode,
    event_headers,
    make_envelope,
)
from hoera_events.registry import (
    TopicSpec,
    UnknownEventError,
    all_topics,
    dlq_topic,
    spec_for,
    spec_of,
    topic_for,
    topics_to_create,
)

__all__ = [
    "CONTENT_TYPE",
    "HEADER_CONTENT_TYPE",
    "Envelope",
    "Event",
    "EventDecodeError",
    "TopicSpec",
    "UnknownEventError",
    "all_topics",
    "decode",
    "dlq_topic",
    "encode",
    "event_headers",
    "make_envelope",
    "spec_for",
    "spec_of",
    "topic_for",
    "topics_to_create",
]
