"""The complaint's rules, pure: statuses and their transitions, business days, the SLA clock, who is
escalated to, who a customer message goes to. No I/O; handlers load, ask these, and save.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


class RuleViolation(Exception):
    """A rule refused the request. `invalid`: the input is wrong (422); else the state forbids it (409)."""

    def __init__(self, message: str, *, field: str | None = None, invalid: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.invalid = invalid


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
        raise RuleViolation(
            f"a step cannot move a complaint to {target}; use resolve, close or reopen",
            field="status",
            invalid=True,
        )
    if current is Status.closed:
        raise RuleViolation("the complaint is closed: only reopen can change it", field="status")
    if current is Status.resolved:
        raise RuleViolation("the complaint is resolved: reopen it first", field="status")
    if current is target:
        raise RuleViolation(f"the complaint is already {target}", field="status")


def check_resolve(current: Status, root_cause: str | None, known_root_causes: Iterable[str]) -> None:
    """R7: a complaint is resolved only with the department or process at fault, from the operator list."""
    if current is Status.closed:
        raise RuleViolation("the complaint is closed: only reopen can change it", field="status")
    if current is Status.resolved:
        raise RuleViolation("the complaint is already resolved", field="status")
    if not root_cause:
        raise RuleViolation(
            "a root-cause department is required to resolve", field="root_cause_department", invalid=True
        )
    if root_cause not in set(known_root_causes):
        raise RuleViolation(
            f"unknown root-cause department {root_cause!r}", field="root_cause_department", invalid=True
        )


def check_close(current: Status) -> None:
    if current is Status.closed:
        raise RuleViolation("the complaint is already closed", field="status")
    if current is not Status.resolved:
        raise RuleViolation("only a resolved complaint can be closed", field="status")


def check_reopen(current: Status) -> None:
    if current not in (Status.resolved, Status.closed):
        raise RuleViolation("only a resolved or closed complaint can be reopened", field="status")


def check_acting(current: Status) -> None:
    """Assigning and changing the promised date need a complaint that is still open for work."""
    if current is Status.closed:
        raise RuleViolation("the complaint is closed: only reopen can change it", field="status")


# ---- business days (R2) -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Calendar:
    """The organisation's working calendar: workdays, public holidays, business hours, time zone."""

    timezone: str = "Europe/Brussels"
    holidays: frozenset[date] = frozenset()
    workdays: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    """ISO weekdays: 1 is Monday."""
    opens_minute: int = 8 * 60
    closes_minute: int = 18 * 60
    """Minutes after local midnight; 1440 means open until midnight."""

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_business_day(self, day: date) -> bool:
        return day.isoweekday() in self.workdays and day not in self.holidays

    def next_business_day(self, day: date) -> date:
        """The first business day on or after `day`."""
        self._check_has_workdays()
        while not self.is_business_day(day):
            day += timedelta(days=1)
        return day

    def add_business_days(self, day: date, n: int) -> date:
        """R2: the n-th business day after `day` (n=0: `day` itself if it is one, else the next).

        Never a weekend or holiday, and add(add(d, n), n) == add(d, 2n)."""
        if n < 0:
            raise ValueError("n must be >= 0; use subtract_business_days")
        self._check_has_workdays()
        if n == 0:
            return self.next_business_day(day)
        while n:
            day += timedelta(days=1)
            if self.is_business_day(day):
                n -= 1
        return day

    def subtract_business_days(self, day: date, n: int) -> date:
        """The n-th business day before `day` (n=0: `day` if it is one, else the previous one)."""
        if n < 0:
            raise ValueError("n must be >= 0")
        self._check_has_workdays()
        if n == 0:
            while not self.is_business_day(day):
                day -= timedelta(days=1)
            return day
        while n:
            day -= timedelta(days=1)
            if self.is_business_day(day):
                n -= 1
        return day

    def business_days_between(self, start: date, end: date) -> int:
        """Business days d with start <= d < end (0 when end <= start)."""
        count = 0
        day = start
        while day < end:
            if self.is_business_day(day):
                count += 1
            day += timedelta(days=1)
        return count

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def _at_minute(self, day: date, minute: int) -> datetime:
        if minute >= 24 * 60:
            return datetime.combine(day + timedelta(days=1), time(0), self.zone).astimezone(UTC)
        return datetime.combine(day, time(minute // 60, minute % 60), self.zone).astimezone(UTC)

    def opening(self, day: date) -> datetime:
        return self._at_minute(day, self.opens_minute)

    def closing(self, day: date) -> datetime:
        return self._at_minute(day, self.closes_minute)

    def end_of_day(self, day: date) -> datetime:
        """The first moment after `day` in local time: a promised date has passed from then on."""
        return self._at_minute(day, 24 * 60)

    def in_business_hours(self, moment: datetime) -> bool:
        day = self.local_date(moment)
        return self.is_business_day(day) and self.opening(day) <= moment < self.closing(day)

    def next_business_moment(self, moment: datetime) -> datetime:
        """R3: `moment` if it is within business hours, else the next opening (never at midnight)."""
        if self.in_business_hours(moment):
            return moment
        day = self.local_date(moment)
        if self.is_business_day(day) and moment < self.opening(day):
            return self.opening(day)
        return self.opening(self.add_business_days(day, 1))

    def _check_has_workdays(self) -> None:
        if not self.workdays:
            raise ValueError("the calendar has no workdays")


# ---- the SLA clock (R2, R3) -------------------------------------------------------------------------


class SlaUnit(StrEnum):
    business_days = "business_days"
    seconds = "seconds"
    """Test and demo categories only: lets an end-to-end test see a complaint go overdue in seconds."""


@dataclass(frozen=True)
class Sla:
    """How long a category (and channel) may take, and how early the owner is reminded."""

    unit: SlaUnit
    amount: int
    reminder_lead: int
    """Business days (or seconds) before the due moment; 0: no reminder."""


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
    """The team lead (or deputy) is asked to step in, within business hours."""
    reminder_at: datetime | None
    """The owner is reminded, within business hours; None when there is no room for a reminder."""


def plan_sla(sla: Sla, raised_at: datetime, calendar: Calendar) -> SlaPlan:
    """R2: the promised date counts business days from the day of receipt on the holiday calendar."""
    if sla.unit is SlaUnit.seconds:
        return plan_from_breach(
            SlaUnit.seconds, sla.reminder_lead, raised_at + timedelta(seconds=sla.amount), raised_at, calendar
        )
    due = calendar.add_business_days(calendar.local_date(raised_at), sla.amount)
    return plan_from_due_date(due, sla.reminder_lead, raised_at, calendar)


def plan_from_due_date(due: date, reminder_days: int, now: datetime, calendar: Calendar) -> SlaPlan:
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


def plan_from_breach(
    unit: SlaUnit, reminder_seconds: int, breach_at: datetime, now: datetime, calendar: Calendar
) -> SlaPlan:
    """A plan in seconds (test and demo categories): escalation falls at the breach, moved into
    business hours; the reminder `reminder_seconds` earlier, if that is still ahead."""
    escalate_at = calendar.next_business_moment(max(breach_at, now))
    reminder_at: datetime | None = None
    if reminder_seconds > 0:
        moment = calendar.next_business_moment(max(breach_at - timedelta(seconds=reminder_seconds), now))
        reminder_at = moment if moment < escalate_at else None
    return SlaPlan(
        unit, reminder_seconds, calendar.local_date(breach_at), breach_at, escalate_at, reminder_at
    )


def resume_plan(plan: SlaPlan, paused_at: datetime, resumed_at: datetime, calendar: Calendar) -> SlaPlan:
    """R3: the clock stood still while the complaint waited on the customer; the promised date moves
    by the business days (or seconds) it waited."""
    if plan.unit is SlaUnit.seconds:
        waited = max(resumed_at - paused_at, timedelta(0))
        return plan_from_breach(plan.unit, plan.reminder_lead, plan.breach_at + waited, resumed_at, calendar)
    waited_days = calendar.business_days_between(
        calendar.local_date(paused_at), calendar.local_date(resumed_at)
    )
    due = calendar.add_business_days(plan.due_date, waited_days) if waited_days else plan.due_date
    return plan_from_due_date(due, plan.reminder_lead, resumed_at, calendar)


def agreed_plan(plan: SlaPlan, due: date, now: datetime, calendar: Calendar) -> SlaPlan:
    """A promised date set by an agent (agreed with the customer, waiting for a department)."""
    if due < calendar.local_date(now):
        raise RuleViolation("the new promised date is in the past", field="due_date", invalid=True)
    if not calendar.is_business_day(due):
        raise RuleViolation(
            f"{due.isoformat()} is not a business day in the calendar", field="due_date", invalid=True
        )
    reminder_days = plan.reminder_lead if plan.unit is SlaUnit.business_days else 1
    return plan_from_due_date(due, reminder_days, now, calendar)


class SlaStep(StrEnum):
    reminder = "reminder"
    escalation = "escalation"
    breach = "breach"


def sla_steps(
    plan: SlaPlan,
    *,
    reminded: bool,
    escalated: bool,
    breached: bool,
    now: datetime,
    calendar: Calendar,
) -> tuple[list[SlaStep], datetime | None]:
    """R3: the steps due now, in order, and when the clock must be looked at again (None: never).

    The reminder and the escalation go to people, so only within business hours: due at night, they
    wait for the next opening. The breach is a fact, noted the moment the promise has passed."""
    due: list[SlaStep] = []
    later: list[datetime] = []
    open_now = calendar.in_business_hours(now)
    for step, at, done in (
        (SlaStep.reminder, plan.reminder_at, reminded),
        (SlaStep.escalation, plan.escalate_at, escalated),
    ):
        if done or at is None:
            continue
        if at > now:
            later.append(at)
        elif open_now:
            due.append(step)
        else:
            later.append(calendar.next_business_moment(now))
    if not breached:
        if plan.breach_at <= now:
            due.append(SlaStep.breach)
        else:
            later.append(plan.breach_at)
    return due, min(later) if later else None


# ---- who is escalated to, who stands in (R3) --------------------------------------------------------


@dataclass(frozen=True)
class Person:
    agent_id: str
    email: str | None = None
    language: str = "nl"


@dataclass(frozen=True)
class Absence:
    agent_id: str
    first_day: date
    last_day: date


def absent_on(absences: Iterable[Absence], day: date) -> frozenset[str]:
    return frozenset(a.agent_id for a in absences if a.first_day <= day <= a.last_day)


def escalation_target(lead: Person | None, deputy: Person | None, absent: frozenset[str]) -> Person | None:
    """R3: the team's lead, or their deputy when the lead is absent; never everyone. When both are
    away the lead is still the one addressed (their mailbox is watched by someone)."""
    if lead is not None and lead.agent_id not in absent:
        return lead
    if deputy is not None and deputy.agent_id not in absent:
        return deputy
    return lead or deputy


def stand_in(
    members: Iterable[Person], absent: frozenset[str], open_work: Mapping[str, int], *, exclude: str | None
) -> Person | None:
    """R3: work must not get stuck with an absent owner: the present team member with the least open
    work takes it (ties: the lowest id, so two replicas would choose alike)."""
    present = [m for m in members if m.agent_id not in absent and m.agent_id != exclude]
    if not present:
        return None
    return min(present, key=lambda m: (open_work.get(m.agent_id, 0), m.agent_id))


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


def named_owner(agent_id: str | None, team_lead: str | None) -> str | None:
    """R10: the agent who learnt of the death owns the case; else the team's lead."""
    return agent_id or team_lead


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
