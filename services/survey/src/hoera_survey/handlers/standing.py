"""R10, R21, R30: what the survey knows of a customer apart from their surveys: a deceased mark, an
opt-out, and the contact budget that proactive messages share with surveys."""

from __future__ import annotations

from collections.abc import Sequence
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


async def deceased_marks(deps: Deps, conn: Conn, envelopes: Sequence[Envelope]) -> None:
    """R10: a deceased customer is never surveyed again (waiting surveys are suppressed when due); a
    mistaken mark withdrawn lets them be surveyed again (surveys suppressed in the meantime stay
    suppressed: their moment has passed; waiting ones are decided when due).

    A Kafka batch of marks or withdrawals in three statements, whatever its size: the customers' rows
    locked (in the service's fixed order, as lock_customers), each event applied to its customer's
    mark in the batch's order, then the marks and every change in the history written."""
    changes: list[tuple[Envelope, CustomerMarkedDeceased | CustomerDeceasedMarkWithdrawn]] = [
        (env, env.data)
        for env in envelopes
        if isinstance(env.data, CustomerMarkedDeceased | CustomerDeceasedMarkWithdrawn)
    ]
    if not changes:
        return
    marks = await store.lock_deceased_marks(
        conn, sorted({(env.tenant, event.customer_id) for env, event in changes})
    )
    history: list[store.MarkHistory] = []
    for env, event in changes:
        who = (env.tenant, event.customer_id)
        if isinstance(event, CustomerMarkedDeceased):
            marks[who] = mark_deceased(marks[who], event.marked_at)
            change, at, agent_id = MarkChange.marked, event.marked_at, event.owner_agent_id
        else:
            marks[who] = withdraw_deceased_mark(marks[who], event.withdrawn_at)
            change, at, agent_id = MarkChange.withdrawn, event.withdrawn_at, event.withdrawn_by
        history.append(
            store.MarkHistory(
                env.tenant, event.customer_id, change, at, agent_id, env.id, marks[who].deceased
            )
        )
    await store.save_deceased_marks(conn, marks, history)


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
    # The same statements as a batch of surveys (invitations._decide), for one customer.
    who = (tenant, customer_id)
    standing = (await store.lock_customers(conn, [who]))[who]
    spent_for = await store.spent_for(conn, tenant, BudgetKind.proactive, reference)
    if spent_for is not None and spent_for != customer_id:
        raise _reference_taken()
    now = deps.now()
    if spent_for is not None:
        verdict = may_repeat(standing)
    else:
        caps = await deps.rules.get(conn, tenant, CAPS)
        history = (await store.spends_since_many(conn, {who: now - lookback(caps.caps)}))[who]
        verdict = may_contact(standing, caps.caps, history, BudgetKind.proactive, now)
    if isinstance(verdict, Allow):
        if spent_for is None and not await store.add_spends(
            conn, [store.NewSpend(tenant, customer_id, BudgetKind.proactive, now, reference)]
        ):
            # Another customer's request took the reference a moment ago (this customer's own
            # requests wait on the lock above, so they see their spend).
            raise _reference_taken()
    else:
        await store.add_suppressions(
            conn,
            [
                store.NewSuppression(
                    tenant=tenant,
                    customer_id=customer_id,
                    kind=BudgetKind.proactive,
                    suppress=verdict,
                    reference=reference,
                    at=now,
                )
            ],
        )
    return verdict


def _reference_taken() -> Conflict:
    return Conflict("this reference was already used for another customer's message", field="reference")
