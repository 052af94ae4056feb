"""HTTP routes: the agent's path (catalogue, apology, damage, proposal), the approver's queue, the
abuse watch, the cost ledger and the reads of the organisation's rules. Each route turns wire input
into a call of a handler and the handler's result into a view; the rules live in domain.py. The
tenant is the token's: nothing here takes it from a path, a query or a body. Operators change the
rule documents through the kit's /admin/rules routes (hoera_kit.rules_api)."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from hoera_events.common import Code, Currency, CustomerId, Language, Money
from hoera_events.compensation import CompensationKind
from hoera_kit.auth import Principal, Role, require_roles
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

from hoera_compensation import domain, handlers, rules, store
from hoera_compensation.domain import (
    AbuseWatchRule,
    ApprovalDeadline,
    CatalogueEntry,
    ProposerRole,
    ReviewAct,
    Verdict,
)
from hoera_compensation.handlers import Deps

router = APIRouter()


def _deps(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


Uses = Annotated[Deps, Depends(_deps)]
Reader = Annotated[Principal, Depends(require_roles(Role.agent, Role.supervisor, Role.approver, Role.admin))]
Proposer = Annotated[Principal, Depends(require_roles(Role.agent, Role.supervisor))]
CaseWorker = Annotated[Principal, Depends(require_roles(Role.agent, Role.supervisor, Role.approver))]
Approver = Annotated[Principal, Depends(require_roles(Role.approver))]
Reviewer = Annotated[Principal, Depends(require_roles(Role.approver, Role.supervisor))]
Management = Annotated[Principal, Depends(require_roles(Role.supervisor, Role.approver, Role.admin))]
ComplaintPath = Annotated[uuid.UUID, Path(description="The complaint, as intake raised it")]
Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=1000)]

EXAMPLE_COMPLAINT = "0b8c6a52-4b9e-4b0c-9d5e-3f6a1d2c7e01"


# ---- wire models ---------------------------------------------------------------------------------


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Amount(_In):
    """Money in: integer cents (never a float) and a known currency."""

    amount_cents: Annotated[StrictInt, Field(gt=0, le=100_000_000, examples=[12500])]
    """Minor units: EUR 125.00 is 12500."""
    currency: Currency

    def money(self) -> Money:
        return Money(amount_cents=self.amount_cents, currency=self.currency)


class ApologyIn(_In):
    text: Note | None = None
    """Own words; without them the catalogue's apology in the complaint's language is recorded."""
    language: Language | None = None
    catalogue_entry: Code | None = None
    """The catalogue entry followed; by default the one that answers the complaint's category."""


class ApologyView(BaseModel):
    complaint_id: uuid.UUID
    language: Language
    text: str
    catalogue_entry: str | None
    apologised_by: str
    apologised_at: datetime
    answer: str | None = None
    """The catalogue's guidance for the agent (R13), in the agent's language."""


class DamageIn(_In):
    amount: Amount
    description: Note | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "amount": {"amount_cents": 12500, "currency": "EUR"},
                    "description": "Reminder fees and interest",
                }
            ]
        },
    )


class DamageView(BaseModel):
    complaint_id: uuid.UUID
    amount: Money
    description: str | None
    recorded_by: str
    recorded_at: datetime


class ProposalIn(_In):
    """R12: emotional (a gesture from the catalogue, or one described in words) or financial (an
    amount, at most the recorded damage and the catalogue's maximum)."""

    kind: CompensationKind
    amount: Amount | None = None
    gesture: Code | None = None
    gesture_text: Note | None = None
    catalogue_entry: Code | None = None
    note: Note | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"kind": "financial", "amount": {"amount_cents": 12500, "currency": "EUR"}},
                {"kind": "emotional", "gesture": "personal-call"},
            ]
        },
    )


class ApprovalInfo(BaseModel):
    reason: str | None
    """Why it needs an approver (above the mandate, or the customer is flagged)."""
    deadline_at: datetime | None
    escalated_at: datetime | None


class CompensationView(BaseModel):
    compensation_id: uuid.UUID
    complaint_id: uuid.UUID
    customer_id: str
    kind: CompensationKind
    status: Literal["granted", "awaiting_approval", "approved", "rejected"]
    amount: Money | None
    gesture: str | None
    gesture_text: str | None
    note: str | None
    catalogue_entry: str | None
    category: str
    team_id: str | None
    proposed_by: str
    proposed_at: datetime
    mandate: Money | None
    """The proposer's mandate at the time (R14)."""
    approval: ApprovalInfo | None
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    reason_code: str | None

    @classmethod
    def of(cls, c: store.Compensation) -> CompensationView:
        return cls(
            compensation_id=c.compensation_id,
            complaint_id=c.complaint_id,
            customer_id=c.customer_id,
            kind=CompensationKind(c.kind),
            status=c.status,
            amount=c.amount,
            gesture=c.gesture,
            gesture_text=c.gesture_text,
            note=c.note,
            catalogue_entry=c.catalogue_entry,
            category=c.category,
            team_id=c.team_id,
            proposed_by=c.proposed_by,
            proposed_at=c.proposed_at,
            mandate=c.mandate,
            approval=ApprovalInfo(
                reason=c.approval_reason, deadline_at=c.deadline_at, escalated_at=c.escalated_at
            )
            if c.deadline_at
            else None,
            decided_by=c.decided_by,
            decided_at=c.decided_at,
            decision_reason=c.decision_reason,
            reason_code=c.reason_code,
        )


class AbuseWatchView(BaseModel):
    """R15, shown to the agent before deciding."""

    customer_id: str
    flagged: bool
    financial_compensations: int
    """Financial compensations granted within the window."""
    total: Money | None
    threshold: int
    window_days: int
    flagged_since: datetime | None
    clearing_asked_by: str | None
    """Who asked to clear the flag; it stays until an approver other than them confirms (R15)."""
    cleared_by: list[str]
    """Who cleared the customer's last flag (the one who asked, the approver who confirmed) while
    that clearing is all that keeps the customer unflagged: neither decides their money (R15)."""
    message: str

    @classmethod
    def of(cls, w: handlers.CustomerWatch) -> AbuseWatchView:
        n, rule = w.watch.financial_compensations, w.rule
        cleared_by = sorted(domain.clearers(w.watch, rule))
        asked_by = w.watch.clearing_asked_by if w.flagged else None
        if w.flagged:
            message = (
                f"Flagged for review (R15): {n} financial compensations within {rule.window_days} days"
                "; a financial proposal goes to an approver"
                + (f"; {asked_by} asked to clear the flag, an approver confirms" if asked_by else "")
            )
        else:
            message = f"{n} of {rule.threshold} financial compensations within {rule.window_days} days"
            if cleared_by:
                message += (
                    f"; flag cleared on review by {' and '.join(cleared_by)}"
                    ", who do not decide this customer's money"
                )
        return cls(
            customer_id=w.customer_id,
            flagged=w.flagged,
            financial_compensations=n,
            total=w.watch.total,
            threshold=rule.threshold,
            window_days=rule.window_days,
            flagged_since=w.watch.open_flag_since if w.flagged else None,
            clearing_asked_by=asked_by,
            cleared_by=cleared_by,
            message=message,
        )


NextStep = Literal["apologise", "propose", "awaiting_approval", "done"]


def _next_step(apologised: bool, live: store.Compensation | None) -> NextStep:
    if not apologised:
        return "apologise"
    if live is None:
        return "propose"
    return "awaiting_approval" if live.status == "awaiting_approval" else "done"


class ProposalResult(BaseModel):
    compensation: CompensationView
    abuse_watch: AbuseWatchView
    next_step: NextStep


class ComplaintView(BaseModel):
    complaint_id: uuid.UUID
    customer_id: str
    category: str
    language: str | None
    team_id: str | None
    status: str
    root_cause_department: str | None
    about_deceased: bool
    """R10: about a deceased customer; no longer once intake withdrew a mistaken mark after the
    complaint was raised."""


class GestureText(BaseModel):
    code: str
    label: str
    value_cents: int | None


class CustomerTexts(BaseModel):
    """R13, R22: what the catalogue entry says to the customer, in the customer's language (the
    complaint's; the organisation's until that is known)."""

    language: Language
    title: str
    apology: str
    gestures: list[GestureText]

    @classmethod
    def of(cls, entry: CatalogueEntry, language: Language) -> CustomerTexts:
        return cls(
            language=language,
            title=entry.title.in_(language),
            apology=entry.apology.in_(language),
            gestures=[
                GestureText(code=g.code, label=g.label.in_(language), value_cents=g.value_cents)
                for g in entry.gestures
            ],
        )


class ComplaintCompensationView(BaseModel):
    """Everything an agent needs on one screen: the catalogue's answer, the apology, the damage,
    the compensations so far, their own mandate and the abuse watch."""

    complaint: ComplaintView
    next_step: NextStep
    catalogue: CatalogueEntry | None
    """The organisation's catalogue entry for the complaint (R13), every language."""
    for_customer: CustomerTexts | None
    """The entry's words for the customer, in the customer's language (R22)."""
    apology: ApologyView | None
    damage: DamageView | None
    compensations: list[CompensationView]
    mandate: Money | None
    """The caller's own mandate (R14)."""
    abuse_watch: AbuseWatchView
    deceased_owner_agent_id: str | None
    """R10: the customer died; this agent owns all contact with the bereaved. Empty again once intake
    withdraws a mistaken mark."""


class DecisionIn(_In):
    reason: Reason
    """Why, in a sentence the requester will read."""
    reason_code: Code | None = None


class ReviewIn(_In):
    note: Reason
    """What the review found (asking), or why the approver agrees or not (answering)."""


class FlagReviewView(BaseModel):
    """One act of clearing a flag (R15, four eyes): the audit trail."""

    act: ReviewAct
    by: str
    at: datetime
    note: str


class FlagView(BaseModel):
    customer_id: str
    flagged_at: datetime
    financial_compensations: int
    total: Money
    window_days: int
    latest_complaint_id: uuid.UUID | None
    ended_at: datetime | None
    end_reason: str | None
    """reviewed (cleared by two persons), or window_passed (too few compensations left in it)."""
    reviewed_by: str | None
    """Who reviewed the customer and asked to clear the flag (pending while the flag is open)."""
    reviewed_at: datetime | None
    review_note: str | None
    confirmed_by: str | None
    """The approver, another person, who confirmed the clearing (four eyes); the flag ended then. A
    flag cleared before clearing took two persons has none."""
    confirmed_at: datetime | None
    confirmation_note: str | None
    reviews: list[FlagReviewView]
    """Every act of clearing this flag, refused requests included, oldest first."""

    @classmethod
    def of(cls, record: handlers.FlagRecord) -> FlagView:
        f = record.flag
        return cls(
            customer_id=f.customer_id,
            flagged_at=f.flagged_at,
            financial_compensations=f.financial_compensations,
            total=Money(amount_cents=f.total_cents, currency=Currency(f.currency)),
            window_days=f.window_days,
            latest_complaint_id=f.latest_complaint_id,
            ended_at=f.ended_at,
            end_reason=f.end_reason,
            reviewed_by=f.reviewed_by,
            reviewed_at=f.reviewed_at,
            review_note=f.review_note,
            confirmed_by=f.confirmed_by,
            confirmed_at=f.confirmed_at,
            confirmation_note=f.confirmation_note,
            reviews=[
                FlagReviewView(act=ReviewAct(r.act), by=r.actor, at=r.at, note=r.note) for r in record.reviews
            ],
        )


def _apology_view(a: store.Apology, entry: CatalogueEntry | None, lang: str | None) -> ApologyView:
    return ApologyView(
        complaint_id=a.complaint_id,
        language=Language(a.language),
        text=a.text,
        catalogue_entry=a.catalogue_entry,
        apologised_by=a.apologised_by,
        apologised_at=a.apologised_at,
        answer=entry.answer.in_(lang) if entry else None,
    )


def _damage_view(d: store.Damage) -> DamageView:
    return DamageView(
        complaint_id=d.complaint_id,
        amount=d.amount,
        description=d.description,
        recorded_by=d.recorded_by,
        recorded_at=d.recorded_at,
    )


# ---- R13: the catalogue -------------------------------------------------------------------------


@router.get("/catalogue", tags=["catalogue"], summary="Search the catalogue of common complaints (R13)")
async def search_catalogue(
    deps: Uses,
    who: Reader,
    q: Annotated[
        str | None,
        Query(max_length=200, description="Keywords, any language", examples=["terugbetaling laat"]),
    ] = None,
    category: Annotated[
        str | None, Query(max_length=64, description="A complaint type or its prefix", examples=["refund"])
    ] = None,
) -> list[CatalogueEntry]:
    return await handlers.catalogue(deps, who, q=q, category=category)


@router.get("/catalogue/{code}", tags=["catalogue"], summary="One catalogue entry")
async def read_catalogue_entry(deps: Uses, who: Reader, code: Code) -> CatalogueEntry:
    return await handlers.catalogue_entry(deps, who, code)


# ---- R11-R15: the agent's path ------------------------------------------------------------------


@router.get(
    "/complaints/{complaint_id}/compensation",
    tags=["complaints"],
    summary="The compensation file of a complaint: answer, apology, damage, mandate, abuse watch",
)
async def read_complaint_compensation(
    deps: Uses, who: CaseWorker, complaint_id: ComplaintPath
) -> ComplaintCompensationView:
    f = await handlers.complaint_file(deps, who, complaint_id)
    c = f.complaint
    live = next((x for x in f.compensations if x.status != "rejected"), None)
    return ComplaintCompensationView(
        complaint=ComplaintView(
            complaint_id=c.complaint_id,
            customer_id=c.customer_id,
            category=c.category,
            language=c.language,
            team_id=c.team_id,
            status=c.status,
            root_cause_department=c.root_cause_department,
            about_deceased=f.deceased.about_deceased(c.about_deceased, c.raised_at),
        ),
        next_step=_next_step(f.apology is not None, live),
        catalogue=f.entry,
        for_customer=CustomerTexts.of(f.entry, f.customer_language) if f.entry else None,
        apology=_apology_view(f.apology, f.entry, who.language) if f.apology else None,
        damage=_damage_view(f.damage) if f.damage else None,
        compensations=[CompensationView.of(x) for x in f.compensations],
        mandate=f.mandate,
        abuse_watch=AbuseWatchView.of(f.watch),
        deceased_owner_agent_id=f.deceased.owner,
    )


@router.post(
    "/complaints/{complaint_id}/apology",
    tags=["complaints"],
    status_code=status.HTTP_201_CREATED,
    summary="R11 step 1: record the apology",
)
async def record_apology(
    deps: Uses, who: Proposer, complaint_id: ComplaintPath, body: ApologyIn | None = None
) -> ApologyView:
    body = body or ApologyIn()
    apology, entry = await handlers.record_apology(
        deps, who, complaint_id, text=body.text, language=body.language, catalogue_entry=body.catalogue_entry
    )
    return _apology_view(apology, entry, who.language)


@router.post(
    "/complaints/{complaint_id}/damage",
    tags=["complaints"],
    status_code=status.HTTP_201_CREATED,
    summary="R12: record the customer's real financial damage",
)
async def record_damage(deps: Uses, who: Proposer, complaint_id: ComplaintPath, body: DamageIn) -> DamageView:
    damage = await handlers.record_damage(
        deps, who, complaint_id, amount=body.amount.money(), description=body.description
    )
    return _damage_view(damage)


@router.post(
    "/complaints/{complaint_id}/proposals",
    tags=["complaints"],
    status_code=status.HTTP_201_CREATED,
    summary="R11 step 2: propose a compensation; decided at once within the mandate (R14)",
    description="Within the proposer's mandate the proposal is the decision. It goes to an approver "
    "instead when it is above the mandate (R14), when it is money for a customer flagged for review, "
    "whatever the amount (R15), or when it is money the proposer would decide on the strength of their "
    "own clearing of the customer's flag (R15, four eyes); `approval.reason` says which.",
    responses={
        409: {"description": "No apology yet, no damage recorded, or a compensation exists already"},
        422: {"description": "A bad amount, currency, gesture or catalogue entry; the field is named"},
    },
)
async def propose(deps: Uses, who: Proposer, complaint_id: ComplaintPath, body: ProposalIn) -> ProposalResult:
    request = domain.ProposalRequest(
        kind=body.kind,
        amount=body.amount.money() if body.amount else None,
        gesture=body.gesture,
        gesture_text=body.gesture_text,
    )
    done = await handlers.propose(
        deps, who, complaint_id, request, catalogue_entry=body.catalogue_entry, note=body.note
    )
    return ProposalResult(
        compensation=CompensationView.of(done.compensation),
        abuse_watch=AbuseWatchView.of(done.watch),
        next_step=_next_step(True, done.compensation),
    )


# ---- R14: approvals -----------------------------------------------------------------------------


@router.get("/approvals", tags=["approvals"], summary="Approval requests, the open ones first")
async def list_approvals(
    deps: Uses,
    who: Approver,
    state: Annotated[
        Literal["awaiting_approval", "approved", "rejected"] | None, Query(alias="status")
    ] = "awaiting_approval",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[CompensationView]:
    items = await handlers.approvals(deps, who, status=state, limit=limit)
    return [CompensationView.of(c) for c in items]


@router.post(
    "/approvals/{compensation_id}/{verdict}",
    tags=["approvals"],
    summary="Approve or reject a compensation above the mandate, with a reason (R14)",
    responses={
        403: {
            "description": "The approver requested it (four eyes, R14), or, for money, cleared the "
            "customer's flag that nothing but their clearing keeps down (four eyes, R15)"
        },
        409: {"description": "Decided already"},
    },
)
async def decide_approval(
    deps: Uses, who: Approver, compensation_id: uuid.UUID, verdict: Verdict, body: DecisionIn
) -> CompensationView:
    decided = await handlers.decide_approval(
        deps, who, compensation_id, verdict, reason=body.reason, reason_code=body.reason_code
    )
    return CompensationView.of(decided)


# ---- R15: the abuse watch -----------------------------------------------------------------------


@router.get(
    "/customers/{customer_id}/abuse-watch", tags=["abuse watch"], summary="A customer's abuse watch (R15)"
)
async def read_abuse_watch(deps: Uses, who: CaseWorker, customer_id: CustomerId) -> AbuseWatchView:
    return AbuseWatchView.of(await handlers.customer_watch(deps, who, customer_id))


@router.post(
    "/customers/{customer_id}/abuse-watch/review",
    tags=["abuse watch"],
    status_code=status.HTTP_202_ACCEPTED,
    summary="Ask to clear the customer's flag after a review; an approver confirms (R15, four eyes)",
    description="A supervisor or an approver reviewed the flagged customer and asks to clear the "
    "flag, with what the review found. The flag stays (a financial proposal for the customer still "
    "goes to an approver) until an approver other than the one who asked confirms it with "
    "`POST .../review/approve`, or refuses it with `.../review/reject`. Whoever asked or confirmed "
    "then decides none of the customer's financial compensation while their clearing is all that keeps "
    "the customer unflagged: such a proposal goes to an approver, and they cannot approve one.",
    responses={
        404: {"description": "The customer is not flagged for review"},
        409: {"description": "Someone asked already; an approver answers that request first"},
    },
)
async def ask_to_clear_abuse_flag(
    deps: Uses, who: Reviewer, customer_id: CustomerId, body: ReviewIn
) -> FlagView:
    return FlagView.of(await handlers.ask_clearing(deps, who, customer_id, note=body.note))


@router.post(
    "/customers/{customer_id}/abuse-watch/review/{verdict}",
    tags=["abuse watch"],
    summary="Confirm or refuse the request to clear a flag: another approver (R15, four eyes)",
    description="`approve` clears the flag: the episode ends as reviewed, recording both persons "
    "and their notes. `reject` leaves the flag open and takes the request off it, so it can be asked "
    "again; both stay in the flag's `reviews`.",
    responses={
        403: {"description": "The approver asked to clear it (four eyes), or is not an approver"},
        404: {"description": "The customer is not flagged for review"},
        409: {"description": "Nobody asked to clear the flag"},
    },
)
async def decide_abuse_flag_clearing(
    deps: Uses, who: Approver, customer_id: CustomerId, verdict: Verdict, body: ReviewIn
) -> FlagView:
    return FlagView.of(await handlers.decide_clearing(deps, who, customer_id, verdict, note=body.note))


@router.get("/flags", tags=["abuse watch"], summary="Customers flagged for review (R15)")
async def list_flags(
    deps: Uses,
    who: Reviewer,
    open_only: Annotated[bool, Query(alias="open")] = True,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[FlagView]:
    return [FlagView.of(f) for f in await handlers.flags(deps, who, open_only=open_only, limit=limit)]


# ---- R16: the cost ledger ---------------------------------------------------------------------------

GroupBy = Literal["period", "category", "team", "root_cause", "kind"]
Period = Literal["day", "week", "month", "quarter", "year"]


class LedgerLine(BaseModel):
    period: date | None = None
    category: str | None = None
    team: str | None = None
    root_cause: str | None = None
    """The root-cause department (R7) as intake last reported it; empty while unresolved."""
    kind: CompensationKind | None = None
    currency: Currency | None
    count: int
    total_cents: int


class LedgerView(BaseModel):
    since: date
    until: date
    """Exclusive."""
    group_by: list[GroupBy]
    period: Period
    lines: list[LedgerLine]
    count: int
    totals: list[Money]
    """Per currency."""


async def _ledger(
    deps: Uses,
    who: Management,
    group_by: Annotated[
        list[GroupBy], Query(description="Repeat for several", examples=[["period", "category"]])
    ] = ["period"],  # noqa: B006
    period: Period = "month",
    since: Annotated[date | None, Query(alias="from", description="Inclusive; default a year ago")] = None,
    until: Annotated[date | None, Query(alias="to", description="Exclusive; default tomorrow")] = None,
    kind: CompensationKind | None = None,
) -> LedgerView:
    found = await handlers.ledger(
        deps,
        who,
        group_by=list(group_by),
        period=period,
        since=since,
        until=until,
        kind=kind.value if kind else None,
    )
    rows = found.rows
    totals: dict[str, int] = {}
    for r in rows:
        if r.currency:
            totals[r.currency] = totals.get(r.currency, 0) + r.total_cents
    return LedgerView(
        since=found.since,
        until=found.until,
        group_by=[g for g in store.LEDGER_GROUPS if g in group_by],
        period=period,
        lines=[
            LedgerLine(**r.keys, currency=r.currency, count=r.count, total_cents=r.total_cents) for r in rows
        ],
        count=sum(r.count for r in rows),
        totals=[Money(amount_cents=v, currency=Currency(k)) for k, v in sorted(totals.items())],
    )


Ledger = Annotated[LedgerView, Depends(_ledger)]


@router.get(
    "/ledger", tags=["ledger"], summary="Compensation costs per period, category, team, root cause (R16)"
)
async def read_ledger(ledger: Ledger) -> LedgerView:
    return ledger


@router.get(
    "/ledger.csv",
    tags=["ledger"],
    summary="The cost ledger as CSV (R16)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
async def read_ledger_csv(ledger: Ledger) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    keys = list(ledger.group_by)
    writer.writerow([*keys, "currency", "count", "total_cents", "total"])
    for line in ledger.lines:
        values = line.model_dump(mode="json")
        total = (
            domain.show(Money(amount_cents=line.total_cents, currency=line.currency)).split(" ")[1]
            if line.currency
            else ""
        )
        writer.writerow(
            [
                *(values[k] if values[k] is not None else "" for k in keys),
                values["currency"] or "",
                line.count,
                line.total_cents,
                total,
            ]
        )
    name = f"compensation-ledger-{ledger.since}-{ledger.until}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


# ---- R8: the organisation's rules, read (changed through /admin/rules) ---------------------------


class MandateView(BaseModel):
    role: ProposerRole
    limit: Money


@router.get("/rules/mandates", tags=["rules"], summary="The mandates of your organisation (R14)")
async def read_mandates(deps: Uses, who: Reader) -> list[MandateView]:
    found: domain.Mandates = await handlers.rule(deps, who, rules.MANDATES)
    return [MandateView(role=ProposerRole(r), limit=m) for r, m in sorted(found.by_role().items())]


@router.get("/rules/approval-deadline", tags=["rules"], summary="How long approvers have (R14)")
async def read_approval_deadline(deps: Uses, who: Reader) -> ApprovalDeadline:
    found: ApprovalDeadline = await handlers.rule(deps, who, rules.APPROVAL_DEADLINE)
    return found


@router.get("/rules/abuse-watch", tags=["rules"], summary="When a customer is flagged (R15)")
async def read_abuse_watch_rule(deps: Uses, who: Reader) -> AbuseWatchRule:
    found: AbuseWatchRule = await handlers.rule(deps, who, rules.ABUSE_WATCH)
    return found
