"""What every use case shares: loading a dossier in its tenant (another team's answers
404 where a change is asked, as one that does not exist), the tenant's rules and organisation, events,
and the dossier's one SLA timer."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from hoera_kit import timers
from hoera_kit.auth import Principal
from hoera_kit.db import Conn
from hoera_kit.refusals import NotFound

from hoera_intake import domain, store
from hoera_intake.domain import Complaint

if TYPE_CHECKING:
    from hoera_intake.handlers import Deps

SLA_TIMER = "sla"
"""One durable timer per dossier, due at the next step of its SLA clock (R3)."""
SYSTEM = "intake"


async def load(conn: Conn, tenant: str, complaint_id: uuid.UUID, *, lock: bool = True) -> Complaint:
    c = await store.get_complaint(conn, tenant, complaint_id, lock=lock)
    if c is None:
        raise NotFound("complaint")
    return c


async def load_to_act(conn: Conn, principal: Principal, complaint_id: uuid.UUID) -> Complaint:
    """R1: every employee reads every dossier, but works only on their own teams': another team's is
    answered exactly as one that does not exist (a 403 would confirm it is there)."""
    c = await load(conn, principal.tenant, complaint_id)
    if c.team_id is not None and not principal.in_team(c.team_id):
        raise NotFound("complaint")
    return c


def timer_key(c: Complaint) -> str:
    """A dossier's timer carries its tenant, so the handler that fires reads it in that tenant only."""
    return f"{c.tenant}/{c.id}"


def from_timer_key(key: str) -> tuple[str, uuid.UUID]:
    tenant, _, complaint_id = key.partition("/")
    return tenant, uuid.UUID(complaint_id)


def sla_moment(deps: Deps, c: Complaint, now: datetime) -> datetime | None:
    """R3: when the dossier's one timer is due, at its clock's next step; None: it has none (paused,
    answered, or nothing left to do)."""
    if c.paused_at is not None or c.status not in domain.WORKING:
        return None
    due, later = domain.sla_steps(deps.calendar(c.tenant), now, c.progress)
    return now if due else later


async def schedule(deps: Deps, conn: Conn, c: Complaint) -> None:
    """R3: the dossier's one timer is due at its clock's next step and carries the plan's version;
    a paused or answered dossier has none."""
    moment = sla_moment(deps, c, deps.now())
    if moment is None:
        await timers.cancel(conn, SLA_TIMER, timer_key(c))
    else:
        await timers.schedule(conn, SLA_TIMER, timer_key(c), moment, {"v": c.sla_version})
