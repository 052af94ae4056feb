"""Use cases: open a transaction, load, ask the domain, save state and outbox events, commit.

Every handler takes `deps` first and works in the caller's tenant (the token's, never the request
body's); the tenant's rules come from `deps.rules`, its business calendar from `deps.tenants`.

Routing, in one place:
    intake's complaint events      -> learn_from_intake      (consumers.py; R10: the deceased mark
                                                               and its withdrawal too)
    GET    /catalogue, /rules/*     -> catalogue, rule        (R13, R14, R15: the tenant's documents)
    GET    .../compensation         -> complaint_file
    POST   .../apology              -> record_apology        (R11)
    POST   .../damage               -> record_damage         (R12)
    POST   .../proposals            -> propose               (R11-R15)
    GET    /approvals               -> approvals
    POST   /approvals/{id}/approve  -> decide_approval       (R14, four eyes)
    timer  approval deadline        -> approval_overdue      (R14 with R3: escalate)
    GET    .../abuse-watch, /flags  -> customer_watch, flags (R15)
    POST   .../abuse-watch/review   -> ask_clearing          (R15, four eyes: the first person)
    POST   .../review/{verdict}     -> decide_clearing       (R15, four eyes: an approver answers)
    GET    /ledger                  -> ledger                (R16)
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg
from hoera_events.common import Language, Money
from hoera_events.compensation import (
    CompensationApprovalEscalated,
    CompensationApprovalRequested,
    CompensationDecided,
    CompensationKind,
    CompensationOutcome,
    CompensationProposed,
    CustomerFlaggedForReview,
    FlagReason,
)
from hoera_events.complaints import (
    ComplaintAssigned,
    ComplaintClosed,
    ComplaintRaised,
    ComplaintResolved,
    CustomerDeceasedMarkWithdrawn,
    CustomerMarkedDeceased,
)
from hoera_events.envelope import Envelope
from hoera_kit import timers
from hoera_kit.auth import Principal, Role
from hoera_kit.db import Conn
from hoera_kit.deps import ServiceDeps
from hoera_kit.refusals import Conflict, Invalid, NotFound
from hoera_kit.rules import RuleDocument

from hoera_compensation import domain, rules, store
from hoera_compensation.domain import (
    AbuseWatchRule,
    Catalogue,
    CatalogueEntry,
    Episode,
    ProposalRequest,
    Route,
    Verdict,
    Watch,
)
from hoera_compensation.settings import CompensationSettings

APPROVAL_DEADLINE_TIMER = "compensation.approval_deadline"


class Deps(ServiceDeps[CompensationSettings]):
    """What every handler of the compensation service takes first (hoera_kit.deps)."""

    def organisation_language(self, tenant: str) -> str | None:
        defined = self.tenants.tenant(tenant)
        return defined.language.value if defined is not None else None


# ---- what the service learns from intake -------------------------------------------------------


def _key(env: Envelope) -> tuple[str, str, str]:
    """The row an intake event writes: a complaint's, or a customer's deceased mark."""
    data = env.data
    if isinstance(data, CustomerMarkedDeceased | CustomerDeceasedMarkWithdrawn):
        return ("customer", env.tenant, data.customer_id)
    return ("complaint", env.tenant, str(getattr(data, "complaint_id", env.id)))


def _rounds(envelopes: Sequence[Envelope]) -> list[list[Envelope]]:
    """The batch in rounds where each row's key appears at most once, in order: the n-th event of a
    key goes to round n. As many rounds as the most events of one key (normally one)."""
    rounds: list[list[Envelope]] = []
    seen: Counter[tuple[str, str, str]] = Counter()
    for env in envelopes:
        key = _key(env)
        n = seen[key]
        seen[key] += 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(env)
    return rounds


async def learn_from_intake(deps: Deps, conn: Conn, envelopes: Sequence[Envelope]) -> None:
    """Keep the read model of complaints (never intake's tables); the inbox makes it exactly once.

    A Kafka batch costs one statement per kind of event per round, whatever its size, with the
    effect of its events applied one by one in order: a round holds each complaint (and each
    customer's deceased mark) at most once, so a complaint raised and resolved in one batch is
    raised in the first round and resolved in the second."""
    for events in _rounds(envelopes):
        raised: list[store.RaisedRow] = []
        assigned: list[tuple[str, ComplaintAssigned]] = []
        resolved: list[tuple[str, ComplaintResolved]] = []
        closed: list[tuple[str, ComplaintClosed]] = []
        deceased: list[tuple[str, CustomerMarkedDeceased]] = []
        withdrawn: list[tuple[str, CustomerDeceasedMarkWithdrawn]] = []
        for env in events:
            data, tenant = env.data, env.tenant
            if isinstance(data, ComplaintRaised):
                raised.append((tenant, data, env.correlation_id or env.id))
            elif isinstance(data, ComplaintAssigned):
                assigned.append((tenant, data))
            elif isinstance(data, ComplaintResolved):
                resolved.append((tenant, data))
            elif isinstance(data, ComplaintClosed):
                closed.append((tenant, data))
            elif isinstance(data, CustomerMarkedDeceased):
                deceased.append((tenant, data))
            elif isinstance(data, CustomerDeceasedMarkWithdrawn):
                withdrawn.append((tenant, data))
        # Within a round the keys differ, so the kinds may be written in any order.
        await store.learn_raised_many(conn, raised)
        await store.learn_assigned_many(conn, assigned)
        await store.learn_resolved_many(conn, resolved)
        await store.learn_closed_many(conn, closed)
        await store.learn_deceased_many(conn, deceased)
        await store.learn_deceased_withdrawn_many(conn, withdrawn)


# ---- the tenant's rule documents (R8) -------------------------------------------------------------


async def rule(deps: Deps, who: Principal, doc: RuleDocument[Any]) -> Any:
    """The caller's organisation's current document (its template's until an admin changed it)."""
    async with deps.transaction() as conn:
        return await deps.rules.get(conn, who.tenant, doc)


async def catalogue(
    deps: Deps, who: Principal, *, q: str | None, category: str | None
) -> list[CatalogueEntry]:
    """R13: every agent consults their organisation's catalogue."""
    found: Catalogue = await rule(deps, who, rules.CATALOGUE)
    return domain.search_catalogue(found.entries, q=q, category=category)


async def catalogue_entry(deps: Deps, who: Principal, code: str) -> CatalogueEntry:
    found: Catalogue = await rule(deps, who, rules.CATALOGUE)
    entry = found.entry(code)
    if entry is None:
        raise NotFound(f"catalogue entry {code}")
    return entry


# ---- loading with the caller's rights ------------------------------------------------------------


async def _complaint_for(
    conn: Conn, who: Principal, complaint_id: uuid.UUID, *, lock: bool = False
) -> store.Complaint:
    """The complaint of the caller's tenant, if the caller may see it; otherwise the same 404 as
    for a missing one (compensation knows a complaint once intake's ComplaintRaised has arrived)."""
    complaint = await store.complaint(conn, who.tenant, complaint_id, lock=lock)
    if complaint is None or not domain.sees_complaint(who.roles, who.teams, complaint.team_id):
        raise NotFound(f"complaint {complaint_id}")
    return complaint


def _entry_for(found: Catalogue, complaint: store.Complaint, code: str | None) -> CatalogueEntry | None:
    if code is None:
        return found.for_category(complaint.category)
    entry = found.entry(code)
    if entry is None:
        raise Invalid(
            f"catalogue entry {code} not found (GET /catalogue lists them)", field="catalogue_entry"
        )
    return entry


# ---- R11: the apology, R12: the damage ----------------------------------------------------------


async def record_apology(
    deps: Deps,
    who: Principal,
    complaint_id: uuid.UUID,
    *,
    text: str | None,
    language: Language | None,
    catalogue_entry: str | None,
) -> tuple[store.Apology, CatalogueEntry | None]:
    async with deps.transaction() as conn:
        complaint = await _complaint_for(conn, who, complaint_id, lock=True)
        earlier = await store.apology(conn, who.tenant, complaint_id)
        if earlier is not None:
            raise Conflict(
                f"the apology was recorded already, by {earlier.apologised_by} at "
                f"{earlier.apologised_at.isoformat()}",
                field="apology",
            )
        entry = _entry_for(
            await deps.rules.get(conn, who.tenant, rules.CATALOGUE), complaint, catalogue_entry
        )
        lang = language or domain.customer_language(
            complaint.language, deps.organisation_language(who.tenant)
        )
        if text is None:
            if entry is None:
                raise Invalid(
                    f"no catalogue entry answers category {complaint.category}: "
                    "give the apology's words in text",
                    field="text",
                )
            text = entry.apology.in_(lang)
        apology = store.Apology(
            tenant=who.tenant,
            complaint_id=complaint_id,
            language=lang.value,
            text=text,
            catalogue_entry=entry.code if entry else None,
            apologised_by=who.subject,
            apologised_at=deps.now(),
        )
        await store.add_apology(conn, apology)
    return apology, entry


async def record_damage(
    deps: Deps, who: Principal, complaint_id: uuid.UUID, *, amount: Money, description: str | None
) -> store.Damage:
    async with deps.transaction() as conn:
        await _complaint_for(conn, who, complaint_id, lock=True)
        live = await store.live_compensation(conn, who.tenant, complaint_id)
        domain.damage_change_allowed(live.status if live else None)
        damage = store.Damage(
            tenant=who.tenant,
            complaint_id=complaint_id,
            amount_cents=amount.amount_cents,
            currency=amount.currency.value,
            description=description,
            recorded_by=who.subject,
            recorded_at=deps.now(),
        )
        await store.put_damage(conn, damage)
    return damage


# ---- R15: what the abuse watch shows ------------------------------------------------------------


@dataclass(frozen=True)
class CustomerWatch:
    customer_id: str
    watch: Watch
    rule: AbuseWatchRule

    @property
    def flagged(self) -> bool:
        return domain.is_flagged(self.watch, self.rule)


async def _watch(conn: Conn, tenant: str, customer_id: str, rule: AbuseWatchRule, now: datetime) -> Watch:
    return await store.watch(conn, tenant, customer_id, since=domain.watch_window_start(now, rule))


async def _after_financial_grant(
    deps: Deps,
    conn: Conn,
    c: store.Compensation,
    rule: AbuseWatchRule,
    now: datetime,
    correlation_id: uuid.UUID | None,
) -> Watch:
    """R15: count the customer's financial compensations in the window; open a flag episode (and
    tell the alerts service once) when the count reaches the threshold. Returns the watch after."""
    watch = await _watch(conn, c.tenant, c.customer_id, rule, now)
    if domain.next_episode(watch, rule) is not Episode.start or watch.total is None:
        return watch
    opened = await store.start_flag(
        conn,
        tenant=c.tenant,
        customer_id=c.customer_id,
        at=now,
        count=watch.financial_compensations,
        total=watch.total,
        window_days=rule.window_days,
        complaint_id=c.complaint_id,
    )
    if opened:
        await deps.emit(
            conn,
            CustomerFlaggedForReview(
                customer_id=c.customer_id,
                reason=FlagReason.repeated_financial_compensation,
                financial_compensations=watch.financial_compensations,
                total=watch.total,
                window_days=rule.window_days,
                flagged_at=now,
                latest_complaint_id=c.complaint_id,
                team_id=c.team_id,
            ),
            tenant=c.tenant,
            correlation_id=correlation_id,
        )
    return replace(watch, open_flag_since=now) if opened else watch


async def _current_watch(
    conn: Conn, tenant: str, customer_id: str, rule: AbuseWatchRule, now: datetime
) -> Watch:
    """The watch under the customer's lock, an episode the window no longer holds ended first."""
    await store.lock_customer(conn, tenant, customer_id)
    watch = await _watch(conn, tenant, customer_id, rule, now)
    if domain.next_episode(watch, rule) is Episode.end:
        await store.end_flag(conn, tenant, customer_id, at=now)
        watch = await _watch(conn, tenant, customer_id, rule, now)
    return watch


# ---- R11-R14: the proposal -----------------------------------------------------------------------


@dataclass(frozen=True)
class Proposed:
    compensation: store.Compensation
    watch: CustomerWatch


async def propose(
    deps: Deps,
    who: Principal,
    complaint_id: uuid.UUID,
    request: ProposalRequest,
    *,
    catalogue_entry: str | None,
    note: str | None,
) -> Proposed:
    now, tenant = deps.now(), who.tenant
    async with deps.transaction() as conn:
        complaint = await _complaint_for(conn, who, complaint_id, lock=True)
        progress = await store.progress(conn, tenant, complaint_id)
        # The catalogue answer the agent apologised with is the one the proposal follows by default.
        found = await deps.rules.get(conn, tenant, rules.CATALOGUE)
        entry = _entry_for(found, complaint, catalogue_entry or progress.apology_entry)
        mandates = await deps.rules.get(conn, tenant, rules.MANDATES)
        mandate = domain.mandate_for((r.value for r in who.roles), mandates.by_role())
        rule = await deps.rules.get(conn, tenant, rules.ABUSE_WATCH)
        watch = await _current_watch(conn, tenant, complaint.customer_id, rule, now)
        proposal = domain.assess_proposal(
            request,
            domain.Situation(
                apologised=progress.apologised,
                live_compensation=progress.live_status,
                entry=entry,
                category=complaint.category,
                damage=progress.damage,
                mandate=mandate,
                flagged=domain.is_flagged(watch, rule),
                rule=rule,
                proposer_cleared_the_flag=who.subject in domain.clearers(watch, rule),
            ),
        )
        deadline = None
        if proposal.route is Route.approval:
            within = await deps.rules.get(conn, tenant, rules.APPROVAL_DEADLINE)
            deadline = domain.approval_deadline(deps.tenants.calendar(tenant), now, within)
        c = _compensation(who, complaint, proposal, entry, mandate, note=note, now=now, deadline=deadline)
        try:
            # The complaint's row lock already serialises proposals; the unique index is the
            # last word should anything ever write without it.
            await store.add_compensation(conn, c)
        except asyncpg.UniqueViolationError:
            raise Conflict(
                "this complaint already has a compensation; one compensation per complaint"
            ) from None
        await _emit_proposed(deps, conn, c, complaint, proposal)
        if deadline is not None:
            await timers.schedule(
                conn,
                APPROVAL_DEADLINE_TIMER,
                str(c.compensation_id),
                deadline,
                {"tenant": tenant, "compensation_id": str(c.compensation_id)},
            )
        elif proposal.kind is CompensationKind.financial:
            watch = await _after_financial_grant(deps, conn, c, rule, now, complaint.correlation_id)
    return Proposed(c, CustomerWatch(complaint.customer_id, watch, rule))


def _compensation(
    who: Principal,
    complaint: store.Complaint,
    proposal: domain.Proposal,
    entry: CatalogueEntry | None,
    mandate: Money | None,
    *,
    note: str | None,
    now: datetime,
    deadline: datetime | None,
) -> store.Compensation:
    to_approval = deadline is not None
    amount = proposal.amount
    return store.Compensation(
        compensation_id=uuid.uuid4(),
        complaint_id=complaint.complaint_id,
        tenant=complaint.tenant,
        customer_id=complaint.customer_id,
        kind=proposal.kind.value,
        status="awaiting_approval" if to_approval else "granted",
        amount_cents=amount.amount_cents if amount else None,
        currency=amount.currency.value if amount else None,
        gesture=proposal.gesture,
        gesture_text=proposal.gesture_text,
        note=note,
        catalogue_entry=entry.code if entry else None,
        category=complaint.category,
        team_id=complaint.team_id or (next(iter(who.teams)) if len(who.teams) == 1 else None),
        proposed_by=who.subject,
        proposed_at=now,
        mandate_cents=mandate.amount_cents if mandate else None,
        mandate_currency=mandate.currency.value if mandate else None,
        approval_reason=proposal.approval_reason,
        deadline_at=deadline,
        decided_by=None if to_approval else who.subject,
        decided_at=None if to_approval else now,
    )


async def _emit_proposed(
    deps: Deps, conn: Conn, c: store.Compensation, complaint: store.Complaint, proposal: domain.Proposal
) -> None:
    """CompensationProposed, then the decision (within the mandate) or the approval request."""
    await deps.emit(
        conn,
        CompensationProposed(
            compensation_id=c.compensation_id,
            complaint_id=c.complaint_id,
            customer_id=c.customer_id,
            kind=proposal.kind,
            proposed_by=c.proposed_by,
            proposed_at=c.proposed_at,
            category=c.category,
            amount=c.amount,
            catalogue_entry=c.catalogue_entry,
            team_id=c.team_id,
        ),
        tenant=c.tenant,
        correlation_id=complaint.correlation_id,
    )
    if c.deadline_at is None:
        await _emit_decided(deps, conn, c, complaint, CompensationOutcome.granted_by_agent)
        return
    amount = c.amount
    assert amount is not None, "only an amount goes to an approver"
    await deps.emit(
        conn,
        CompensationApprovalRequested(
            compensation_id=c.compensation_id,
            complaint_id=c.complaint_id,
            customer_id=c.customer_id,
            amount=amount,
            mandate=c.mandate or Money(amount_cents=0, currency=amount.currency),
            requested_by=c.proposed_by,
            requested_at=c.proposed_at,
            category=c.category,
            team_id=c.team_id,
        ),
        tenant=c.tenant,
        correlation_id=complaint.correlation_id,
    )


async def _emit_decided(
    deps: Deps,
    conn: Conn,
    c: store.Compensation,
    complaint: store.Complaint,
    outcome: CompensationOutcome,
) -> None:
    await deps.emit(
        conn,
        CompensationDecided(
            compensation_id=c.compensation_id,
            complaint_id=c.complaint_id,
            customer_id=c.customer_id,
            kind=CompensationKind(c.kind),
            outcome=outcome,
            decided_by=c.decided_by or c.proposed_by,
            decided_at=c.decided_at or deps.now(),
            category=c.category,
            amount=c.amount,
            reason_code=c.reason_code,
            team_id=c.team_id,
            root_cause_department=complaint.root_cause_department,
        ),
        tenant=c.tenant,
        correlation_id=complaint.correlation_id,
    )


# ---- R14: the approver decides ----------------------------------------------------------------------


async def approvals(
    deps: Deps, who: Principal, *, status: str | None, limit: int
) -> list[store.Compensation]:
    async with deps.transaction() as conn:
        return await store.approvals(conn, who.tenant, status=status, limit=limit)


async def approval_request(deps: Deps, who: Principal, compensation_id: uuid.UUID) -> store.Compensation:
    """One compensation that went to an approver (open or decided); 404 for any other."""
    async with deps.transaction() as conn:
        found = await store.compensation(conn, who.tenant, compensation_id)
    if found is None or found.deadline_at is None:
        raise NotFound(f"approval request {compensation_id}")
    return found


async def decide_approval(
    deps: Deps,
    who: Principal,
    compensation_id: uuid.UUID,
    verdict: Verdict,
    *,
    reason: str,
    reason_code: str | None,
) -> store.Compensation:
    now, tenant = deps.now(), who.tenant
    async with deps.transaction() as conn:
        found = await store.compensation(conn, tenant, compensation_id)
        if found is None or found.deadline_at is None:
            raise NotFound(f"approval request {compensation_id}")
        # The same lock order as a proposal (complaint, then customer): no deadlock between them.
        complaint = await store.complaint(conn, tenant, found.complaint_id, lock=True)
        current = await store.compensation(conn, tenant, compensation_id, lock=True)
        assert complaint is not None and current is not None
        rule = await deps.rules.get(conn, tenant, rules.ABUSE_WATCH)
        # The customer's lock before reading who cleared their flag: a clearing confirmed at this
        # moment is seen, and an approval counts in the watch before the next grant does.
        await store.lock_customer(conn, tenant, complaint.customer_id)
        watch = await _watch(conn, tenant, complaint.customer_id, rule, now)
        domain.check_approver(
            who.subject,
            current.proposed_by,
            current.status,
            kind=CompensationKind(current.kind),
            clearers=domain.clearers(watch, rule),
        )
        decided = await store.record_decision(
            conn,
            tenant,
            compensation_id,
            status="approved" if verdict is Verdict.approve else "rejected",
            decided_by=who.subject,
            decided_at=now,
            reason=reason,
            reason_code=reason_code,
        )
        await timers.cancel(conn, APPROVAL_DEADLINE_TIMER, str(compensation_id))
        outcome = CompensationOutcome.approved if verdict is Verdict.approve else CompensationOutcome.rejected
        await _emit_decided(deps, conn, decided, complaint, outcome)
        if verdict is Verdict.approve and decided.kind == CompensationKind.financial.value:
            await _after_financial_grant(deps, conn, decided, rule, now, complaint.correlation_id)
    return decided


async def approval_overdue(deps: Deps, conn: Conn, timer: timers.Timer) -> None:
    """R14 with R3: a request nobody decided by its deadline is escalated, once; it stays open."""
    tenant = str(timer.payload["tenant"])
    c = await store.compensation(conn, tenant, uuid.UUID(timer.key), lock=True)
    if c is None or c.status != "awaiting_approval" or c.escalated_at is not None:
        return
    amount, deadline = c.amount, c.deadline_at
    assert amount is not None and deadline is not None
    now = deps.now()
    await store.mark_escalated(conn, tenant, c.compensation_id, now)
    complaint = await store.complaint(conn, tenant, c.complaint_id)
    await deps.emit(
        conn,
        CompensationApprovalEscalated(
            compensation_id=c.compensation_id,
            complaint_id=c.complaint_id,
            customer_id=c.customer_id,
            amount=amount,
            requested_by=c.proposed_by,
            requested_at=c.proposed_at,
            deadline_at=deadline,
            escalated_at=now,
            category=c.category,
            team_id=c.team_id,
        ),
        tenant=tenant,
        correlation_id=complaint.correlation_id if complaint else None,
    )


# ---- views -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComplaintFile:
    """Everything the agent sees before deciding (R13 answer, R14 mandate, R15 flag)."""

    complaint: store.Complaint
    apology: store.Apology | None
    damage: store.Damage | None
    compensations: list[store.Compensation]
    entry: CatalogueEntry | None
    customer_language: Language
    """R22: the language the customer reads the catalogue's words in."""
    mandate: Money | None
    watch: CustomerWatch
    deceased: domain.DeceasedMark


async def complaint_file(deps: Deps, who: Principal, complaint_id: uuid.UUID) -> ComplaintFile:
    tenant = who.tenant
    async with deps.transaction() as conn:
        complaint = await _complaint_for(conn, who, complaint_id)
        rule = await deps.rules.get(conn, tenant, rules.ABUSE_WATCH)
        found = await deps.rules.get(conn, tenant, rules.CATALOGUE)
        mandates = await deps.rules.get(conn, tenant, rules.MANDATES)
        apology = await store.apology(conn, tenant, complaint_id)
        entry = found.entry(apology.catalogue_entry) if apology and apology.catalogue_entry else None
        return ComplaintFile(
            complaint=complaint,
            apology=apology,
            damage=await store.damage(conn, tenant, complaint_id),
            compensations=await store.compensations_of(conn, tenant, complaint_id),
            entry=entry or found.for_category(complaint.category),
            customer_language=domain.customer_language(
                complaint.language, deps.organisation_language(tenant)
            ),
            mandate=domain.mandate_for((r.value for r in who.roles), mandates.by_role()),
            watch=CustomerWatch(
                complaint.customer_id,
                await _watch(conn, tenant, complaint.customer_id, rule, deps.now()),
                rule,
            ),
            deceased=await store.deceased_mark(conn, tenant, complaint.customer_id),
        )


async def customer_watch(deps: Deps, who: Principal, customer_id: str) -> CustomerWatch:
    async with deps.transaction() as conn:
        rule = await deps.rules.get(conn, who.tenant, rules.ABUSE_WATCH)
        watch = await _watch(conn, who.tenant, customer_id, rule, deps.now())
    return CustomerWatch(customer_id, watch, rule)


# ---- R15: clearing a flag takes two persons ---------------------------------------------------------


@dataclass(frozen=True)
class FlagRecord:
    """A flag episode with its clearing's audit trail (who asked, who confirmed or refused, notes)."""

    flag: store.Flag
    reviews: list[store.FlagReview]


async def _open_flag(deps: Deps, conn: Conn, tenant: str, customer_id: str) -> store.Flag:
    """The customer's open flag, under the customer's lock. One the window no longer holds enough
    compensations for is not there to clear (the next proposal ends it as window_passed)."""
    await store.lock_customer(conn, tenant, customer_id)
    rule = await deps.rules.get(conn, tenant, rules.ABUSE_WATCH)
    watch = await _watch(conn, tenant, customer_id, rule, deps.now())
    flag = await store.open_flag(conn, tenant, customer_id) if domain.is_flagged(watch, rule) else None
    if flag is None:
        raise NotFound(f"a flag for review of customer {customer_id}")
    return flag


async def _record(conn: Conn, flag: store.Flag) -> FlagRecord:
    return FlagRecord(flag, (await store.reviews_of(conn, flag.tenant, [flag.flag_id]))[flag.flag_id])


async def ask_clearing(deps: Deps, who: Principal, customer_id: str, *, note: str) -> FlagRecord:
    """R15: a supervisor or an approver reviewed the flagged customer and asks to clear the flag. The
    flag stays open (a financial proposal still goes to an approver) until an approver other than
    them confirms (decide_clearing)."""
    async with deps.transaction() as conn:
        flag = await _open_flag(deps, conn, who.tenant, customer_id)
        domain.check_clearing_request(flag.reviewed_by)
        flag = await store.record_review(
            conn, flag, domain.ReviewAct.asked, by=who.subject, at=deps.now(), note=note
        )
        return await _record(conn, flag)


async def decide_clearing(
    deps: Deps, who: Principal, customer_id: str, verdict: Verdict, *, note: str
) -> FlagRecord:
    """R15, four eyes: an approver other than the one who asked confirms (the episode ends as
    reviewed, and neither of the two then decides this customer's money: domain.clearers) or refuses
    (the flag stays, and may be asked about again)."""
    async with deps.transaction() as conn:
        flag = await _open_flag(deps, conn, who.tenant, customer_id)
        domain.check_clearing_confirmer(who.subject, flag.reviewed_by)
        act = domain.ReviewAct.confirmed if verdict is Verdict.approve else domain.ReviewAct.refused
        flag = await store.record_review(conn, flag, act, by=who.subject, at=deps.now(), note=note)
        return await _record(conn, flag)


async def flags(deps: Deps, who: Principal, *, open_only: bool, limit: int) -> list[FlagRecord]:
    async with deps.transaction() as conn:
        found = await store.flags(conn, who.tenant, open_only=open_only, limit=limit)
        reviews = await store.reviews_of(conn, who.tenant, [f.flag_id for f in found])
    return [FlagRecord(f, reviews[f.flag_id]) for f in found]


# ---- R16: the cost ledger ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Ledger:
    since: date
    until: date
    """Exclusive."""
    rows: list[store.LedgerRow]


async def ledger(
    deps: Deps,
    who: Principal,
    *,
    group_by: list[str],
    period: str,
    since: date | None,
    until: date | None,
    kind: str | None,
) -> Ledger:
    """R16: granted costs in [since, until) of the organisation's calendar days (default: the last
    year up to and including today); a supervisor sees the teams they lead, approvers and admins all."""
    calendar = deps.tenants.calendar(who.tenant)
    until = until or calendar.local_date(deps.now()) + timedelta(days=1)
    since = since or until - timedelta(days=366)
    if since >= until:
        raise Invalid("from must be before to", field="from")
    teams = None if who.has_role(Role.approver, Role.admin) else sorted(who.teams)
    async with deps.transaction() as conn:
        rows = await store.ledger(
            conn,
            who.tenant,
            group_by=group_by,
            period=period,
            since=since,
            until=until,
            zone=calendar.rules.timezone,
            teams=teams,
            kind=kind,
        )
    return Ledger(since, until, rows)
