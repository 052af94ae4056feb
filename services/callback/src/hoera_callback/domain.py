"""The callback queue's rules (R26-R29), pure: no I/O, no framework.

A "please contact me" becomes one callback with a lead-time target; agents claim callbacks under a
lease, in priority order and then by age; each attempt ends with an outcome from a fixed list, and an
unreachable customer is tried again on a schedule. Churn-risk signals raise the priority and are
kept as the reasons an agent sees.

Handlers load the facts, ask these functions and save what they answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum
from typing import Annotated, Any
from uuid import UUID

from hoera_events.common import Language
from hoera_events.organisation import Organisation
from hoera_kit.calendar import BusinessCalendar, Span
from hoera_kit.refusals import Conflict, Invalid
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _in_order(values: frozenset[Any]) -> list[Any]:
    return sorted(values)


# Sets are written sorted, so the same rules always read the same (the history compares documents).
InOrder = PlainSerializer(_in_order, return_type=list)


# ---- dates (R28): every one on the tenant's business calendar (hoera_kit.calendar) ---------------
# One named function per date rule, each taking (calendar, start, rule), so a cross-service property
# test can hold them to the calendar's promises (never sooner than the span, monotonic in the start).


def callback_due_at(calendar: BusinessCalendar, requested_at: datetime, lead_time: Span) -> datetime:
    """R28: the queue's lead-time target, the moment the first attempt is due. Counted from the first
    business moment at or after the request: a request on Friday evening is due a business day after
    Monday's opening, never sooner than one made on Monday morning."""
    return calendar.after(requested_at, lead_time)


def next_attempt_at(calendar: BusinessCalendar, not_reached_at: datetime, wait: Span) -> datetime:
    """R28: when an unreachable customer is tried again: the schedule's wait after this attempt, on
    the business calendar (nobody calls a customer back on a Sunday or a public holiday)."""
    return calendar.after(not_reached_at, wait)


def _nonzero(span: Span) -> bool:
    return bool(span.business_days or span.seconds)


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


def priority_problems(rules: PriorityRules) -> list[tuple[str, str]]:
    """R8: what the priority document's fields cannot say together (the kit answers 422)."""
    if rules.urgent_from < rules.high_from:
        return [("urgent_from", "must not be below high_from")]
    return []


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


def check_may_claim(entry: QueueEntry, agent: str, now: datetime) -> None:
    """A chosen callback can be claimed when it is claimable, or re-taken by its own holder."""
    if entry.status not in (Status.queued, Status.claimed):
        raise Conflict(f"this callback is {entry.status.value}, not in the queue")
    if lease_active(entry, now) and entry.claimed_by != agent:
        raise Conflict("another agent holds this callback")


def check_may_record(entry: QueueEntry, agent: str, claim_id: UUID | None, now: datetime) -> None:
    """Only the agent who holds an unexpired lease records an outcome: once the lease lapses the
    callback may be someone else's, so the first holder's late outcome is refused (R26)."""
    if entry.status not in (Status.queued, Status.claimed):
        raise Conflict(f"this callback is {entry.status.value}, not in the queue")
    if entry.status is Status.queued or entry.claimed_by is None:
        raise Conflict("claim this callback before recording an outcome")
    if entry.claimed_by != agent:
        raise Conflict("another agent holds this callback")
    if not lease_active(entry, now):
        raise Conflict("your claim on this callback lapsed; take it again")
    if claim_id is not None and claim_id != entry.claim_id:
        raise Conflict("this claim was replaced by a newer one", field="claim_id")


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


class QueueRules(_Frozen):
    """Operator data (R8): the queue's lead-time target, how long a claim holds and the retries."""

    lead_time: Span
    """R28: from the request to the first attempt."""
    lease_seconds: Annotated[int, Field(ge=1, le=86_400)]
    """R26: how long a claim holds before the callback returns to the queue."""
    retries: Annotated[list[Span], Field(max_length=10)]
    """R28: the waits between attempts at an unreachable customer; two one-day waits are three
    attempts over two business days."""

    @property
    def max_attempts(self) -> int:
        return len(self.retries) + 1


def queue_problems(rules: QueueRules) -> list[tuple[str, str]]:
    """R8: a lead time or a wait of nothing would call before anyone could (the kit answers 422)."""
    problems = []
    if not _nonzero(rules.lead_time):
        problems.append(("lead_time", "give business_days or seconds above zero"))
    problems += [
        (f"retries.{i}", "give business_days or seconds above zero")
        for i, wait in enumerate(rules.retries)
        if not _nonzero(wait)
    ]
    return problems


class OutcomeDecision(_Frozen):
    outcome: Outcome
    final: bool
    retry_at: datetime | None = None


def decide_outcome(
    recorded: AgentOutcome,
    *,
    attempt: int,
    at: datetime,
    retries: Sequence[Span],
    calendar: BusinessCalendar,
    note: str | None = None,
) -> OutcomeDecision:
    """R28: not reachable is tried again after the next wait of the schedule; after the last planned
    attempt the callback closes as unreachable. Every other outcome closes it."""
    if attempt < 1:
        raise ValueError("attempts count from 1")
    if recorded is AgentOutcome.other and not (note and note.strip()):
        raise Invalid("an outcome of 'other' needs a note saying what happened", field="note")
    if recorded is not AgentOutcome.not_reachable:
        return OutcomeDecision(outcome=Outcome(recorded.value), final=True)
    if attempt <= len(retries):
        return OutcomeDecision(
            outcome=Outcome.not_reachable,
            final=False,
            retry_at=next_attempt_at(calendar, at, retries[attempt - 1]),
        )
    return OutcomeDecision(outcome=Outcome.unreachable_final, final=True)


def retry_schedule(
    first_attempt_at: datetime, retries: Sequence[Span], calendar: BusinessCalendar
) -> list[datetime]:
    """When each attempt falls if every one of them is answered 'not reachable' at once."""
    times = [first_attempt_at]
    for wait in retries:
        times.append(next_attempt_at(calendar, times[-1], wait))
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


class TriggerRules(_Frozen):
    """Operator data (R8): which complaint moments and survey answers put a customer in the queue."""

    sla_breached: bool = True
    reopened: bool = True
    raised_categories: Annotated[
        frozenset[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]], InOrder
    ] = frozenset()
    """Categories whose new complaints always get a call (e.g. "deceased.handling")."""
    unhappy_smiley_callback: bool = False
    """Also queue a call for an unhappy smiley without an explicit "please contact me" (R19, R23)."""


def complaint_wants_callback(trigger: ComplaintTrigger, category: str | None, rules: TriggerRules) -> bool:
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


# ---- which queue (R26): the organisation's teams -------------------------------------------------


def queue_team(org: Organisation, named: str | None, language: str) -> str | None:
    """The team whose queue a callback joins: the one its cause names, else the organisation's first
    team that speaks the customer's language, else its first team; None when it has no teams yet."""
    if named:
        return named
    speaking = [t.id for t in org.teams if t.language.value == language]
    candidates = speaking or [t.id for t in org.teams]
    return candidates[0] if candidates else None


def callback_language(requested: str | None, tenant_language: Language) -> Language:
    """The customer's language where the event names one we speak, else the organisation's (R22)."""
    known = {lang.value: lang for lang in Language}
    return known.get(requested or "", tenant_language)


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
