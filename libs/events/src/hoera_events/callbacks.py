"""Events of the callback service: the "please contact me" queue (R26-R29). Keyed by
``callback_id``, so a request, its claims and its attempts stay in order."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field, StrictInt

from hoera_events import examples as ex
from hoera_events.base import Event
from hoera_events.common import (
    AgentId,
    AlertId,
    CallbackId,
    Channel,
    Code,
    ComplaintId,
    ContactId,
    CustomerId,
    Language,
    PreferredMoment,
    Smiley,
    SurveyId,
    TeamId,
    UtcDateTime,
)

Attempt = Annotated[StrictInt, Field(ge=1)]


class CallbackSource(StrEnum):
    """What put the customer in the queue."""

    contact_me = "contact_me"
    """The customer asked for it in a survey (R19)."""
    unhappy_smiley = "unhappy_smiley"
    """An unhappy answer, without an explicit request (R23)."""
    complaint = "complaint"
    """The complaint's handling needs a call."""
    agent = "agent"
    """An agent or supervisor put it in by hand."""


class CallbackPriority(StrEnum):
    normal = "normal"
    high = "high"
    urgent = "urgent"
    """E.g. a customer considering leaving (R29)."""


class CallbackRequested(Event):
    """A customer is to be called back; it carries the context the agent needs first (R27)."""

    event_type = "callback.requested"

    callback_id: CallbackId
    customer_id: CustomerId
    source: CallbackSource
    priority: CallbackPriority
    language: Language
    requested_at: UtcDateTime
    due_at: UtcDateTime
    """The queue's lead-time target for this request (R28)."""
    churn_risk: bool = False
    """A retention signal (R29), e.g. the customer said they consider leaving."""
    preferred_channel: Channel = Channel.phone
    preferred_moment: PreferredMoment | None = None
    preferred_at: UtcDateTime | None = None
    survey_id: SurveyId | None = None
    complaint_id: ComplaintId | None = None
    contact_id: ContactId | None = None
    alert_id: AlertId | None = None
    agent_id: AgentId | None = None
    """The agent of the earlier contact (R27: how did they experience it)."""
    team_id: TeamId | None = None
    satisfaction: Smiley | None = None
    """The customer's smiley, when a survey answer caused the request."""
    reason_code: Code | None = None
    """What the earlier contact was about (R27)."""

    @classmethod
    def example(cls) -> CallbackRequested:
        return cls(
            callback_id=ex.CALLBACK,
            customer_id=ex.CUSTOMER,
            source=CallbackSource.contact_me,
            priority=CallbackPriority.high,
            language=Language.nl,
            requested_at=ex.later(hours=2, minutes=1),
            due_at=ex.later(days=1, hours=2),
            preferred_moment=PreferredMoment.morning,
            survey_id=ex.SURVEY,
            contact_id=ex.CONTACT,
            agent_id=ex.AGENT,
            team_id=ex.TEAM,
            satisfaction=2,
            reason_code=ex.CONTACT_REASON,
        )


class CallbackClaimed(Event):
    """An agent took a request from the queue; the lease keeps two agents from calling at once."""

    event_type = "callback.claimed"

    callback_id: CallbackId
    agent_id: AgentId
    claimed_at: UtcDateTime
    lease_until: UtcDateTime
    """When the claim lapses and the request returns to the queue unless completed."""
    attempt: Attempt
    team_id: TeamId | None = None

    @classmethod
    def example(cls) -> CallbackClaimed:
        return cls(
            callback_id=ex.CALLBACK,
            agent_id=ex.SUPERVISOR,
            claimed_at=ex.later(days=1),
            lease_until=ex.later(days=1, minutes=30),
            attempt=1,
            team_id=ex.TEAM,
        )


class CallbackOutcome(StrEnum):
    """How a callback attempt ended (R28)."""

    closed_positively = "closed_positively"
    still_unresolved = "still_unresolved"
    considering_leaving = "considering_leaving"
    """The customer is considering leaving: a retention case (R29)."""
    not_reachable = "not_reachable"
    """No answer this time; another attempt is planned (``retry_at``)."""
    unreachable_final = "unreachable_final"
    """No answer after the last planned attempt; the request is closed."""
    other = "other"


class CallbackCompleted(Event):
    """A callback attempt ended with an outcome (R28). A survey may follow a reached customer."""

    event_type = "callback.completed"

    callback_id: CallbackId
    customer_id: CustomerId
    agent_id: AgentId
    outcome: CallbackOutcome
    attempt: Attempt
    completed_at: UtcDateTime
    channel: Channel
    """How the customer was (tried to be) reached."""
    language: Language
    team_id: TeamId | None = None
    complaint_id: ComplaintId | None = None
    retry_at: UtcDateTime | None = None
    """The next attempt, when the customer was not reachable this time."""

    @classmethod
    def example(cls) -> CallbackCompleted:
        return cls(
            callback_id=ex.CALLBACK,
            customer_id=ex.CUSTOMER,
            agent_id=ex.SUPERVISOR,
            outcome=CallbackOutcome.closed_positively,
            attempt=1,
            completed_at=ex.later(days=1, minutes=12),
            channel=Channel.phone,
            language=Language.nl,
            team_id=ex.TEAM,
        )


class CallbackEscalated(Event):
    """A callback missed the queue's lead-time target without an attempt (R28); it rose in priority
    and the team's supervisor may step in (R3: overdue work is escalated)."""

    event_type = "callback.escalated"

    callback_id: CallbackId
    customer_id: CustomerId
    due_at: UtcDateTime
    """The lead-time target that passed."""
    escalated_at: UtcDateTime
    priority: CallbackPriority
    """The priority after the escalation."""
    team_id: TeamId | None = None
    churn_risk: bool = False

    @classmethod
    def example(cls) -> CallbackEscalated:
        return cls(
            callback_id=ex.CALLBACK,
            customer_id=ex.CUSTOMER,
            due_at=ex.later(days=1, hours=2),
            escalated_at=ex.later(days=1, hours=2),
            priority=CallbackPriority.urgent,
            team_id=ex.TEAM,
        )
