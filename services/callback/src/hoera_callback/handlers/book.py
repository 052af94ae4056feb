"""What a batch of events decides on, held in memory: the set-based consumers' way, and the one
customer's use cases go the same way (an agent's request, a priority refresh after an outcome).

`Book.load` reads everything the batch's events may look at in a few statements (the customers
locked first, in a fixed order, then their open callbacks, open recovery cases, complaints and latest
survey answer, and the callbacks, cases and complaints the events name); the use cases then apply the
events one by one, in the batch's order, to what the events before them left, without a statement;
`Book.write` writes what changed in a few statements. A batch of five hundred events so costs what a
batch of ten does, and its effects are those of its events applied one after the other: a complaint
raised and resolved in one batch is raised, then resolved.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from hoera_events.envelope import Envelope
from hoera_kit import timers
from hoera_kit.db import Conn
from hoera_kit.refusals import Conflict

from hoera_callback import recovery_store as rstore
from hoera_callback import store
from hoera_callback.domain import (
    OPEN_STATUSES,
    CustomerFacts,
    DeceasedMark,
    PriorityRules,
    QueueRules,
    TriggerRules,
    customer_facts,
)
from hoera_callback.recovery import RecoveryRules, Status
from hoera_callback.recovery_store import RecoveryCase, Step
from hoera_callback.rules import PRIORITY, QUEUE, RECOVERY, TRIGGERS
from hoera_callback.store import Callback, ComplaintRow, CustomerState, SurveyRow, merge_complaint

if TYPE_CHECKING:
    from hoera_callback.handlers import Deps

Customer = tuple[str, str]
"""(tenant, customer_id)"""

COMPLAINTS_SEEN = 50
"""The customer's complaints a priority looks at: the latest 50 (by their first known time)."""


@dataclass(frozen=True)
class TenantRules:
    queue: QueueRules
    priority: PriorityRules
    triggers: TriggerRules
    recovery: RecoveryRules


async def tenant_rules(deps: Deps, conn: Conn, tenants: Iterable[str]) -> dict[str, TenantRules]:
    """The tenants' rule documents (the kit keeps them: read once per tenant and change)."""
    return {
        tenant: TenantRules(
            queue=await deps.rules.get(conn, tenant, QUEUE),
            priority=await deps.rules.get(conn, tenant, PRIORITY),
            triggers=await deps.rules.get(conn, tenant, TRIGGERS),
            recovery=await deps.rules.get(conn, tenant, RECOVERY),
        )
        for tenant in sorted(set(tenants))
    }


def _complaint_order(row: ComplaintRow) -> tuple[bool, datetime | None]:
    first = row.raised_at or row.breached_at or row.resolved_at or row.closed_at
    return (first is not None, first)


class Book:
    def __init__(self, deps: Deps, rules: dict[str, TenantRules], *, context: bool, cases: bool) -> None:
        self.deps = deps
        self._rules = rules
        self._context = context
        self._with_cases = cases
        self._customers: dict[Customer, CustomerState] = {}
        self._latest: dict[Customer, SurveyRow] = {}
        self._callbacks: dict[tuple[str, UUID], Callback] = {}
        self._callbacks_of: dict[Customer, list[UUID]] = {}
        self._callback_refs: dict[tuple[str, str], UUID] = {}
        self._refs_asked: set[tuple[str, str]] = set()
        self._cases: dict[tuple[str, UUID], RecoveryCase] = {}
        self._case_refs: dict[tuple[str, str], UUID] = {}
        self._case_refs_asked: set[tuple[str, str]] = set()
        self._case_callbacks_asked: set[tuple[str, UUID]] = set()
        self._complaints: dict[tuple[str, UUID], ComplaintRow] = {}
        self._complaints_of: dict[Customer, set[UUID]] = {}
        self._complaints_asked: set[tuple[str, UUID]] = set()
        # What the events changed, written by `write`; dicts as ordered sets.
        self._marks: dict[Customer, None] = {}
        self._new_callbacks: dict[tuple[str, UUID], None] = {}
        self._repriced: dict[tuple[str, UUID], None] = {}
        self._withdrawn: dict[tuple[str, UUID], None] = {}
        self._new_cases: dict[tuple[str, UUID], None] = {}
        self._changed_cases: dict[tuple[str, UUID], None] = {}
        self._steps: list[tuple[str, UUID, Step]] = []
        self._timers: dict[tuple[str, str], datetime | None] = {}
        self._complaint_changes: dict[tuple[str, UUID], ComplaintRow] = {}
        self._events: list[Envelope] = []

    @classmethod
    async def load(
        cls,
        deps: Deps,
        conn: Conn,
        *,
        tenants: Iterable[str] = (),
        lock: Iterable[Customer] = (),
        callback_refs: Iterable[tuple[str, str]] = (),
        case_refs: Iterable[tuple[str, str]] = (),
        case_callbacks: Iterable[tuple[str, UUID]] = (),
        complaints: Iterable[tuple[str, UUID]] = (),
        surveys_kept: Iterable[tuple[str, UUID]] = (),
        context: bool = True,
        cases: bool = True,
        lock_complaints: bool = False,
    ) -> Book:
        """Lock the customers (in a fixed order) and read what the events may look at (and the rules
        of `tenants`, those of the customers and of what the events name).

        context: the locked customers' open callbacks, complaints and latest answer (priorities and
        requests need them); cases: their open recovery cases. surveys_kept: answers the batch kept a
        moment ago, which it counts in their turn rather than as already there."""
        locked = sorted(set(lock))
        refs, open_refs = sorted(set(callback_refs)), sorted(set(case_refs))
        worked, named = sorted(set(case_callbacks)), set(complaints)
        asked = {t for t, _ in locked} | {t for t, _ in refs} | {t for t, _ in open_refs}
        asked |= {t for t, _ in worked} | {t for t, _ in named} | set(tenants)
        book = cls(deps, await tenant_rules(deps, conn, asked), context=context, cases=cases)
        for state in await store.lock_customers(conn, locked):
            book._customers[(state.tenant, state.customer_id)] = state
        book._refs_asked.update(refs)
        book._case_refs_asked.update(open_refs)
        book._case_callbacks_asked.update(worked)
        for case in await rstore.cases_for(conn, locked if cases else [], open_refs, worked):
            book._index_case(case)
            if case.complaint_id is not None:
                named.add((case.tenant, case.complaint_id))
        book._complaints_asked.update(named)
        for tenant, row in await store.complaints_for(
            conn, locked if context else [], sorted(named), for_update=lock_complaints
        ):
            book._index_complaint(tenant, row)
        for callback in await store.callbacks_for(conn, locked if context else [], refs):
            book._index_callback(callback)
        if context:
            book._latest = await store.latest_surveys(conn, locked, excluding=sorted(set(surveys_kept)))
        return book

    # ---- what the events look at ------------------------------------------------------------------

    def rules(self, tenant: str) -> TenantRules:
        return self._rules[tenant]

    def locked(self, tenant: str, customer_id: str) -> bool:
        return (tenant, customer_id) in self._customers

    def customer(self, tenant: str, customer_id: str) -> CustomerState:
        state = self._customers.get((tenant, customer_id))
        if state is None:
            raise AssertionError(f"customer {customer_id} of {tenant} was not locked for this batch")
        return state

    def facts(self, tenant: str, customer_id: str, rules: PriorityRules) -> CustomerFacts:
        """What the read model knows of the customer now (R29): their flags, latest answer and complaints."""
        state = self.customer(tenant, customer_id)
        assert self._context, "read with context"
        latest = self._latest.get((tenant, customer_id))
        return customer_facts(
            considering_leaving=state.considering_leaving,
            latest_nps=latest.nps if latest else None,
            latest_satisfaction=latest.satisfaction if latest else None,
            complaints=[c.facts() for c in self.complaints_of(tenant, customer_id)],
            now=self.deps.now(),
            rules=rules,
        )

    def complaints_of(self, tenant: str, customer_id: str) -> list[ComplaintRow]:
        """The customer's latest complaints, as store.complaints_of orders them."""
        self.customer(tenant, customer_id)
        rows = [self._complaints[(tenant, i)] for i in self._complaints_of.get((tenant, customer_id), ())]
        known = sorted((r for r in rows if _complaint_order(r)[0]), key=_complaint_order, reverse=True)
        return (known + [r for r in rows if not _complaint_order(r)[0]])[:COMPLAINTS_SEEN]

    def complaint_department(self, tenant: str, complaint_id: UUID | None) -> str | None:
        """The root cause the complaint was resolved with, when the case is about one."""
        if complaint_id is None:
            return None
        assert (tenant, complaint_id) in self._complaints_asked, f"complaint {complaint_id} was not read"
        row = self._complaints.get((tenant, complaint_id))
        return row.root_cause_department if row is not None else None

    def callback_by_ref(self, tenant: str, request_ref: str) -> Callback | None:
        assert (tenant, request_ref) in self._refs_asked, f"request {request_ref} was not read"
        found = self._callback_refs.get((tenant, request_ref))
        return self._callbacks[(tenant, found)] if found is not None else None

    def open_callbacks(self, tenant: str, customer_id: str) -> list[Callback]:
        """The customer's open callbacks, by id (store.open_of_customer's order)."""
        self.customer(tenant, customer_id)
        assert self._context, "read with context"
        found = (self._callbacks[(tenant, i)] for i in self._callbacks_of.get((tenant, customer_id), ()))
        return sorted((c for c in found if c.status in OPEN_STATUSES), key=lambda c: c.callback_id)

    def case_by_ref(self, tenant: str, open_ref: str) -> RecoveryCase | None:
        assert (tenant, open_ref) in self._case_refs_asked, f"signal {open_ref} was not read"
        found = self._case_refs.get((tenant, open_ref))
        return self._cases[(tenant, found)] if found is not None else None

    def open_case_of(self, tenant: str, customer_id: str) -> RecoveryCase | None:
        self.customer(tenant, customer_id)
        assert self._with_cases, "read with cases"
        return next(
            (
                c
                for c in self._cases.values()
                if c.tenant == tenant and c.customer_id == customer_id and c.status == Status.open
            ),
            None,
        )

    def case_by_callback(self, tenant: str, callback_id: UUID) -> RecoveryCase | None:
        """The case a callback worked (the latest, should a callback have served two)."""
        assert (tenant, callback_id) in self._case_callbacks_asked, f"callback {callback_id} was not read"
        worked = [c for c in self._cases.values() if c.tenant == tenant and c.callback_id == callback_id]
        return max(worked, key=lambda c: c.opened_at) if worked else None

    # ---- what the events change --------------------------------------------------------------------

    def set_mark(self, tenant: str, customer_id: str, mark: DeceasedMark) -> None:
        state = self.customer(tenant, customer_id)
        if mark != state.mark:
            state.mark = mark
            self._marks[(tenant, customer_id)] = None

    def survey_kept(self, tenant: str, row: SurveyRow) -> None:
        """An answer new in this batch: from now on the customer's latest, when it is."""
        key = (tenant, row.customer_id)
        if key not in self._customers or not self._context:
            return
        latest = self._latest.get(key)
        if latest is None or row.answered_at >= latest.answered_at:
            self._latest[key] = row

    def merge_complaint(
        self, tenant: str, complaint_id: UUID, customer_id: str, fields: dict[str, Any]
    ) -> ComplaintRow:
        """What a complaint event adds to its row (store.merge_complaint), and the row as it is now."""
        key = (tenant, complaint_id)
        assert key in self._complaints_asked, f"complaint {complaint_id} was not read"
        row = merge_complaint(self._complaints.get(key), complaint_id, customer_id, fields)
        self._index_complaint(tenant, row)
        self._complaint_changes[key] = merge_complaint(
            self._complaint_changes.get(key), complaint_id, customer_id, fields
        )
        return row

    def add_callback(self, callback: Callback) -> None:
        key = (callback.tenant, callback.callback_id)
        self._index_callback(callback)
        self._new_callbacks[key] = None

    def change_callback(self, callback: Callback, **values: Any) -> Callback:
        """A callback's priority or its withdrawal (status withdrawn)."""
        key = (callback.tenant, callback.callback_id)
        changed = self._callbacks[key].model_copy(update=values)
        self._callbacks[key] = changed
        if key not in self._new_callbacks:
            target = self._withdrawn if "withdrawn_at" in values else self._repriced
            target[key] = None
        return changed

    def add_case(self, case: RecoveryCase) -> None:
        self._index_case(case)
        self._new_cases[(case.tenant, case.case_id)] = None

    def update_case(self, case: RecoveryCase, values: dict[str, Any]) -> RecoveryCase:
        key = (case.tenant, case.case_id)
        changed = self._cases[key].model_copy(update=values)
        self._cases[key] = changed
        if key not in self._new_cases:
            self._changed_cases[key] = None
        return changed

    def add_step(self, case: RecoveryCase, step: Step) -> None:
        self._steps.append((case.tenant, case.case_id, step))

    def schedule(self, kind: str, key: str, due_at: datetime) -> None:
        self._timers[(kind, key)] = due_at

    def cancel(self, kind: str, key: str) -> None:
        self._timers[(kind, key)] = None

    def emit(self, event: Any, *, tenant: str, cause: Envelope | None) -> None:
        self._events.append(self.deps.svc.envelope(event, tenant=tenant, cause=cause))

    async def write(self, conn: Conn) -> None:
        """Everything the events changed, in one statement per kind of change."""
        await store.merge_complaints(conn, [(t, row) for (t, _), row in self._complaint_changes.items()])
        await store.save_deceased_marks(conn, [(t, c, self._customers[(t, c)].mark) for t, c in self._marks])
        new = [self._callbacks[k] for k in self._new_callbacks]
        if len(await store.insert_callbacks(conn, new)) != len(new):
            # Only another customer's request with the same ref, made at the same moment, gets here.
            raise Conflict(
                "this request_ref was already used for another request: choose a new one", field="request_ref"
            )
        await store.set_priorities(conn, [self._callbacks[k] for k in self._repriced])
        await store.withdraw_many(conn, [self._callbacks[k] for k in self._withdrawn])
        new_cases = [self._cases[k] for k in self._new_cases]
        inserted = await rstore.insert_cases(conn, new_cases)
        assert inserted == len(new_cases), "the customers are locked: nobody else opened a case meanwhile"
        await rstore.update_cases(conn, [self._cases[k] for k in self._changed_cases])
        await rstore.add_steps(conn, self._steps)
        await timers.cancel_many(conn, [k for k, at in self._timers.items() if at is None])
        due: dict[str, list[tuple[str, datetime]]] = {}
        for (kind, key), at in self._timers.items():
            if at is not None:
                due.setdefault(kind, []).append((key, at))
        for kind in sorted(due):
            await timers.schedule_many(conn, kind, due[kind])
        await self.deps.emit_many(conn, self._events)

    # ---- indexes -------------------------------------------------------------------------------------

    def _index_callback(self, callback: Callback) -> None:
        key = (callback.tenant, callback.callback_id)
        if key not in self._callbacks:
            self._callbacks_of.setdefault((callback.tenant, callback.customer_id), []).append(
                callback.callback_id
            )
        self._callbacks[key] = callback
        self._callback_refs[(callback.tenant, callback.request_ref)] = callback.callback_id

    def _index_case(self, case: RecoveryCase) -> None:
        self._cases[(case.tenant, case.case_id)] = case
        self._case_refs[(case.tenant, case.open_ref)] = case.case_id

    def _index_complaint(self, tenant: str, row: ComplaintRow) -> None:
        key = (tenant, row.complaint_id)
        before = self._complaints.get(key)
        if before is not None:
            self._complaints_of.get((tenant, before.customer_id), set()).discard(row.complaint_id)
        self._complaints[key] = row
        self._complaints_of.setdefault((tenant, row.customer_id), set()).add(row.complaint_id)
