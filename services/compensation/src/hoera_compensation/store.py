"""The compensation service's SQL: its read model of complaints, apologies, damages, compensations
(which are also the approval items), the abuse watch's flag episodes and the cost ledger.

Every table holds one tenant's rows beside the others': the tenant is part of every key and every
query names it, so an id another tenant's platform also sends never reaches this tenant's row."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any, Self

import asyncpg
from hoera_events.common import Currency, Money
from hoera_events.complaints import (
    ComplaintAssigned,
    ComplaintClosed,
    ComplaintRaised,
    ComplaintResolved,
    CustomerDeceasedMarkWithdrawn,
    CustomerMarkedDeceased,
)
from hoera_kit.db import Conn

from hoera_compensation.domain import DeceasedMark, ReviewAct, Watch


def _money(cents: int | None, currency: str | None) -> Money | None:
    if cents is None or currency is None:
        return None
    return Money(amount_cents=cents, currency=Currency(currency))


class _Row:
    @classmethod
    def of(cls, row: asyncpg.Record) -> Self:
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in dict(row).items() if k in names})


# ---- complaints, learned from intake's events ------------------------------------------------------


@dataclass(frozen=True)
class Complaint(_Row):
    complaint_id: uuid.UUID
    tenant: str
    customer_id: str
    category: str
    language: str | None
    team_id: str | None
    agent_id: str | None
    status: str
    root_cause_department: str | None
    about_deceased: bool
    """As intake's events said; domain.DeceasedMark.about_deceased says what holds now (R10)."""
    correlation_id: uuid.UUID | None
    raised_at: datetime | None = None


# Each learn_* writes a set of events of one kind in one statement (INSERT ... SELECT FROM unnest(...)),
# with the same effect per row as that event alone. One statement cannot touch a row twice, so each
# set holds a key (tenant, complaint_id) or (tenant, customer_id) at most once: the handler splits a
# batch into rounds to keep the order of one key's events. Rows go in key order, so two transactions
# writing the same rows take their locks in the same order.

RaisedRow = tuple[str, ComplaintRaised, uuid.UUID]
"""(tenant, event, correlation id)."""


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as the column arrays that unnest($1::..[], $2::..[], ...) takes, in key order."""
    rows = sorted(rows, key=lambda r: (r[0], str(r[1])))
    return [[r[i] for r in rows] for i in range(width)]


async def learn_raised_many(conn: Conn, rows: Sequence[RaisedRow]) -> None:
    """A later event (resolved, assigned) may have created the row already: keep what it knew."""
    if not rows:
        return
    await conn.execute(
        """
        insert into complaints (tenant, complaint_id, customer_id, category, language, team_id,
                                agent_id, raised_at, about_deceased, correlation_id)
        select * from unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],
                             $7::text[], $8::timestamptz[], $9::boolean[], $10::uuid[])
        on conflict (tenant, complaint_id) do update set
            language = excluded.language,
            team_id = coalesce(complaints.team_id, excluded.team_id),
            agent_id = coalesce(complaints.agent_id, excluded.agent_id),
            raised_at = excluded.raised_at,
            about_deceased = complaints.about_deceased or excluded.about_deceased,
            correlation_id = excluded.correlation_id,
            updated_at = now()
        """,
        *_columns(
            [
                (
                    tenant,
                    e.complaint_id,
                    e.customer_id,
                    e.category,
                    e.language.value,
                    e.team_id,
                    e.agent_id,
                    e.raised_at,
                    e.about_deceased,
                    correlation_id,
                )
                for tenant, e, correlation_id in rows
            ],
            10,
        ),
    )


async def learn_raised(conn: Conn, tenant: str, e: ComplaintRaised, correlation_id: uuid.UUID) -> None:
    await learn_raised_many(conn, [(tenant, e, correlation_id)])


async def learn_assigned_many(conn: Conn, rows: Sequence[tuple[str, ComplaintAssigned]]) -> None:
    """Without the category the complaint cannot be booked; an assignment before the raise waits
    for the raise, which carries the team too."""
    if not rows:
        return
    await conn.execute(
        """
        update complaints c set team_id = a.team_id, agent_id = a.agent_id, updated_at = now()
        from unnest($1::text[], $2::uuid[], $3::text[], $4::text[])
             as a(tenant, complaint_id, team_id, agent_id)
        where c.tenant = a.tenant and c.complaint_id = a.complaint_id
        """,
        *_columns([(tenant, e.complaint_id, e.team_id, e.agent_id) for tenant, e in rows], 4),
    )


async def learn_resolved_many(conn: Conn, rows: Sequence[tuple[str, ComplaintResolved]]) -> None:
    """R7/R16: the root-cause department the cost ledger books by; a later resolution wins."""
    if not rows:
        return
    await conn.execute(
        """
        insert into complaints (tenant, complaint_id, customer_id, category, team_id, agent_id,
                                status, root_cause_department, resolved_at)
        select tenant, complaint_id, customer_id, category, team_id, agent_id, 'resolved',
               root_cause_department, resolved_at
        from unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                    $8::timestamptz[])
             as r(tenant, complaint_id, customer_id, category, team_id, agent_id, root_cause_department,
                  resolved_at)
        on conflict (tenant, complaint_id) do update set
            root_cause_department = excluded.root_cause_department,
            resolved_at = excluded.resolved_at,
            status = case when complaints.status = 'closed' then 'closed' else 'resolved' end,
            updated_at = now()
        where complaints.resolved_at is null or complaints.resolved_at <= excluded.resolved_at
        """,
        *_columns(
            [
                (
                    tenant,
                    e.complaint_id,
                    e.customer_id,
                    e.category,
                    e.team_id,
                    e.agent_id,
                    e.root_cause_department,
                    e.resolved_at,
                )
                for tenant, e in rows
            ],
            8,
        ),
    )


async def learn_closed_many(conn: Conn, rows: Sequence[tuple[str, ComplaintClosed]]) -> None:
    if not rows:
        return
    await conn.execute(
        """
        insert into complaints (tenant, complaint_id, customer_id, category, language, team_id,
                                agent_id, status, closed_at, about_deceased)
        select tenant, complaint_id, customer_id, category, language, team_id, agent_id, 'closed',
               closed_at, about_deceased
        from unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                    $8::timestamptz[], $9::boolean[])
             as r(tenant, complaint_id, customer_id, category, language, team_id, agent_id, closed_at,
                  about_deceased)
        on conflict (tenant, complaint_id) do update set
            status = 'closed', closed_at = excluded.closed_at, updated_at = now()
        """,
        *_columns(
            [
                (
                    tenant,
                    e.complaint_id,
                    e.customer_id,
                    e.category,
                    e.language.value,
                    e.team_id,
                    e.agent_id,
                    e.closed_at,
                    e.about_deceased,
                )
                for tenant, e in rows
            ],
            9,
        ),
    )


async def learn_deceased_many(conn: Conn, rows: Sequence[tuple[str, CustomerMarkedDeceased]]) -> None:
    """R10: the latest mark wins (a late older one changes nothing); a withdrawal is kept beside it."""
    if not rows:
        return
    await conn.execute(
        """
        insert into deceased_customers (tenant, customer_id, owner_agent_id, marked_at)
        select * from unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])
        on conflict (tenant, customer_id) do update set
            owner_agent_id = excluded.owner_agent_id, marked_at = excluded.marked_at
        where deceased_customers.marked_at is null or deceased_customers.marked_at < excluded.marked_at
        """,
        *_columns([(tenant, e.customer_id, e.owner_agent_id, e.marked_at) for tenant, e in rows], 4),
    )


async def learn_deceased_withdrawn_many(
    conn: Conn, rows: Sequence[tuple[str, CustomerDeceasedMarkWithdrawn]]
) -> None:
    """R10: the latest withdrawal wins; whether it undoes the mark is decided on reading
    (domain.DeceasedMark), so the two may arrive in either order."""
    if not rows:
        return
    await conn.execute(
        """
        insert into deceased_customers (tenant, customer_id, withdrawn_at, withdrawn_by)
        select * from unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[])
        on conflict (tenant, customer_id) do update set
            withdrawn_at = excluded.withdrawn_at, withdrawn_by = excluded.withdrawn_by
        where deceased_customers.withdrawn_at is null
           or deceased_customers.withdrawn_at < excluded.withdrawn_at
        """,
        *_columns([(tenant, e.customer_id, e.withdrawn_at, e.withdrawn_by) for tenant, e in rows], 4),
    )


async def complaint(
    conn: Conn, tenant: str, complaint_id: uuid.UUID, *, lock: bool = False
) -> Complaint | None:
    # The row lock serialises everything decided about one complaint (two agents at once).
    sql = "select * from complaints where tenant = $1 and complaint_id = $2" + (" for update" if lock else "")
    row = await conn.fetchrow(sql, tenant, complaint_id)
    return Complaint.of(row) if row else None


async def deceased_mark(conn: Conn, tenant: str, customer_id: str) -> DeceasedMark:
    row = await conn.fetchrow(
        "select owner_agent_id, marked_at, withdrawn_at from deceased_customers "
        "where tenant = $1 and customer_id = $2",
        tenant,
        customer_id,
    )
    if row is None:
        return DeceasedMark(owner_agent_id=None, marked_at=None, withdrawn_at=None)
    return DeceasedMark(
        owner_agent_id=row["owner_agent_id"], marked_at=row["marked_at"], withdrawn_at=row["withdrawn_at"]
    )


# ---- apology and damage ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Apology(_Row):
    tenant: str
    complaint_id: uuid.UUID
    language: str
    text: str
    catalogue_entry: str | None
    apologised_by: str
    apologised_at: datetime


async def apology(conn: Conn, tenant: str, complaint_id: uuid.UUID) -> Apology | None:
    row = await conn.fetchrow(
        "select * from apologies where tenant = $1 and complaint_id = $2", tenant, complaint_id
    )
    return Apology.of(row) if row else None


async def add_apology(conn: Conn, a: Apology) -> None:
    await conn.execute(
        "insert into apologies (tenant, complaint_id, language, text, catalogue_entry, apologised_by, "
        "apologised_at) values ($1, $2, $3, $4, $5, $6, $7)",
        a.tenant,
        a.complaint_id,
        a.language,
        a.text,
        a.catalogue_entry,
        a.apologised_by,
        a.apologised_at,
    )


@dataclass(frozen=True)
class Damage(_Row):
    tenant: str
    complaint_id: uuid.UUID
    amount_cents: int
    currency: str
    description: str | None
    recorded_by: str
    recorded_at: datetime

    @property
    def amount(self) -> Money:
        return Money(amount_cents=self.amount_cents, currency=Currency(self.currency))


async def damage(conn: Conn, tenant: str, complaint_id: uuid.UUID) -> Damage | None:
    row = await conn.fetchrow(
        "select * from damages where tenant = $1 and complaint_id = $2", tenant, complaint_id
    )
    return Damage.of(row) if row else None


async def put_damage(conn: Conn, d: Damage) -> None:
    await conn.execute(
        """
        insert into damages (tenant, complaint_id, amount_cents, currency, description, recorded_by,
                             recorded_at)
        values ($1, $2, $3, $4, $5, $6, $7)
        on conflict (tenant, complaint_id) do update set
            amount_cents = excluded.amount_cents, currency = excluded.currency,
            description = excluded.description, recorded_by = excluded.recorded_by,
            recorded_at = excluded.recorded_at
        """,
        d.tenant,
        d.complaint_id,
        d.amount_cents,
        d.currency,
        d.description,
        d.recorded_by,
        d.recorded_at,
    )


@dataclass(frozen=True)
class Progress:
    """How far the agent got with a complaint, in one round trip (the proposal's hot path)."""

    apologised: bool
    apology_entry: str | None
    live_status: str | None
    damage: Money | None


async def progress(conn: Conn, tenant: str, complaint_id: uuid.UUID) -> Progress:
    row = await conn.fetchrow(
        """
        select a.complaint_id is not null as apologised, a.catalogue_entry, c.status,
               d.amount_cents, d.currency
        from (select $1::text as tenant, $2::uuid as id) k
        left join apologies a on a.tenant = k.tenant and a.complaint_id = k.id
        left join damages d on d.tenant = k.tenant and d.complaint_id = k.id
        left join compensations c
            on c.tenant = k.tenant and c.complaint_id = k.id and c.status <> 'rejected'
        """,
        tenant,
        complaint_id,
    )
    assert row is not None
    return Progress(
        apologised=row["apologised"],
        apology_entry=row["catalogue_entry"],
        live_status=row["status"],
        damage=_money(row["amount_cents"], row["currency"]),
    )


# ---- compensations (and approval items) ------------------------------------------------------------


@dataclass(frozen=True)
class Compensation(_Row):
    compensation_id: uuid.UUID
    complaint_id: uuid.UUID
    tenant: str
    customer_id: str
    kind: str
    status: str
    amount_cents: int | None
    currency: str | None
    gesture: str | None
    gesture_text: str | None
    note: str | None
    catalogue_entry: str | None
    category: str
    team_id: str | None
    proposed_by: str
    proposed_at: datetime
    mandate_cents: int | None = None
    mandate_currency: str | None = None
    approval_reason: str | None = None
    deadline_at: datetime | None = None
    escalated_at: datetime | None = None
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_reason: str | None = None
    reason_code: str | None = None

    @property
    def amount(self) -> Money | None:
        return _money(self.amount_cents, self.currency)

    @property
    def mandate(self) -> Money | None:
        return _money(self.mandate_cents, self.mandate_currency)


_COMPENSATION_COLUMNS = [f.name for f in fields(Compensation)]


async def add_compensation(conn: Conn, c: Compensation) -> None:
    """Raises asyncpg's UniqueViolationError when the complaint already has a live one."""
    columns = ", ".join(_COMPENSATION_COLUMNS)
    marks = ", ".join(f"${i}" for i in range(1, len(_COMPENSATION_COLUMNS) + 1))
    await conn.execute(
        f"insert into compensations ({columns}) values ({marks})",
        *(getattr(c, name) for name in _COMPENSATION_COLUMNS),
    )


async def compensation(
    conn: Conn, tenant: str, compensation_id: uuid.UUID, *, lock: bool = False
) -> Compensation | None:
    sql = "select * from compensations where tenant = $1 and compensation_id = $2" + (
        " for update" if lock else ""
    )
    row = await conn.fetchrow(sql, tenant, compensation_id)
    return Compensation.of(row) if row else None


async def live_compensation(conn: Conn, tenant: str, complaint_id: uuid.UUID) -> Compensation | None:
    row = await conn.fetchrow(
        "select * from compensations where tenant = $1 and complaint_id = $2 and status <> 'rejected'",
        tenant,
        complaint_id,
    )
    return Compensation.of(row) if row else None


async def compensations_of(conn: Conn, tenant: str, complaint_id: uuid.UUID) -> list[Compensation]:
    rows = await conn.fetch(
        "select * from compensations where tenant = $1 and complaint_id = $2 order by proposed_at",
        tenant,
        complaint_id,
    )
    return [Compensation.of(r) for r in rows]


async def record_decision(
    conn: Conn,
    tenant: str,
    compensation_id: uuid.UUID,
    *,
    status: str,
    decided_by: str,
    decided_at: datetime,
    reason: str | None,
    reason_code: str | None,
) -> Compensation:
    row = await conn.fetchrow(
        """
        update compensations set status = $3, decided_by = $4, decided_at = $5,
            decision_reason = $6, reason_code = $7
        where tenant = $1 and compensation_id = $2 returning *
        """,
        tenant,
        compensation_id,
        status,
        decided_by,
        decided_at,
        reason,
        reason_code,
    )
    assert row is not None, "the caller holds the row's lock"
    return Compensation.of(row)


async def mark_escalated(conn: Conn, tenant: str, compensation_id: uuid.UUID, at: datetime) -> None:
    await conn.execute(
        "update compensations set escalated_at = $3 where tenant = $1 and compensation_id = $2",
        tenant,
        compensation_id,
        at,
    )


async def approvals(conn: Conn, tenant: str, *, status: str | None, limit: int) -> list[Compensation]:
    """Approval items: proposals that went above the mandate, oldest waiting first."""
    rows = await conn.fetch(
        """
        select * from compensations
        where tenant = $1 and deadline_at is not null and ($2::text is null or status = $2)
        order by (status = 'awaiting_approval') desc, deadline_at, proposed_at
        limit $3
        """,
        tenant,
        status,
        limit,
    )
    return [Compensation.of(r) for r in rows]


# ---- R15: the abuse watch ------------------------------------------------------------------------


async def lock_customer(conn: Conn, tenant: str, customer_id: str) -> None:
    """Serialise grants to one customer, so two at once both see each other when counting."""
    await conn.execute("select pg_advisory_xact_lock(hashtextextended($1, 15))", f"{tenant}\x1f{customer_id}")


async def watch(conn: Conn, tenant: str, customer_id: str, *, since: datetime) -> Watch:
    """The customer's financial grants decided after `since` (domain.watch_window_start) and their
    latest flag episode."""
    row = await conn.fetchrow(
        """
        with grants as (
            select currency, amount_cents from compensations
            where tenant = $1 and customer_id = $2 and kind = 'financial'
              and status in ('granted', 'approved') and decided_at > $3
        ), totals as (
            select currency, sum(amount_cents)::bigint as total from grants group by currency
            order by sum(amount_cents) desc limit 1
        )
        select (select count(*) from grants) as n,
               (select total from totals) as total,
               (select currency from totals) as currency,
               latest.flagged_at, latest.ended_at, latest.end_reason, latest.reviewed_by,
               latest.confirmed_by
        from (select 1) one
        left join lateral (
            select * from customer_flags where tenant = $1 and customer_id = $2
            order by flag_id desc limit 1
        ) latest on true
        """,
        tenant,
        customer_id,
        since,
    )
    assert row is not None  # one row, whatever the customer has
    open_since = row["flagged_at"] if row["flagged_at"] is not None and row["ended_at"] is None else None
    cleared = row["ended_at"] is not None and row["end_reason"] == "reviewed"
    return Watch(
        financial_compensations=int(row["n"]),
        total=_money(row["total"], row["currency"]),
        open_flag_since=open_since,
        clearing_asked_by=row["reviewed_by"] if open_since is not None else None,
        # A flag cleared alone before four eyes has no confirmer: its reviewer still counts.
        cleared_by=frozenset(
            p for p in (row["reviewed_by"], row["confirmed_by"]) if cleared and p is not None
        ),
    )


@dataclass(frozen=True)
class Flag(_Row):
    flag_id: int
    tenant: str
    customer_id: str
    flagged_at: datetime
    financial_compensations: int
    total_cents: int
    currency: str
    window_days: int
    latest_complaint_id: uuid.UUID | None
    ended_at: datetime | None
    end_reason: str | None
    reviewed_by: str | None
    """R15: who reviewed the customer and asked to clear the flag (pending while the flag is open)."""
    review_note: str | None
    reviewed_at: datetime | None = None
    confirmed_by: str | None = None
    """The approver who confirmed the clearing (four eyes); the flag ended then."""
    confirmed_at: datetime | None = None
    confirmation_note: str | None = None


async def start_flag(
    conn: Conn,
    *,
    tenant: str,
    customer_id: str,
    at: datetime,
    count: int,
    total: Money,
    window_days: int,
    complaint_id: uuid.UUID,
) -> bool:
    """Open a flag episode; False when one is open already (it is emitted once per episode)."""
    status = await conn.execute(
        """
        insert into customer_flags (tenant, customer_id, flagged_at, financial_compensations,
                                    total_cents, currency, window_days, latest_complaint_id)
        values ($1, $2, $3, $4, $5, $6, $7, $8)
        on conflict (tenant, customer_id) where ended_at is null do nothing
        """,
        tenant,
        customer_id,
        at,
        count,
        total.amount_cents,
        total.currency.value,
        window_days,
        complaint_id,
    )
    return bool(status.endswith(" 1"))


async def end_flag(conn: Conn, tenant: str, customer_id: str, *, at: datetime) -> Flag | None:
    """The window no longer holds enough compensations: the episode ends by itself (a clearing
    asked meanwhile is moot and stays recorded in flag_reviews)."""
    row = await conn.fetchrow(
        """
        update customer_flags set ended_at = $3, end_reason = 'window_passed'
        where tenant = $1 and customer_id = $2 and ended_at is null returning *
        """,
        tenant,
        customer_id,
        at,
    )
    return Flag.of(row) if row else None


async def open_flag(conn: Conn, tenant: str, customer_id: str) -> Flag | None:
    row = await conn.fetchrow(
        "select * from customer_flags where tenant = $1 and customer_id = $2 and ended_at is null for update",
        tenant,
        customer_id,
    )
    return Flag.of(row) if row else None


async def record_review(conn: Conn, flag: Flag, act: ReviewAct, *, by: str, at: datetime, note: str) -> Flag:
    """Write one act of the clearing on the flag and in its audit trail, in the caller's transaction
    (which holds the customer's lock): asked sets the pending request, refused clears it, confirmed
    ends the episode as reviewed."""
    where = " where tenant = $1 and flag_id = $2 and ended_at is null returning *"
    if act is ReviewAct.asked:
        row = await conn.fetchrow(
            "update customer_flags set reviewed_by = $3, reviewed_at = $4, review_note = $5" + where,
            flag.tenant,
            flag.flag_id,
            by,
            at,
            note,
        )
    elif act is ReviewAct.refused:
        row = await conn.fetchrow(
            "update customer_flags set reviewed_by = null, reviewed_at = null, review_note = null" + where,
            flag.tenant,
            flag.flag_id,
        )
    else:
        row = await conn.fetchrow(
            "update customer_flags set confirmed_by = $3, confirmed_at = $4, confirmation_note = $5, "
            "ended_at = $4, end_reason = 'reviewed'" + where,
            flag.tenant,
            flag.flag_id,
            by,
            at,
            note,
        )
    assert row is not None, "the caller holds the customer's lock and saw the flag open"
    await conn.execute(
        "insert into flag_reviews (flag_id, tenant, customer_id, act, actor, at, note) "
        "values ($1, $2, $3, $4, $5, $6, $7)",
        flag.flag_id,
        flag.tenant,
        flag.customer_id,
        act.value,
        by,
        at,
        note,
    )
    return Flag.of(row)


@dataclass(frozen=True)
class FlagReview(_Row):
    flag_id: int
    act: str
    actor: str
    at: datetime
    note: str


async def reviews_of(conn: Conn, tenant: str, flag_ids: list[int]) -> dict[int, list[FlagReview]]:
    """The audit trail of each flag's clearing, oldest act first."""
    rows = await conn.fetch(
        "select * from flag_reviews where tenant = $1 and flag_id = any($2::bigint[]) order by flag_id, id",
        tenant,
        flag_ids,
    )
    found: dict[int, list[FlagReview]] = {i: [] for i in flag_ids}
    for r in rows:
        found[r["flag_id"]].append(FlagReview.of(r))
    return found


async def flags(conn: Conn, tenant: str, *, open_only: bool, limit: int) -> list[Flag]:
    rows = await conn.fetch(
        """
        select * from customer_flags where tenant = $1 and (not $2 or ended_at is null)
        order by flagged_at desc limit $3
        """,
        tenant,
        open_only,
        limit,
    )
    return [Flag.of(r) for r in rows]


# ---- R16: the cost ledger --------------------------------------------------------------------------

LEDGER_GROUPS: dict[str, str] = {
    "period": "(date_trunc($4, c.decided_at at time zone $5))::date",
    "category": "c.category",
    "team": "c.team_id",
    "root_cause": "k.root_cause_department",
    "kind": "c.kind",
}
"""What the ledger groups by; the root cause is the complaint's as intake last reported it."""


@dataclass(frozen=True)
class LedgerRow:
    keys: dict[str, Any]
    currency: str | None
    count: int
    total_cents: int


async def ledger(
    conn: Conn,
    tenant: str,
    *,
    group_by: list[str],
    period: str,
    since: date,
    until: date,
    zone: str,
    teams: list[str] | None,
    kind: str | None,
) -> list[LedgerRow]:
    """Granted compensations (by the agent or an approver) in [since, until), counted and summed."""
    keys = [g for g in LEDGER_GROUPS if g in group_by]  # whitelisted, in a fixed order
    selected = "".join(f"{LEDGER_GROUPS[g]} as {g}, " for g in keys)
    grouped = ", ".join(str(i) for i in range(1, len(keys) + 2))  # the keys, then the currency
    rows = await conn.fetch(
        f"""
        select {selected} c.currency, count(*) as n, coalesce(sum(c.amount_cents), 0)::bigint as total
        from compensations c join complaints k on k.tenant = c.tenant and k.complaint_id = c.complaint_id
        where c.tenant = $1 and c.status in ('granted', 'approved')
          and c.decided_at >= ($2::date)::timestamp at time zone $5
          and c.decided_at < ($3::date)::timestamp at time zone $5
          and ($6::text[] is null or c.team_id = any($6))
          and ($7::text is null or c.kind = $7)
          and $4::text is not null
        group by {grouped}
        order by {grouped}
        """,
        tenant,
        since,
        until,
        period,
        zone,
        teams,
        kind,
    )
    return [
        LedgerRow(
            keys={g: r[g] for g in keys},
            currency=r["currency"],
            count=int(r["n"]),
            total_cents=int(r["total"]),
        )
        for r in rows
    ]
