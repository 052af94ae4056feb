"""Events of the compensation service: apology and proposal (R11-R12), the EUR 300 mandate and its
approvals (R14), the abuse watch (R15) and the cost ledger's facts (R16).

Amounts are ``Money`` (integer cents). Compensation events are keyed by ``compensation_id``; the
abuse flag is about a person, so it is keyed by ``customer_id``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import Field, StrictInt, model_validator

from hoera_events import examples as ex
from hoera_events.base import Event
from hoera_events.common import (
    AgentId,
    Code,
    CompensationId,
    ComplaintId,
    CustomerId,
    Money,
    TeamId,
    UtcDateTime,
)


class CompensationKind(StrEnum):
    """R12: emotional (an apology, a gesture) or financial (only for real financial damage)."""

    emotional = "emotional"
    financial = "financial"


class CompensationProposed(Event):
    """An agent proposed a compensation for a complaint, after the apology (R11)."""

    event_type = "compensation.proposed"

    compensation_id: CompensationId
    complaint_id: ComplaintId
    customer_id: CustomerId
    kind: CompensationKind
    proposed_by: AgentId
    proposed_at: UtcDateTime
    category: Code
    """The complaint's category, as the cost ledger counts it (R16)."""
    amount: Money | None = None
    """Required for a financial compensation; an emotional one may have a value (a voucher)."""
    catalogue_entry: Code | None = None
    """The catalogue answer the agent followed (R13), if any."""
    team_id: TeamId | None = None

    @model_validator(mode="after")
    def _financial_has_an_amount(self) -> Self:
        if self.kind is CompensationKind.financial and self.amount is None:
            raise ValueError("a financial compensation needs an amount")
        return self

    @classmethod
    def example(cls) -> CompensationProposed:
        return cls(
            compensation_id=ex.COMPENSATION,
            complaint_id=ex.COMPLAINT,
            customer_id=ex.CUSTOMER,
            kind=CompensationKind.financial,
            proposed_by=ex.AGENT,
            proposed_at=ex.later(days=1),
            category=ex.CATEGORY,
            amount=Money.eur(2500),
            catalogue_entry=ex.CATALOGUE_ENTRY,
            team_id=ex.TEAM,
        )


class CompensationApprovalRequested(Event):
    """A proposed amount is above the agent's mandate and waits for an approver (R14)."""

    event_type = "compensation.approval_requested"

    compensation_id: CompensationId
    complaint_id: ComplaintId
    customer_id: CustomerId
    amount: Money
    mandate: Money
    """The requesting agent's mandate at the time (EUR 300 by default, R14)."""
    requested_by: AgentId
    requested_at: UtcDateTime
    category: Code
    team_id: TeamId | None = None

    @classmethod
    def example(cls) -> CompensationApprovalRequested:
        return cls(
            compensation_id=ex.COMPENSATION,
            complaint_id=ex.COMPLAINT,
            customer_id=ex.CUSTOMER,
            amount=Money.eur(45000),
            mandate=Money.eur(30000),
            requested_by=ex.AGENT,
            requested_at=ex.later(days=1),
            category=ex.CATEGORY,
            team_id=ex.TEAM,
        )


class CompensationApprovalEscalated(Event):
    """An approval request passed its deadline undecided (R14; R3: work must not get stuck), so the
    back office's lead is told. The request stays open: any approver may still decide it."""

    event_type = "compensation.approval_escalated"

    compensation_id: CompensationId
    complaint_id: ComplaintId
    customer_id: CustomerId
    amount: Money
    requested_by: AgentId
    requested_at: UtcDateTime
    deadline_at: UtcDateTime
    """When the approval was due (operator data, e.g. two business days after the request)."""
    escalated_at: UtcDateTime
    category: Code
    team_id: TeamId | None = None

    @classmethod
    def example(cls) -> CompensationApprovalEscalated:
        return cls(
            compensation_id=ex.COMPENSATION,
            complaint_id=ex.COMPLAINT,
            customer_id=ex.CUSTOMER,
            amount=Money.eur(45000),
            requested_by=ex.AGENT,
            requested_at=ex.later(days=1),
            deadline_at=ex.later(days=3),
            escalated_at=ex.later(days=3),
            category=ex.CATEGORY,
            team_id=ex.TEAM,
        )


class CompensationOutcome(StrEnum):
    granted_by_agent = "granted_by_agent"
    """Within the agent's own mandate (R14)."""
    approved = "approved"
    """Above the mandate, approved by an approver."""
    rejected = "rejected"
    """Refused by the approver."""


class CompensationDecided(Event):
    """The decision on a compensation: the fact the cost ledger books (R16) and the abuse watch
    counts (R15)."""

    event_type = "compensation.decided"

    compensation_id: CompensationId
    complaint_id: ComplaintId
    customer_id: CustomerId
    kind: CompensationKind
    outcome: CompensationOutcome
    decided_by: AgentId
    """The agent (within the mandate) or the approver."""
    decided_at: UtcDateTime
    category: Code
    amount: Money | None = None
    """What is granted; required when a financial compensation is granted or approved."""
    reason_code: Code | None = None
    """The operator-defined reason for the decision, e.g. ``no-financial-damage`` (R12)."""
    team_id: TeamId | None = None
    root_cause_department: Code | None = None
    """Known when the complaint was resolved before the decision (R16 cost per root cause)."""

    @model_validator(mode="after")
    def _granted_money_has_an_amount(self) -> Self:
        granted = self.outcome is not CompensationOutcome.rejected
        if granted and self.kind is CompensationKind.financial and self.amount is None:
            raise ValueError("a granted financial compensation needs an amount")
        return self

    @classmethod
    def example(cls) -> CompensationDecided:
        return cls(
            compensation_id=ex.COMPENSATION,
            complaint_id=ex.COMPLAINT,
            customer_id=ex.CUSTOMER,
            kind=CompensationKind.financial,
            outcome=CompensationOutcome.granted_by_agent,
            decided_by=ex.AGENT,
            decided_at=ex.later(days=1, minutes=5),
            category=ex.CATEGORY,
            amount=Money.eur(2500),
            team_id=ex.TEAM,
        )


class FlagReason(StrEnum):
    repeated_financial_compensation = "repeated_financial_compensation"
    """The same customer keeps receiving financial compensation (R15)."""


class CustomerFlaggedForReview(Event):
    """The abuse watch (R15) asks a person to look at a customer; it accuses nobody."""

    event_type = "customer.flagged_for_review"

    customer_id: CustomerId
    reason: FlagReason
    financial_compensations: Annotated[StrictInt, Field(ge=1)]
    """How many financial compensations the customer received within the window."""
    total: Money
    """Their sum within the window."""
    window_days: Annotated[StrictInt, Field(ge=1)]
    flagged_at: UtcDateTime
    latest_complaint_id: ComplaintId | None = None
    team_id: TeamId | None = None
    """The team of the latest complaint, for routing the notice."""

    @classmethod
    def example(cls) -> CustomerFlaggedForReview:
        return cls(
            customer_id=ex.CUSTOMER,
            reason=FlagReason.repeated_financial_compensation,
            financial_compensations=3,
            total=Money.eur(61000),
            window_days=365,
            flagged_at=ex.later(days=1, minutes=6),
            latest_complaint_id=ex.COMPLAINT,
            team_id=ex.TEAM,
        )
