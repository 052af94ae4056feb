"""The base class of every event model: frozen, tolerant, and routed by an explicit type string.

Why these settings:
- ``frozen``: an event is a fact that happened; nobody edits it after the fact.
- ``extra="ignore"``: the tolerant reader. A producer may add optional fields within a version
  before every consumer is upgraded; an older consumer must read such an event, not dead-letter it.
- ``event_type``/``event_version`` class variables: the registry and the envelope route on these
  strings, never on the Python class name, so a class can be renamed or moved without touching a
  topic.
- ``use_attribute_docstrings``: the docstring under a field becomes its description in the JSON
  Schema snapshots and the AsyncAPI document, so the contract documents itself in one place.
"""

from __future__ import annotations

from typing import ClassVar, Self

from pydantic import BaseModel, ConfigDict


class Event(BaseModel):
    """A fact that happened in Hoera (or on the contact-centre platform), as published on Kafka."""

    model_config = ConfigDict(frozen=True, extra="ignore", use_attribute_docstrings=True)

    event_type: ClassVar[str]
    """Dotted, lower-case, past tense: ``complaint.raised``. Part of the topic name."""
    event_version: ClassVar[int] = 1
    """The major version: a breaking change is a new version (and so a new topic)."""

    @classmethod
    def example(cls) -> Self:
        """A realistic instance, used by the round-trip tests and as the AsyncAPI example."""
        raise NotImplementedError(f"{cls.__name__} has no example()")


class Value(BaseModel):
    """A small value object nested in events (money, a threshold reading); same rules as Event."""

    model_config = ConfigDict(frozen=True, extra="ignore", use_attribute_docstrings=True)
