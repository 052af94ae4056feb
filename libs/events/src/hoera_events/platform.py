"""Events the contact-centre platform publishes into Hoera (its telephony, e-mail and chat systems).

These are the platform topics of docs/architecture.md. The platform owns the customer's name, address, e-mail
address and phone number; it sends only its own ids, and Hoera's services ask it for contact details
when they need to send something.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from hoera_events import examples as ex
from hoera_events.base import Event
from hoera_events.common import (
    AgeBand,
    AgentId,
    Channel,
    Code,
    ContactId,
    CustomerId,
    ExternalRef,
    Language,
    TeamId,
    UtcDateTime,
)


class ContactClosed(Event):
    """A phone call, e-mail thread or chat with a customer ended (R17: the survey trigger)."""

    event_type = "contact.closed"

    contact_id: ContactId
    """The platform's id of the contact."""
    customer_id: CustomerId
    channel: Channel
    agent_id: AgentId
    """The agent who handled the contact (the survey asks about them, R18)."""
    team_id: TeamId
    """The agent's team: an unhappy smiley about this contact goes to its supervisor (R23)."""
    closed_at: UtcDateTime
    language: Language
    """The language the contact was held in; the survey uses it (R22)."""
    reason_code: Code | None = None
    """What the contact was about, as the platform's topic code (context for a callback, R27)."""
    age_band: AgeBand | None = None
    """Segment for response-rate figures (R20), where the platform knows it."""
    recording_ref: ExternalRef | None = None
    """Where the supervisor can listen to the call (R23)."""
    about_deceased: bool = False
    """The contact was about a deceased customer: never survey them (R10)."""
    first_contact_resolved: bool | None = None
    """The agent resolved the question in this contact (R9), where the platform records it."""

    @classmethod
    def example(cls) -> ContactClosed:
        return cls(
            contact_id=ex.CONTACT,
            customer_id=ex.CUSTOMER,
            channel=Channel.phone,
            agent_id=ex.AGENT,
            team_id=ex.TEAM,
            closed_at=ex.AT,
            language=Language.nl,
            reason_code=ex.CONTACT_REASON,
            age_band=AgeBand.from_55_to_69,
            recording_ref=ex.RECORDING,
            first_contact_resolved=False,
        )


class ComplaintReceived(Event):
    """The platform hands a complaint to Hoera (the Kafka twin of intake's HTTP submission).

    Intake opens a dossier for it and answers with ``complaint.raised``; it de-duplicates on
    ``platform_ref``, so the platform may safely send the same complaint twice.
    """

    event_type = "complaint.received"

    platform_ref: ExternalRef
    """The platform's own number for this complaint."""
    customer_id: CustomerId
    channel: Channel
    category: Code
    """The complaint category as chosen by the agent, from the catalogue (R13)."""
    language: Language
    received_at: UtcDateTime
    summary: Annotated[str, Field(min_length=1, max_length=4000)]
    """What the customer complains about, in their or the agent's words. Free text is allowed here,
    contact details are not: the platform keeps addresses, e-mail addresses and phone numbers."""
    contact_id: ContactId | None = None
    """The contact in which the complaint was made, if any."""
    agent_id: AgentId | None = None
    team_id: TeamId | None = None
    about_deceased: bool = False
    """The complaint concerns a deceased customer (R10)."""

    @classmethod
    def example(cls) -> ComplaintReceived:
        return cls(
            platform_ref=ex.PLATFORM_REF,
            customer_id=ex.CUSTOMER,
            channel=Channel.phone,
            category=ex.CATEGORY,
            language=Language.nl,
            received_at=ex.later(minutes=1),
            summary="Refund of the March invoice promised twice, still not received after 6 weeks.",
            contact_id=ex.CONTACT,
            agent_id=ex.AGENT,
            team_id=ex.TEAM,
        )
