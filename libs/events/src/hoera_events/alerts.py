"""Events of the alerts service: unhappy smileys to the supervisor (R23), threshold alerts (R24),
breach and abuse notices (R4, R15), deputies when absent (R3). Keyed by ``alert_id``."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, StrictInt, model_validator

from hoera_events import examples as ex
from hoera_events.base import Event, Value
from hoera_events.common import (
    AgentId,
    AlertId,
    Code,
    ComplaintId,
    ContactId,
    CustomerId,
    ExternalRef,
    RecoveryCaseId,
    Smiley,
    SurveyId,
    TeamId,
    UtcDateTime,
)


class AlertKind(StrEnum):
    unhappy_smiley = "unhappy_smiley"
    """A survey answer with an unhappy smiley (R23)."""
    threshold = "threshold"
    """A team's rolling figure dropped below its set level (R24)."""
    sla_breach = "sla_breach"
    """A complaint missed its promised date (R3, R4)."""
    complaint_new = "complaint_new"
    """A new complaint, for information (R4)."""
    escalation = "escalation"
    """Overdue work was escalated to the team lead (R3)."""
    abuse_flag = "abuse_flag"
    """The abuse watch flagged a customer (R15)."""
    recovery_overdue = "recovery_overdue"
    """A recovery case passed its target time without being closed (R29)."""


class Severity(StrEnum):
    info = "info"
    """For information only (R4: management is informed, not asked to act)."""
    warning = "warning"
    critical = "critical"


class Metric(StrEnum):
    csat = "csat"
    nps = "nps"
    ces = "ces"
    response_rate = "response_rate"
    fcr = "fcr"


class ThresholdReading(Value):
    """The figure that crossed a threshold (R24). Statistics, not money: a float is right here."""

    metric: Metric
    value: float
    threshold: float
    window_days: Annotated[StrictInt, Field(ge=1)]
    sample_size: Annotated[StrictInt, Field(ge=0)]
    """How many answers the figure is based on."""


class AlertRaised(Event):
    """Something a supervisor (or management, or the back office) must know about."""

    event_type = "alert.raised"

    alert_id: AlertId
    kind: AlertKind
    severity: Severity
    raised_at: UtcDateTime
    team_id: TeamId | None = None
    """The team whose supervisor is told; absent for notices that go to the back office."""
    agent_id: AgentId | None = None
    """The agent the alert is about, if any."""
    customer_id: CustomerId | None = None
    complaint_id: ComplaintId | None = None
    survey_id: SurveyId | None = None
    contact_id: ContactId | None = None
    satisfaction: Smiley | None = None
    """The smiley that raised an ``unhappy_smiley`` alert."""
    reading: ThresholdReading | None = None
    """The figure behind a ``threshold`` alert."""
    recording_ref: ExternalRef | None = None
    """Where the supervisor can listen to the call (R23)."""
    reason: Code | None = None
    """Why the customer was unhappy, as they chose it from the tenant's reasons."""
    recovery_case_id: RecoveryCaseId | None = None
    """The recovery case a ``recovery_overdue`` alert is about."""

    @model_validator(mode="after")
    def _threshold_has_a_reading(self) -> Self:
        if self.kind is AlertKind.threshold and self.reading is None:
            raise ValueError("a threshold alert needs its reading")
        return self

    @classmethod
    def example(cls) -> AlertRaised:
        return cls(
            alert_id=ex.ALERT,
            kind=AlertKind.unhappy_smiley,
            severity=Severity.warning,
            raised_at=ex.later(hours=2, minutes=1),
            team_id=ex.TEAM,
            agent_id=ex.AGENT,
            customer_id=ex.CUSTOMER,
            survey_id=ex.SURVEY,
            contact_id=ex.CONTACT,
            satisfaction=2,
            recording_ref=ex.RECORDING,
        )


class RecipientRole(StrEnum):
    supervisor = "supervisor"
    deputy = "deputy"
    """Stands in for an absent supervisor (R3)."""
    management = "management"
    back_office = "back_office"


class AlertChannel(StrEnum):
    email = "email"
    dashboard = "dashboard"


class AlertDelivered(Event):
    """An alert reached a person (the e-mail was accepted by the mail server, or it was shown)."""

    event_type = "alert.delivered"

    alert_id: AlertId
    recipient_id: AgentId
    """The employee id of the recipient; their e-mail address stays in the alerts service."""
    recipient_role: RecipientRole
    channel: AlertChannel
    delivered_at: UtcDateTime
    team_id: TeamId | None = None
    deputy_for: AgentId | None = None
    """The absent supervisor the deputy stands in for (R3)."""

    @classmethod
    def example(cls) -> AlertDelivered:
        return cls(
            alert_id=ex.ALERT,
            recipient_id=ex.SUPERVISOR,
            recipient_role=RecipientRole.supervisor,
            channel=AlertChannel.email,
            delivered_at=ex.later(hours=2, minutes=2),
            team_id=ex.TEAM,
        )


class AlertAction(StrEnum):
    """What the supervisor did about it (R23)."""

    coached = "coached"
    """Coached the agent."""
    information_fixed = "information_fixed"
    """Fixed unclear or wrong information."""
    other_department_at_fault = "other_department_at_fault"
    """The cause lies in another department or process (R7)."""
    no_action_needed = "no_action_needed"


class AlertAcknowledged(Event):
    """A supervisor handled an alert and recorded what they did (R23)."""

    event_type = "alert.acknowledged"

    alert_id: AlertId
    acknowledged_by: AgentId
    action: AlertAction
    acknowledged_at: UtcDateTime
    team_id: TeamId | None = None
    root_cause_department: Code | None = None
    """The department at fault, when the action says it was another department (R7)."""

    @classmethod
    def example(cls) -> AlertAcknowledged:
        return cls(
            alert_id=ex.ALERT,
            acknowledged_by=ex.SUPERVISOR,
            action=AlertAction.other_department_at_fault,
            acknowledged_at=ex.later(hours=3),
            team_id=ex.TEAM,
            root_cause_department=ex.ROOT_CAUSE,
        )
