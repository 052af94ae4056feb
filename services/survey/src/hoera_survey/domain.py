"""The survey service's rules, pure: who may be asked, when, how, and what the answers add up to.

No I/O here: handlers load the customer's standing, their contact history, the operator's rules and
the tenant's business calendar, ask these functions, and save what they decide. The calendar
(hoera_kit.calendar) is pure too: every date here is computed on it, so the survey promises the
same days as every other service of the tenant.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Annotated, Protocol

from hoera_events.common import Channel as ContactChannel
from hoera_events.common import Code, Language, MessageChannel, PreferredMoment
from hoera_events.surveys import AgentAttribute, SuppressionReason, SurveyTrigger
from hoera_kit.calendar import BusinessCalendar, Span
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    field_serializer,
    model_validator,
)


class BudgetKind(StrEnum):
    """What spends a customer's contact budget (R21, R30): a survey or a proactive message."""

    survey = "survey"
    proactive = "proactive"
    recovery = "recovery"
    """The survey after a callback the customer asked for: it measures whether they were won back (R29),
    so the templates' caps do not count it; an operator may add it to a cap's kinds."""


def budget_kind(trigger: SurveyTrigger) -> BudgetKind:
    """What a survey of this trigger spends: a recovery survey is not an ordinary survey."""
    return BudgetKind.recovery if trigger is SurveyTrigger.callback_completed else BudgetKind.survey


class Question(StrEnum):
    """The questions a survey may ask (R18, R19); which ones a trigger asks is operator data (R8)."""

    satisfaction = "satisfaction"
    effort = "effort"
    nps = "nps"
    attributes = "attributes"
    comment = "comment"
    contact_me = "contact_me"


class Cap(BaseModel):
    """R21, R30: at most ``max_contacts`` contacts of the given kinds in any ``period_days`` window."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
    kinds: frozenset[BudgetKind] = Field(min_length=1)
    """The kinds of contact this cap counts (and limits)."""

    @field_serializer("kinds")
    def _kinds_in_order(self, kinds: frozenset[BudgetKind]) -> list[BudgetKind]:
        # A set's order follows the strings' hashes, which differ per process: written sorted, the
        # stored document, the console's form and the audit's diffs are the same in every process.
        return sorted(kinds)
    max_contacts: Annotated[StrictInt, Field(ge=0, le=1000)]
    """0 means never: e.g. a pause on proactive messages."""
    period_days: Annotated[StrictInt, Field(ge=1, le=3660)]


@dataclass(frozen=True)
class Spend:
    """One contact already made with the customer."""

    kind: BudgetKind
    at: datetime


@dataclass(frozen=True)
class Standing:
    """What the survey service knows of a customer, apart from their contact history."""

    deceased: bool = False
    opted_out: bool = False


@dataclass(frozen=True)
class Suppress:
    """Do not contact the customer; the reason is recorded and counted, never silent (R21)."""

    reason: SuppressionReason
    detail: str
    """A finer reason for the operator: which cap, whose death, which rule."""


@dataclass(frozen=True)
class Allow:
    """The budget has room: contact the customer and spend one unit of each cap that counts it."""


Verdict = Allow | Suppress


def full_cap(caps: Iterable[Cap], history: Sequence[Spend], kind: BudgetKind, now: datetime) -> Cap | None:
    """R21, R30: the first cap that one more contact of ``kind`` at ``now`` would exceed, if any.

    Windows are rolling: a contact counts against a cap for ``period_days`` after it was made, so a
    customer asked on the 31st of one month is not asked again on the 1st of the next.
    """
    for cap in caps:
        if kind not in cap.kinds:
            continue
        since = now - timedelta(days=cap.period_days)
        used = sum(1 for s in history if s.kind in cap.kinds and since < s.at <= now)
        if used >= cap.max_contacts:
            return cap
    return None


def lookback(caps: Iterable[Cap]) -> timedelta:
    """How far back the caps look: contacts older than this count for none of them."""
    return timedelta(days=max((c.period_days for c in caps), default=1))


def refused_by_standing(standing: Standing) -> Suppress | None:
    """R10, R21: never a deceased customer, never one who opted out, whatever the budget says."""
    if standing.deceased:
        return Suppress(SuppressionReason.deceased, "customer_deceased")
    if standing.opted_out:
        return Suppress(SuppressionReason.opted_out, "opted_out")
    return None


def may_contact(
    standing: Standing, caps: Iterable[Cap], history: Sequence[Spend], kind: BudgetKind, now: datetime
) -> Verdict:
    """R10, R21, R30: never a deceased customer, never one who opted out, never over a cap."""
    refused = refused_by_standing(standing)
    if refused is not None:
        return refused
    cap = full_cap(caps, history, kind, now)
    if cap is not None:
        return Suppress(SuppressionReason.fatigue_cap, f"cap:{cap.name}")
    return Allow()


def may_repeat(standing: Standing) -> Verdict:
    """R30: a message asked for again repeats its grant without spending the budget twice (its
    own spend is in the history now), but a customer who died or opted out since is not contacted."""
    return refused_by_standing(standing) or Allow()


@dataclass(frozen=True)
class DeceasedMark:
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
    return replace(mark, marked_at=max(mark.marked_at or at, at))


def withdraw_deceased_mark(mark: DeceasedMark, at: datetime) -> DeceasedMark:
    """R10: a withdrawal undoes the mark up to its own time, never a newer mark.

    At the same instant the withdrawal wins: a mark is always withdrawn after it was made.
    """
    withdrawn_at = max(mark.withdrawn_at or at, at)
    if mark.marked_at is not None and mark.marked_at <= at:
        return DeceasedMark(marked_at=None, withdrawn_at=withdrawn_at)
    return replace(mark, withdrawn_at=withdrawn_at)


@dataclass(frozen=True)
class TriggerFacts:
    """What a trigger event says about the contact to be surveyed."""

    channel: ContactChannel
    about_deceased: bool = False
    enabled: bool = True
    """The rules survey this trigger at all (R8)."""
    channel_surveyed: bool = True
    """The rules survey contacts of this channel (R8)."""


def screen_trigger(facts: TriggerFacts) -> Suppress | None:
    """R10, R17: the trigger's own facts that rule a survey out before any budget is looked at."""
    if facts.about_deceased:
        return Suppress(SuppressionReason.deceased, "contact_about_deceased")
    if not facts.enabled:
        return Suppress(SuppressionReason.channel_not_surveyed, "trigger_disabled")
    if not facts.channel_surveyed:
        return Suppress(SuppressionReason.channel_not_surveyed, f"channel:{facts.channel.value}")
    return None


@dataclass(frozen=True)
class Delivery:
    channel: MessageChannel
    recipient: str


def choose_delivery(
    preferred: MessageChannel, *, email: str | None, phone: str | None, sms_available: bool
) -> Delivery | None:
    """R17, R30: the rules' preferred channel where the customer can be reached on it, else the other.

    A letter is too slow for a survey about a contact of minutes ago, so only e-mail and SMS count.
    """
    options: list[Delivery] = []
    if email:
        options.append(Delivery(MessageChannel.email, email))
    if phone and sms_available:
        options.append(Delivery(MessageChannel.sms, phone))
    for option in options:
        if option.channel is preferred:
            return option
    return options[0] if options else None


def survey_language(customer: str | None, contact: Language | None, organisation: Language) -> Language:
    """R22: the customer's own language where the platform's directory records one we speak, else
    the language the contact was held in, else the organisation's: the mail and the page speak it."""
    if customer is not None:
        code = customer.strip().lower()[:2]
        if code in Language.__members__:
            return Language(code)
    return contact or organisation


# --- when (R17): every moment on the tenant's business calendar ---------------------------------


class SendWindow(BaseModel):
    """R17: the hours of the day invitations go out, on the wall clock of the tenant's calendar:
    as soon as possible after the contact, but nobody is asked about it at night."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    opens: time
    closes: time
    """Exclusive: an invitation due at or after it waits for the next day's opening."""
    business_days_only: bool = False
    """Wait over weekends, public holidays and the days the operator closes, too."""

    @model_validator(mode="after")
    def _local_and_ordered(self) -> SendWindow:
        if self.opens.tzinfo is not None or self.closes.tzinfo is not None:
            raise ValueError("opens and closes are local times of the tenant's calendar, without a zone")
        if self.closes <= self.opens:
            raise ValueError("closes must be after opens")
        return self


class InvitationTiming(Protocol):
    """What a trigger's rule says about time (rules.TriggerRule has these)."""

    @property
    def delay_minutes(self) -> int: ...

    @property
    def send_window(self) -> SendWindow | None: ...

    @property
    def link_valid_for(self) -> Span: ...


def invitation_moment(calendar: BusinessCalendar, start: datetime, rule: InvitationTiming) -> datetime:
    """R17: when an invitation goes out: the rule's delay after `start` (the end of the contact),
    then the first moment inside the rule's send window, on the tenant's calendar; without a
    window, at once. Never before the delay has passed; monotonic in `start`."""
    due = calendar.after(start, Span(seconds=rule.delay_minutes * 60))
    window = rule.send_window
    if window is None:
        return due
    day = calendar.local_date(due)
    for _ in range(3660):  # ten years: a window that never opens is a broken calendar
        if not window.business_days_only or calendar.is_business_day(day):
            opens = datetime.combine(day, window.opens, calendar.zone).astimezone(UTC)
            if due < opens:
                return opens
            if due < datetime.combine(day, window.closes, calendar.zone).astimezone(UTC):
                return due
        day += timedelta(days=1)
    raise ValueError("the calendar has no business day in the next ten years")


def link_expiry(calendar: BusinessCalendar, start: datetime, rule: InvitationTiming) -> datetime:
    """R17: when an invitation's link sent at `start` stops working: at the end of the tenant's
    local day on which `link_valid_for` after `start` falls, so that the date the invitation
    promises ("this link works until 12/03") holds for the whole of that day."""
    return calendar.end_of_day(calendar.local_date(calendar.after(start, rule.link_valid_for)))


def link_last_day(calendar: BusinessCalendar, expires_at: datetime) -> date:
    """The last day a link works, as the invitation names it (its expiry is that day's end)."""
    return calendar.local_date(expires_at - timedelta(microseconds=1))


# --- the answers ----------------------------------------------------------------------------------

SmileyAnswer = Annotated[StrictInt, Field(ge=1, le=5)]
NpsAnswer = Annotated[StrictInt, Field(ge=0, le=10)]
UNHAPPY_MAX_SMILEY = 2
"""The default of what counts as unhappy: a satisfaction smiley at or below it (the two unhappiest)."""


def unhappy(satisfaction: int | None, unhappy_max_smiley: int = UNHAPPY_MAX_SMILEY) -> bool:
    """The customer picked an unhappy satisfaction smiley: the page asks them why."""
    return satisfaction is not None and satisfaction <= unhappy_max_smiley


class ContactMe(BaseModel):
    """R19: the customer asks to be contacted again, when and how they prefer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    moment: PreferredMoment = PreferredMoment.asap
    channel: ContactChannel = ContactChannel.phone


class Answer(BaseModel):
    """R18: one customer's answer; every question may be skipped. Smileys: 1 unhappiest, 5 happiest;
    for effort 5 is the easiest, so that higher is always better."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    satisfaction: SmileyAnswer | None = None
    effort: SmileyAnswer | None = None
    nps: NpsAnswer | None = None
    attributes: dict[AgentAttribute, SmileyAnswer] = Field(default_factory=dict)
    comment: Annotated[str, Field(max_length=2000)] | None = None
    contact_me: ContactMe | None = None
    reason: Code | None = None
    """Why the customer was unhappy: one of the tenant's reasons (Organisation.feedback), a code."""

    def limited_to(
        self,
        questions: Iterable[Question],
        attributes: Iterable[AgentAttribute],
        unhappy_max_smiley: int = UNHAPPY_MAX_SMILEY,
    ) -> Answer:
        """Only what the survey asked: a hand-made form cannot add answers to other questions. The
        reason is asked only after an unhappy satisfaction smiley: with any other (or none) it is
        dropped, as the page hides it then."""
        asked = set(questions)
        allowed = set(attributes)
        comment = (self.comment or "").strip() or None
        return Answer(
            satisfaction=self.satisfaction if Question.satisfaction in asked else None,
            effort=self.effort if Question.effort in asked else None,
            nps=self.nps if Question.nps in asked else None,
            attributes=(
                {a: v for a, v in self.attributes.items() if a in allowed}
                if Question.attributes in asked
                else {}
            ),
            comment=comment if Question.comment in asked else None,
            contact_me=self.contact_me if Question.contact_me in asked else None,
            reason=(
                self.reason
                if Question.satisfaction in asked and unhappy(self.satisfaction, unhappy_max_smiley)
                else None
            ),
        )


# --- the figures (R20) ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """Counts from which the standard figures are computed (the database does the counting)."""

    invited: int = 0
    answered: int = 0
    satisfaction_answers: int = 0
    satisfied: int = 0
    """Satisfaction answers of 4 or 5 (the two happiest smileys)."""
    satisfaction_sum: int = 0
    effort_answers: int = 0
    effort_sum: int = 0
    nps_answers: int = 0
    promoters: int = 0
    """NPS answers of 9 or 10."""
    detractors: int = 0
    """NPS answers of 0 to 6."""


def response_rate(t: Tally) -> float | None:
    """R20: answered / invited, as a percentage (the seed insurer: 63,500 of 387,000, about 16%)."""
    return round(100 * t.answered / t.invited, 1) if t.invited else None


def csat(t: Tally) -> float | None:
    """R18, R20: CSAT the standard way: the share of satisfaction answers in the top two (4-5), in %."""
    return round(100 * t.satisfied / t.satisfaction_answers, 1) if t.satisfaction_answers else None


def satisfaction_mean(t: Tally) -> float | None:
    """The mean satisfaction smiley on 1-5 (what the seed's "8.2/10" style of reporting averages)."""
    return round(t.satisfaction_sum / t.satisfaction_answers, 2) if t.satisfaction_answers else None


def nps(t: Tally) -> float | None:
    """R18, R20: % promoters (9-10) minus % detractors (0-6), from -100 to 100."""
    if not t.nps_answers:
        return None
    return round(100 * (t.promoters - t.detractors) / t.nps_answers, 1)


def ces(t: Tally) -> float | None:
    """R18, R20: CES the standard way, the mean effort answer (1-5; here 5 is the easiest)."""
    return round(t.effort_sum / t.effort_answers, 2) if t.effort_answers else None


def tally(answers: Iterable[Answer], invited: int) -> Tally:
    """The tally of a set of answers, as the database computes it (used by tests and examples)."""
    items = list(answers)
    sat = [a.satisfaction for a in items if a.satisfaction is not None]
    eff = [a.effort for a in items if a.effort is not None]
    rec = [a.nps for a in items if a.nps is not None]
    return Tally(
        invited=invited,
        answered=len(items),
        satisfaction_answers=len(sat),
        satisfied=sum(1 for s in sat if s >= 4),
        satisfaction_sum=sum(sat),
        effort_answers=len(eff),
        effort_sum=sum(eff),
        nps_answers=len(rec),
        promoters=sum(1 for n in rec if n >= 9),
        detractors=sum(1 for n in rec if n <= 6),
    )
