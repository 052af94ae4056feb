"""R10: deceased customers. One named owner takes every open complaint of the customer (marked by an
agent or supervisor of the teams concerned, or by what the platform reports), and a supervisor of the
case's team can withdraw a mistaken marking. Both are audited and on each dossier's timeline."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from hoera_events.complaints import (
    AssignmentReason,
    ComplaintAssigned,
    CustomerDeceasedMarkWithdrawn,
    CustomerMarkedDeceased,
)
from hoera_events.envelope import Envelope
from hoera_kit.auth import Principal
from hoera_kit.db import Conn
from hoera_kit.refusals import Conflict, Forbidden, Invalid, NotFound

from hoera_intake import domain, store
from hoera_intake.domain import Complaint, Status
from hoera_intake.handlers.common import SYSTEM, load

if TYPE_CHECKING:
    from hoera_intake.handlers import Deps


async def _ensure_sees_customer(
    conn: Conn, principal: Principal, customer_id: str, held: list[Complaint], case_team: str | None
) -> None:
    """R10: the customer is the caller's only when every open complaint is of their teams (or,
    without open ones, when one of their teams has dealt with them); else 404, word for word
    the answer about a customer nobody knows."""
    known = await store.customer_teams(conn, principal.tenant, customer_id)
    if case_team is not None:
        known.add(case_team)
    if not domain.sees_customer(principal.teams, [c.team_id for c in held], known):
        raise NotFound("customer")


async def mark(
    deps: Deps,
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
    teams, to an owner of the case's team (the organisation), with a reason. Marking again answers
    the marking in force (False)."""
    tenant = principal.tenant
    await store.lock_customer(conn, tenant, customer_id)
    held = await store.open_complaints_of(conn, tenant, customer_id)
    existing = await store.get_deceased(conn, tenant, customer_id)
    complaint = None
    if complaint_id is not None:
        complaint = next((c for c in held if c.id == complaint_id), None)
        complaint = complaint or await load(conn, tenant, complaint_id)
        if complaint.customer_id != customer_id:
            raise Invalid(
                f"complaint {complaint.ref} is not about customer {customer_id}", field="complaint_id"
            )
    moving = held
    if complaint is not None and all(c.id != complaint.id for c in held):
        moving = [*held, complaint]
    await _ensure_sees_customer(conn, principal, customer_id, moving, existing.team_id if existing else None)
    if existing is not None:
        return existing, False
    team = domain.case_team(team_id, [c.team_id for c in moving], principal.teams)
    if team is None:
        raise Invalid("the customer's complaints are in several teams: name the case's team", field="team_id")
    if not principal.in_team(team):
        raise Forbidden(f"the case goes to one of your teams; {team} is not one of yours", field="team_id")
    if owner_agent_id not in domain.people_of_team(deps.organisation(tenant), team):
        raise Invalid(
            f"{owner_agent_id} is not in team {team} (the organisation): the owner must be",
            field="owner_agent_id",
        )
    marked = await record_marking(
        deps,
        conn,
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


async def record_marking(
    deps: Deps,
    conn: Conn,
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
    audit and each dossier's timeline keep who moved what from whom, and why. `complaint`: one the
    caller holds (not yet committed), moved and saved here with the others."""
    now = deps.now()
    if owner is None:
        if complaint is not None:
            await store.add_timeline(
                conn,
                complaint,
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
    await deps.emit(
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
    case = await store.open_complaints_of(conn, tenant, customer_id)
    if complaint is not None:
        # The caller's copy is the one it saves: work on it, not on a second one from the database.
        case = [complaint, *(c for c in case if c.id != complaint.id)]
    moves = {m.complaint_id: m for m in domain.moves_to_owner(case, owner, team_id)}
    for c in case:
        c.about_deceased = True
        detail: dict[str, Any] = {"owner_agent_id": owner}
        move = moves.get(c.id)
        if move is not None:
            c.agent_id, c.team_id = owner, move.to_team_id
            detail |= {
                "team_id": c.team_id,
                "previous_agent_id": move.from_agent_id,
                "previous_team_id": move.from_team_id,
            }
            if c.team_id is not None:
                await deps.emit_about(
                    conn,
                    c,
                    ComplaintAssigned(
                        complaint_id=c.id,
                        customer_id=c.customer_id,
                        agent_id=owner,
                        team_id=c.team_id,
                        assigned_at=now,
                        reason=AssignmentReason.manual,
                        previous_agent_id=move.from_agent_id,
                    ),
                    cause,
                )
        await store.add_timeline(conn, c, "customer_marked_deceased", actor, reason, detail)
        await store.save_complaint(conn, c)
    await store.add_deceased_audit(
        conn,
        tenant,
        store.DeceasedAudit(customer_id, "marked", actor, now, reason, owner, team_id, list(moves.values())),
    )
    return marked


async def withdraw(
    deps: Deps, conn: Conn, principal: Principal, customer_id: str, *, reason: str
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
    await _ensure_sees_customer(conn, principal, customer_id, held, case_team)
    if case_team is not None and not principal.leads(case_team):
        raise NotFound("customer")
    if marked is None:
        if last is not None and last.action == "withdrawn":
            return last, False
        raise Conflict(f"customer {customer_id} is not marked deceased", field="customer_id")
    owner, now = marked.owner_agent_id, deps.now()
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
                await deps.emit_about(
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
                )
        await store.add_timeline(
            conn, c, "customer_deceased_mark_withdrawn", principal.subject, reason, detail
        )
        await store.save_complaint(conn, c)
    await store.delete_deceased(conn, tenant, customer_id)
    entry = store.DeceasedAudit(
        customer_id, "withdrawn", principal.subject, now, reason, owner, marked.team_id, list(back.values())
    )
    await store.add_deceased_audit(conn, tenant, entry)
    await deps.emit(
        conn,
        CustomerDeceasedMarkWithdrawn(
            customer_id=customer_id, withdrawn_by=principal.subject, withdrawn_at=now, team_id=marked.team_id
        ),
        tenant=tenant,
    )
    return entry, True
