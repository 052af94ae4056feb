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
from hoera_kit.db import Conn
from hoera_kit.refusals import Invalid

from hoera_intake import domain, notices, store
from hoera_intake.domain import Complaint
from hoera_intake.handlers import deceased
from hoera_intake.handlers.common import SYSTEM, schedule
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
    """R1/R2: open the dossier, promise a date, acknowledge. The same platform_ref twice is one
    dossier (False). strict: an unknown category is refused (HTTP) instead of taking the default
    SLA (a platform event must never be lost)."""
    if cmd.platform_ref:
        existing = await store.by_platform_ref(conn, cmd.tenant, cmd.platform_ref)
        if existing is not None:
            return existing, False
    rules = await deps.tenant_rules(conn, cmd.tenant)
    category = rules.category(cmd.category)
    if category is None and strict:
        known = ", ".join(c.code for c in rules.categories.categories)
        raise Invalid(f"unknown category {cmd.category!r} (known: {known})", field="category")
    org = deps.organisation(cmd.tenant)
    plan = domain.plan_sla(
        deps.calendar(cmd.tenant), cmd.received_at, rules.sla_for(cmd.category, cmd.channel)
    )
    # Held until commit: a marking withdrawn meanwhile waits, so it sees this complaint and clears it.
    marked = await store.get_deceased(conn, cmd.tenant, cmd.customer_id, lock="key share")
    case = domain.DeceasedCase(marked.owner_agent_id, marked.team_id) if marked else None
    team_id = domain.team_for(org, cmd.team_id, category.default_team if category else None, cmd.language)
    now = deps.now()
    c = domain.open_dossier(
        cmd.arrival(via), complaint_id=uuid.uuid4(), now=now, plan=plan, team_id=team_id, deceased=case
    )
    await _save_new(deps, conn, c, cmd, actor, cause, now)
    if category is None:
        await store.add_timeline(
            conn,
            c,
            "rules_note",
            SYSTEM,
            f"category {cmd.category!r} is not in the rules: the default SLA of "
            f"{rules.workflow.default_sla_business_days} business days applies",
        )
    await schedule(deps, conn, c)
    if c.about_deceased and marked is None:
        kin = cmd.complainant.next_of_kin_email if cmd.complainant else None
        marked = await deceased.record_marking(
            deps,
            conn,
            c.tenant,
            c.customer_id,
            domain.named_owner(c.agent_id, org, c.team_id),
            c.team_id,
            actor,
            complaint=c,
            contact_id=c.contact_id,
            next_of_kin_email=kin,
            reason="the platform handed over a complaint about a deceased customer",
            cause=cause,
        )
    # R2: the acknowledgement; ComplaintAcknowledged follows once it is delivered.
    await notices.to_customer(
        deps,
        conn,
        rules,
        c,
        "acknowledgement",
        key=f"acknowledgement:{c.id}",
        known=(cmd.complainant, marked),
    )
    return c, True


async def _save_new(
    deps: Deps, conn: Conn, c: Complaint, cmd: NewComplaint, actor: str, cause: Envelope | None, now: datetime
) -> None:
    await store.insert_complaint(conn, c)
    if cmd.complainant is not None:
        await store.save_complainant(conn, c.tenant, c.id, cmd.complainant)
    await store.start_period(conn, c, now, first=True)
    await store.add_timeline(
        conn,
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
    await deps.svc.emit_many(conn, [deps.envelope(c, e, cause) for e in events])


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
