"""Events of the recovery loop (R23, R28, R29): a case per unhappy customer, owned by the team, that
closes only with the department at fault and whether the customer was won back. Keyed by ``case_id``.

The callback service owns the cases: an unhappy answer, a missed promised date or a reopened complaint
opens one; the callback's outcome and the recovery survey after it decide how it ends.
"""

from __future__ import annotations

from enum import StrEnum

from hoera_events import examples as ex
from hoera_events.base import Event
from hoera_events.common import (
    AgentId,
    CallbackId,
    Code,
    ComplaintId,
    ContactId,
    CustomerId,
    RecoveryCaseId,
    Smiley,
    SurveyId,
    TeamId,
    UtcDateTime,
)


class RecoveryTrigger(StrEnum):
    """What opened the case."""

    unhappy_answer = "unhappy_answer"
    """A survey answer with an unhappy smiley or a detractor's NPS (R23)."""
    sla_breach = "sla_breach"
    """A complaint missed its promised date (R3, R4)."""
    complaint_reopened = "complaint_reopened"
    """The customer came back on a complaint that was closed."""


class RecoveryOutcome(StrEnum):
    """How the case ended (R29): the figure the recovery rate counts."""

    recovered = "recovered"
    """The customer is satisfied again (a positive callback, a happy recovery survey)."""
    not_recovered = "not_recovered"
    customer_left = "customer_left"
    """The customer ended the relationship: churn."""
    no_action_needed = "no_action_needed"
    """Nothing to recover (a mistaken smiley, already settled elsewhere): left out of the rate."""


class RecoveryCaseOpened(Event):
    """An unhappy customer has a case: the team works it until the customer is recovered or not."""

    event_type = "recovery.case_opened"

    case_id: RecoveryCaseId
    customer_id: CustomerId
    trigger: RecoveryTrigger
    opened_at: UtcDateTime
    due_at: UtcDateTime
    """The case's target time, on the tenant's business calendar; past it, the case escalates."""
    team_id: TeamId | None = None
    agent_id: AgentId | None = None
    """The agent of the contact or complaint the customer was unhappy about."""
    survey_id: SurveyId | None = None
    complaint_id: ComplaintId | None = None
    contact_id: ContactId | None = None
    reason: Code | None = None
    """The reason the customer chose for an unhappy answer."""
    satisfaction: Smiley | None = None
    """The smiley of the answer that opened the case."""

    @classmethod
    def example(cls) -> RecoveryCaseOpened:
        return cls(
            case_id=ex.RECOVERY_CASE,
            customer_id=ex.CUSTOMER,
            trigger=RecoveryTrigger.unhappy_answer,
            opened_at=ex.later(hours=2),
            due_at=ex.later(days=2, hours=2),
            team_id=ex.TEAM,
            agent_id=ex.AGENT,
            survey_id=ex.SURVEY,
            contact_id=ex.CONTACT,
            reason="waiting-time",
            satisfaction=1,
        )


class RecoveryCaseEscalated(Event):
    """A case passed its target time still open: the team's supervisor is told, once."""

    event_type = "recovery.case_escalated"

    case_id: RecoveryCaseId
    customer_id: CustomerId
    due_at: UtcDateTime
    escalated_at: UtcDateTime
    team_id: TeamId | None = None
    agent_id: AgentId | None = None

    @classmethod
    def example(cls) -> RecoveryCaseEscalated:
        return cls(
            case_id=ex.RECOVERY_CASE,
            customer_id=ex.CUSTOMER,
            due_at=ex.later(days=2, hours=2),
            escalated_at=ex.later(days=2, hours=2),
            team_id=ex.TEAM,
            agent_id=ex.AGENT,
        )


class RecoveryCaseClosed(Event):
    """A case ended with the department at fault (R7) and its outcome (R29)."""

    event_type = "recovery.case_closed"

    case_id: RecoveryCaseId
    customer_id: CustomerId
    trigger: RecoveryTrigger
    outcome: RecoveryOutcome
    root_cause_department: Code
    opened_at: UtcDateTime
    closed_at: UtcDateTime
    closed_by: AgentId | None = None
    """Who closed it; absent when the recovery survey's answer closed it."""
    team_id: TeamId | None = None
    agent_id: AgentId | None = None
    reason: Code | None = None
    callback_id: CallbackId | None = None
    """The callback that worked the case, if any."""
    first_satisfaction: Smiley | None = None
    """The smiley that opened the case."""
    recovery_satisfaction: Smiley | None = None
    """The smiley of the recovery survey after the callback."""

    @classmethod
    def example(cls) -> RecoveryCaseClosed:
        return cls(
            case_id=ex.RECOVERY_CASE,
            customer_id=ex.CUSTOMER,
            trigger=RecoveryTrigger.unhappy_answer,
            outcome=RecoveryOutcome.recovered,
            root_cause_department=ex.ROOT_CAUSE,
            opened_at=ex.later(hours=2),
            closed_at=ex.later(days=1, hours=3),
            team_id=ex.TEAM,
            agent_id=ex.AGENT,
            reason="waiting-time",
            callback_id=ex.CALLBACK,
            first_satisfaction=1,
            recovery_satisfaction=5,
        )
