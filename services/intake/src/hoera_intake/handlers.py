"""Intake's use cases: each loads a dossier, asks the domain, and saves the dossier, its timeline,
its timers, its messages and its events in the caller's one transaction.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import asyncpg
from hoera_events.base import Event
from hoera_events.common import Channel, Language, MessageChannel
from hoera_events.complaints import (
    AssignmentReason,
    ComplaintAcknowledged,
    ComplaintAssigned,
    ComplaintClosed,
    ComplaintDueDateChanged,
    ComplaintEscalated,
    ComplaintRaised,
    ComplaintReopened,
    ComplaintResolved,
    ComplaintSlaBreached,
    CustomerDeceasedMarkWithdrawn,
    CustomerMarkedDeceased,
    DueDateChangeReason,
    EscalationStep,
    ReopenReason,
)
from hoera_events.envelope import Envelope, make_envelope
from hoera_events.platform import ContactClosed
from hoera_kit import deliveries, timers
from hoera_kit.auth import Principal, Role
from hoera_kit.db import Conn
from hoera_kit.directory import CustomerDirectory
from hoera_kit.errors import DomainError, NotFound
from hoera_kit.service import Service

from hoera_intake import domain, store
from hoera_intake.domain import Status
from hoera_intake.notices import Notices, format_date
from hoera_intake.rules import RuleBook, RulesStore
from hoera_intake.settings import IntakeSettings
from hoera_intake.store import Complainant, Complaint, StoredResponse

T = TypeVar("T")
SLA_TIMER = "sla"
"""One durable timer per dossier, due at the next step of its SLA clock (R3)."""
SYSTEM = "intake"


@dataclass(frozen=True)
class NewComplaint:
    """A complaint handed over by the platform, over HTTP or on its topic."""

    tenant: str
    customer_id: str
    channel: Channel
    category: str
    language: Language
    summary: str
    received_at: datetime
    platform_ref: str | None = None
    contact_id: str | None = None
    agent_id: str | None = None
    team_id: str | None = None
    about_deceased: bool = False
    complainant: Complainant | None = None


@dataclass(frozen=True)
class Dossier:
    complaint: Complaint
    complainant: Complainant | None
    deceased: store.Deceased | None
    timeline: list[asyncpg.Record]


def _people_of(book: RuleBook, team_id: str) -> set[str]:
    """Everyone of a team in the rules: its lead, deputy and members."""
    team = book.team(team_id)
    if team is None:
        return set()
    return {p.agent_id for p in (team.lead, team.deputy, *team.members) if p is not None}


def request_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


class Intake:
    def __init__(
        self,
        svc: Service[IntakeSettings],
        directory: CustomerDirectory,
        base_url: str,
        *,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.svc = svc
        self.rules = RulesStore()
        self.notices = Notices(directory, base_url)
        self.now = now or (lambda: datetime.now(UTC))

    # ---- plumbing -------------------------------------------------------------------------------

    async def atomically(self, work: Callable[[Conn], Awaitable[T]]) -> T:
        """One transaction; tried again when PostgreSQL picks it as a deadlock victim (a timer and a
        request can lock a dossier and its timer in opposite order)."""
        for attempt in range(5):
            try:
                async with self.svc.pool.acquire() as conn, conn.transaction():
                    return await work(conn)
            except (asyncpg.DeadlockDetectedError, asyncpg.SerializationError):
                if attempt == 4:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    async def once(
        self,
        conn: Conn,
        *,
        tenant: str,
        scope: str,
        key: str,
        body: Any,
        work: Callable[[], Awaitable[tuple[int, Any]]],
    ) -> tuple[StoredResponse, bool]:
        """An Idempotency-Key: the first request does the work and its answer is kept; a retry with
        the same body gets that answer (True: replayed), a different body is refused."""
        digest = request_hash(body)
        stored = await store.claim_idempotency_key(conn, tenant, scope, key, digest)
        if stored is not None:
            if stored.request_hash != digest:
                raise DomainError(
                    "this Idempotency-Key was used before with a different request body; "
                    "use a new key for a new request",
                    status=422,
                    field="Idempotency-Key",
                )
            return stored, True
        status_code, response = await work()
        await store.store_response(conn, tenant, scope, key, status_code, response)
        return StoredResponse(digest, status_code, response), False

    async def _emit(self, conn: Conn, c: Complaint, event: Event, cause: Envelope | None) -> None:
        await self.svc.emit(conn, event, tenant=c.tenant, cause=cause)

    def _envelope(self, c: Complaint, event: Event, cause: Envelope | None) -> Envelope:
        """As Service.emit builds it, for writing several events in one statement."""
        return make_envelope(
            event,
            producer=self.svc.name,
            tenant=c.tenant,
            correlation_id=(cause.correlation_id or cause.id) if cause else None,
            causation_id=cause.id if cause else None,
        )

    async def _load(
        self, conn: Conn, tenant: str, complaint_id: uuid.UUID, *, lock: bool = True
    ) -> Complaint:
        c = await store.get_complaint(conn, complaint_id, tenant=tenant, lock=lock)
        if c is None:
            raise NotFound("complaint")
        return c

    def _ensure_may_act(self, principal: Principal, c: Complaint) -> None:
        """R1: every agent reads every dossier, but works only on their own team's."""
        if c.team_id is None or principal.in_team(c.team_id):
            return
        raise DomainError(
            f"complaint {c.ref} belongs to team {c.team_id}; you can act only on your teams' complaints",
            status=403,
            field="team_id",
        )

    def _sla_steps(
        self, c: Complaint, book: RuleBook, now: datetime
    ) -> tuple[list[domain.SlaStep], datetime | None]:
        return domain.sla_steps(
            c.plan,
            reminded=c.reminded_at is not None,
            escalated=c.escalated_at is not None,
            breached=c.breached_at is not None,
            now=now,
            calendar=book.calendar,
        )

    async def _schedule(self, conn: Conn, c: Complaint, book: RuleBook) -> None:
        """R3: the dossier's one timer is due at its clock's next step and carries the plan's
        version; a paused or answered dossier has none."""
        if c.paused_at is not None or c.status not in domain.WORKING:
            await self._cancel_timers(conn, c)
            return
        now = self.now()
        due, later = self._sla_steps(c, book, now)
        moment = now if due else later
        if moment is None:
            await self._cancel_timers(conn, c)
        else:
            await timers.schedule(conn, SLA_TIMER, str(c.id), moment, {"v": c.sla_version})

    async def _cancel_timers(self, conn: Conn, c: Complaint) -> None:
        await timers.cancel(conn, SLA_TIMER, str(c.id))

    def _replan(self, c: Complaint, plan: domain.SlaPlan) -> bool:
        """Apply a new plan; a plan that moved re-arms the reminder and escalation (never the breach:
        ComplaintSlaBreached is said once). True when the promised moment moved."""
        moved = plan.breach_at != c.breach_at
        c.apply_plan(plan)
        if moved:
            c.reminded_at = None
            c.escalated_at = None
        return moved

    # ---- the platform's inputs ------------------------------------------------------------------

    async def submit(
        self,
        conn: Conn,
        cmd: NewComplaint,
        *,
        actor: str,
        via: str,
        strict: bool,
        cause: Envelope | None = None,
    ) -> tuple[Complaint, bool]:
        """R1/R2: open the dossier, promise a date, acknowledge. The same platform_ref twice is one
        dossier (False). strict: an unknown category is refused (HTTP) instead of taking the default
        SLA (a platform event must never be lost)."""
        if cmd.platform_ref:
            existing = await store.by_platform_ref(conn, cmd.tenant, cmd.platform_ref)
            if existing is not None:
                return existing, False
        book = await self.rules.book(conn)
        category = book.category(cmd.category)
        if category is None and strict:
            known = ", ".join(c.code for c in book.categories.categories)
            raise domain.RuleViolation(
                f"unknown category {cmd.category!r} (known: {known})", field="category", invalid=True
            )
        sla = category.sla.for_channel(cmd.channel) if category else book.default_sla()
        now = self.now()
        plan = domain.plan_sla(sla, cmd.received_at, book.calendar)
        # Held until commit: a marking withdrawn meanwhile waits, so it sees this complaint and clears it.
        deceased = await store.get_deceased(conn, cmd.tenant, cmd.customer_id, lock="key share")
        team_id = (
            cmd.team_id
            or (category.default_team if category else None)
            or book.workflow.default_team_by_language.get(cmd.language)
        )
        agent_id = cmd.agent_id
        if deceased is not None:
            # R10: one named owner for everything about a deceased customer.
            agent_id, team_id = deceased.owner_agent_id, deceased.team_id or team_id
        c = Complaint(
            id=uuid.uuid4(),
            tenant=cmd.tenant,
            customer_id=cmd.customer_id,
            channel=cmd.channel.value,
            category=cmd.category,
            language=cmd.language.value,
            summary=cmd.summary,
            status=Status.open,
            status_since=now,
            team_id=team_id,
            agent_id=agent_id,
            contact_id=cmd.contact_id,
            platform_ref=cmd.platform_ref,
            about_deceased=cmd.about_deceased or deceased is not None,
            received_via=via,
            raised_at=cmd.received_at,
            due_date=plan.due_date,
            sla_unit=plan.unit,
            sla_reminder_lead=plan.reminder_lead,
            reminder_at=plan.reminder_at,
            escalate_at=plan.escalate_at,
            breach_at=plan.breach_at,
        )
        await store.insert_complaint(conn, c)
        if cmd.complainant is not None:
            await store.save_complainant(conn, c.id, cmd.complainant)
        await store.start_period(conn, c, now, first=True)
        await store.add_timeline(
            conn,
            c.id,
            "raised",
            actor,
            None,
            {
                "via": via,
                "channel": c.channel,
                "category": c.category,
                "team_id": c.team_id,
                "agent_id": c.agent_id,
                "due_date": c.due_date.isoformat(),
                "platform_ref": c.platform_ref,
            },
        )
        if category is None:
            await store.add_timeline(
                conn,
                c.id,
                "rules_note",
                SYSTEM,
                f"category {cmd.category!r} is not in the rules: the default SLA of "
                f"{book.workflow.default_sla_business_days} business days applies",
            )
        events: list[Event] = [
            ComplaintRaised(
                complaint_id=c.id,
                customer_id=c.customer_id,
                channel=cmd.channel,
                category=c.category,
                language=cmd.language,
                raised_at=c.raised_at,
                due_date=c.due_date,
                team_id=c.team_id,
                agent_id=c.agent_id,
                contact_id=c.contact_id,
                platform_ref=c.platform_ref,
                about_deceased=c.about_deceased,
            )
        ]
        if c.agent_id and c.team_id:
            events.append(
                ComplaintAssigned(
                    complaint_id=c.id,
                    customer_id=c.customer_id,
                    agent_id=c.agent_id,
                    team_id=c.team_id,
                    assigned_at=now,
                    reason=AssignmentReason.new,
                )
            )
        await self.svc.emit_many(conn, [self._envelope(c, e, cause) for e in events])
        await self._schedule(conn, c, book)
        if c.about_deceased and deceased is None:
            team = book.team(c.team_id)
            owner = domain.named_owner(c.agent_id, team.lead.agent_id if team else None)
            kin = cmd.complainant.next_of_kin_email if cmd.complainant else None
            await self._mark_deceased(
                conn,
                book,
                c.tenant,
                c.customer_id,
                owner,
                c.team_id,
                actor,
                complaint=c,
                contact_id=c.contact_id,
                next_of_kin_email=kin,
                reason="the platform handed over a complaint about a deceased customer",
                cause=cause,
            )
        # R2: the acknowledgement; ComplaintAcknowledged follows once it is delivered.
        if c.about_deceased and deceased is None:
            deceased = await store.get_deceased(conn, c.tenant, c.customer_id)
        await self.notices.to_customer(
            conn, book, c, "acknowledgement", key=f"acknowledgement:{c.id}", known=(cmd.complainant, deceased)
        )
        return c, True

    async def record_contact(
        self,
        conn: Conn,
        tenant: str,
        contact: ContactClosed,
        *,
        via: str,
        actor: str,
        cause: Envelope | None = None,
    ) -> bool:
        """R9/R10: a closed contact, recorded once by contact_id. One reported over HTTP is passed on
        as ContactClosed (producer intake) so the survey service sees it too; when that event comes
        back on the topic it finds the contact recorded and does nothing."""
        values = contact.model_dump()
        values["channel"] = contact.channel.value
        values["language"] = contact.language.value
        if not await store.record_contact(conn, tenant, values, via):
            return False
        if via == "http":
            await self.svc.emit(conn, contact, tenant=tenant, cause=cause)
        if contact.about_deceased:
            book = await self.rules.book(conn)
            await self._mark_deceased(
                conn,
                book,
                tenant,
                contact.customer_id,
                contact.agent_id,
                contact.team_id,
                actor,
                complaint=None,
                contact_id=contact.contact_id,
                next_of_kin_email=None,
                reason="the platform reported a contact about a deceased customer",
                cause=cause,
            )
        return True

    # ---- agents' work on a dossier --------------------------------------------------------------

    async def dossier(self, conn: Conn, tenant: str, complaint_id: uuid.UUID) -> Dossier:
        c = await self._load(conn, tenant, complaint_id, lock=False)
        return Dossier(
            complaint=c,
            complainant=await store.get_complainant(conn, c.id),
            deceased=await store.get_deceased(conn, c.tenant, c.customer_id) if c.about_deceased else None,
            timeline=await store.timeline(conn, c.id),
        )

    async def assign(
        self,
        conn: Conn,
        principal: Principal,
        complaint_id: uuid.UUID,
        *,
        agent_id: str,
        team_id: str | None,
        note: str | None,
    ) -> Complaint:
        c = await self._load(conn, principal.tenant, complaint_id)
        self._ensure_may_act(principal, c)
        domain.check_acting(c.status)
        target_team = team_id or c.team_id
        if target_team is None:
            raise DomainError("the complaint has no team yet: name one", status=422, field="team_id")
        if not principal.in_team(target_team) and not principal.has_role(Role.supervisor):
            raise DomainError(
                f"an agent assigns within their own teams; {target_team} is not one of yours",
                status=403,
                field="team_id",
            )
        if agent_id == c.agent_id and target_team == c.team_id:
            raise DomainError(f"the complaint is already assigned to {agent_id}", field="agent_id")
        book = await self.rules.book(conn)
        deceased = await store.get_deceased(conn, c.tenant, c.customer_id)
        if deceased is not None and deceased.owner_agent_id != agent_id:
            # R10: one named owner; only a supervisor hands the case (and the bereaved) over.
            if not principal.has_role(Role.supervisor):
                raise DomainError(
                    f"the customer is deceased and {deceased.owner_agent_id} is the named owner; "
                    "a supervisor can hand the case over",
                    field="agent_id",
                )
            await store.change_deceased_owner(conn, c.tenant, c.customer_id, agent_id)
        previous = c.agent_id
        now = self.now()
        c.agent_id, c.team_id = agent_id, target_team
        await store.add_timeline(
            conn,
            c.id,
            "assigned",
            principal.subject,
            note,
            {"agent_id": agent_id, "team_id": target_team, "previous_agent_id": previous},
        )
        await self._emit(
            conn,
            c,
            ComplaintAssigned(
                complaint_id=c.id,
                customer_id=c.customer_id,
                agent_id=agent_id,
                team_id=target_team,
                assigned_at=now,
                reason=AssignmentReason.manual,
                previous_agent_id=previous,
            ),
            None,
        )
        if c.about_deceased and deceased is None:
            await self._mark_deceased(
                conn,
                book,
                c.tenant,
                c.customer_id,
                agent_id,
                target_team,
                principal.subject,
                complaint=c,
                contact_id=c.contact_id,
                next_of_kin_email=None,
                reason="a complaint about a deceased customer was assigned",
                cause=None,
            )
        await store.save_complaint(conn, c)
        return c

    async def add_note(
        self, conn: Conn, principal: Principal, complaint_id: uuid.UUID, text: str
    ) -> Complaint:
        c = await self._load(conn, principal.tenant, complaint_id)
        self._ensure_may_act(principal, c)
        await store.add_timeline(conn, c.id, "note", principal.subject, None, {"text": text})
        return c

    async def record_step(
        self,
        conn: Conn,
        principal: Principal,
        complaint_id: uuid.UUID,
        *,
        status: Status,
        note: str | None,
    ) -> Complaint:
        """R6: a step moves the dossier to another working status; the time in each is measured.
        R3: in a waiting status of the rules the clock stands still."""
        c = await self._load(conn, principal.tenant, complaint_id)
        self._ensure_may_act(principal, c)
        domain.check_step(c.status, status)
        book = await self.rules.book(conn)
        now = self.now()
        previous = c.status
        c.status, c.status_since = status, now
        await store.start_period(conn, c, now)
        await store.add_timeline(
            conn,
            c.id,
            "status_changed",
            principal.subject,
            note,
            {"from": previous.value, "to": status.value},
        )
        waiting = set(book.workflow.waiting_statuses)
        if status in waiting and c.paused_at is None:
            c.paused_at = now
            c.sla_version += 1
            await store.add_timeline(conn, c.id, "sla_paused", SYSTEM, f"waiting status {status.value}")
        elif status not in waiting and c.paused_at is not None:
            await self._resume(conn, book, c, now, principal.subject)
        await self._schedule(conn, c, book)
        if status in book.workflow.inform_customer_on:
            await self.notices.to_customer(
                conn, book, c, "status_update", key=f"status_update:{c.id}:{now.timestamp()}"
            )
        await store.save_complaint(conn, c)
        return c

    async def _resume(self, conn: Conn, book: RuleBook, c: Complaint, now: datetime, actor: str) -> None:
        assert c.paused_at is not None
        previous_due = c.due_date
        plan = domain.resume_plan(c.plan, c.paused_at, now, book.calendar)
        waited = now - c.paused_at
        c.paused_at = None
        self._replan(c, plan)
        await store.add_timeline(
            conn, c.id, "sla_resumed", SYSTEM, None, {"waited_seconds": int(waited.total_seconds())}
        )
        if c.due_date != previous_due:
            await self._due_date_changed(
                conn, book, c, previous_due, DueDateChangeReason.waiting_for_customer, actor, None
            )

    async def _due_date_changed(
        self,
        conn: Conn,
        book: RuleBook,
        c: Complaint,
        previous: date,
        reason: DueDateChangeReason,
        actor: str,
        note: str | None,
        *,
        tell_customer: bool = True,
    ) -> None:
        """R3/R5: a moved promised date is on the timeline and told to the customer."""
        await store.add_timeline(
            conn,
            c.id,
            "due_date_changed",
            actor,
            note or reason.value,
            {"from": previous.isoformat(), "to": c.due_date.isoformat(), "reason": reason.value},
        )
        await self._emit(
            conn,
            c,
            ComplaintDueDateChanged(
                complaint_id=c.id,
                customer_id=c.customer_id,
                previous_due_date=previous,
                due_date=c.due_date,
                reason=reason,
                changed_at=self.now(),
            ),
            None,
        )
        if tell_customer:
            await self.notices.to_customer(
                conn,
                book,
                c,
                "due_date_changed",
                key=f"due_date_changed:{c.id}:{c.sla_version}",
                previous_date=format_date(previous, c.language),
                note=note or "",
            )

    async def change_due_date(
        self,
        conn: Conn,
        principal: Principal,
        complaint_id: uuid.UUID,
        *,
        due_date: date,
        reason: DueDateChangeReason,
        note: str | None,
    ) -> Complaint:
        c = await self._load(conn, principal.tenant, complaint_id)
        self._ensure_may_act(principal, c)
        if c.status not in domain.WORKING:
            raise domain.RuleViolation(f"the complaint is {c.status.value}: no date to move", field="status")
        if due_date == c.due_date:
            raise domain.RuleViolation("that is the promised date already", field="due_date", invalid=True)
        book = await self.rules.book(conn)
        now = self.now()
        previous = c.due_date
        self._replan(c, domain.agreed_plan(c.plan, due_date, now, book.calendar))
        if c.paused_at is not None:
            c.paused_at = now  # the agreed date already counts the waiting so far
        await self._due_date_changed(conn, book, c, previous, reason, principal.subject, note)
        await self._schedule(conn, c, book)
        await store.save_complaint(conn, c)
        return c

    async def resolve(
        self,
        conn: Conn,
        principal: Principal,
        complaint_id: uuid.UUID,
        *,
        root_cause_department: str,
        first_contact_resolution: bool,
        note: str | None,
        answer: str | None,
    ) -> Complaint:
        """R7: the department at fault, from the operator list; R9: resolved at first contact?"""
        c = await self._load(conn, principal.tenant, complaint_id)
        self._ensure_may_act(principal, c)
        book = await self.rules.book(conn)
        domain.check_resolve(c.status, root_cause_department, book.root_cause_codes())
        now = self.now()
        c.status, c.status_since, c.resolved_at, c.paused_at = Status.resolved, now, now, None
        c.root_cause_department = root_cause_department
        c.first_contact_resolution = first_contact_resolution
        await store.start_period(conn, c, now)
        await self._cancel_timers(conn, c)
        await store.add_timeline(
            conn,
            c.id,
            "resolved",
            principal.subject,
            note,
            {
                "root_cause_department": root_cause_department,
                "first_contact_resolution": first_contact_resolution,
                "answer": answer,
            },
        )
        await self._emit(
            conn,
            c,
            ComplaintResolved(
                complaint_id=c.id,
                customer_id=c.customer_id,
                category=c.category,
                root_cause_department=root_cause_department,
                first_contact_resolution=first_contact_resolution,
                resolved_at=now,
                team_id=c.team_id,
                agent_id=c.agent_id,
            ),
            None,
        )
        if Status.resolved in book.workflow.inform_customer_on:
            await self.notices.to_customer(
                conn, book, c, "resolved", key=f"resolved:{c.id}:{c.reopen_count}", note=answer or ""
            )
        await store.save_complaint(conn, c)
        return c

    async def close(
        self, conn: Conn, principal: Principal, complaint_id: uuid.UUID, *, note: str | None
    ) -> Complaint:
        """R5: closed; the survey service may now ask the complainant for feedback."""
        c = await self._load(conn, principal.tenant, complaint_id)
        self._ensure_may_act(principal, c)
        domain.check_close(c.status)
        book = await self.rules.book(conn)
        now = self.now()
        c.status, c.status_since, c.closed_at = Status.closed, now, now
        await store.start_period(conn, c, now)
        await store.add_timeline(conn, c.id, "closed", principal.subject, note)
        await self._emit(
            conn,
            c,
            ComplaintClosed(
                complaint_id=c.id,
                customer_id=c.customer_id,
                category=c.category,
                channel=Channel(c.channel),
                language=Language(c.language),
                closed_at=now,
                team_id=c.team_id,
                agent_id=c.agent_id,
                about_deceased=c.about_deceased,
            ),
            None,
        )
        if Status.closed in book.workflow.inform_customer_on:
            await self.notices.to_customer(conn, book, c, "closed", key=f"closed:{c.id}:{c.reopen_count}")
        await store.save_complaint(conn, c)
        return c

    async def reopen(
        self,
        conn: Conn,
        principal: Principal,
        complaint_id: uuid.UUID,
        *,
        reason: ReopenReason,
        note: str | None,
    ) -> Complaint:
        c = await self._load(conn, principal.tenant, complaint_id)
        self._ensure_may_act(principal, c)
        domain.check_reopen(c.status)
        book = await self.rules.book(conn)
        now = self.now()
        previous_due = c.due_date
        sla = book.sla_for(c.category, Channel(c.channel)) or book.default_sla()
        c.apply_plan(domain.plan_sla(sla, now, book.calendar))
        c.status, c.status_since = Status.in_progress, now
        c.resolved_at = c.closed_at = c.paused_at = None
        c.reminded_at = c.escalated_at = c.breached_at = None
        c.reopen_count += 1
        await store.start_period(conn, c, now)
        await store.add_timeline(conn, c.id, "reopened", principal.subject, note, {"reason": reason.value})
        await self._emit(
            conn,
            c,
            ComplaintReopened(
                complaint_id=c.id,
                customer_id=c.customer_id,
                reason=reason,
                reopened_at=now,
                due_date=c.due_date,
                team_id=c.team_id,
                agent_id=c.agent_id,
            ),
            None,
        )
        # The reopened message carries the new date; one message, not two.
        await self._due_date_changed(
            conn,
            book,
            c,
            previous_due,
            DueDateChangeReason.reopened,
            principal.subject,
            note,
            tell_customer=False,
        )
        await self.notices.to_customer(conn, book, c, "reopened", key=f"reopened:{c.id}:{c.reopen_count}")
        await self._schedule(conn, c, book)
        await store.save_complaint(conn, c)
        return c

    # ---- R10: deceased customers ----------------------------------------------------------------

    async def _ensure_sees_customer(
        self,
        conn: Conn,
        principal: Principal,
        customer_id: str,
        held: list[Complaint],
        case_team: str | None,
    ) -> None:
        """R10: the customer is the caller's only when every open complaint is of their teams (or,
        without open ones, when one of their teams has dealt with them); else 404, word for word
        the answer about a customer nobody knows."""
        known = await store.customer_teams(conn, principal.tenant, customer_id)
        if case_team is not None:
            known.add(case_team)
        if not domain.sees_customer(principal.teams, [c.team_id for c in held], known):
            raise NotFound("customer")

    async def mark_deceased(
        self,
        conn: Conn,
        principal: Principal,
        customer_id: str,
        *,
        owner_agent_id: str,
        team_id: str | None,
        complaint_id: uuid.UUID | None,
        next_of_kin_email: str | None,
        reason: str,
    ) -> tuple[store.Deceased, bool]:
        """R10 by an agent or supervisor: only for a customer whose complaints are of the caller's
        teams, to an owner of the case's team, with a reason. Marking again answers the marking in
        force (False)."""
        tenant = principal.tenant
        await store.lock_customer(conn, tenant, customer_id)
        held = await store.open_complaints_of(conn, tenant, customer_id)
        existing = await store.get_deceased(conn, tenant, customer_id)
        complaint = None
        if complaint_id is not None:
            complaint = next((c for c in held if c.id == complaint_id), None)
            complaint = complaint or await self._load(conn, tenant, complaint_id)
            if complaint.customer_id != customer_id:
                raise DomainError(
                    f"complaint {complaint.ref} is not about customer {customer_id}",
                    status=422,
                    field="complaint_id",
                )
        moving = held
        if complaint is not None and all(c.id != complaint.id for c in held):
            moving = [*held, complaint]
        await self._ensure_sees_customer(
            conn, principal, customer_id, moving, existing.team_id if existing else None
        )
        if existing is not None:
            return existing, False
        team = domain.case_team(team_id, [c.team_id for c in moving], principal.teams)
        if team is None:
            raise DomainError(
                "the customer's complaints are in several teams: name the case's team",
                status=422,
                field="team_id",
            )
        if not principal.in_team(team):
            raise DomainError(
                f"the case goes to one of your teams; {team} is not one of yours", status=403, field="team_id"
            )
        book = await self.rules.book(conn)
        if owner_agent_id not in _people_of(book, team):
            raise DomainError(
                f"{owner_agent_id} is not in team {team} (the team rules): the owner must be",
                status=422,
                field="owner_agent_id",
            )
        marked = await self._mark_deceased(
            conn,
            book,
            tenant,
            customer_id,
            owner_agent_id,
            team,
            principal.subject,
            complaint=complaint,
            contact_id=None,
            next_of_kin_email=next_of_kin_email,
            reason=reason,
            cause=None,
        )
        assert marked is not None
        return marked, True

    async def _mark_deceased(
        self,
        conn: Conn,
        book: RuleBook,
        tenant: str,
        customer_id: str,
        owner: str | None,
        team_id: str | None,
        actor: str,
        *,
        complaint: Complaint | None,
        contact_id: str | None,
        next_of_kin_email: str | None,
        reason: str,
        cause: Envelope | None,
    ) -> store.Deceased | None:
        """R10: one named owner for the case; every open complaint of the customer goes to them and
        CustomerMarkedDeceased tells the other services to stop surveys and proactive contact. The
        audit and each dossier's timeline keep who moved what from whom, and why."""
        now = self.now()
        if owner is None:
            if complaint is not None:
                await store.add_timeline(
                    conn,
                    complaint.id,
                    "owner_needed",
                    SYSTEM,
                    "about a deceased customer: assign the one agent who will own the case",
                )
            return None
        marked = store.Deceased(
            customer_id=customer_id,
            owner_agent_id=owner,
            team_id=team_id,
            marked_at=now,
            marked_by=actor,
            complaint_id=complaint.id if complaint else None,
            contact_id=contact_id,
            next_of_kin_email=next_of_kin_email,
            reason=reason,
        )
        if not await store.insert_deceased(conn, tenant, marked):
            return await store.get_deceased(conn, tenant, customer_id)
        await self.svc.emit(
            conn,
            CustomerMarkedDeceased(
                customer_id=customer_id,
                owner_agent_id=owner,
                marked_at=now,
                team_id=team_id,
                complaint_id=complaint.id if complaint else None,
            ),
            tenant=tenant,
            cause=cause,
        )
        others = await store.open_complaints_of(conn, tenant, customer_id)
        if complaint is not None and all(o.id != complaint.id for o in others):
            others.append(complaint)
        moved: list[domain.Move] = []
        for c in others:
            live = complaint if complaint is not None and c.id == complaint.id else c
            live.about_deceased = True
            detail: dict[str, Any] = {"owner_agent_id": owner}
            if live.agent_id != owner:
                move = domain.Move(live.id, live.agent_id, live.team_id, owner, team_id or live.team_id)
                moved.append(move)
                live.agent_id, live.team_id = owner, move.to_team_id
                detail |= {
                    "team_id": live.team_id,
                    "previous_agent_id": move.from_agent_id,
                    "previous_team_id": move.from_team_id,
                }
                if live.team_id is not None:
                    await self._emit(
                        conn,
                        live,
                        ComplaintAssigned(
                            complaint_id=live.id,
                            customer_id=live.customer_id,
                            agent_id=owner,
                            team_id=live.team_id,
                            assigned_at=now,
                            reason=AssignmentReason.manual,
                            previous_agent_id=move.from_agent_id,
                        ),
                        cause,
                    )
            await store.add_timeline(conn, live.id, "customer_marked_deceased", actor, reason, detail)
            if live is not complaint:
                await store.save_complaint(conn, live)
        if complaint is not None:
            await store.save_complaint(conn, complaint)
        await store.add_deceased_audit(
            conn,
            tenant,
            store.DeceasedAudit(customer_id, "marked", actor, now, reason, owner, team_id, moved),
        )
        return marked

    async def withdraw_deceased(
        self, conn: Conn, principal: Principal, customer_id: str, *, reason: str
    ) -> tuple[store.DeceasedAudit, bool]:
        """R10, a mistaken marking withdrawn by a supervisor of the case's team: the complaints it
        moved go back where the move still stands, nothing is addressed to the next of kin any more,
        and CustomerDeceasedMarkWithdrawn lets the other services reach the customer again.
        Withdrawing again answers the withdrawal (False)."""
        tenant = principal.tenant
        await store.lock_customer(conn, tenant, customer_id)
        # The marking first: a complaint it is routing right now commits before we read the complaints.
        marked = await store.get_deceased(conn, tenant, customer_id, lock="update")
        case = await store.deceased_case_complaints(conn, tenant, customer_id)
        last = await store.last_deceased_audit(conn, tenant, customer_id)
        case_team = marked.team_id if marked else last.team_id if last else None
        held = [c for c in case if c.status is not Status.closed]
        await self._ensure_sees_customer(conn, principal, customer_id, held, case_team)
        if case_team is not None and not principal.leads(case_team):
            raise NotFound("customer")
        if marked is None:
            if last is not None and last.action == "withdrawn":
                return last, False
            raise DomainError(f"customer {customer_id} is not marked deceased", field="customer_id")
        owner, now = marked.owner_agent_id, self.now()
        moves = last.moved if last is not None and last.action == "marked" else []
        where = {c.id: domain.Holding(c.status, c.agent_id, c.team_id) for c in case}
        back = {m.complaint_id: m for m in domain.undo_moves(moves, where, owner)}
        for c in case:
            c.about_deceased = False
            detail: dict[str, Any] = {"owner_agent_id": owner}
            move = back.get(c.id)
            if move is not None:
                c.agent_id, c.team_id = move.to_agent_id, move.to_team_id
                detail |= {"agent_id": c.agent_id, "team_id": c.team_id, "previous_agent_id": owner}
                if c.team_id is not None:
                    await self._emit(
                        conn,
                        c,
                        ComplaintAssigned(
                            complaint_id=c.id,
                            customer_id=c.customer_id,
                            agent_id=move.to_agent_id,
                            team_id=c.team_id,
                            assigned_at=now,
                            reason=AssignmentReason.manual,
                            previous_agent_id=owner,
                        ),
                        None,
                    )
            await store.add_timeline(
                conn, c.id, "customer_deceased_mark_withdrawn", principal.subject, reason, detail
            )
            await store.save_complaint(conn, c)
        await store.delete_deceased(conn, tenant, customer_id)
        entry = store.DeceasedAudit(
            customer_id,
            "withdrawn",
            principal.subject,
            now,
            reason,
            owner,
            marked.team_id,
            list(back.values()),
        )
        await store.add_deceased_audit(conn, tenant, entry)
        await self.svc.emit(
            conn,
            CustomerDeceasedMarkWithdrawn(
                customer_id=customer_id,
                withdrawn_by=principal.subject,
                withdrawn_at=now,
                team_id=marked.team_id,
            ),
            tenant=tenant,
        )
        return entry, True

    # ---- R3: the SLA timers ---------------------------------------------------------------------

    async def _timer_complaint(self, conn: Conn, timer: timers.Timer) -> Complaint | None:
        """The dossier a timer is about, locked; None when the timer was overtaken (another plan,
        paused, answered) and must do nothing."""
        c = await store.get_complaint(conn, uuid.UUID(timer.key), lock=True)
        if c is None or timer.payload.get("v") != c.sla_version:
            return None
        if c.status not in domain.WORKING or c.paused_at is not None:
            return None
        return c

    async def on_sla_timer(self, conn: Conn, timer: timers.Timer) -> None:
        """R3: whatever of reminder, escalation and breach is due now, then the timer moves on to
        the next step. Each step is done once (its mark on the dossier), whatever the replicas."""
        c = await self._timer_complaint(conn, timer)
        if c is None:
            return
        book = await self.rules.book(conn)
        now = self.now()
        due, _ = self._sla_steps(c, book, now)
        for step in due:
            if step is domain.SlaStep.reminder:
                await self._remind(conn, book, c, now)
            elif step is domain.SlaStep.escalation:
                await self._escalate(conn, book, c, now)
            else:
                await self._breach(conn, c, now)
        await self._schedule(conn, c, book)
        await store.save_complaint(conn, c)

    async def _remind(self, conn: Conn, book: RuleBook, c: Complaint, now: datetime) -> None:
        await self._cover_absence(conn, book, c, now)
        c.reminded_at = now
        await self._emit(conn, c, self._escalated(c, EscalationStep.reminder, now, None), None)
        await store.add_timeline(conn, c.id, "reminder", "sla", None, {"agent_id": c.agent_id})
        owner = book.member(c.agent_id)
        if owner is not None:
            key = f"reminder:{c.id}:{c.sla_version}"
            await self.notices.to_staff(conn, book, c, "reminder", owner, key=key)

    async def _escalate(self, conn: Conn, book: RuleBook, c: Complaint, now: datetime) -> None:
        """R3: to the team's lead, or their deputy when the lead is absent; never to everyone."""
        await self._cover_absence(conn, book, c, now)
        team = book.team(c.team_id)
        absent = book.absences.on(book.calendar.local_date(now))
        target = None
        if team is not None:
            deputy = team.deputy.person() if team.deputy else None
            target = domain.escalation_target(team.lead.person(), deputy, absent)
        c.escalated_at = now
        to = target.agent_id if target else None
        await self._emit(conn, c, self._escalated(c, EscalationStep.escalated_to_lead, now, to), None)
        why = None if target else f"no lead known for team {c.team_id or '(none)'} in the rules"
        await store.add_timeline(conn, c.id, "escalated", "sla", why, {"to": to})
        if target is not None:
            key = f"escalation:{c.id}:{c.sla_version}"
            await self.notices.to_staff(conn, book, c, "escalation", target, key=key)

    async def _breach(self, conn: Conn, c: Complaint, now: datetime) -> None:
        """R3/R4: the promised date passed; said exactly once (the dossier's mark, under its lock)."""
        c.breached_at = now
        await self._emit(
            conn,
            c,
            ComplaintSlaBreached(
                complaint_id=c.id,
                customer_id=c.customer_id,
                category=c.category,
                due_date=c.due_date,
                breached_at=now,
                team_id=c.team_id,
                agent_id=c.agent_id,
            ),
            None,
        )
        detail = {"due_date": c.due_date.isoformat()}
        await store.add_timeline(conn, c.id, "sla_breached", "sla", None, detail)

    def _escalated(
        self, c: Complaint, step: EscalationStep, now: datetime, to: str | None, *, owner: str | None = None
    ) -> ComplaintEscalated:
        return ComplaintEscalated(
            complaint_id=c.id,
            customer_id=c.customer_id,
            step=step,
            escalated_at=now,
            due_date=c.due_date,
            team_id=c.team_id,
            agent_id=owner or c.agent_id,
            escalated_to_agent_id=to,
        )

    async def _cover_absence(self, conn: Conn, book: RuleBook, c: Complaint, now: datetime) -> None:
        """R3: an absent owner's work moves to a present colleague (not a deceased customer's case:
        that keeps its one named owner, R10, and the lead is escalated to instead)."""
        if c.agent_id is None or c.about_deceased:
            return
        absent = book.absences.on(book.calendar.local_date(now))
        team = book.team(c.team_id)
        if c.agent_id not in absent or team is None:
            return
        members = [m.person() for m in team.members]
        work = await store.open_work(conn, c.tenant, [m.agent_id for m in members])
        chosen = domain.stand_in(members, absent, work, exclude=c.agent_id)
        if chosen is None:
            await store.add_timeline(
                conn,
                c.id,
                "owner_absent",
                "sla",
                f"{c.agent_id} is absent and nobody in {team.team_id} is present",
            )
            return
        previous, c.agent_id = c.agent_id, chosen.agent_id
        await store.add_timeline(
            conn,
            c.id,
            "assigned",
            "sla",
            f"{previous} is absent",
            {"agent_id": chosen.agent_id, "team_id": c.team_id, "previous_agent_id": previous},
        )
        assert c.team_id is not None
        await self._emit(
            conn,
            c,
            ComplaintAssigned(
                complaint_id=c.id,
                customer_id=c.customer_id,
                agent_id=chosen.agent_id,
                team_id=c.team_id,
                assigned_at=now,
                reason=AssignmentReason.absence,
                previous_agent_id=previous,
            ),
            None,
        )
        escalated = self._escalated(
            c, EscalationStep.reassigned_absence, now, chosen.agent_id, owner=previous
        )
        await self._emit(conn, c, escalated, None)

    # ---- deliveries and other services' events on the timeline (R1) -----------------------------

    async def on_delivery(self, conn: Conn, record: deliveries.DeliveryRecord) -> None:
        """The delivery state of every message is on the dossier's timeline; a delivered
        acknowledgement is ComplaintAcknowledged (R2)."""
        kind, _, rest = record.reference.partition(":")
        if kind != "complaint":
            return
        c = await store.get_complaint(conn, uuid.UUID(rest), lock=True)
        if c is None:
            return
        await store.add_timeline(
            conn,
            c.id,
            f"delivery_{record.state.value}",
            "deliveries",
            record.last_error,
            {
                "message": record.idempotency_key.split(":", 1)[0],
                "channel": record.channel.value,
                "attempts": record.attempts,
                "delivery_id": str(record.id),
            },
        )
        if (
            record.idempotency_key == f"acknowledgement:{c.id}"
            and record.state is deliveries.DeliveryState.sent
            and c.acknowledged_at is None
        ):
            c.acknowledged_at = record.sent_at or self.now()
            await self._emit(
                conn,
                c,
                ComplaintAcknowledged(
                    complaint_id=c.id,
                    customer_id=c.customer_id,
                    acknowledged_at=c.acknowledged_at,
                    promised_date=c.due_date,
                    language=Language(c.language),
                    delivery_channel=MessageChannel(record.channel.value),
                ),
                None,
            )
            await store.save_complaint(conn, c)

    async def on_related_event(self, conn: Conn, env: Envelope) -> None:
        """Compensation proposals and decisions, callbacks done: on the dossier's timeline (R1)."""
        complaint_id = getattr(env.data, "complaint_id", None)
        if complaint_id is None:
            return
        c = await store.get_complaint(conn, complaint_id, tenant=env.tenant)
        if c is None:
            return
        detail = env.data.model_dump(mode="json", exclude={"complaint_id", "customer_id"})
        await store.add_timeline(conn, c.id, env.type, env.producer, None, detail)
