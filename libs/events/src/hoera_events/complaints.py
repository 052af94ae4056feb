"""Events of the intake service: the complaint dossier's life, from raised to closed (R1-R10).

Every complaint event carries ``complaint_id`` (its partition key, so a dossier's events stay in
order) and ``customer_id``; the ones that other services act on also carry the team, agent and
category they need, so no consumer has to read intake's tables.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from hoera_events import examples as ex
from hoera_events.base import Event
from hoera_events.common import (
    AgentId,
    Channel,
    Code,
    ComplaintId,
    ContactId,
    CustomerId,
    ExternalRef,
    Language,
    MessageChannel,
    TeamId,
    UtcDateTime,
)


class ComplaintRaised(Event):
    """A complaint dossier was opened (R1). Management is informed of it (R4)."""

    event_type = "complaint.raised"

    complaint_id: ComplaintId
    customer_id: CustomerId
    channel: Channel
    """Where the customer complained."""
    category: Code
    """Catalogue category (R13): the key of the cost ledger (R16) and of the dashboard split."""
    language: Language
    raised_at: UtcDateTime
    due_date: date
    """The promised answer date of the acknowledgement (R2), in the organisation's calendar."""
    team_id: TeamId | None = None
    """The team that owns the dossier, once known; alerts go to its supervisor."""
    agent_id: AgentId | None = None
    """The agent who took the complaint."""
    contact_id: ContactId | None = None
    """The contact in which the complaint was made, if any."""
    platform_ref: ExternalRef | None = None
    """The platform's own number, when the complaint came from the platform."""
    about_deceased: bool = False
    """The complaint concerns a deceased customer (R10): no surveys, one named owner."""

    @classmethod
    def example(cls) -> ComplaintRaised:
        return cls(
            complaint_id=ex.COMPLAINT,
            customer_id=ex.CUSTOMER,
            channel=Channel.phone,
            category=ex.CATEGORY,
            language=Language.nl,
            raised_at=ex.later(minutes=2),
            due_date=ex.day(5),
            team_id=ex.TEAM,
            agent_id=ex.AGENT,
            contact_id=ex.CONTACT,
            platform_ref=ex.PLATFORM_REF,
        )


class ComplaintAcknowledged(Event):
    """The complainant was told that the complaint arrived and by when to expect an answer (R2)."""

    event_type = "complaint.acknowledged"

    complaint_id: ComplaintId
    customer_id: CustomerId
    acknowledged_at: UtcDateTime
    promised_date: date
    """The date promised to the customer."""
    language: Language
    delivery_channel: MessageChannel

    @classmethod
    def example(cls) -> ComplaintAcknowledged:
        return cls(
            complaint_id=ex.COMPLAINT,
            customer_id=ex.CUSTOMER,
            acknowledged_at=ex.later(minutes=3),
            promised_date=ex.day(5),
            language=Language.nl,
            delivery_channel=MessageChannel.email,
        )


class AssignmentReason(StrEnum):
    """Why a complaint got (another) owner."""

    new = "new"
    """The first assignment of a new dossier."""
    manual = "manual"
    """A supervisor or agent moved it by hand."""
    absence = "absence"
    """The owner is absent and the work must not get stuck (R3)."""
    escalation = "escalation"
    """Overdue work was escalated to another agent (R3)."""


class ComplaintAssigned(Event):
    """A complaint got an owning agent (and team)."""

    event_type = "complaint.assigned"

    complaint_id: ComplaintId
    customer_id: CustomerId
    agent_id: AgentId
    team_id: TeamId
    assigned_at: UtcDateTime
    reason: AssignmentReason
    previous_agent_id: AgentId | None = None

    @classmethod
    def example(cls) -> ComplaintAssigned:
        return cls(
            complaint_id=ex.COMPLAINT,
            customer_id=ex.CUSTOMER,
            agent_id=ex.AGENT,
            team_id=ex.TEAM,
            assigned_at=ex.later(minutes=2),
            reason=AssignmentReason.new,
        )


class EscalationStep(StrEnum):
    """The steps of the escalation ladder for work that risks missing its promised date (R3)."""

    reminder = "reminder"
    """The owner is reminded."""
    escalated_to_lead = "escalated_to_lead"
    """The team's supervisor is asked to step in."""
    reassigned_absence = "reassigned_absence"
    """The owner is absent; the work moved to someone who is not."""


class ComplaintEscalated(Event):
    """Work on a complaint risks missing its promised date and went one step up the ladder (R3)."""

    event_type = "complaint.escalated"

    complaint_id: ComplaintId
    customer_id: CustomerId
    step: EscalationStep
    escalated_at: UtcDateTime
    due_date: date
    team_id: TeamId | None = None
    agent_id: AgentId | None = None
    """The owner at the time of escalation."""
    escalated_to_agent_id: AgentId | None = None
    """The supervisor or colleague who now holds the work, if it moved."""

    @classmethod
    def example(cls) -> ComplaintEscalated:
        return cls(
            complaint_id=ex.COMPLAINT,
            customer_id=ex.CUSTOMER,
            step=EscalationStep.reminder,
            escalated_at=ex.later(days=4),
            due_date=ex.day(5),
            team_id=ex.TEAM,
            agent_id=ex.AGENT,
        )


class ComplaintSlaBreached(Event):
    """A complaint passed its promised date without an answer (R3); management is informed (R4)."""

    event_type = "complaint.sla_breached"

    complaint_id: ComplaintId
    customer_id: CustomerId
    category: Code
    due_date: date
    breached_at: UtcDateTime
    team_id: TeamId | None = None
    agent_id: AgentId | None = None

    @classmethod
    def example(cls) -> ComplaintSlaBreached:
        return cls(
            complaint_id=ex.COMPLAINT,
            customer_id=ex.CUSTOMER,
            category=ex.CATEGORY,
            due_date=ex.day(5),
            breached_at=ex.later(days=6),
            team_id=ex.TEAM,
            agent_id=ex.AGENT,
        )


class ComplaintResolved(Event):
    """The complaint got its answer, with the department at fault (R7) and whether the first contact
    resolved it (R9). Compensation books its cost by this root cause (R16)."""

    event_type = "complaint.resolved"

    complaint_id: ComplaintId
    customer_id: CustomerId
    category: Code
    root_cause_department: Code
    """The department or process at fault (R7): most complaints start outside customer service."""
    first_contact_resolution: bool
    """Resolved in the contact in which it was raised (R9)."""
    resolved_at: UtcDateTime
    team_id: TeamId | None = None
    agent_id: AgentId | None = None

    @classmethod
    def example(cls) -> ComplaintResolved:
        return cls(
            complaint_id=ex.COMPLAINT,
            customer_id=ex.CUSTOMER,
            category=ex.CATEGORY,
            root_cause_department=ex.ROOT_CAUSE,
            first_contact_resolution=False,
            resolved_at=ex.later(days=3),
            team_id=ex.TEAM,
            agent_id=ex.AGENT,
        )


class ComplaintClosed(Event):
    """The dossier is closed; the complainant may now be asked for feedback (R5)."""

    event_type = "complaint.closed"

    complaint_id: ComplaintId
    customer_id: CustomerId
    category: Code
    channel: Channel
    """The channel of the complaint, for the survey's choice of questions."""
    language: Language
    closed_at: UtcDateTime
    team_id: TeamId | None = None
    agent_id: AgentId | None = None
    """The owner at closing: the survey asks about them and alerts reach their supervisor."""
    about_deceased: bool = False
    """Never survey about a deceased customer (R10)."""

    @classmethod
    def example(cls) -> ComplaintClosed:
        return cls(
            complaint_id=ex.COMPLAINT,
            customer_id=ex.CUSTOMER,
            category=ex.CATEGORY,
            channel=Channel.phone,
            language=Language.nl,
            closed_at=ex.later(days=3, hours=1),
            team_id=ex.TEAM,
            agent_id=ex.AGENT,
        )


class ReopenReason(StrEnum):
    customer_disagrees = "customer_disagrees"
    new_information = "new_information"
    resolution_not_executed = "resolution_not_executed"
    """The promised fix (a refund, a correction) did not happen."""


class ComplaintReopened(Event):
    """A closed or resolved complaint is open again and has a new promised date."""

    event_type = "complaint.reopened"

    complaint_id: ComplaintId
    customer_id: CustomerId
    reason: ReopenReason
    reopened_at: UtcDateTime
    due_date: date
    team_id: TeamId | None = None
    agent_id: AgentId | None = None

    @classmethod
    def example(cls) -> ComplaintReopened:
        return cls(
            complaint_id=ex.COMPLAINT,
            customer_id=ex.CUSTOMER,
            reason=ReopenReason.resolution_not_executed,
            reopened_at=ex.later(days=10),
            due_date=ex.day(13),
            team_id=ex.TEAM,
            agent_id=ex.AGENT,
        )


class DueDateChangeReason(StrEnum):
    waiting_for_customer = "waiting_for_customer"
    waiting_for_department = "waiting_for_department"
    agreed_with_customer = "agreed_with_customer"
    reopened = "reopened"
    rules_changed = "rules_changed"
    """The operator changed the SLA days of the category (R8)."""


class ComplaintDueDateChanged(Event):
    """The promised date of a complaint moved; the customer is told (R5) and the timers follow."""

    event_type = "complaint.due_date_changed"

    complaint_id: ComplaintId
    customer_id: CustomerId
    previous_due_date: date
    due_date: date
    reason: DueDateChangeReason
    changed_at: UtcDateTime

    @classmethod
    def example(cls) -> ComplaintDueDateChanged:
        return cls(
            complaint_id=ex.COMPLAINT,
            customer_id=ex.CUSTOMER,
            previous_due_date=ex.day(5),
            due_date=ex.day(8),
            reason=DueDateChangeReason.waiting_for_department,
            changed_at=ex.later(days=2),
        )


class CustomerMarkedDeceased(Event):
    """The customer has died (R10): no more surveys or callbacks, one named agent owns the case."""

    event_type = "customer.marked_deceased"

    customer_id: CustomerId
    owner_agent_id: AgentId
    """The one named contact person for the bereaved (R10)."""
    marked_at: UtcDateTime
    team_id: TeamId | None = None
    complaint_id: ComplaintId | None = None
    """The complaint in which it became known, if any."""

    @classmethod
    def example(cls) -> CustomerMarkedDeceased:
        return cls(
            customer_id=ex.CUSTOMER,
            owner_agent_id=ex.AGENT,
            marked_at=ex.later(days=20),
            team_id=ex.TEAM,
        )


class CustomerDeceasedMarkWithdrawn(Event):
    """A supervisor withdrew a mistaken deceased mark (R10): surveys and callbacks may reach the
    customer again, and mail goes to the customer's own address, no longer to the next of kin."""

    event_type = "customer.deceased_mark_withdrawn"

    customer_id: CustomerId
    withdrawn_by: AgentId
    """The supervisor who undid the mark."""
    withdrawn_at: UtcDateTime
    team_id: TeamId | None = None

    @classmethod
    def example(cls) -> CustomerDeceasedMarkWithdrawn:
        return cls(
            customer_id=ex.CUSTOMER,
            withdrawn_by=ex.AGENT,
            withdrawn_at=ex.later(days=21),
            team_id=ex.TEAM,
        )
