"""The callback queue's rules (R26-R29), pure: no I/O, no framework.

A "please contact me" becomes one callback with a lead-time target; agents claim callbacks under a
lease, in priority order and then by age; each attempt ends with an outcome from a fixed list, and an
unreachable customer is tried again on a schedule. Churn-risk signals raise the priority and are
kept as the reasons an agent sees.

Handlers load the facts, ask these functions and save what they answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from enum import IntEnum, StrEnum
from typing import Annotated, Any, Self
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator, model_validator


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _in_order(values: frozenset[Any]) -> list[Any]:
    return sorted(values)


# Sets are written sorted, so the same rules always read the same (the audit compares documents).
InOrder = PlainSerializer(_in_order, return_type=list)


# ---- business calendar (R28: lead times and retries count business days) --------------------------


class Duration(_Frozen):
    """A span of business days, then seconds (seconds are for tests and short operator targets)."""

    business_days: Annotated[int, Field(ge=0, le=60)] = 0
    seconds: Annotated[int, Field(ge=0, le=60 * 86400)] = 0

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if self.business_days == 0 and self.seconds == 0:
            raise ValueError("a duration needs business_days or seconds above zero")
        return self


class BusinessCalendar(_Frozen):
    """Which days count as working days, in the organisation's time zone."""

    timezone: str = "Europe/Brussels"
    working_days: Annotated[frozenset[Annotated[int, Field(ge=1, le=7)]], InOrder] = frozenset(
        {1, 2, 3, 4, 5}
    )
    """ISO weekdays: 1 is Monday, 7 is Sunday."""
    holidays: Annotated[frozenset[date], InOrder] = frozenset()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("working_days")
    @classmethod
    def _some_working_day(cls, value: frozenset[int]) -> frozenset[int]:
        if not value:
            raise ValueError("at least one working day is needed")
        return value

    def is_business_day(self, day: date) -> bool:
        return day.isoweekday() in self.working_days and day not in self.holidays


def add_duration(start: datetime, span: Duration, calendar: BusinessCalendar) -> datetime:
    """The moment `span` after `start`: whole business days keep the local wall-clock time (a
    request at 16:00 on Friday is due 16:00 on Monday), then the seconds are added."""
    if start.tzinfo is None:
        raise ValueError("start must be timezone-aware")
    zone = ZoneInfo(calendar.timezone)
    local = start.astimezone(zone)
    day, left = local.date(), span.business_days
    while left > 0:
        day += timedelta(days=1)
        if calendar.is_business_day(day):
            left -= 1
    moved = datetime.combine(day, local.time(), tzinfo=zone) if span.business_days else local
    return (moved + timedelta(seconds=span.seconds)).astimezone(UTC)


# ---- priority (R29: churn-risk signals raise it; the reasons are kept and shown) -----------------


class Priority(IntEnum):
    """Ordered, so a higher level compares greater. Values of hoera_events' CallbackPriority."""

    normal = 0
    high = 1
    urgent = 2


class Signal(StrEnum):
    """A reason to call this customer sooner."""

    considering_leaving = "considering_leaving"
    """The customer said in an earlier callback that they consider leaving (R29)."""
    open_sla_breach = "open_sla_breach"
    """An open complaint is past its promised date (R3)."""
    nps_detractor = "nps_detractor"
    """The customer's latest recommendation score is a detractor's (0-6)."""
    repeated_complaints = "repeated_complaints"
    """Several complaints within the window."""
    unhappy_smiley = "unhappy_smiley"
    """The latest survey answer was an unhappy smiley (R23)."""
    lead_time_missed = "lead_time_missed"
    """The queue's own lead-time target passed without an attempt (R28)."""


class PriorityRules(_Frozen):
    """Operator data (R8): how much each signal weighs and where the levels start."""

    weights: dict[Signal, Annotated[int, Field(ge=0, le=1000)]]
    high_from: Annotated[int, Field(ge=1)] = 20
    urgent_from: Annotated[int, Field(ge=1)] = 60
    detractor_max_nps: Annotated[int, Field(ge=0, le=10)] = 6
    unhappy_max_smiley: Annotated[int, Field(ge=1, le=5)] = 2
    repeated_complaints_min: Annotated[int, Field(ge=2)] = 2
    complaint_window_days: Annotated[int, Field(ge=1, le=3650)] = 365
    churn_signals: Annotated[frozenset[Signal], InOrder] = frozenset(
        {Signal.considering_leaving, Signal.nps_detractor, Signal.repeated_complaints}
    )
    """Signals that make the callback a retention case (the event's churn_risk flag)."""

    @model_validator(mode="after")
    def _levels_in_order(self) -> Self:
        if self.urgent_from < self.high_from:
            raise ValueError("urgent_from must not be below high_from")
        return self


class CustomerFacts(_Frozen):
    """What the read model knows about a customer when a callback's priority is assessed."""

    considering_leaving: bool = False
    latest_nps: int | None = None
    latest_satisfaction: int | None = None
    recent_complaints: int = 0
    open_sla_breach: bool = False
    lead_time_missed: bool = False


class PriorityAssessment(_Frozen):
    score: int
    level: Priority
    reasons: tuple[Signal, ...]
    """Every signal present, strongest first: what the agent is shown."""
    churn_risk: bool


def signals_of(facts: CustomerFacts, rules: PriorityRules) -> set[Signal]:
    present: set[Signal] = set()
    if facts.considering_leaving:
        present.add(Signal.considering_leaving)
    if facts.open_sla_breach:
        present.add(Signal.open_sla_breach)
    if facts.latest_nps is not None and facts.latest_nps <= rules.detractor_max_nps:
        present.add(Signal.nps_detractor)
    if facts.recent_complaints >= rules.repeated_complaints_min:
        present.add(Signal.repeated_complaints)
    if facts.latest_satisfaction is not None and facts.latest_satisfaction <= rules.unhappy_max_smiley:
        present.add(Signal.unhappy_smiley)
    if facts.lead_time_missed:
        present.add(Signal.lead_time_missed)
    return present


def assess_priority(facts: CustomerFacts, rules: PriorityRules) -> PriorityAssessment:
    """R29: the sum of the present signals' weights sets the level; each signal is a shown reason."""
    present = signals_of(facts, rules)
    score = sum(rules.weights.get(signal, 0) for signal in present)
    level = (
        Priority.urgent
        if score >= rules.urgent_from
        else Priority.high
        if score >= rules.high_from
        else Priority.normal
    )
    order = list(Signal)
    reasons = tuple(sorted(present, key=lambda s: (-rules.weights.get(s, 0), order.index(s))))
    return PriorityAssessment(
        score=score, level=level, reasons=reasons, churn_risk=bool(present & rules.churn_signals)
    )


# ---- the queue: claims under a lease (R26) -------------------------------------------------------


class Status(StrEnum):
    queued = "queued"
    claimed = "claimed"
    waiting_retry = "waiting_retry"
    """Not reachable this time; the next attempt waits for its retry time (R28)."""
    done = "done"
    withdrawn = "withdrawn"
    """No longer to be called, e.g. the customer died (R10)."""


OPEN_STATUSES = frozenset({Status.queued, Status.claimed, Status.waiting_retry})


class QueueEntry(_Frozen):
    """The part of a callback that decides its place in the queue and who holds it."""

    callback_id: UUID
    status: Status
    score: int
    requested_at: datetime
    claimed_by: str | None = None
    claim_id: UUID | None = None
    lease_until: datetime | None = None


def lease_active(entry: QueueEntry, now: datetime) -> bool:
    return entry.status is Status.claimed and entry.lease_until is not None and entry.lease_until > now


def is_claimable(entry: QueueEntry, now: datetime) -> bool:
    """Queued, or claimed under a lease that lapsed: an agent who walks away gives it back (R26)."""
    return entry.status is Status.queued or (entry.status is Status.claimed and not lease_active(entry, now))


def effective_status(entry: QueueEntry, now: datetime) -> Status:
    return Status.queued if entry.status is Status.claimed and not lease_active(entry, now) else entry.status


def queue_key(entry: QueueEntry) -> tuple[int, datetime, str]:
    """R26/R29: higher priority first, then the oldest request; the id breaks ties so the order is total.
    store.claim_next orders by the same three columns."""
    return (-entry.score, entry.requested_at, str(entry.callback_id))


def next_in_queue(entries: Iterable[QueueEntry], now: datetime) -> QueueEntry | None:
    claimable = [e for e in entries if is_claimable(e, now)]
    return min(claimable, key=queue_key) if claimable else None


def lease_end(claimed_at: datetime, lease_seconds: int) -> datetime:
    return claimed_at + timedelta(seconds=lease_seconds)


class RefusalReason(StrEnum):
    not_open = "not_open"
    not_claimed = "not_claimed"
    held_by_other = "held_by_other"
    lease_lapsed = "lease_lapsed"
    stale_claim = "stale_claim"


class Refusal(Exception):
    """A rule refused the command; handlers turn it into a 409 with this message."""

    def __init__(self, reason: RefusalReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class InvalidInput(ValueError):
    """A value the rules do not accept; handlers turn it into a 422 naming the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def check_may_claim(entry: QueueEntry, agent: str, now: datetime) -> None:
    """A chosen callback can be claimed when it is claimable, or re-taken by its own holder."""
    if entry.status not in (Status.queued, Status.claimed):
        raise Refusal(RefusalReason.not_open, f"this callback is {entry.status.value}, not in the queue")
    if lease_active(entry, now) and entry.claimed_by != agent:
        raise Refusal(RefusalReason.held_by_other, "another agent holds this callback")


def check_may_record(entry: QueueEntry, agent: str, claim_id: UUID | None, now: datetime) -> None:
    """Only the agent who holds an unexpired lease records an outcome: once the lease lapses the
    callback may be someone else's, so the first holder's late outcome is refused (R26)."""
    if entry.status not in (Status.queued, Status.claimed):
        raise Refusal(RefusalReason.not_open, f"this callback is {entry.status.value}, not in the queue")
    if entry.status is Status.queued or entry.claimed_by is None:
        raise Refusal(RefusalReason.not_claimed, "claim this callback before recording an outcome")
    if entry.claimed_by != agent:
        raise Refusal(RefusalReason.held_by_other, "another agent holds this callback")
    if not lease_active(entry, now):
        raise Refusal(RefusalReason.lease_lapsed, "your claim on this callback lapsed; take it again")
    if claim_id is not None and claim_id != entry.claim_id:
        raise Refusal(RefusalReason.stale_claim, "this claim was replaced by a newer one")


# ---- a customer marked deceased (R10) -------------------------------------------------------------


class WithdrawnReason(StrEnum):
    """Why a callback left the queue without a call; kept on the callback and shown with it."""

    customer_deceased = "customer_deceased"
    """R10: the customer was marked deceased. A later withdrawal of that mark does not bring the
    callback back: its moment has passed, and whether to call now is a person's decision."""


class DeceasedMark(_Frozen):
    """R10: a customer's deceased mark as the events tell it, ordered by the times they carry.

    Marks and their withdrawals travel on two topics, so Kafka orders neither against the other;
    the latest by its own time decides, whichever arrives first.
    """

    marked_at: datetime | None = None
    """The mark in force; None when there is none, or a later withdrawal undid it."""
    withdrawn_at: datetime | None = None
    """The latest withdrawal seen, kept so that an older mark arriving after it stays undone."""

    @property
    def deceased(self) -> bool:
        return self.marked_at is not None


def mark_deceased(mark: DeceasedMark, at: datetime) -> DeceasedMark:
    """R10: a mark counts unless a withdrawal at or after its time was seen (the mark came late)."""
    if mark.withdrawn_at is not None and at <= mark.withdrawn_at:
        return mark
    return mark.model_copy(update={"marked_at": max(mark.marked_at or at, at)})


def withdraw_deceased_mark(mark: DeceasedMark, at: datetime) -> DeceasedMark:
    """R10: a withdrawal undoes the mark up to its own time, never a newer mark.

    At the same instant the withdrawal wins: a mark is always withdrawn after it was made.
    """
    withdrawn_at = max(mark.withdrawn_at or at, at)
    if mark.marked_at is not None and mark.marked_at <= at:
        return DeceasedMark(marked_at=None, withdrawn_at=withdrawn_at)
    return mark.model_copy(update={"withdrawn_at": withdrawn_at})


# ---- outcomes and retries (R28) ------------------------------------------------------------------


class AgentOutcome(StrEnum):
    """What an agent may record (the values of hoera_events' CallbackOutcome, less the final
    "unreachable", which only the retry schedule decides)."""

    closed_positively = "closed_positively"
    not_reachable = "not_reachable"
    still_unresolved = "still_unresolved"
    considering_leaving = "considering_leaving"
    other = "other"


class Outcome(StrEnum):
    closed_positively = "closed_positively"
    still_unresolved = "still_unresolved"
    considering_leaving = "considering_leaving"
    not_reachable = "not_reachable"
    unreachable_final = "unreachable_final"
    other = "other"


REACHED = frozenset(
    {Outcome.closed_positively, Outcome.still_unresolved, Outcome.considering_leaving, Outcome.other}
)
"""Outcomes of a conversation: the customer was reached."""


class RetryRules(_Frozen):
    """R28: the waits between attempts; three attempts over two business days is two one-day waits."""

    delays: Annotated[list[Duration], Field(max_length=10)]

    @property
    def max_attempts(self) -> int:
        return len(self.delays) + 1


class OutcomeDecision(_Frozen):
    outcome: Outcome
    final: bool
    retry_at: datetime | None = None


def decide_outcome(
    recorded: AgentOutcome,
    *,
    attempt: int,
    at: datetime,
    retry: RetryRules,
    calendar: BusinessCalendar,
    note: str | None = None,
) -> OutcomeDecision:
    """R28: not reachable is tried again after the next wait of the schedule; after the last planned
    attempt the callback closes as unreachable. Every other outcome closes it."""
    if attempt < 1:
        raise ValueError("attempts count from 1")
    if recorded is AgentOutcome.other and not (note and note.strip()):
        raise InvalidInput("note", "an outcome of 'other' needs a note saying what happened")
    if recorded is not AgentOutcome.not_reachable:
        return OutcomeDecision(outcome=Outcome(recorded.value), final=True)
    if attempt <= len(retry.delays):
        return OutcomeDecision(
            outcome=Outcome.not_reachable,
            final=False,
            retry_at=add_duration(at, retry.delays[attempt - 1], calendar),
        )
    return OutcomeDecision(outcome=Outcome.unreachable_final, final=True)


def retry_schedule(
    first_attempt_at: datetime, retry: RetryRules, calendar: BusinessCalendar
) -> list[datetime]:
    """When each attempt falls if every one of them is answered 'not reachable' at once."""
    times = [first_attempt_at]
    for delay in retry.delays:
        times.append(add_duration(times[-1], delay, calendar))
    return times


# ---- what creates a callback (R26) ---------------------------------------------------------------


class Source(StrEnum):
    """Values of hoera_events' CallbackSource."""

    contact_me = "contact_me"
    unhappy_smiley = "unhappy_smiley"
    complaint = "complaint"
    agent = "agent"


class ComplaintTrigger(StrEnum):
    raised = "raised"
    sla_breached = "sla_breached"
    reopened = "reopened"


class ComplaintTriggers(_Frozen):
    """Operator data (R8): which complaint moments put the customer in the callback queue."""

    sla_breached: bool = True
    reopened: bool = True
    raised_categories: frozenset[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]] = frozenset()
    """Categories whose new complaints always get a call (e.g. "deceased.handling")."""


def complaint_wants_callback(
    trigger: ComplaintTrigger, category: str | None, rules: ComplaintTriggers
) -> bool:
    if trigger is ComplaintTrigger.sla_breached:
        return rules.sla_breached
    if trigger is ComplaintTrigger.reopened:
        return rules.reopened
    return category is not None and category in rules.raised_categories


def survey_wants_callback(
    *, contact_me: bool, satisfaction: int | None, unhappy_smiley_callback: bool, unhappy_max_smiley: int
) -> Source | None:
    """R19/R26: an explicit request always; an unhappy smiley alone only where the rules say so."""
    if contact_me:
        return Source.contact_me
    if unhappy_smiley_callback and satisfaction is not None and satisfaction <= unhappy_max_smiley:
        return Source.unhappy_smiley
    return None


# ---- the read model's complaint status (R27) -----------------------------------------------------


class ComplaintState(StrEnum):
    open = "open"
    resolved = "resolved"
    closed = "closed"


class ComplaintFacts(_Frozen):
    """What the complaint events told us, in whatever order they arrived."""

    raised_at: datetime | None = None
    breached_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    reopened_at: datetime | None = None


def complaint_state(facts: ComplaintFacts) -> ComplaintState:
    """Events of one complaint arrive on different topics, so order is not guaranteed: the times
    decide. A reopening later than the last resolution or closing makes it open again."""
    ended = max((t for t in (facts.resolved_at, facts.closed_at) if t is not None), default=None)
    if ended is None or (facts.reopened_at is not None and facts.reopened_at > ended):
        return ComplaintState.open
    return ComplaintState.closed if facts.closed_at is not None else ComplaintState.resolved


def sla_breach_open(facts: ComplaintFacts) -> bool:
    """An open complaint past its promised date; a breach before a reopening belongs to the old date."""
    if facts.breached_at is None or complaint_state(facts) is not ComplaintState.open:
        return False
    return facts.reopened_at is None or facts.breached_at >= facts.reopened_at


def customer_facts(
    *,
    considering_leaving: bool,
    latest_nps: int | None,
    latest_satisfaction: int | None,
    complaints: Sequence[ComplaintFacts],
    now: datetime,
    rules: PriorityRules,
    lead_time_missed: bool = False,
) -> CustomerFacts:
    window_start = now - timedelta(days=rules.complaint_window_days)
    recent = sum(1 for c in complaints if (c.raised_at or now) >= window_start)
    return CustomerFacts(
        considering_leaving=considering_leaving,
        latest_nps=latest_nps,
        latest_satisfaction=latest_satisfaction,
        recent_complaints=recent,
        open_sla_breach=any(sla_breach_open(c) for c in complaints),
        lead_time_missed=lead_time_missed,
    )
