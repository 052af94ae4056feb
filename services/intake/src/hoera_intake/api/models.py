"""What goes in and out over HTTP: request bodies (strict: unknown fields are refused) and views."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

from hoera_events.common import (
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
from hoera_events.complaints import DueDateChangeReason, ReopenReason
from hoera_events.platform import ContactClosed
from pydantic import BaseModel, ConfigDict, StringConstraints

from hoera_intake import domain
from hoera_intake.domain import Complaint
from hoera_intake.handlers.work import Dossier
from hoera_intake.store import Complainant

MAX_TEXT = 4000
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$", max_length=254)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT)]
Phone = Annotated[str, StringConstraints(pattern=r"^\+?[0-9][0-9 ]{5,19}$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---- the platform's edge ----------------------------------------------------------------------------


class ComplainantDetails(_In):
    """How to reach the complainant, when the platform hands it over (else the customer directory)."""

    email: Email | None = None
    phone: Phone | None = None
    prefer_sms: bool = False
    next_of_kin_email: Email | None = None
    """R10: where messages go when the customer has died."""

    def complainant(self) -> Complainant:
        return Complainant(self.email, self.phone, self.prefer_sms, self.next_of_kin_email)


class ComplaintSubmission(_In):
    """A complaint the platform hands over; the same body as the ComplaintReceived event, plus the
    complainant's contact details when the platform chooses to give them."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "CUST-0012345",
                    "channel": "phone",
                    "category": "refund.late",
                    "language": "nl",
                    "summary": "Terugbetaling van maart twee keer beloofd, na zes weken nog niets.",
                    "received_at": "2026-03-03T09:32:00Z",
                    "platform_ref": "PLT-CMP-77812",
                    "contact_id": "CNT-20260303-000981",
                    "agent_id": "agent-anna",
                    "team_id": "team-nl-1",
                    "complainant": {"email": "an.peeters@example.be", "phone": "+32470123456"},
                }
            ]
        },
    )

    customer_id: CustomerId
    channel: Channel
    category: Code
    """A category of the rules (GET /categories)."""
    language: Language
    summary: Text
    received_at: UtcDateTime
    """When the customer complained; timezone-aware (a naive time is refused)."""
    platform_ref: ExternalRef | None = None
    """The platform's number: the same number twice is one dossier."""
    contact_id: ContactId | None = None
    agent_id: AgentId | None = None
    team_id: TeamId | None = None
    about_deceased: bool = False
    complainant: ComplainantDetails | None = None


class ComplaintAccepted(BaseModel):
    complaint_id: uuid.UUID
    ref: str
    status: domain.Status
    due_date: date
    """The promised date told to the complainant (R2)."""
    team_id: str | None
    agent_id: str | None

    @classmethod
    def of(cls, c: Complaint) -> ComplaintAccepted:
        return cls(
            complaint_id=c.id,
            ref=c.ref,
            status=c.status,
            due_date=c.due_date,
            team_id=c.team_id,
            agent_id=c.agent_id,
        )


class ContactReport(ContactClosed):
    """A closed contact, exactly as on the platform's contact.closed topic."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
        json_schema_extra={
            "examples": [
                {
                    "contact_id": "CNT-20260303-000981",
                    "customer_id": "CUST-0012345",
                    "channel": "phone",
                    "agent_id": "agent-anna",
                    "team_id": "team-nl-1",
                    "closed_at": "2026-03-03T09:30:00Z",
                    "language": "nl",
                    "first_contact_resolved": True,
                }
            ]
        },
    )

    def event(self) -> ContactClosed:
        return ContactClosed.model_validate(self.model_dump())


class ContactRecorded(BaseModel):
    contact_id: str
    recorded: bool
    """False: this contact was reported before and changed nothing now."""


# ---- agents' work -----------------------------------------------------------------------------------


class Assignment(_In):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"examples": [{"agent_id": "agent-bram", "note": "Bram knows this file"}]},
    )
    agent_id: AgentId
    team_id: TeamId | None = None
    """Another team (supervisors only); default: the complaint's team."""
    note: Text | None = None


class Note(_In):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"examples": [{"text": "Called the customer; the refund left on 4 March."}]},
    )
    text: Text


class Step(_In):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [{"status": "waiting_on_customer", "note": "Asked for the bank statement"}]
        },
    )
    status: domain.Status
    """in_progress, waiting_on_customer or waiting_on_department."""
    note: Text | None = None


class DueDateChange(_In):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {"due_date": "2026-03-13", "reason": "waiting_for_department", "note": "Claims needs a week"}
            ]
        },
    )
    due_date: date
    reason: DueDateChangeReason
    note: Text | None = None
    """Told to the customer with the new date."""


class Resolution(_In):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "root_cause_department": "claims-processing",
                    "first_contact_resolution": False,
                    "answer": "The refund of 42.50 EUR was paid on 4 March.",
                }
            ]
        },
    )
    root_cause_department: Code
    """R7: from the operator's list (GET /root-causes)."""
    first_contact_resolution: bool
    """R9: resolved in the contact in which it was raised."""
    note: Text | None = None
    """For the timeline only."""
    answer: Text | None = None
    """Told to the customer, where the rules say the customer hears of the resolution."""


class Closing(_In):
    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [{}]})
    note: Text | None = None


class Reopening(_In):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"examples": [{"reason": "resolution_not_executed", "note": "Still no refund"}]},
    )
    reason: ReopenReason
    note: Text | None = None


MAX_REASON = 500
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_REASON)]
"""Why, in the actor's words: kept in the audit and on each dossier's timeline."""


class DeceasedReport(_In):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "owner_agent_id": "agent-anna",
                    "team_id": "team-nl-1",
                    "next_of_kin_email": "daughter@example.be",
                    "reason": "The customer's daughter phoned: her father died on 2 March.",
                }
            ]
        },
    )
    owner_agent_id: AgentId
    """R10: the one named contact person for the bereaved; the supervisor, a deputy or a member of
    the case's team in the organisation."""
    team_id: TeamId | None = None
    """The case's team, one of yours; may be left out when the customer's open complaints are all of
    one team (or you are in one team only). The open complaints move to it."""
    complaint_id: uuid.UUID | None = None
    """The complaint in which the death became known, if any."""
    next_of_kin_email: Email | None = None
    reason: Reason
    """How the death became known: kept in the audit and on every moved dossier's timeline."""


class DeceasedView(BaseModel):
    customer_id: str
    owner_agent_id: str
    team_id: str | None
    marked_at: datetime
    marked_by: str
    complaint_id: uuid.UUID | None
    has_next_of_kin: bool
    reason: str


class MarkWithdrawal(_In):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [{"reason": "Wrong customer: the death concerns a namesake, CUST-0012346."}]
        },
    )
    reason: Reason
    """Why the marking was a mistake: kept in the audit and on every dossier's timeline."""


class MovedComplaint(BaseModel):
    complaint_id: uuid.UUID
    agent_id: str
    """The owner it went back to."""
    team_id: str | None


class WithdrawalView(BaseModel):
    customer_id: str
    withdrawn_at: datetime
    withdrawn_by: str
    reason: str
    owner_agent_id: str
    """The named owner the case had."""
    team_id: str | None
    restored: list[MovedComplaint]
    """The complaints that went back to the owner they had before the marking (the others were
    closed or handed on since, or had no owner before, and stay where they are)."""


# ---- views ------------------------------------------------------------------------------------------


class ComplaintView(BaseModel):
    complaint_id: uuid.UUID
    ref: str
    customer_id: str
    channel: str
    category: str
    language: str
    summary: str
    status: domain.Status
    status_since: datetime
    team_id: str | None
    agent_id: str | None
    contact_id: str | None
    platform_ref: str | None
    about_deceased: bool
    received_via: str
    raised_at: datetime
    due_date: date
    overdue: bool
    """Not answered and the promised date has passed."""
    sla_paused: bool
    """The clock stands still: the complaint waits on the customer (R3)."""
    reminded_at: datetime | None
    escalated_at: datetime | None
    breached_at: datetime | None
    acknowledged_at: datetime | None
    root_cause_department: str | None
    first_contact_resolution: bool | None
    resolved_at: datetime | None
    closed_at: datetime | None
    reopen_count: int

    @classmethod
    def of(cls, c: Complaint, now: datetime) -> ComplaintView:
        return cls(
            complaint_id=c.id,
            ref=c.ref,
            customer_id=c.customer_id,
            channel=c.channel,
            category=c.category,
            language=c.language,
            summary=c.summary,
            status=c.status,
            status_since=c.status_since,
            team_id=c.team_id,
            agent_id=c.agent_id,
            contact_id=c.contact_id,
            platform_ref=c.platform_ref,
            about_deceased=c.about_deceased,
            received_via=c.received_via,
            raised_at=c.raised_at,
            due_date=c.due_date,
            overdue=c.overdue_at is not None and c.overdue_at <= now,
            sla_paused=c.paused_at is not None,
            reminded_at=c.reminded_at,
            escalated_at=c.escalated_at,
            breached_at=c.breached_at,
            acknowledged_at=c.acknowledged_at,
            root_cause_department=c.root_cause_department,
            first_contact_resolution=c.first_contact_resolution,
            resolved_at=c.resolved_at,
            closed_at=c.closed_at,
            reopen_count=c.reopen_count,
        )


class TimelineEntry(BaseModel):
    at: datetime
    what: str
    """raised, assigned, note, status_changed, sla_paused, due_date_changed, reminder, escalated,
    sla_breached, resolved, closed, reopened, customer_marked_deceased, customer_deceased_mark_withdrawn,
    message_queued, message_held, delivery_sent, ..."""
    who: str
    why: str | None
    detail: dict[str, Any]


class DossierView(ComplaintView):
    """R1: the dossier with its whole timeline."""

    complainant: ComplainantDetails | None
    named_owner: str | None
    """R10: the one agent who owns everything about a deceased customer."""
    timeline: list[TimelineEntry]

    @classmethod
    def of_dossier(cls, d: Dossier, now: datetime) -> DossierView:
        base = ComplaintView.of(d.complaint, now).model_dump()
        given = d.complainant
        return cls(
            **base,
            complainant=ComplainantDetails(
                email=given.email,
                phone=given.phone,
                prefer_sms=given.prefer_sms,
                next_of_kin_email=given.next_of_kin_email,
            )
            if given
            else None,
            named_owner=d.deceased.owner_agent_id if d.deceased else None,
            timeline=[TimelineEntry(**dict(r)) for r in d.timeline],
        )


class ComplaintPage(BaseModel):
    items: list[ComplaintView]
    next_cursor: str | None
    """Pass as ?cursor= for the next page; null on the last page."""


class Label(BaseModel):
    code: str
    names: dict[str, str]


# ---- figures ----------------------------------------------------------------------------------------


class StepDuration(BaseModel):
    status: domain.Status
    category: str
    team_id: str | None
    periods: int
    p50_seconds: float
    p90_seconds: float


class StepDurations(BaseModel):
    since: datetime
    until: datetime
    steps: list[StepDuration]


class FcrRow(BaseModel):
    period: date
    """The first day of the day, week or month (in the organisation's time zone)."""
    team_id: str | None
    complaints_resolved: int
    complaints_first_contact: int
    complaint_rate: float | None
    """Complaints resolved at first contact / complaints resolved (R9; target 0.80)."""
    contacts_reported: int
    contacts_first_contact: int
    contact_rate: float | None
    """Contacts the platform marked resolved first time / contacts with that mark."""


class FcrFigures(BaseModel):
    since: datetime
    until: datetime
    bucket: str
    rows: list[FcrRow]
    complaint_rate: float | None
    """Over the whole period and the teams asked for."""
