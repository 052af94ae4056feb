"""R26: agents take the next callback (priority, then age) or a chosen one, under a lease; two
agents never hold the same callback, and one that is walked away from returns to the queue."""

from __future__ import annotations

from typing import TYPE_CHECKING
from uuid import UUID, uuid4

from hoera_events.callbacks import CallbackClaimed
from hoera_kit.auth import Principal
from hoera_kit.db import Conn
from hoera_kit.refusals import Conflict

from hoera_callback import store
from hoera_callback.domain import Status, check_may_claim, lease_active
from hoera_callback.handlers.common import visible
from hoera_callback.rules import QUEUE
from hoera_callback.store import Callback

if TYPE_CHECKING:
    from hoera_callback.handlers import Deps


async def _claimed(deps: Deps, conn: Conn, callback: Callback) -> None:
    assert callback.claimed_by and callback.claimed_at and callback.lease_until
    await deps.emit(
        conn,
        CallbackClaimed(
            callback_id=callback.callback_id,
            agent_id=callback.claimed_by,
            claimed_at=callback.claimed_at,
            lease_until=callback.lease_until,
            attempt=callback.attempt,
            team_id=callback.team_id,
        ),
        tenant=callback.tenant,
    )


async def held(deps: Deps, principal: Principal) -> Callback | None:
    """The callback the agent holds under a running lease, if any."""
    async with deps.transaction() as conn:
        return await store.held_by(conn, principal.tenant, principal.subject)


async def take_next(deps: Deps, principal: Principal) -> Callback | None:
    """The agent's current callback if they hold one, else the next of their teams' queue."""
    async with deps.transaction() as conn:
        await store.lock_agent(conn, principal.tenant, principal.subject)
        holding = await store.held_by(conn, principal.tenant, principal.subject)
        if holding is not None:
            return holding
        rules = await deps.rules.get(conn, principal.tenant, QUEUE)
        callback = await store.claim_next(
            conn,
            tenant=principal.tenant,
            teams=sorted(principal.teams),
            agent=principal.subject,
            claim_id=uuid4(),
            lease_seconds=rules.lease_seconds,
        )
        if callback is not None:
            await _claimed(deps, conn, callback)
        return callback


async def claim_chosen(deps: Deps, principal: Principal, callback_id: UUID) -> Callback:
    """Claim one chosen callback (R26): refused while another agent's lease on it runs."""
    async with deps.transaction() as conn:
        await store.lock_agent(conn, principal.tenant, principal.subject)
        holding = await store.held_by(conn, principal.tenant, principal.subject)
        found, now = await store.get_at(conn, principal.tenant, callback_id, for_update=True)
        callback = visible(principal, found)
        assert now is not None
        check_may_claim(callback.entry(), principal.subject, now)
        if lease_active(callback.entry(), now):
            return callback  # already the caller's
        if holding is not None:
            raise Conflict(
                f"you already hold callback {holding.callback_id}: record its outcome or release it first"
            )
        rules = await deps.rules.get(conn, principal.tenant, QUEUE)
        claimed = await store.claim(
            conn,
            principal.tenant,
            callback_id,
            agent=principal.subject,
            claim_id=uuid4(),
            lease_seconds=rules.lease_seconds,
        )
        await _claimed(deps, conn, claimed)
        return claimed


async def release(deps: Deps, principal: Principal, callback_id: UUID, claim_id: UUID | None) -> Callback:
    """The holder gives the callback back to the queue (e.g. the customer asked for a later call)."""
    async with deps.transaction() as conn:
        callback = visible(principal, await store.get(conn, principal.tenant, callback_id, for_update=True))
        if callback.status is not Status.claimed or callback.claimed_by != principal.subject:
            raise Conflict("you do not hold this callback")
        if claim_id is not None and claim_id != callback.claim_id:
            raise Conflict("this claim was replaced by a newer one", field="claim_id")
        return await store.release(conn, principal.tenant, callback_id)
