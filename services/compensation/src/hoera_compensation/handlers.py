"""Use cases: open a transaction, load, ask the domain, save state and outbox events, commit.

Routing, in one place:
    intake's complaint events      -> learn_from_intake      (consumers.py; R10: the deceased mark
                                                               and its withdrawal too)
    POST   .../apology              -> record_apology
    POST   .../damage               -> record_damage
    POST   .../proposals            -> propose               (R11-R15)
    POST   /approvals/{id}/approve  -> decide_approval       (R14, four eyes)
    timer  approval deadline        -> approval_overdue      (R14 with R3: escalate)
    POST   .../abuse-watch/review   -> ask_clearing          (R15, four eyes: the first person)
    POST   .../review/{verdict}     -> decide_clearing       (R15, four eyes: an approver answers)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime

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
from hoera_kit.auth import Principal, Role, ensure_team_access
from hoera_kit.db import Conn
from hoera_kit.errors import DomainError, NotFound
from hoera_kit.service import Service

from hoera_compensation import domain, rules, store
from hoera_compensation.domain import (
    AbuseWatchRule,
    CatalogueEntry,
    Episode,
    ProposalRequest,
    Refused,
    Route,
    Verdict,
    Watch,
    Why,
)
from hoera_compensation.settings import CompensationSettings

CompensationService = Service[CompensationSettings]

APPROVAL_DEADLINE_TIMER = "compensation.approval_deadline"
_STATUS = {Why.invalid: 422, Why.conflict: 409, Why.forbidden: 403}


@contextmanager
def _rules_refusals() -> Iterator[None]:
    """A domain refusal becomes the kit's clear 4xx (the transaction around it rolls back)."""
    try:
        yield
    except Refused as refused:
        raise DomainError(refused.message, status=_STATUS[refused.why], field=refused.field) from None


def _now() -> datetime:
    return datetime.now(UTC)


# ---- what the service learns from intake -------------------------------------------------------


async def learn_from_intake(conn: Conn, env: Envelope) -> None:
    """Keep the read model of complaints (never intake's tables); the inbox makes it exactly once."""
    data = env.data
    if isinstance(data, ComplaintRaised):
        await store.learn_raised(conn, env.tenant, data, env.correlation_id or env.id)
    elif isinstance(data, ComplaintAssigned):
        await store.learn_assigned(conn, env.tenant, data)
    elif isinstance(data, ComplaintResolved):
        await store.learn_resolved(conn, env.tenant, data)
    elif isinstance(data, ComplaintClosed):
        await store.learn_closed(conn, env.tenant, data)
    elif isinstance(data, CustomerMarkedDeceased):
        await store.learn_deceased(conn, env.tenant, data)
    elif isinstance(data, CustomerDeceasedMarkWithdrawn):
        await store.learn_deceased_withdrawn(conn, env.tenant, data)


# ---- loading with the caller's rights ------------------------------------------------------------


async def _complaint_for(
    conn: Conn, who: Principal, complaint_id: uuid.UUID, *, lock: bool = False
) -> store.Complaint:
    """The complaint, if the caller may see it; otherwise the same 404 as for a missing one."""
    complaint = await store.complaint(conn, complaint_id, lock=lock)
    if complaint is None or complaint.tenant != who.tenant:
        raise DomainError(
            f"complaint {complaint_id} not found: compensation knows a complaint once intake's "
            "ComplaintRaised has arrived; if it was raised a moment ago, try again shortly",
            status=404,
            field="complaint_id",
        )
    # Approvers are the back office of every team; agents and supervisors work in their own.
    if complaint.team_id and not who.has_role(Role.approver):
        ensure_team_access(who, complaint.team_id, what=f"complaint {complaint_id}")
    return complaint


async def _entry_for(conn: Conn, complaint: store.Complaint, code: str | None) -> CatalogueEntry | None:
    if code is None:
        return await rules.entry_for_category(conn, complaint.category)
    entry = await rules.catalogue_entry(conn, code)
    if entry is None:
        raise DomainError(
            f"catalogue entry {code} not found (GET /catalogue lists them)",
            status=422,
            field="catalogue_entry",
        )
    return entry


# ---- R11: the apology, R12: the damage ----------------------------------------------------------


async def record_apology(
    svc: CompensationService,
    who: Principal,
    complaint_id: uuid.UUID,
    *,
    text: str | None,
    language: Language | None,
    catalogue_entry: str | None,
) -> tuple[store.Apology, CatalogueEntry | None]:
    async with svc.pool.acquire() as conn, conn.transaction():
        complaint = await _complaint_for(conn, who, complaint_id, lock=True)
        earlier = await store.apology(conn, complaint_id)
        if earlier is not None:
            raise DomainError(
                f"the apology was recorded already, by {earlier.apologised_by} at "
                f"{earlier.apologised_at.isoformat()}",
                status=409,
                field="apology",
            )
        entry = await _entry_for(conn, complaint, catalogue_entry)
        lang = language or Language(complaint.language or who.language or Language.nl.value)
        if text is None:
            if entry is None:
                raise DomainError(
                    f"no catalogue entry answers category {complaint.category}: "
                    "give the apology's words in text",
                    status=422,
                    field="text",
                )
            text = entry.apology.in_(lang)
        apology = store.Apology(
            complaint_id=complaint_id,
            language=lang.value,
            text=text,
            catalogue_entry=entry.code if entry else None,
            apologised_by=who.subject,
            apologised_at=_now(),
        )
        await store.add_apology(conn, apology)
    return apology, entry


async def record_damage(
    svc: CompensationService,
    who: Principal,
    complaint_id: uuid.UUID,
    *,
    amount: Money,
    description: str | None,
) -> store.Damage:
    async with svc.pool.acquire() as conn, conn.transaction():
        await _complaint_for(conn, who, complaint_id, lock=True)
        live = await store.live_compensation(conn, complaint_id)
        with _rules_refusals():
            domain.damage_change_allowed(live.status if live else None)
        damage = store.Damage(
            complaint_id=complaint_id,
            amount_cents=amount.amount_cents,
            currency=amount.currency.value,
            description=description,
            recorded_by=who.subject,
            recorded_at=_now(),
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
    return await store.watch(conn, tenant, customer_id, window_days=rule.window_days, now=now)


async def _after_financial_grant(
    svc: CompensationService,
    conn: Conn,
    c: store.Compensation,
    rule: AbuseWatchRule,
    now: datetime,
    cause_correlation: uuid.UUID | None,
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
        await svc.emit(
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
            correlation_id=cause_correlation,
        )
    return replace(watch, open_flag_since=now) if opened else watch


# ---- R11-R14: the proposal -----------------------------------------------------------------------


@dataclass(frozen=True)
class Proposed:
    compensation: store.Compensation
    watch: CustomerWatch


async def propose(
    svc: CompensationService,
    who: Principal,
    complaint_id: uuid.UUID,
    request: ProposalRequest,
    *,
    catalogue_entry: str | None,
    note: str | None,
) -> Proposed:
    now = _now()
    async with svc.pool.acquire() as conn, conn.transaction():
        complaint = await _complaint_for(conn, who, complaint_id, lock=True)
        progress = await store.progress(conn, complaint_id)
        # The catalogue answer the agent apologised with is the one the proposal follows by default.
        entry = await _entry_for(conn, complaint, catalogue_entry or progress.apology_entry)
        mandate = domain.mandate_for(
            (r.value for r in who.roles), await rules.mandates(conn, complaint.tenant)
        )
        rule = await rules.abuse_watch(conn)
        await store.lock_customer(conn, complaint.tenant, complaint.customer_id)
        watch = await _watch(conn, complaint.tenant, complaint.customer_id, rule, now)
        if domain.next_episode(watch, rule) is Episode.end:
            await store.end_flag(conn, complaint.tenant, complaint.customer_id, at=now)
            watch = await _watch(conn, complaint.tenant, complaint.customer_id, rule, now)
        with _rules_refusals():
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
        to_approval = proposal.route is Route.approval
        deadline = (
            domain.approval_deadline(now, await rules.approval_deadline(conn), svc.settings.zone)
            if to_approval
            else None
        )
        amount = proposal.amount
        team_id = complaint.team_id or (next(iter(who.teams)) if len(who.teams) == 1 else None)
        c = store.Compensation(
            compensation_id=uuid.uuid4(),
            complaint_id=complaint_id,
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
            team_id=team_id,
            proposed_by=who.subject,
            proposed_at=now,
            mandate_cents=mandate.amount_cents if mandate else None,
            mandate_currency=mandate.currency.value if mandate else None,
            approval_reason=proposal.approval_reason,
            deadline_at=deadline,
            decided_by=None if to_approval else who.subject,
            decided_at=None if to_approval else now,
        )
        try:
            # The complaint's row lock already serialises proposals; the unique index is the
            # last word should anything ever write without it.
            await store.add_compensation(conn, c)
        except asyncpg.UniqueViolationError:
            raise DomainError(
                "this complaint already has a compensation; one compensation per complaint", status=409
            ) from None
        await svc.emit(
            conn,
            CompensationProposed(
                compensation_id=c.compensation_id,
                complaint_id=complaint_id,
                customer_id=c.customer_id,
                kind=proposal.kind,
                proposed_by=who.subject,
                proposed_at=now,
                category=c.category,
                amount=amount,
                catalogue_entry=c.catalogue_entry,
                team_id=team_id,
            ),
            tenant=c.tenant,
            correlation_id=complaint.correlation_id,
        )
        if to_approval:
            assert amount is not None and deadline is not None
            await timers.schedule(
                conn,
                APPROVAL_DEADLINE_TIMER,
                str(c.compensation_id),
                deadline,
                {"compensation_id": str(c.compensation_id)},
            )
            await svc.emit(
                conn,
                CompensationApprovalRequested(
                    compensation_id=c.compensation_id,
                    complaint_id=complaint_id,
                    customer_id=c.customer_id,
                    amount=amount,
                    mandate=mandate or Money(amount_cents=0, currency=amount.currency),
                    requested_by=who.subject,
                    requested_at=now,
                    category=c.category,
                    team_id=team_id,
                ),
                tenant=c.tenant,
                correlation_id=complaint.correlation_id,
            )
        else:
            await _emit_decided(svc, conn, c, complaint, CompensationOutcome.granted_by_agent)
            if proposal.kind is CompensationKind.financial:
                watch = await _after_financial_grant(svc, conn, c, rule, now, complaint.correlation_id)
    return Proposed(c, CustomerWatch(complaint.customer_id, watch, rule))


async def _emit_decided(
    svc: CompensationService,
    conn: Conn,
    c: store.Compensation,
    complaint: store.Complaint,
    outcome: CompensationOutcome,
) -> None:
    await svc.emit(
        conn,
        CompensationDecided(
            compensation_id=c.compensation_id,
            complaint_id=c.complaint_id,
            customer_id=c.customer_id,
            kind=CompensationKind(c.kind),
            outcome=outcome,
            decided_by=c.decided_by or c.proposed_by,
            decided_at=c.decided_at or _now(),
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


async def decide_approval(
    svc: CompensationService,
    who: Principal,
    compensation_id: uuid.UUID,
    verdict: Verdict,
    *,
    reason: str,
    reason_code: str | None,
) -> store.Compensation:
    now = _now()
    async with svc.pool.acquire() as conn, conn.transaction():
        found = await store.compensation(conn, compensation_id)
        if found is None or found.tenant != who.tenant or found.deadline_at is None:
            raise NotFound(f"approval request {compensation_id}")
        # The same lock order as a proposal (complaint, then customer): no deadlock between them.
        complaint = await store.complaint(conn, found.complaint_id, lock=True)
        current = await store.compensation(conn, compensation_id, lock=True)
        assert complaint is not None and current is not None
        rule = await rules.abuse_watch(conn)
        # The customer's lock before reading who cleared their flag: a clearing confirmed at this
        # moment is seen, and an approval counts in the watch before the next grant does.
        await store.lock_customer(conn, complaint.tenant, complaint.customer_id)
        watch = await _watch(conn, complaint.tenant, complaint.customer_id, rule, now)
        with _rules_refusals():
            domain.check_approver(
                who.subject,
                current.proposed_by,
                current.status,
                kind=CompensationKind(current.kind),
                clearers=domain.clearers(watch, rule),
            )
        decided = await store.record_decision(
            conn,
            compensation_id,
            status="approved" if verdict is Verdict.approve else "rejected",
            decided_by=who.subject,
            decided_at=now,
            reason=reason,
            reason_code=reason_code,
        )
        await timers.cancel(conn, APPROVAL_DEADLINE_TIMER, str(compensation_id))
        outcome = CompensationOutcome.approved if verdict is Verdict.approve else CompensationOutcome.rejected
        await _emit_decided(svc, conn, decided, complaint, outcome)
        if verdict is Verdict.approve and decided.kind == CompensationKind.financial.value:
            await _after_financial_grant(svc, conn, decided, rule, now, complaint.correlation_id)
    return decided


async def approval_overdue(svc: CompensationService, conn: Conn, timer: timers.Timer) -> None:
    """R14 with R3: a request nobody decided by its deadline is escalated, once; it stays open."""
    c = await store.compensation(conn, uuid.UUID(timer.key), lock=True)
    if c is None or c.status != "awaiting_approval" or c.escalated_at is not None:
        return
    amount, deadline = c.amount, c.deadline_at
    assert amount is not None and deadline is not None
    now = _now()
    await store.mark_escalated(conn, c.compensation_id, now)
    complaint = await store.complaint(conn, c.complaint_id)
    await svc.emit(
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
        tenant=c.tenant,
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
    mandate: Money | None
    watch: CustomerWatch
    deceased: domain.DeceasedMark


async def complaint_file(svc: CompensationService, who: Principal, complaint_id: uuid.UUID) -> ComplaintFile:
    async with svc.pool.acquire() as conn:
        complaint = await _complaint_for(conn, who, complaint_id)
        rule = await rules.abuse_watch(conn)
        apology = await store.apology(conn, complaint_id)
        entry = None
        if apology and apology.catalogue_entry:
            entry = await rules.catalogue_entry(conn, apology.catalogue_entry)
        return ComplaintFile(
            complaint=complaint,
            apology=apology,
            damage=await store.damage(conn, complaint_id),
            compensations=await store.compensations_of(conn, complaint_id),
            entry=entry or await rules.entry_for_category(conn, complaint.category),
            mandate=domain.mandate_for(
                (r.value for r in who.roles), await rules.mandates(conn, complaint.tenant)
            ),
            watch=CustomerWatch(
                complaint.customer_id,
                await _watch(conn, complaint.tenant, complaint.customer_id, rule, _now()),
                rule,
            ),
            deceased=await store.deceased_mark(conn, complaint.tenant, complaint.customer_id),
        )


async def customer_watch(svc: CompensationService, who: Principal, customer_id: str) -> CustomerWatch:
    async with svc.pool.acquire() as conn:
        rule = await rules.abuse_watch(conn)
        return CustomerWatch(customer_id, await _watch(conn, who.tenant, customer_id, rule, _now()), rule)


# ---- R15: clearing a flag takes two persons ---------------------------------------------------------


@dataclass(frozen=True)
class FlagRecord:
    """A flag episode with its clearing's audit trail (who asked, who confirmed or refused, notes)."""

    flag: store.Flag
    reviews: list[store.FlagReview]


async def _open_flag(conn: Conn, tenant: str, customer_id: str) -> store.Flag:
    """The customer's open flag, under the customer's lock. One the window no longer holds enough
    compensations for is not there to clear (the next proposal ends it as window_passed)."""
    await store.lock_customer(conn, tenant, customer_id)
    rule = await rules.abuse_watch(conn)
    watch = await _watch(conn, tenant, customer_id, rule, _now())
    flag = await store.open_flag(conn, tenant, customer_id) if domain.is_flagged(watch, rule) else None
    if flag is None:
        raise DomainError(
            f"customer {customer_id} is not flagged for review", status=404, field="customer_id"
        )
    return flag


async def _record(conn: Conn, flag: store.Flag) -> FlagRecord:
    return FlagRecord(flag, (await store.reviews_of(conn, [flag.flag_id]))[flag.flag_id])


async def ask_clearing(
    svc: CompensationService, who: Principal, customer_id: str, *, note: str
) -> FlagRecord:
    """R15: a supervisor or an approver reviewed the flagged customer and asks to clear the flag. The
    flag stays open (a financial proposal still goes to an approver) until an approver other than
    them confirms (decide_clearing)."""
    async with svc.pool.acquire() as conn, conn.transaction():
        flag = await _open_flag(conn, who.tenant, customer_id)
        with _rules_refusals():
            domain.check_clearing_request(flag.reviewed_by)
        flag = await store.record_review(
            conn, flag, domain.ReviewAct.asked, by=who.subject, at=_now(), note=note
        )
        return await _record(conn, flag)


async def decide_clearing(
    svc: CompensationService, who: Principal, customer_id: str, verdict: Verdict, *, note: str
) -> FlagRecord:
    """R15, four eyes: an approver other than the one who asked confirms (the episode ends as
    reviewed, and neither of the two then decides this customer's money: domain.clearers) or refuses
    (the flag stays, and may be asked about again)."""
    async with svc.pool.acquire() as conn, conn.transaction():
        flag = await _open_flag(conn, who.tenant, customer_id)
        with _rules_refusals():
            domain.check_clearing_confirmer(who.subject, flag.reviewed_by)
        act = domain.ReviewAct.confirmed if verdict is Verdict.approve else domain.ReviewAct.refused
        flag = await store.record_review(conn, flag, act, by=who.subject, at=_now(), note=note)
        return await _record(conn, flag)


async def flags(svc: CompensationService, who: Principal, *, open_only: bool, limit: int) -> list[FlagRecord]:
    async with svc.pool.acquire() as conn:
        found = await store.flags(conn, who.tenant, open_only=open_only, limit=limit)
        reviews = await store.reviews_of(conn, [f.flag_id for f in found])
    return [FlagRecord(f, reviews[f.flag_id]) for f in found]
