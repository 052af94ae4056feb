"""The complaint's rules, pure: the dossier and its statuses, the SLA clock on the tenant's business
calendar, who is escalated to or takes over an absent colleague's work, who a customer message goes
to, and the deceased-customer rules. No I/O; handlers load, ask these, and save.

Dates are the kit's business calendar (hoera_kit.calendar), the same module every service computes
with; people and teams are the tenant's organisation (hoera_kit.organisation answers the questions
every service asks of it). Refusals are the kit's (hoera_kit.refusals), mapped to HTTP once by the kit.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from hoera_events.organisation import Organisation, Person
from hoera_kit import organisation as org_rules
from hoera_kit.calendar import BusinessCalendar, Span
from hoera_kit.refusals import Conflict, Invalid

# ---- statuses (R1, R6) ------------------------------------------------------------------------------


class Status(StrEnum):
    open = "open"
    in_progress = "in_progress"
    waiting_on_customer = "waiting_on_customer"
    waiting_on_department = "waiting_on_department"
    resolved = "resolved"
    closed = "closed"


WORKING = frozenset(
    {Status.open, Status.in_progress, Status.waiting_on_customer, Status.waiting_on_department}
)
"""Statuses in which the complaint is not answered yet: the SLA clock can run in these (R3)."""

STEP_TARGETS = frozenset({Status.in_progress, Status.waiting_on_customer, Status.waiting_on_department})
"""Where an agent's recorded step can take a complaint; resolve, close and reopen have their own rules."""


def check_step(current: Status, target: Status) -> None:
    """R1/R6: a step moves a working complaint between working statuses; closed moves only by reopen."""
    if target not in STEP_TARGETS:
        raise Invalid(
            f"a step cannot move a complaint to {target}; use resolve, close or reopen", field="status"
        )
    if current is Status.closed:
        raise Conflict("the complaint is closed: only reopen can change it", field="status")
    if current is Status.resolved:
        raise Conflict("the complaint is resolved: reopen it first", field="status")
    if current is target:
        raise Conflict(f"the complaint is already {target}", field="status")


def check_resolve(current: Status, root_cause: str | None, known_root_causes: Iterable[str]) -> None:
    """R7: a complaint is resolved only with the department or process at fault, from the operator list."""
    if current is Status.closed:
        raise Conflict("the complaint is closed: only reopen can change it", field="status")
    if current is Status.resolved:
        raise Conflict("the complaint is already resolved", field="status")
    if not root_cause:
        raise Invalid("a root-cause department is required to resolve", field="root_cause_department")
    if root_cause not in set(known_root_causes):
        raise Invalid(f"unknown root-cause department {root_cause!r}", field="root_cause_department")


def check_close(current: Status) -> None:
    if current is Status.closed:
        raise Conflict("the complaint is already closed", field="status")
    if current is not Status.resolved:
        raise Conflict("only a resolved complaint can be closed", field="status")


def check_reopen(current: Status) -> None:
    if current not in (Status.resolved, Status.closed):
        raise Conflict("only a resolved or closed complaint can be reopened", field="status")


def check_acting(current: Status) -> None:
    """Assigning and changing the promised date need a complaint that is still open for work."""
    if current is Status.closed:
        raise Conflict("the complaint is closed: only reopen can change it", field="status")


# ---- the SLA clock (R2, R3) -------------------------------------------------------------------------
# Every date below is computed on the tenant's business calendar. Each date rule is one named function
# taking (calendar, start, rule), so a cross-service property test can hold it to the calendar's
# promises: never sooner than the span, never earlier for a later start.


class SlaUnit(StrEnum):
    business_days = "business_days"
    seconds = "seconds"
    """Test and demo categories only: lets an end-to-end test see a complaint go overdue in seconds."""


@dataclass(frozen=True)
class Sla:
    """How long a category (and channel) may take, and how early the owner is reminded."""

    lead_time: Span
    reminder: Span
    """How long before the promised moment the owner is reminded, in the lead time's unit; 0: never."""

    @property
    def unit(self) -> SlaUnit:
        return SlaUnit.seconds if self.lead_time.seconds else SlaUnit.business_days

    @property
    def reminder_lead(self) -> int:
        return self.reminder.seconds if self.unit is SlaUnit.seconds else self.reminder.business_days


@dataclass(frozen=True)
class SlaPlan:
    """When the reminder, the escalation and the breach fall for one complaint (R3)."""

    unit: SlaUnit
    reminder_lead: int
    due_date: date
    """The promised date told to the customer (R2)."""
    breach_at: datetime
    """The promised date has passed: ComplaintSlaBreached (R3, R4)."""
    escalate_at: datetime
    """The team's supervisor (or who stands in) is asked to step in, within business hours."""
    reminder_at: datetime | None
    """The owner is reminded, within business hours; None when there is no room for a reminder."""


def plan_sla(calendar: BusinessCalendar, received_at: datetime, sla: Sla) -> SlaPlan:
    """R2/R3, the promise made at receipt: the promised date is `sla.lead_time` business days after the
    first business moment of receipt (a complaint received on Friday at 18:00 is never due sooner than
    one received on Monday at 09:00); the reminder, escalation and breach follow from it."""
    if sla.unit is SlaUnit.seconds:
        breach_at = calendar.after(received_at, sla.lead_time)
        return _plan_to_moment(calendar, received_at, breach_at, sla.reminder.seconds)
    due = promised_date(calendar, received_at, sla.lead_time.business_days)
    return _plan_to_date(calendar, received_at, due, sla.reminder.business_days)


def promised_date(calendar: BusinessCalendar, received_at: datetime, business_days: int) -> date:
    """R2: the date the acknowledgement promises: `business_days` after the first business moment of
    receipt."""
    if business_days:
        return calendar.due_date(received_at, business_days)
    # Zero business days is "the first business day", never the day of receipt when that is a holiday
    # (the kit's `after` reads a zero span as zero seconds).
    return calendar.local_date(calendar.next_business_moment(received_at))


def _plan_to_date(calendar: BusinessCalendar, now: datetime, due: date, reminder_days: int) -> SlaPlan:
    """A business-day plan around a promised date: remind `reminder_days` business days before,
    escalate at the opening of the due date, breach when the due date has passed."""
    breach_at = calendar.end_of_day(due)
    escalate_at = calendar.next_business_moment(max(calendar.opening(due), now))
    reminder_at: datetime | None = None
    if reminder_days > 0:
        reminder_day = calendar.subtract_business_days(due, reminder_days)
        moment = calendar.next_business_moment(max(calendar.opening(reminder_day), now))
        reminder_at = moment if moment < escalate_at else None
    return SlaPlan(SlaUnit.business_days, reminder_days, due, breach_at, escalate_at, reminder_at)


def _plan_to_moment(
    calendar: BusinessCalendar, now: datetime, breach_at: datetime, reminder_seconds: int
) -> SlaPlan:
    """A plan in seconds (test and demo categories): escalation falls at the breach, moved into
    business hours; the reminder `reminder_seconds` earlier, if that is still ahead."""
    escalate_at = calendar.next_business_moment(max(breach_at, now))
    reminder_at: datetime | None = None
    if reminder_seconds > 0:
        moment = calendar.next_business_moment(max(breach_at - timedelta(seconds=reminder_seconds), now))
        reminder_at = moment if moment < escalate_at else None
    return SlaPlan(
        SlaUnit.seconds, reminder_seconds, calendar.local_date(breach_at), breach_at, escalate_at, reminder_at
    )


@dataclass(frozen=True)
class Pause:
    """The clock stood still from `paused_at` (the complaint waited on the customer) under `plan`."""

    plan: SlaPlan
    paused_at: datetime


def resume_plan(calendar: BusinessCalendar, resumed_at: datetime, pause: Pause) -> SlaPlan:
    """R3: the clock stood still while the complaint waited on the customer; the promised date moves
    by the business days (or seconds) it waited."""
    plan = pause.plan
    if plan.unit is SlaUnit.seconds:
        waited = max(resumed_at - pause.paused_at, timedelta(0))
        return _plan_to_moment(calendar, resumed_at, plan.breach_at + waited, plan.reminder_lead)
    waited_days = calendar.business_days_between(
        calendar.local_date(pause.paused_at), calendar.local_date(resumed_at)
    )
    due = calendar.add_business_days(plan.due_date, waited_days) if waited_days else plan.due_date
    return _plan_to_date(calendar, resumed_at, due, plan.reminder_lead)


@dataclass(frozen=True)
class Agreed:
    """A promised date an agent set (agreed with the customer, waiting for a department)."""

    plan: SlaPlan
    due_date: date


def agreed_plan(calendar: BusinessCalendar, now: datetime, agreed: Agreed) -> SlaPlan:
    """R3: a promised date set by an agent is a business day, not in the past."""
    due = agreed.due_date
    if due < calendar.local_date(now):
        raise Invalid("the new promised date is in the past", field="due_date")
    if not calendar.is_business_day(due):
        raise Invalid(f"{due.isoformat()} is not a business day in the calendar", field="due_date")
    reminder_days = agreed.plan.reminder_lead if agreed.plan.unit is SlaUnit.business_days else 1
    return _plan_to_date(calendar, now, due, reminder_days)


class SlaStep(StrEnum):
    reminder = "reminder"
    escalation = "escalation"
    breach = "breach"


@dataclass(frozen=True)
class SlaProgress:
    """A plan and which of its steps happened already."""

    plan: SlaPlan
    reminded: bool = False
    escalated: bool = False
    breached: bool = False


def sla_steps(
    calendar: BusinessCalendar, now: datetime, progress: SlaProgress
) -> tuple[list[SlaStep], datetime | None]:
    """R3: the steps due now, in order, and when the clock must be looked at again (None: never).

    The reminder and the escalation go to people, so only within business hours: due at night, they
    wait for the next opening. The breach is a fact, noted the moment the promise has passed."""
    plan = progress.plan
    due: list[SlaStep] = []
    later: list[datetime] = []
    open_now = calendar.in_business_hours(now)
    for step, at, done in (
        (SlaStep.reminder, plan.reminder_at, progress.reminded),
        (SlaStep.escalation, plan.escalate_at, progress.escalated),
    ):
        if done or at is None:
            continue
        if at > now:
            later.append(at)
        elif open_now:
            due.append(step)
        else:
            later.append(calendar.next_business_moment(now))
    if not progress.breached:
        if plan.breach_at <= now:
            due.append(SlaStep.breach)
        else:
            later.append(plan.breach_at)
    return due, min(later) if later else None


# ---- the dossier (R1) -------------------------------------------------------------------------------


@dataclass
class Complaint:
    """One dossier (R1); handlers change it with the rules here and save it whole."""

    id: uuid.UUID
    tenant: str
    customer_id: str
    channel: str
    category: str
    language: str
    summary: str
    status: Status
    status_since: datetime
    team_id: str | None
    agent_id: str | None
    contact_id: str | None
    platform_ref: str | None
    about_deceased: bool
    received_via: str
    raised_at: datetime
    due_date: date
    sla_unit: SlaUnit
    sla_reminder_lead: int
    reminder_at: datetime | None
    escalate_at: datetime
    breach_at: datetime
    paused_at: datetime | None = None
    sla_version: int = 1
    reminded_at: datetime | None = None
    escalated_at: datetime | None = None
    breached_at: datetime | None = None
    acknowledged_at: datetime | None = None
    root_cause_department: str | None = None
    first_contact_resolution: bool | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    reopen_count: int = 0

    @property
    def ref(self) -> str:
        """The short reference customers and staff read in messages."""
        return self.id.hex[:8].upper()

    @property
    def plan(self) -> SlaPlan:
        return SlaPlan(
            unit=self.sla_unit,
            reminder_lead=self.sla_reminder_lead,
            due_date=self.due_date,
            breach_at=self.breach_at,
            escalate_at=self.escalate_at,
            reminder_at=self.reminder_at,
        )

    @property
    def progress(self) -> SlaProgress:
        return SlaProgress(
            self.plan,
            reminded=self.reminded_at is not None,
            escalated=self.escalated_at is not None,
            breached=self.breached_at is not None,
        )

    @property
    def overdue_at(self) -> datetime | None:
        """When the clock runs (working and not paused): the moment the promise is broken."""
        return self.breach_at if self.status in WORKING and self.paused_at is None else None

    def apply_plan(self, plan: SlaPlan) -> None:
        self.sla_unit = plan.unit
        self.sla_reminder_lead = plan.reminder_lead
        self.due_date = plan.due_date
        self.breach_at = plan.breach_at
        self.escalate_at = plan.escalate_at
        self.reminder_at = plan.reminder_at
        self.sla_version += 1

    def replan(self, plan: SlaPlan) -> bool:
        """A new plan; one whose promised moment moved re-arms the reminder and the escalation (never
        the breach: ComplaintSlaBreached is said once). True when the promised moment moved."""
        moved = plan.breach_at != self.breach_at
        self.apply_plan(plan)
        if moved:
            self.reminded_at = None
            self.escalated_at = None
        return moved


@dataclass(frozen=True)
class Arrival:
    """What the platform said about a new complaint, as the rules need it."""

    tenant: str
    customer_id: str
    channel: str
    category: str
    language: str
    summary: str
    received_at: datetime
    received_via: str
    platform_ref: str | None
    contact_id: str | None
    agent_id: str | None
    team_id: str | None
    about_deceased: bool


@dataclass(frozen=True)
class DeceasedCase:
    """A deceased customer's case in force: its one named owner and its team (R10)."""

    owner_agent_id: str
    team_id: str | None


def team_for(org: Organisation, named: str | None, category_team: str | None, language: str) -> str | None:
    """Where a new complaint goes: the team the platform named, else its category's, else the
    organisation's first team that speaks the complaint's language, else its first team (the same
    rule as callback's queues); None when the organisation has no teams yet."""
    if named or category_team:
        return named or category_team
    speaking = [t.id for t in org.teams if t.language.value == language]
    candidates = speaking or [t.id for t in org.teams]
    return candidates[0] if candidates else None


def open_dossier(
    arrival: Arrival,
    *,
    complaint_id: uuid.UUID,
    now: datetime,
    plan: SlaPlan,
    team_id: str | None,
    deceased: DeceasedCase | None,
) -> Complaint:
    """R1/R2/R10: the new dossier with its promise; a deceased customer's complaint goes straight to
    the case's one named owner and team."""
    agent_id = arrival.agent_id
    if deceased is not None:
        agent_id, team_id = deceased.owner_agent_id, deceased.team_id or team_id
    return Complaint(
        id=complaint_id,
        tenant=arrival.tenant,
        customer_id=arrival.customer_id,
        channel=arrival.channel,
        category=arrival.category,
        language=arrival.language,
        summary=arrival.summary,
        status=Status.open,
        status_since=now,
        team_id=team_id,
        agent_id=agent_id,
        contact_id=arrival.contact_id,
        platform_ref=arrival.platform_ref,
        about_deceased=arrival.about_deceased or deceased is not None,
        received_via=arrival.received_via,
        raised_at=arrival.received_at,
        due_date=plan.due_date,
        sla_unit=plan.unit,
        sla_reminder_lead=plan.reminder_lead,
        reminder_at=plan.reminder_at,
        escalate_at=plan.escalate_at,
        breach_at=plan.breach_at,
    )


def reopened(c: Complaint, plan: SlaPlan, now: datetime) -> None:
    """A reopened complaint works again under a new promise from its category's SLA."""
    c.apply_plan(plan)
    c.status, c.status_since = Status.in_progress, now
    c.resolved_at = c.closed_at = c.paused_at = None
    c.reminded_at = c.escalated_at = c.breached_at = None
    c.reopen_count += 1


# ---- who is escalated to, who takes over (R3) -------------------------------------------------------


def escalation_target(org: Organisation, team_id: str | None, day: date) -> Person | None:
    """R3: the team's supervisor, else the first deputy who is there, else management; never everyone
    (hoera_kit.organisation.stand_in: the same answer alerts gives)."""
    return org_rules.stand_in(org, team_id, day) if team_id is not None else None


def colleague_for(
    org: Organisation, team_id: str | None, absent_owner: str, day: date, open_work: Mapping[str, int]
) -> str | None:
    """R3: work must not get stuck with an absent owner: the team member who is there with the least
    open work takes it (ties: the lowest id, so two replicas would choose alike)."""
    team = org_rules.team(org, team_id) if team_id else None
    if team is None:
        return None
    present = [m for m in team.members if m != absent_owner and not org_rules.is_absent(org, m, day)]
    if not present:
        return None
    return min(present, key=lambda m: (open_work.get(m, 0), m))


def people_of_team(org: Organisation, team_id: str) -> set[str]:
    """Everyone of a team in the organisation: its supervisor, deputies and members."""
    team = org_rules.team(org, team_id)
    if team is None:
        return set()
    return {team.supervisor, *team.deputies, *team.members}


def named_owner(agent_id: str | None, org: Organisation, team_id: str | None) -> str | None:
    """R10: the agent who learnt of the death owns the case; else the team's supervisor."""
    if agent_id:
        return agent_id
    team = org_rules.team(org, team_id) if team_id else None
    return team.supervisor if team is not None else None


# ---- who a customer message goes to (R10) -----------------------------------------------------------


class Route(StrEnum):
    email = "email"
    sms = "sms"
    held = "held"


@dataclass(frozen=True)
class Addressee:
    route: Route
    recipient: str | None
    to_next_of_kin: bool = False
    reason: str = ""


def address_customer(
    *,
    deceased: bool,
    email: str | None,
    phone: str | None,
    prefer_sms: bool,
    next_of_kin_email: str | None,
) -> Addressee:
    """R10: nothing is addressed to a deceased customer: it goes to the recorded next of kin, or it
    is held for the case's owner. Others get e-mail, or SMS where that is all we have (or preferred)."""
    if deceased:
        if next_of_kin_email:
            return Addressee(Route.email, next_of_kin_email, to_next_of_kin=True)
        return Addressee(Route.held, None, reason="deceased customer without a recorded next of kin")
    if prefer_sms and phone:
        return Addressee(Route.sms, phone)
    if email:
        return Addressee(Route.email, email)
    if phone:
        return Addressee(Route.sms, phone)
    return Addressee(Route.held, None, reason="no e-mail address or phone number for the customer")


# ---- R10: who may mark a customer deceased, and putting a mistaken marking right ---------------------


def sees_customer(
    my_teams: Collection[str], open_teams: Collection[str | None], known_teams: Collection[str]
) -> bool:
    """R10: marking moves every open complaint of the customer, so the caller must work in (or lead)
    the team of each of them; a customer without open complaints is the caller's when one of their
    teams has dealt with them. Anyone else is told the customer is unknown, as for one that does not
    exist, so another team's customers cannot be probed. A complaint without a team is anyone's (R1)."""
    if open_teams:
        return all(team is None or team in my_teams for team in open_teams)
    return any(team in my_teams for team in known_teams)


def case_team(
    requested: str | None, open_teams: Collection[str | None], my_teams: Collection[str]
) -> str | None:
    """R10: the team of a deceased customer's case: the one named; else the one team of the open
    complaints; else the caller's only team. None: ambiguous, the caller must name it."""
    if requested is not None:
        return requested
    teams = {team for team in open_teams if team is not None}
    if len(teams) == 1:
        return teams.pop()
    if not teams and len(my_teams) == 1:
        return next(iter(my_teams))
    return None


@dataclass(frozen=True)
class Move:
    """A complaint that changed hands with a marking (R10), or back with its withdrawal."""

    complaint_id: uuid.UUID
    from_agent_id: str | None
    from_team_id: str | None
    to_agent_id: str
    to_team_id: str | None


@dataclass(frozen=True)
class Holding:
    """Where a complaint stands now."""

    status: Status
    agent_id: str | None
    team_id: str | None


def moves_to_owner(complaints: Iterable[Complaint], owner: str, team_id: str | None) -> list[Move]:
    """R10: every open complaint of a deceased customer goes to the case's one named owner (and team)."""
    return [
        Move(c.id, c.agent_id, c.team_id, owner, team_id or c.team_id)
        for c in complaints
        if c.agent_id != owner
    ]


def undo_moves(moves: Iterable[Move], now: Mapping[uuid.UUID, Holding], owner: str) -> list[Move]:
    """R10, a mistaken marking withdrawn: each complaint it moved goes back to its previous owner
    where the move still stands: not closed, still with the case's owner (a complaint handed on
    since stays where someone put it), and with an owner to go back to (an unassigned complaint
    stays with the owner rather than with nobody)."""
    back = []
    for move in moves:
        held = now.get(move.complaint_id)
        if held is None or held.status is Status.closed or held.agent_id != owner:
            continue
        if move.from_agent_id is None:
            continue
        back.append(Move(move.complaint_id, owner, held.team_id, move.from_agent_id, move.from_team_id))
    return back
