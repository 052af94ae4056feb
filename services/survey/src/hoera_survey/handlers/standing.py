"""R10, R21, R30: what the survey knows of a customer apart from their surveys: a deceased mark, an
opt-out, and the contact budget that proactive messages share with surveys."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hoera_events.complaints import CustomerDeceasedMarkWithdrawn, CustomerMarkedDeceased
from hoera_events.envelope import Envelope
from hoera_kit.db import Conn
from hoera_kit.refusals import Conflict

from hoera_survey import store
from hoera_survey.domain import (
    Allow,
    BudgetKind,
    Verdict,
    lookback,
    mark_deceased,
    may_contact,
    may_repeat,
    withdraw_deceased_mark,
)
from hoera_survey.rules import CAPS
from hoera_survey.store import MarkChange

if TYPE_CHECKING:
    from hoera_survey.handlers import Deps


async def customer_deceased(deps: Deps, conn: Conn, env: Envelope) -> None:
    """R10: never survey a deceased customer again (waiting surveys are suppressed when due)."""
    event = env.data_as(CustomerMarkedDeceased)
    mark = await store.lock_deceased_mark(conn, env.tenant, event.customer_id)
    await store.save_deceased_mark(
        conn,
        env.tenant,
        event.customer_id,
        mark_deceased(mark, event.marked_at),
        change=MarkChange.marked,
        at=event.marked_at,
        agent_id=event.owner_agent_id,
        event_id=env.id,
    )


async def deceased_mark_withdrawn(deps: Deps, conn: Conn, env: Envelope) -> None:
    """R10: a mistaken mark withdrawn: the customer may be surveyed again. Surveys suppressed in the
    meantime stay suppressed (their moment has passed); waiting ones are decided when due."""
    event = env.data_as(CustomerDeceasedMarkWithdrawn)
    mark = await store.lock_deceased_mark(conn, env.tenant, event.customer_id)
    await store.save_deceased_mark(
        conn,
        env.tenant,
        event.customer_id,
        withdraw_deceased_mark(mark, event.withdrawn_at),
        change=MarkChange.withdrawn,
        at=event.withdrawn_at,
        agent_id=event.withdrawn_by,
        event_id=env.id,
    )


async def opt_out(deps: Deps, conn: Conn, tenant: str, customer_id: str, by: str) -> None:
    """R21: the customer wants no more surveys; every later request is suppressed as opted_out."""
    await store.set_opt_out(conn, tenant, customer_id, deps.now(), by)


async def opt_in(deps: Deps, conn: Conn, tenant: str, customer_id: str) -> None:
    await store.set_opt_out(conn, tenant, customer_id, None, None)


async def standing(deps: Deps, conn: Conn, tenant: str, customer_id: str) -> dict[str, Any] | None:
    return await store.customer(conn, tenant, customer_id)


async def request_proactive_contact(
    deps: Deps, conn: Conn, tenant: str, customer_id: str, reference: str
) -> Verdict:
    """R30: a proactive message spends the same contact budget as surveys (asked by another system).

    The reference is the message's own id, so it names one message to one customer: asked again for
    the same customer it is one contact, and the answer repeats the grant; asked for another
    customer it is refused (409), never granted on the first customer's spend.
    """
    # Locked first: a replay and the opt-out (or the death) that came after it are decided in order.
    standing = await store.lock_customer(conn, tenant, customer_id)
    spent_for = await store.spent_for(conn, tenant, BudgetKind.proactive, reference)
    if spent_for is not None and spent_for != customer_id:
        raise _reference_taken()
    now = deps.now()
    if spent_for is not None:
        verdict = may_repeat(standing)
    else:
        caps = await deps.rules.get(conn, tenant, CAPS)
        history = await store.spends_since(conn, tenant, customer_id, now - lookback(caps.caps))
        verdict = may_contact(standing, caps.caps, history, BudgetKind.proactive, now)
    if isinstance(verdict, Allow):
        if spent_for is None and not await store.add_spend(
            conn, tenant, customer_id, BudgetKind.proactive, now, reference
        ):
            # Another customer's request took the reference a moment ago (this customer's own
            # requests wait on the lock above, so they see their spend).
            raise _reference_taken()
    else:
        await store.add_suppression(
            conn,
            tenant=tenant,
            customer_id=customer_id,
            kind=BudgetKind.proactive,
            suppress=verdict,
            reference=reference,
            at=now,
        )
    return verdict


def _reference_taken() -> Conflict:
    return Conflict("this reference was already used for another customer's message", field="reference")
