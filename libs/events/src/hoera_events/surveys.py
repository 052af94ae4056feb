"""Events of the survey service: invitations within one contact budget per customer (R17, R21, R30),
suppressions (R10, R21) and the smiley answers (R18-R19).

``survey.invited`` and ``survey.answered`` are keyed by ``survey_id``; a suppression has no survey,
so it is keyed by ``customer_id``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from hoera_events import examples as ex
from hoera_events.base import Event, Value
from hoera_events.common import (
    AgeBand,
    AgentId,
    CallbackId,
    Channel,
    Code,
    ComplaintId,
    ContactId,
    CustomerId,
    ExternalRef,
    Language,
    MessageChannel,
    NpsScore,
    PreferredMoment,
    Smiley,
    SurveyId,
    TeamId,
    UtcDateTime,
)


class SurveyTrigger(StrEnum):
    """What the survey asks about."""

    contact_closed = "contact_closed"
    complaint_closed = "complaint_closed"
    callback_completed = "callback_completed"


class SurveyInvited(Event):
    """A customer was invited to a survey through a signed, single-use link."""

    event_type = "survey.invited"

    survey_id: SurveyId
    customer_id: CustomerId
    trigger: SurveyTrigger
    channel: Channel
    """The channel of the contact being evaluated."""
    language: Language
    delivery_channel: MessageChannel
    """How the invitation was sent."""
    invited_at: UtcDateTime
    expires_at: UtcDateTime
    contact_id: ContactId | None = None
    complaint_id: ComplaintId | None = None
    callback_id: CallbackId | None = None
    agent_id: AgentId | None = None
    team_id: TeamId | None = None
    age_band: AgeBand | None = None
    """Segment for response-rate figures (R20)."""

    @classmethod
    def example(cls) -> SurveyInvited:
        return cls(
            survey_id=ex.SURVEY,
            customer_id=ex.CUSTOMER,
            trigger=SurveyTrigger.contact_closed,
            channel=Channel.phone,
            language=Language.nl,
            delivery_channel=MessageChannel.email,
            invited_at=ex.later(minutes=10),
            expires_at=ex.later(days=7, minutes=10),
            contact_id=ex.CONTACT,
            agent_id=ex.AGENT,
            team_id=ex.TEAM,
            age_band=AgeBand.from_55_to_69,
        )


class SuppressionReason(StrEnum):
    """Why a survey that a trigger asked for was not sent."""

    fatigue_cap = "fatigue_cap"
    """The customer's contact budget for the period is used up (R21, R30)."""
    deceased = "deceased"
    """The contact concerned a deceased customer (R10)."""
    opted_out = "opted_out"
    already_invited = "already_invited"
    """The same contact or complaint already has an invitation."""
    channel_not_surveyed = "channel_not_surveyed"
    """The rules (R8) do not survey this channel or trigger."""
    no_delivery_address = "no_delivery_address"
    """The platform has no e-mail address or mobile number for the customer."""


class SurveySuppressed(Event):
    """A trigger asked for a survey and the survey service decided not to send one."""

    event_type = "survey.suppressed"

    customer_id: CustomerId
    trigger: SurveyTrigger
    reason: SuppressionReason
    suppressed_at: UtcDateTime
    channel: Channel | None = None
    contact_id: ContactId | None = None
    complaint_id: ComplaintId | None = None
    callback_id: CallbackId | None = None
    team_id: TeamId | None = None

    @classmethod
    def example(cls) -> SurveySuppressed:
        return cls(
            customer_id=ex.CUSTOMER,
            trigger=SurveyTrigger.complaint_closed,
            reason=SuppressionReason.fatigue_cap,
            suppressed_at=ex.later(days=3, hours=1),
            channel=Channel.phone,
            complaint_id=ex.COMPLAINT,
            team_id=ex.TEAM,
        )


class AgentAttribute(StrEnum):
    """The agent's qualities the survey asks about (R18)."""

    friendly = "friendly"
    helpful = "helpful"
    clear = "clear"
    expert = "expert"
    empathetic = "empathetic"
    thinking_along = "thinking_along"


class ContactMeRequest(Value):
    """The customer asked to be contacted again (R19). Its presence is the request."""

    preferred_channel: Channel = Channel.phone
    preferred_moment: PreferredMoment = PreferredMoment.asap
    preferred_at: UtcDateTime | None = None
    """A moment the customer picked, if the page offered one."""


class SurveyAnswered(Event):
    """A customer answered a survey. Every question may have been skipped, so every score is
    optional; an unhappy smiley here is what mails the supervisor (R23)."""

    event_type = "survey.answered"

    survey_id: SurveyId
    customer_id: CustomerId
    trigger: SurveyTrigger
    channel: Channel
    """The channel of the contact being evaluated."""
    language: Language
    """The language the customer answered in."""
    answered_at: UtcDateTime
    contact_id: ContactId | None = None
    complaint_id: ComplaintId | None = None
    callback_id: CallbackId | None = None
    agent_id: AgentId | None = None
    team_id: TeamId | None = None
    satisfaction: Smiley | None = None
    """CSAT: how satisfied with the contact, 1 (unhappiest smiley) to 5 (R18)."""
    effort: Smiley | None = None
    """CES as a smiley: 1 was very hard, 5 was very easy to get the question solved (R18)."""
    nps: NpsScore | None = None
    """Would recommend us, 0-10 (R18)."""
    attributes: dict[AgentAttribute, Smiley] = Field(default_factory=dict)
    """The agent's qualities, each 1-5 (R18); a skipped one is absent."""
    comment: Annotated[str, Field(max_length=2000)] | None = None
    """Deprecated, never filled by current producers: the customer's own words travelled here once,
    and events of that time still carry them. Kafka's log cannot be erased, so the words now stay in
    the survey service (see `commented`); a consumer reads this field only as it comes."""
    commented: bool = False
    """The customer wrote a comment; its words stay in the survey service, which answers
    POST /internal/survey-comments (a service's call, naming the tenant and the survey ids)."""
    reason: Code | None = None
    """Why the customer was unhappy: one of the reasons the tenant's operator defined (asked only
    after an unhappy smiley); a code, so no free text travels."""
    topics: list[Code] = Field(default_factory=list, max_length=50)
    """The tenant's comment topics the customer's words were tagged with (matched on lemmas in
    the survey service); codes only, the words stay in the survey service."""
    contact_me: ContactMeRequest | None = None
    """Present when the customer asked to be contacted again (R19)."""
    recording_ref: ExternalRef | None = None
    """Where the supervisor can listen to the evaluated call (R23)."""
    age_band: AgeBand | None = None
    """Segment for response-rate figures (R20)."""

    @property
    def has_comment(self) -> bool:
        """The customer wrote something: said by `commented`, or words an older event carries."""
        return self.commented or bool(self.comment and self.comment.strip())

    @classmethod
    def example(cls) -> SurveyAnswered:
        return cls(
            survey_id=ex.SURVEY,
            customer_id=ex.CUSTOMER,
            trigger=SurveyTrigger.contact_closed,
            channel=Channel.phone,
            language=Language.nl,
            answered_at=ex.later(hours=2),
            contact_id=ex.CONTACT,
            agent_id=ex.AGENT,
            team_id=ex.TEAM,
            satisfaction=2,
            effort=2,
            nps=4,
            attributes={AgentAttribute.friendly: 5, AgentAttribute.clear: 2},
            commented=True,
            reason="waiting-time",
            topics=["waiting", "payment"],
            contact_me=ContactMeRequest(
                preferred_channel=Channel.phone, preferred_moment=PreferredMoment.morning
            ),
            recording_ref=ex.RECORDING,
            age_band=AgeBand.from_55_to_69,
        )
