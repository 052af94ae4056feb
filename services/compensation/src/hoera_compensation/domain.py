"""The compensation rules (R11-R16), pure: values in, decisions out; no I/O, no framework.

Handlers load what a rule needs (the complaint's apology and damage, the tenant's catalogue entry,
the caller's mandate, the customer's abuse watch, the tenant's business calendar), ask a function
here, and save what it decides. A refusal is one of the kit's framework-free refusals naming the
field: the request is wrong (``Invalid``, 422), comes at the wrong moment (``Conflict``, 409) or is
not the caller's to make (``Forbidden``, 403).

The rule documents an operator changes (R8) are modelled here too (``Catalogue``, ``Mandates``,
``ApprovalDeadline``, ``AbuseWatchRule``); rules.py declares them to the kit's rule book.

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

from hoera_events.common import Code, Currency, Language, Money
from hoera_events.compensation import CompensationKind
from hoera_kit.calendar import BusinessCalendar, Span
from hoera_kit.refusals import Conflict, Forbidden, Invalid
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    model_validator,
)

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
Cents = Annotated[StrictInt, Field(ge=0, le=100_000_000)]


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


class Catalogue(BaseModel):
    """R13: the organisation's catalogue of its most common complaints (operator data, R8). An entry
    taken out is gone from the current version and kept in the document's history; compensations
    keep naming its code."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    entries: Annotated[list[CatalogueEntry], Field(min_length=1, max_length=500)]

    def entry(self, code: str) -> CatalogueEntry | None:
        return next((e for e in self.entries if e.code == code), None)

    def for_category(self, category: str) -> CatalogueEntry | None:
        """The answer for a complaint category (the first by code when several answer it)."""
        return next((e for e in sorted(self.entries, key=lambda e: e.code) if category in e.categories), None)


def catalogue_document_problems(catalogue: Catalogue) -> list[tuple[str, str]]:
    """R8: what is wrong with an operator's catalogue, field by field (empty when it is sound)."""
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()
    for i, entry in enumerate(catalogue.entries):
        if entry.code in seen:
            problems.append((f"entries.{i}.code", f"code {entry.code} is used by another entry"))
        seen.add(entry.code)
        problems += [(f"entries.{i}.{field}", problem) for field, problem in catalogue_problems(entry)]
    return problems


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


class ProposerRole(StrEnum):
    """The roles that propose compensations and so have a mandate (R14); approvers decide above it."""

    agent = "agent"
    supervisor = "supervisor"


class Mandates(BaseModel):
    """R14: how much each proposing role of the organisation may grant alone (operator data, R8)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    agent: Money
    """EUR 300.00 at a Dutch-speaking insurer modelled on Partena (seed 000)."""
    supervisor: Money

    def by_role(self) -> dict[str, Money]:
        return {role.value: getattr(self, role.value) for role in ProposerRole}


def mandates_problems(mandates: Mandates) -> list[tuple[str, str]]:
    """R8: one currency for every role, so the highest of a person's mandates is a comparison of
    amounts (mandate_for)."""
    currencies = {m.currency for m in mandates.by_role().values()}
    if len(currencies) > 1:
        return [("supervisor.currency", "every role's mandate is in the same currency")]
    return []


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

    @property
    def span(self) -> Span:
        if self.seconds is not None:
            return Span(seconds=self.seconds)
        return Span.days(self.business_days or 0)


def approval_deadline(calendar: BusinessCalendar, start: datetime, rule: ApprovalDeadline) -> datetime:
    """R14 with R3: the moment an undecided approval request is escalated. Business days follow the
    tenant's business calendar (workdays, opening hours, public and operator holidays): counted from
    the first business moment at or after the request, at the same local time of day."""
    return calendar.after(start, rule.span)


# ---- R15: the abuse watch -------------------------------------------------------------------------


class AbuseWatchRule(BaseModel):
    """R15: N financial compensations within a window flag the customer for review. While a customer
    is flagged, a financial proposal always goes to an approver, whatever its amount: that is what
    the flag is for, so it is not a setting (a document that names a switch for it is refused)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    threshold: Annotated[StrictInt, Field(ge=1, le=1000)] = 2
    window_days: Annotated[StrictInt, Field(ge=1, le=3660)] = 365


def watch_window_start(now: datetime, rule: AbuseWatchRule) -> datetime:
    """R15: the abuse watch looks back `window_days` elapsed days (a year: the same names recurring),
    not business days; grants decided after this moment count."""
    return now - timedelta(days=rule.window_days)


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
        raise Conflict(
            f"{asked_by} asked to clear this flag already; an approver confirms or refuses that first"
        )


def check_clearing_confirmer(confirmer: str, asked_by: str | None) -> None:
    """R15, four eyes: a flag is cleared only when an approver other than the person who asked
    confirms. The approver, not a second supervisor: the flag is what sends the customer's money to
    an approver (R14's senior role), so only that role may give its control up, and a peer supervisor
    answers for the same team's figures as the one who asked."""
    if asked_by is None:
        raise Conflict(
            "nobody asked to clear this flag: a supervisor or an approver reviews the customer and "
            "asks first (POST /customers/{customer_id}/abuse-watch/review)"
        )
    if confirmer == asked_by:
        raise Forbidden(
            "you asked to clear this flag: another approver confirms or refuses it (four eyes, R15)"
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


# ---- who sees a complaint, in which language ------------------------------------------------------


def sees_complaint(roles: Iterable[str], teams: Iterable[str], team_id: str | None) -> bool:
    """Approvers are the back office of every team; agents and supervisors work on their own teams'
    complaints (and on those of no team yet)."""
    return team_id is None or "approver" in set(roles) or team_id in set(teams)


def customer_language(complaint_language: str | None, organisation_language: str | None) -> Language:
    """R22: the customer reads the catalogue's words in the language of their complaint; until that is
    known (the raise has not arrived), in the organisation's own language."""
    for candidate in (complaint_language, organisation_language):
        if candidate is not None and candidate in Language.__members__:
            return Language(candidate)
    return Language.nl


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
        raise Conflict(
            "R11: apologise first: record the apology before proposing a compensation",
            field="apology",
        )
    if s.live_compensation is not None:
        state = "waiting for an approver" if s.live_compensation == "awaiting_approval" else "granted"
        raise Conflict(f"this complaint already has a compensation ({state}); one compensation per complaint")
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
        raise Invalid(
            "an emotional compensation has no amount; its value comes from the catalogue's gesture",
            field="amount",
        )
    if (request.gesture is None) == (request.gesture_text is None):
        raise Invalid(
            "choose a gesture from the catalogue or describe one in gesture_text (one of the two)",
            field="gesture",
        )
    if request.gesture_text is not None:
        return None, None, request.gesture_text
    gesture = s.entry.gesture(request.gesture or "") if s.entry else None
    if gesture is None:
        offered = ", ".join(g.code for g in s.entry.gestures) if s.entry else ""
        where = f"catalogue entry {s.entry.code}" if s.entry else f"category {s.category}"
        raise Invalid(
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
        raise Invalid(
            "a financial compensation has no gesture; propose an emotional one apart", field="gesture"
        )
    if amount is None:
        raise Invalid("a financial compensation needs an amount", field="amount")
    if amount.amount_cents <= 0:
        raise Invalid("a financial compensation is more than 0 cents", field="amount.amount_cents")
    if s.entry is None:
        raise Invalid(
            f"no catalogue entry answers category {s.category}: choose one with catalogue_entry (R13)",
            field="catalogue_entry",
        )
    maximum = s.entry.maximum
    if maximum is None:
        raise Invalid(
            f"catalogue entry {s.entry.code} allows no financial compensation (R12, R13)",
            field="kind",
        )
    if s.damage is None:
        raise Conflict(
            "R12: financial compensation only for real financial damage: record the damage first",
            field="damage",
        )
    for bound, what in ((s.damage, "the recorded damage"), (maximum, f"the maximum of {s.entry.code}")):
        if amount.currency != bound.currency:
            raise Invalid(
                f"currency {amount.currency.value} differs from {what} in {bound.currency.value}",
                field="amount.currency",
            )
        if amount.amount_cents > bound.amount_cents:
            raise Invalid(
                f"{show(amount)} exceeds {what} ({show(bound)})",
                field="amount.amount_cents",
            )
    return amount


def damage_change_allowed(live_compensation: str | None) -> None:
    """The damage bounds the compensation (R12); once one is granted or waiting, it stays put."""
    if live_compensation is not None:
        raise Conflict(
            "the damage cannot change while the complaint has a granted or pending compensation",
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
        raise Conflict(f"this compensation is already {status}; it is decided once")
    if approver == requested_by:
        raise Forbidden("you requested this compensation: another approver must decide it (four eyes, R14)")
    if kind is CompensationKind.financial and approver in clearers:
        raise Forbidden(
            "you cleared this customer's flag for review: another approver decides their money "
            "(four eyes, R15)"
        )
