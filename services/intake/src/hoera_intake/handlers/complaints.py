"""R1/R2 and R9/R10 at the platform's edge: a complaint opens one dossier with a promised date and an
acknowledgement; a closed contact is recorded once. Over HTTP each request is idempotent by its key."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from hoera_events.base import Event
from hoera_events.common import Channel, Language
from hoera_events.complaints import AssignmentReason, ComplaintAssigned, ComplaintRaised
from hoera_events.envelope import Envelope
from hoera_events.platform import ContactClosed
from hoera_kit import timers as kit_timers
from hoera_kit.db import Conn
from hoera_kit.refusals import Invalid

from hoera_intake import domain, notices, store
from hoera_intake.domain import Complaint
from hoera_intake.handlers import deceased
from hoera_intake.handlers.common import SLA_TIMER, SYSTEM, sla_moment, timer_key
from hoera_intake.rules import TenantRules
from hoera_intake.store import Complainant, StoredResponse

if TYPE_CHECKING:
    from hoera_intake.handlers import Deps


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

    def arrival(self, via: str) -> domain.Arrival:
        return domain.Arrival(
            tenant=self.tenant,
            customer_id=self.customer_id,
            channel=self.channel.value,
            category=self.category,
            language=self.language.value,
            summary=self.summary,
            received_at=self.received_at,
            received_via=via,
            platform_ref=self.platform_ref,
            contact_id=self.contact_id,
            agent_id=self.agent_id,
            team_id=self.team_id,
            about_deceased=self.about_deceased,
        )


def request_hash(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


async def once(
    conn: Conn,
    *,
    tenant: str,
    scope: str,
    key: str,
    body: Any,
    work: Callable[[], Awaitable[tuple[int, Any]]],
) -> tuple[StoredResponse, bool]:
    """An Idempotency-Key: the first request does the work and its answer is kept; a retry with the
    same body gets that answer (True: replayed), a different body is refused."""
    digest = request_hash(body)
    stored = await store.claim_idempotency_key(conn, tenant, scope, key, digest)
    if stored is not None:
        if stored.request_hash != digest:
            raise Invalid(
                "this Idempotency-Key was used before with a different request body; "
                "use a new key for a new request",
                field="Idempotency-Key",
            )
        return stored, True
    status_code, response = await work()
    await store.store_response(conn, tenant, scope, key, status_code, response)
    return StoredResponse(digest, status_code, response), False


@dataclass(frozen=True)
class Submission:
    """A complaint to submit, with who handed it over and the event it came in (if any)."""

    cmd: NewComplaint
    actor: str
    cause: Envelope | None = None


async def submit(
    deps: Deps,
    conn: Conn,
    cmd: NewComplaint,
    *,
    actor: str,
    via: str,
    strict: bool,
    cause: Envelope | None = None,
) -> tuple[Complaint, bool]:
    """R1/R2: open the dossier, promise a date, acknowledge (see submit_many)."""
    [result] = await submit_many(deps, conn, [Submission(cmd, actor, cause)], via=via, strict=strict)
    return result


@dataclass
class _New:
    """A dossier being opened by submit_many: what it came from and what it decided."""

    sub: Submission
    rules: TenantRules
    known_category: bool
    plan: domain.SlaPlan
    category_team: str | None
    complaint: Complaint | None = None
    marked: store.Deceased | None = None

    @property
    def who(self) -> tuple[str, str]:
        return self.sub.cmd.tenant, self.sub.cmd.customer_id


async def submit_many(
    deps: Deps, conn: Conn, submissions: Sequence[Submission], *, via: str, strict: bool
) -> list[tuple[Complaint, bool]]:
    """R1/R2: for each complaint, open the dossier, promise a date, acknowledge; the same
    platform_ref twice (before, in this list, or by a concurrent transaction) is one dossier (False).
    strict: an unknown category is refused (HTTP) instead of taking the default SLA (a platform
    event must never be lost).

    A Kafka batch costs a constant number of statements, whatever its size, with the effects of
    submitting its complaints one by one in order. Only opening a deceased customer's case (R10: the
    first complaint about a customer not yet marked) is done complaint by complaint: such a complaint
    is a round of its own for its customer, so the customer's complaints before it are opened before
    the marking and those after it under it, as one by one."""
    results: list[tuple[Complaint, bool] | None] = [None] * len(submissions)
    refs = sorted({(s.cmd.tenant, s.cmd.platform_ref) for s in submissions if s.cmd.platform_ref})
    existing = await store.by_platform_refs(conn, refs)
    new: list[tuple[int, _New]] = []
    same_ref: list[tuple[int, tuple[str, str]]] = []
    taken: set[tuple[str, str]] = set()
    tenant_rules: dict[str, TenantRules] = {}
    for i, sub in enumerate(submissions):
        cmd = sub.cmd
        ref = (cmd.tenant, cmd.platform_ref) if cmd.platform_ref else None
        if ref is not None and ref in existing:
            results[i] = (existing[ref], False)
            continue
        if ref is not None and ref in taken:
            same_ref.append((i, ref))  # the same complaint twice in this list: the first opens it
            continue
        if ref is not None:
            taken.add(ref)
        if cmd.tenant not in tenant_rules:
            tenant_rules[cmd.tenant] = await deps.tenant_rules(conn, cmd.tenant)
        rules = tenant_rules[cmd.tenant]
        category = rules.category(cmd.category)
        if category is None and strict:
            known = ", ".join(c.code for c in rules.categories.categories)
            raise Invalid(f"unknown category {cmd.category!r} (known: {known})", field="category")
        plan = domain.plan_sla(
            deps.calendar(cmd.tenant), cmd.received_at, rules.sla_for(cmd.category, cmd.channel)
        )
        new.append(
            (i, _New(sub, rules, category is not None, plan, category.default_team if category else None))
        )
    # Held until commit: a marking withdrawn meanwhile waits, so it sees these complaints and clears them.
    markings = await store.deceased_of(conn, [n.who for _, n in new], lock="key share")
    now = deps.now()
    for round_ in _rounds(new, markings):
        await _open_round(deps, conn, round_, markings, via, now)
    opened: dict[tuple[str, str], Complaint] = {}
    conflicted: list[tuple[str, str]] = []
    for i, n in new:
        c = n.complaint
        if c is None:  # a concurrent transaction opened it under this platform_ref first
            assert n.sub.cmd.platform_ref is not None
            conflicted.append((n.sub.cmd.tenant, n.sub.cmd.platform_ref))
            continue
        results[i] = (c, True)
        if c.platform_ref is not None:
            opened[(c.tenant, c.platform_ref)] = c
    if conflicted:
        opened |= await store.by_platform_refs(conn, conflicted)
        for i, n in new:
            if n.complaint is None:
                results[i] = (opened[(n.sub.cmd.tenant, n.sub.cmd.platform_ref or "")], False)
    for i, ref in same_ref:
        results[i] = (opened[ref], False)
    done = [r for r in results if r is not None]
    assert len(done) == len(submissions)
    return done


def _rounds(new: list[tuple[int, _New]], markings: dict[tuple[str, str], store.Deceased]) -> list[list[_New]]:
    """The dossiers to open in rounds, in order: a complaint that may open a deceased customer's case
    (about a deceased customer not marked yet) is alone of its customer in its round, and the
    customer's later complaints come in later rounds. Normally one round."""
    rounds: list[list[_New]] = []
    next_round: dict[tuple[str, str], int] = {}
    last_round: dict[tuple[str, str], int] = {}
    for _, n in new:
        r = next_round.get(n.who, 0)
        if n.sub.cmd.about_deceased and n.who not in markings:
            r = max(r, last_round.get(n.who, -1) + 1)
            next_round[n.who] = r + 1
        else:
            next_round[n.who] = r
        last_round[n.who] = r
        while len(rounds) <= r:
            rounds.append([])
        rounds[r].append(n)
    return rounds


async def _open_round(
    deps: Deps,
    conn: Conn,
    round_: list[_New],
    markings: dict[tuple[str, str], store.Deceased],
    via: str,
    now: datetime,
) -> None:
    """One round of submit_many: each customer at most once where a marking may follow."""
    for n in round_:
        cmd = n.sub.cmd
        n.marked = markings.get(n.who)
        case = domain.DeceasedCase(n.marked.owner_agent_id, n.marked.team_id) if n.marked else None
        team_id = domain.team_for(deps.organisation(cmd.tenant), cmd.team_id, n.category_team, cmd.language)
        n.complaint = domain.open_dossier(
            cmd.arrival(via), complaint_id=uuid.uuid4(), now=now, plan=n.plan, team_id=team_id, deceased=case
        )
    inserted = await store.insert_complaints(conn, [n.complaint for n in round_ if n.complaint is not None])
    opened: list[tuple[_New, Complaint]] = []
    for n in round_:
        if n.complaint is not None and n.complaint.id in inserted:
            opened.append((n, n.complaint))
        else:
            n.complaint = None  # a concurrent transaction opened it under its platform_ref first
    complaints = [c for _, c in opened]
    await store.save_complainants(
        conn, [(c.tenant, c.id, n.sub.cmd.complainant) for n, c in opened if n.sub.cmd.complainant]
    )
    await store.start_first_periods(conn, complaints, now)
    lines: list[store.TimelineEntry] = []
    events: list[Envelope] = []
    timers: list[tuple[str, datetime, dict[str, Any]]] = []
    for n, c in opened:
        lines.append(_raised(c, n.sub.actor))
        events.extend(deps.envelope(c, e, n.sub.cause) for e in _raised_events(c, n.sub.cmd, now))
        if not n.known_category:
            lines.append(
                store.entry(
                    c,
                    "rules_note",
                    SYSTEM,
                    f"category {c.category!r} is not in the rules: the default SLA of "
                    f"{n.rules.workflow.default_sla_business_days} business days applies",
                )
            )
        moment = sla_moment(deps, c, now)
        if moment is not None:  # a new dossier has no timer to cancel
            timers.append((timer_key(c), moment, {"v": c.sla_version}))
    await kit_timers.schedule_many(
        conn, SLA_TIMER, [(key, at) for key, at, _ in timers], {key: p for key, _, p in timers}
    )
    marking = [(n, c) for n, c in opened if c.about_deceased and n.marked is None]
    if marking:
        # The marking's own lines and events come after the dossier's first ones, as one by one.
        await store.add_timelines(conn, lines)
        await deps.svc.emit_many(conn, events)
        lines, events = [], []
    for n, c in marking:
        cmd = n.sub.cmd
        kin = cmd.complainant.next_of_kin_email if cmd.complainant else None
        n.marked = await deceased.record_marking(
            deps,
            conn,
            c.tenant,
            c.customer_id,
            domain.named_owner(c.agent_id, deps.organisation(c.tenant), c.team_id),
            c.team_id,
            n.sub.actor,
            complaint=c,
            contact_id=c.contact_id,
            next_of_kin_email=kin,
            reason="the platform handed over a complaint about a deceased customer",
            cause=n.sub.cause,
        )
        if n.marked is not None:
            markings[n.who] = n.marked
    # R2: the acknowledgement; ComplaintAcknowledged follows once it is delivered.
    acknowledgements = [
        notices.Notice(
            n.rules, c, "acknowledgement", f"acknowledgement:{c.id}", (n.sub.cmd.complainant, n.marked)
        )
        for n, c in opened
    ]
    await notices.to_customers(deps, conn, acknowledgements, timeline=lines)
    await store.add_timelines(conn, lines)
    await deps.svc.emit_many(conn, events)


def _raised(c: Complaint, actor: str) -> store.TimelineEntry:
    return store.entry(
        c,
        "raised",
        actor,
        None,
        {
            "via": c.received_via,
            "channel": c.channel,
            "category": c.category,
            "team_id": c.team_id,
            "agent_id": c.agent_id,
            "due_date": c.due_date.isoformat(),
            "platform_ref": c.platform_ref,
        },
    )


def _raised_events(c: Complaint, cmd: NewComplaint, now: datetime) -> list[Event]:
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
    return events


async def record_contact(
    deps: Deps,
    conn: Conn,
    tenant: str,
    contact: ContactClosed,
    *,
    via: str,
    actor: str,
    cause: Envelope | None = None,
) -> bool:
    """R9/R10: a closed contact, recorded once by contact_id (see record_contacts)."""
    return bool(await record_contacts(deps, conn, [(tenant, contact, cause)], via=via, actor=actor))


async def record_contacts(
    deps: Deps,
    conn: Conn,
    contacts: Sequence[tuple[str, ContactClosed, Envelope | None]],
    *,
    via: str,
    actor: str = "platform",
) -> list[ContactClosed]:
    """R9/R10: closed contacts ((tenant, contact, cause)), each recorded once by contact_id, in one
    statement; returns the new ones. Who reported it is the event's producer, else `actor` (the
    principal of an HTTP report). One reported over HTTP is passed on as ContactClosed (producer
    intake) so the survey service sees it too; when that event comes back on the topic it finds the
    contact recorded and does nothing."""
    rows = []
    for tenant, contact, _ in contacts:
        values = contact.model_dump()
        values["channel"] = contact.channel.value
        values["language"] = contact.language.value
        rows.append((tenant, values))
    new = await store.record_contacts(conn, rows, via)
    recorded: list[ContactClosed] = []
    for tenant, contact, cause in contacts:
        if (tenant, contact.contact_id) not in new:
            continue
        new.discard((tenant, contact.contact_id))  # the same contact twice in one batch: once
        recorded.append(contact)
        if via == "http":
            # Passed on in the platform's name: signed with the relay key every tenant lists.
            await deps.emit(conn, contact, tenant=tenant, cause=cause, relayed=True)
        if contact.about_deceased:
            await deceased.record_marking(
                deps,
                conn,
                tenant,
                contact.customer_id,
                contact.agent_id,
                contact.team_id,
                cause.producer if cause is not None else actor,
                complaint=None,
                contact_id=contact.contact_id,
                next_of_kin_email=None,
                reason="the platform reported a contact about a deceased customer",
                cause=cause,
            )
    return recorded
