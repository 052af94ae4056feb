"""The compensation rules (R11-R16), pure: values in, decisions out; no I/O, no framework.

Handlers load what a rule needs (the complaint's apology and damage, the catalogue entry, the
caller's mandate, the customer's abuse watch), ask a function here, and save what it decides. A
refusal is a ``Refused`` naming the field and whether the request is wrong (``Why.invalid``), comes
at the wrong moment (``Why.conflict``) or is not the caller's to make (``Why.forbidden``).

The vocabulary (money, currencies, the compensation kinds and outcomes) is the event contracts'
own, so a decision here reads the same as the event it becomes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Self
from zoneinfo import ZoneInfo

from hoera_events.common import Code, Currency, Language, Money
from hoera_events.compensation import CompensationKind
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    field_validator,
    model_validator,
)

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Cents = Annotated[StrictInt, Field(ge=0, le=100_000_000)]


class Why(StrEnum):
    invalid = "invalid"
    """The request itself is wrong (a value, a field): 422."""
    conflict = "conflict"
    """The request is fine but the complaint is not in a state that allows it: 409."""
    forbidden = "forbidden"
    """The caller may not do this (four eyes): 403."""


class Refused(Exception):
    """A rule refused; the message says why in a sentence an agent understands."""

    def __init__(self, message: str, *, why: Why = Why.invalid, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.why = why
        self.field = field


def show(money: Money) -> str:
    """EUR 300.00: how people read an amount (integer arithmetic, no float on the way)."""
    units, cents = divmod(money.amount_cents, 100)
    return f"{money.currency.value} {units}.{cents:02d}"


# ---- R13: the catalogue of the most common complaints -------------------------------------------


class Texts(BaseModel):
    """One text in each language of the organisations (R22)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    nl: Text
    fr: Text
    en: Text

    def in_(self, language: Language | str | None) -> str:
        return str(getattr(self, str(language), None) or self.nl)


class Gesture(BaseModel):
    """An emotional compensation the catalogue suggests (R12), with what it costs, if anything."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: Code
    label: Texts
    value_cents: Cents | None = None
    """What it costs the organisation (flowers, a voucher); counted in the cost ledger (R16)."""


class CatalogueEntry(BaseModel):
    """R13: per complaint type the appropriate answer and whether and how much money may be given."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: Code
    title: Texts
    categories: Annotated[list[Code], Field(min_length=1, max_length=20)]
    """The complaint categories (as intake raises them) this entry answers."""
    keywords: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=64)]], Field(max_length=50)
    ] = []
    answer: Texts
    """Guidance for the agent: what to do and say (R13 'the appropriate answer')."""
    apology: Texts
    """R11 step 1: the words of the apology."""
    gestures: Annotated[list[Gesture], Field(max_length=20)] = []
    financial_allowed: StrictBool
    suggested_amount_cents: Cents | None = None
    max_amount_cents: Cents | None = None
    currency: Currency = Currency.EUR

    def gesture(self, code: str) -> Gesture | None:
        return next((g for g in self.gestures if g.code == code), None)

    @property
    def maximum(self) -> Money | None:
        if not self.financial_allowed or self.max_amount_cents is None:
            return None
        return Money(amount_cents=self.max_amount_cents, currency=self.currency)


def catalogue_problems(entry: CatalogueEntry) -> list[tuple[str, str]]:
    """R8: what is wrong with an operator's entry, field by field (empty when it is sound)."""
    problems: list[tuple[str, str]] = []
    if entry.financial_allowed:
        if entry.max_amount_cents is None or entry.max_amount_cents <= 0:
            problems.append(("max_amount_cents", "a financial entry needs a maximum above 0 cents"))
        if entry.suggested_amount_cents is None:
            problems.append(("suggested_amount_cents", "a financial entry needs a suggested amount"))
        elif entry.max_amount_cents is not None and entry.suggested_amount_cents > entry.max_amount_cents:
            problems.append(
                ("suggested_amount_cents", "the suggested amount may not exceed the maximum amount")
            )
    else:
        for name in ("suggested_amount_cents", "max_amount_cents"):
            if getattr(entry, name):
                problems.append((name, "an entry without financial compensation has no amounts"))
    codes = [g.code for g in entry.gestures]
    if len(set(codes)) != len(codes):
        problems.append(("gestures", "gesture codes must be unique within an entry"))
    if len(set(entry.categories)) != len(entry.categories):
        problems.append(("categories", "a category is listed twice"))
    return problems


def _folded(text: str) -> str:
    """Lower case without accents, so 'remboursement' finds 'Remboursé' and 'hôpital' 'hopital'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _haystack(entry: CatalogueEntry) -> str:
    # The long texts (answer, apology, gestures) are left out: "telefoon" in a gesture's label
    # ("apology by phone") would match every entry.
    parts = [entry.code, *entry.categories, *entry.keywords, entry.title.nl, entry.title.fr, entry.title.en]
    return _folded(" ".join(parts))


def search_catalogue(
    entries: Iterable[CatalogueEntry], *, q: str | None = None, category: str | None = None
) -> list[CatalogueEntry]:
    """R13: every agent consults the catalogue by complaint type (a category or its prefix, e.g.
    'refund' finds 'refund.late') or by keywords in any language (all words must match)."""
    words = _folded(q or "").split()
    found = []
    for entry in entries:
        if category and not any(c == category or c.startswith(category + ".") for c in entry.categories):
            continue
        if words:
            hay = _haystack(entry)
            if not all(word in hay for word in words):
                continue
        found.append(entry)
    return sorted(found, key=lambda e: e.code)


# ---- R14: the mandate -----------------------------------------------------------------------------


def mandate_for(roles: Iterable[str], mandates: Mapping[str, Money]) -> Money | None:
    """The most a person may grant alone: the highest mandate among their roles (None: no mandate)."""
    limits = [mandates[r] for r in roles if r in mandates]
    return max(limits, key=lambda m: m.amount_cents) if limits else None


def within_mandate(amount: Money, mandate: Money | None) -> bool:
    """R14: up to and including the mandate (EUR 300.00 by default) the agent decides alone."""
    return (
        mandate is not None
        and amount.currency == mandate.currency
        and amount.amount_cents <= mandate.amount_cents
    )


class ApprovalDeadline(BaseModel):
    """How long an approver has before an approval request is escalated (operator data, R8)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    business_days: Annotated[StrictInt, Field(ge=1, le=30)] | None = None
    seconds: Annotated[StrictInt, Field(ge=1, le=30 * 86400)] | None = None
    """For tests and demos: a deadline in seconds instead of business days."""

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.business_days is None) == (self.seconds is None):
            raise ValueError("give exactly one of business_days and seconds")
        return self


def approval_deadline(requested_at: datetime, rule: ApprovalDeadline, zone: ZoneInfo) -> datetime:
    """R14 with R3: the moment an undecided approval is escalated. Business days skip Saturday and
    Sunday in the organisation's calendar, at the same local time (public holidays are not known)."""
    if rule.seconds is not None:
        return requested_at + timedelta(seconds=rule.seconds)
    local = requested_at.astimezone(zone)
    day = local.date()
    left = rule.business_days or 0
    while left:
        day += timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    naive = datetime.combine(day, local.time().replace(tzinfo=None))
    return naive.replace(tzinfo=zone).astimezone(requested_at.tzinfo)


# ---- R15: the abuse watch -------------------------------------------------------------------------


class AbuseWatchRule(BaseModel):
    """R15: N financial compensations within a window flag the customer for review."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    threshold: Annotated[StrictInt, Field(ge=1, le=1000)] = 2
    window_days: Annotated[StrictInt, Field(ge=1, le=3660)] = 365
    flagged_needs_approval: StrictBool = True
    """R15: while a customer is flagged, even a small financial proposal goes to an approver. Always
    true: the flag is the second pair of eyes on the customer's money, so an operator cannot switch it
    off; the field stays so that rule documents naming it still load."""

    @field_validator("flagged_needs_approval")
    @classmethod
    def _always_to_an_approver(cls, value: bool) -> bool:
        if not value:
            raise ValueError(
                "R15: while a customer is flagged, a financial proposal always goes to an approver; "
                "this cannot be switched off"
            )
        return value


@dataclass(frozen=True)
class Watch:
    """What the abuse watch knows of a customer right now."""

    financial_compensations: int
    """Granted financial compensations within the window."""
    total: Money | None
    open_flag_since: datetime | None
    clearing_asked_by: str | None = None
    """Who asked to clear the open flag, waiting for an approver to confirm or refuse."""
    cleared_by: frozenset[str] = frozenset()
    """When the latest flag episode ended on review and none is open: the two persons who cleared it
    (the one who asked, the approver who confirmed)."""


class Episode(StrEnum):
    start = "start"
    end = "end"
    keep = "keep"


def next_episode(watch: Watch, rule: AbuseWatchRule) -> Episode:
    """R15: a flag episode starts when the count reaches the threshold without an open flag (so
    CustomerFlaggedForReview is emitted once per episode) and ends when the window no longer holds
    enough compensations (or a reviewer closes it)."""
    reached = watch.financial_compensations >= rule.threshold
    if reached and watch.open_flag_since is None:
        return Episode.start
    if not reached and watch.open_flag_since is not None:
        return Episode.end
    return Episode.keep


def is_flagged(watch: Watch, rule: AbuseWatchRule) -> bool:
    return watch.open_flag_since is not None and watch.financial_compensations >= rule.threshold


def clearers(watch: Watch, rule: AbuseWatchRule) -> frozenset[str]:
    """R15, four eyes: the persons whose review is all that keeps the customer unflagged right now
    (their episode was the latest and the window still holds enough compensations for a flag). Money
    for the customer decided by one of them would rest on their own word: someone else decides it."""
    if watch.open_flag_since is None and watch.financial_compensations >= rule.threshold:
        return watch.cleared_by
    return frozenset()


class ReviewAct(StrEnum):
    """R15, four eyes: what a person did about clearing a flag (its audit trail)."""

    asked = "asked"
    """A supervisor or an approver reviewed the customer and asks to clear the flag."""
    confirmed = "confirmed"
    """An approver other than the one who asked agrees: the flag ends."""
    refused = "refused"
    """An approver other than the one who asked disagrees: the flag stays, and may be asked again."""


def check_clearing_request(asked_by: str | None) -> None:
    """R15: one request to clear a flag at a time; an approver answers it before another is made."""
    if asked_by is not None:
        raise Refused(
            f"{asked_by} asked to clear this flag already; an approver confirms or refuses that first",
            why=Why.conflict,
        )


def check_clearing_confirmer(confirmer: str, asked_by: str | None) -> None:
    """R15, four eyes: a flag is cleared only when an approver other than the person who asked
    confirms. The approver, not a second supervisor: the flag is what sends the customer's money to
    an approver (R14's senior role), so only that role may give its control up, and a peer supervisor
    answers for the same team's figures as the one who asked."""
    if asked_by is None:
        raise Refused(
            "nobody asked to clear this flag: a supervisor or an approver reviews the customer and "
            "asks first (POST /customers/{customer_id}/abuse-watch/review)",
            why=Why.conflict,
        )
    if confirmer == asked_by:
        raise Refused(
            "you asked to clear this flag: another approver confirms or refuses it (four eyes, R15)",
            why=Why.forbidden,
        )


# ---- R10: a deceased customer ----------------------------------------------------------------------


@dataclass(frozen=True)
class DeceasedMark:
    """R10: the latest deceased mark and the latest withdrawal of one, as intake reported them.
    They arrive on two topics in either order, so both are kept and compared when read."""

    owner_agent_id: str | None
    """The one named contact person for the bereaved, from the latest mark."""
    marked_at: datetime | None
    withdrawn_at: datetime | None

    @property
    def in_force(self) -> bool:
        """A withdrawal undoes the marks before it, never a newer one; it follows the mark it
        withdraws, so at the same instant the withdrawal wins."""
        return self.marked_at is not None and (
            self.withdrawn_at is None or self.marked_at > self.withdrawn_at
        )

    @property
    def owner(self) -> str | None:
        return self.owner_agent_id if self.in_force else None

    def about_deceased(self, raised_about_deceased: bool, raised_at: datetime | None) -> bool:
        """Whether a complaint is about a deceased customer now. Intake raised it so while the
        customer was marked (or the platform said so); withdrawing the mark clears that on every
        complaint of the customer raised before, unless a newer mark stands again. A complaint whose
        raise has not arrived counts as raised before."""
        if not raised_about_deceased or self.in_force or self.withdrawn_at is None:
            return raised_about_deceased
        return raised_at is not None and raised_at > self.withdrawn_at


# ---- R11-R12: apology, damage and proposal ---------------------------------------------------------


class Route(StrEnum):
    decide = "decide"
    """Within the proposer's mandate: decided at once (CompensationDecided)."""
    approval = "approval"
    """To an approver (CompensationApprovalRequested)."""


@dataclass(frozen=True)
class ProposalRequest:
    kind: CompensationKind
    amount: Money | None = None
    gesture: str | None = None
    gesture_text: str | None = None


@dataclass(frozen=True)
class Situation:
    """What a handler loaded about the complaint and the proposer."""

    apologised: bool
    live_compensation: str | None
    """'granted' or 'awaiting_approval' when the complaint already has one; None otherwise."""
    entry: CatalogueEntry | None
    category: str
    damage: Money | None
    mandate: Money | None
    flagged: bool
    rule: AbuseWatchRule
    proposer_cleared_the_flag: bool = False
    """The proposer is one of the customer's ``clearers`` (R15, four eyes)."""


@dataclass(frozen=True)
class Proposal:
    kind: CompensationKind
    amount: Money | None
    gesture: str | None
    gesture_text: str | None
    route: Route
    approval_reason: str | None = None


def assess_proposal(request: ProposalRequest, situation: Situation) -> Proposal:
    """R11-R15 for one proposal: apology first, emotional or financial, bounded by the damage and
    the catalogue, decided at once within the mandate, otherwise sent to an approver."""
    s = situation
    if not s.apologised:
        raise Refused(
            "R11: apologise first: record the apology before proposing a compensation",
            why=Why.conflict,
            field="apology",
        )
    if s.live_compensation is not None:
        state = "waiting for an approver" if s.live_compensation == "awaiting_approval" else "granted"
        raise Refused(
            f"this complaint already has a compensation ({state}); one compensation per complaint",
            why=Why.conflict,
        )
    if request.kind is CompensationKind.emotional:
        amount, gesture, text = _emotional(request, s)
    else:
        amount, gesture, text = _financial(request, s), None, None
    if amount is None or amount.amount_cents == 0:
        return Proposal(request.kind, amount, gesture, text, Route.decide)
    if s.mandate is None:
        reason = "you have no mandate of your own (R14)"
    elif amount.currency != s.mandate.currency:
        reason = f"your mandate is in {s.mandate.currency.value}, the amount in {amount.currency.value}"
    elif not within_mandate(amount, s.mandate):
        reason = f"{show(amount)} is above your mandate of {show(s.mandate)} (R14)"
    elif request.kind is CompensationKind.financial and s.flagged:
        reason = "the customer is flagged for review (R15)"
    elif request.kind is CompensationKind.financial and s.proposer_cleared_the_flag:
        reason = (
            "you cleared this customer's flag for review: another person decides their money (four eyes, R15)"
        )
    else:
        return Proposal(request.kind, amount, gesture, text, Route.decide)
    return Proposal(request.kind, amount, gesture, text, Route.approval, approval_reason=reason)


def _emotional(request: ProposalRequest, s: Situation) -> tuple[Money | None, str | None, str | None]:
    if request.amount is not None:
        raise Refused(
            "an emotional compensation has no amount; its value comes from the catalogue's gesture",
            field="amount",
        )
    if (request.gesture is None) == (request.gesture_text is None):
        raise Refused(
            "choose a gesture from the catalogue or describe one in gesture_text (one of the two)",
            field="gesture",
        )
    if request.gesture_text is not None:
        return None, None, request.gesture_text
    gesture = s.entry.gesture(request.gesture or "") if s.entry else None
    if gesture is None:
        offered = ", ".join(g.code for g in s.entry.gestures) if s.entry else ""
        where = f"catalogue entry {s.entry.code}" if s.entry else f"category {s.category}"
        raise Refused(
            f"gesture {request.gesture!r} is not in the {where}"
            + (f" (offered: {offered})" if offered else "; describe it in gesture_text"),
            field="gesture",
        )
    value = None
    if gesture.value_cents is not None:
        value = Money(
            amount_cents=gesture.value_cents, currency=s.entry.currency if s.entry else Currency.EUR
        )
    return value, gesture.code, None


def _financial(request: ProposalRequest, s: Situation) -> Money:
    amount = request.amount
    if request.gesture is not None or request.gesture_text is not None:
        raise Refused(
            "a financial compensation has no gesture; propose an emotional one apart", field="gesture"
        )
    if amount is None:
        raise Refused("a financial compensation needs an amount", field="amount")
    if amount.amount_cents <= 0:
        raise Refused("a financial compensation is more than 0 cents", field="amount.amount_cents")
    if s.entry is None:
        raise Refused(
            f"no catalogue entry answers category {s.category}: choose one with catalogue_entry (R13)",
            field="catalogue_entry",
        )
    maximum = s.entry.maximum
    if maximum is None:
        raise Refused(
            f"catalogue entry {s.entry.code} allows no financial compensation (R12, R13)",
            field="kind",
        )
    if s.damage is None:
        raise Refused(
            "R12: financial compensation only for real financial damage: record the damage first",
            why=Why.conflict,
            field="damage",
        )
    for bound, what in ((s.damage, "the recorded damage"), (maximum, f"the maximum of {s.entry.code}")):
        if amount.currency != bound.currency:
            raise Refused(
                f"currency {amount.currency.value} differs from {what} in {bound.currency.value}",
                field="amount.currency",
            )
        if amount.amount_cents > bound.amount_cents:
            raise Refused(
                f"{show(amount)} exceeds {what} ({show(bound)})",
                field="amount.amount_cents",
            )
    return amount


def damage_change_allowed(live_compensation: str | None) -> None:
    """The damage bounds the compensation (R12); once one is granted or waiting, it stays put."""
    if live_compensation is not None:
        raise Refused(
            "the damage cannot change while the complaint has a granted or pending compensation",
            why=Why.conflict,
            field="damage",
        )


# ---- R14: the approver --------------------------------------------------------------------------


class Verdict(StrEnum):
    approve = "approve"
    reject = "reject"


def check_approver(
    approver: str,
    requested_by: str,
    status: str,
    *,
    kind: CompensationKind | None = None,
    clearers: frozenset[str] = frozenset(),
) -> None:
    """R14: the approver is another person than the requester (four eyes), and decides once. R15:
    for money, nor one of the persons whose review keeps the customer unflagged (``clearers``):
    whoever cleared the flag does not then decide the money it lets through."""
    if status != "awaiting_approval":
        raise Refused(f"this compensation is already {status}; it is decided once", why=Why.conflict)
    if approver == requested_by:
        raise Refused(
            "you requested this compensation: another approver must decide it (four eyes, R14)",
            why=Why.forbidden,
        )
    if kind is CompensationKind.financial and approver in clearers:
        raise Refused(
            "you cleared this customer's flag for review: another approver decides their money "
            "(four eyes, R15)",
            why=Why.forbidden,
        )
