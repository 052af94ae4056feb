"""The shared vocabulary of the event models: ids, codes, times, money, channels, languages.

Rules that every event follows (docs/architecture.md):
- Money is integer cents plus an ISO currency, never a float: a float amount (even ``1200.0``) is
  refused, because a value that went through a float once may already have lost a cent.
- Times are timezone-aware and normalised to UTC; a naive datetime is refused rather than guessed.
- Closed sets are enums. Sets that operators change without a release (R8: complaint categories,
  root-cause departments, contact reasons, catalogue entries) are ``Code`` strings with a strict
  pattern instead: an enum there would turn every new category into a contract change.
- Events carry ids, never personal data. The id patterns refuse ``@``, ``+`` and spaces, so an
  e-mail address, an international phone number or a full name cannot slip into an id field.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, Field, StrictInt, StringConstraints

from hoera_events.base import Value


def _as_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


UtcDateTime = Annotated[AwareDatetime, AfterValidator(_as_utc)]
"""A timezone-aware moment, normalised to UTC (naive datetimes are refused)."""

ExternalId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$", max_length=64)]
"""An id owned by the organisation's own systems (the contact-centre platform, HR): opaque, never
personal data."""

CustomerId = ExternalId
AgentId = ExternalId
TeamId = ExternalId
ContactId = ExternalId

ComplaintId = UUID
CompensationId = UUID
SurveyId = UUID
AlertId = UUID
CallbackId = UUID
RecoveryCaseId = UUID

ExternalRef = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,255}$", max_length=256)
]
"""A reference into another system (a call recording, the platform's own complaint number)."""

Code = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$", max_length=64)]
"""An operator-defined code (R8): category, root-cause department, contact reason, catalogue
entry."""

Smiley = Annotated[StrictInt, Field(ge=1, le=5)]
"""A five-smiley answer: 1 is the unhappiest face, 5 the happiest. Higher is always better."""

NpsScore = Annotated[StrictInt, Field(ge=0, le=10)]
"""Net Promoter answer: 0 (would not recommend at all) to 10 (would certainly recommend)."""


class Currency(StrEnum):
    """ISO 4217 codes Hoera's organisations pay compensation in (widening this set is additive)."""

    EUR = "EUR"
    GBP = "GBP"
    CHF = "CHF"
    USD = "USD"


class Money(Value):
    """An amount of money as integer minor units (cents) and a currency; never a float."""

    amount_cents: Annotated[StrictInt, Field(ge=0)]
    """Minor units: EUR 12.50 is 1250. Floats are refused, even 1250.0."""
    currency: Currency
    """ISO 4217 code."""

    @classmethod
    def eur(cls, cents: int) -> Money:
        return cls(amount_cents=cents, currency=Currency.EUR)


class Channel(StrEnum):
    """How the customer and the contact centre talked (R17): the channels the platform reports."""

    phone = "phone"
    email = "email"
    chat = "chat"


class MessageChannel(StrEnum):
    """How Hoera sends a written message to a customer (acknowledgement, survey invitation; R30)."""

    email = "email"
    sms = "sms"
    letter = "letter"


class Language(StrEnum):
    """The customer's language (R22): Dutch, French, English."""

    nl = "nl"
    fr = "fr"
    en = "en"


class AgeBand(StrEnum):
    """A coarse age segment for response-rate figures (R20), never a birth date."""

    under_25 = "under_25"
    from_25_to_39 = "25_39"
    from_40_to_54 = "40_54"
    from_55_to_69 = "55_69"
    from_70 = "70_plus"


class PreferredMoment(StrEnum):
    """When a customer would like to be contacted (R19)."""

    asap = "asap"
    morning = "morning"
    afternoon = "afternoon"
    evening = "evening"
