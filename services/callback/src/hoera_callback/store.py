"""The callback service's SQL: its queue, the outcomes, and its read model of other services' events.

Times that decide a lease come from the database's clock (now()), so replicas on several machines
agree on when a claim lapses.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg
from hoera_kit.db import Conn
from pydantic import BaseModel, Field

from hoera_callback.domain import ComplaintFacts, DeceasedMark, QueueEntry, Status, WithdrawnReason


class Callback(BaseModel):
    """One callback (R26): who to call, why, by when, in which place of the queue, held by whom."""

    callback_id: UUID
    tenant: str
    request_ref: str
    customer_id: str
    team_id: str
    source: str
    language: str
    preferred_channel: str
    preferred_moment: str | None = None
    preferred_at: datetime | None = None
    survey_id: UUID | None = None
    complaint_id: UUID | None = None
    contact_id: str | None = None
    alert_id: UUID | None = None
    earlier_agent_id: str | None = None
    reason_code: str | None = None
    satisfaction: int | None = None
    request_note: str | None = None
    requested_by: str | None = None
    requested_at: datetime
    due_at: datetime
    """The lead-time target: the first attempt is due by then (R28)."""
    escalated_at: datetime | None = None
    priority: str
    priority_score: int
    priority_reasons: list[str] = Field(default_factory=list)
    """Why this callback is where it is in the queue (R29), strongest first."""
    churn_risk: bool = False
    status: Status
    attempt: int
    claim_id: UUID | None = None
    claimed_by: str | None = None
    claimed_at: datetime | None = None
    lease_until: datetime | None = None
    retry_at: datetime | None = None
    outcome: str | None = None
    completed_at: datetime | None = None
    completed_by: str | None = None
    withdrawn_at: datetime | None = None
    withdrawn_reason: WithdrawnReason | None = None
    """Why the callback left the queue without a call (status withdrawn)."""

    def entry(self) -> QueueEntry:
        return QueueEntry(
            callback_id=self.callback_id,
            status=self.status,
            score=self.priority_score,
            requested_at=self.requested_at,
            claimed_by=self.claimed_by,
            claim_id=self.claim_id,
            lease_until=self.lease_until,
        )


_CALLBACK_FIELDS = tuple(Callback.model_fields)
_COLUMNS = ", ".join(f"c.{name}" for name in _CALLBACK_FIELDS)


def _callback(row: asyncpg.Record | None) -> Callback | None:
    return Callback.model_validate({k: row[k] for k in _CALLBACK_FIELDS}) if row is not None else None


def _returned(row: asyncpg.Record | None) -> Callback:
    callback = _callback(row)
    assert callback is not None, "the row was locked by this transaction"
    return callback


def _callbacks(rows: list[asyncpg.Record]) -> list[Callback]:
    return [Callback.model_validate({k: r[k] for k in _CALLBACK_FIELDS}) for r in rows]


async def db_now(conn: Conn) -> datetime:
    value: datetime = await conn.fetchval("select now()")
    return value


# ---- the queue ---------------------------------------------------------------------------------------


async def by_ref(conn: Conn, tenant: str, request_ref: str) -> Callback | None:
    return _callback(
        await conn.fetchrow(
            f"select {_COLUMNS} from callbacks c where tenant = $1 and request_ref = $2", tenant, request_ref
        )
    )


async def get(conn: Conn, tenant: str, callback_id: UUID, *, for_update: bool = False) -> Callback | None:
    lock = " for update" if for_update else ""
    return _callback(
        await conn.fetchrow(
            f"select {_COLUMNS} from callbacks c where tenant = $1 and callback_id = $2{lock}",
            tenant,
            callback_id,
        )
    )


async def get_at(
    conn: Conn, tenant: str, callback_id: UUID, *, for_update: bool = False
) -> tuple[Callback, datetime] | tuple[None, None]:
    """The callback and the database's now(), in one round trip: the lease is judged by that clock."""
    lock = " for update" if for_update else ""
    row = await conn.fetchrow(
        f"select {_COLUMNS}, now() as db_now from callbacks c where tenant = $1 and callback_id = $2{lock}",
        tenant,
        callback_id,
    )
    if row is None:
        return None, None
    return _returned(row), row["db_now"]


async def lock_agent(conn: Conn, tenant: str, agent: str) -> None:
    """One agent's claims run one at a time, so a double click cannot take two callbacks. A statement
    of its own: the next statement's snapshot then sees what the previous holder committed."""
    await conn.execute("select pg_advisory_xact_lock(hashtext($1))", f"callback-agent:{tenant}:{agent}")


async def held_by(conn: Conn, tenant: str, agent: str) -> Callback | None:
    """The callback the agent holds under a running lease."""
    return _callback(
        await conn.fetchrow(
            f"select {_COLUMNS} from callbacks c where tenant = $1 and claimed_by = $2 "
            "and status = 'claimed' and lease_until > now() order by claimed_at desc limit 1",
            tenant,
            agent,
        )
    )


async def claim_next(
    conn: Conn, *, tenant: str, teams: list[str], agent: str, claim_id: UUID, lease_seconds: int
) -> Callback | None:
    """R26: the first claimable callback of the agent's teams, by domain.queue_key's order. SKIP
    LOCKED lets fifty agents claim at once without waiting on each other or taking the same row; the
    update re-checks the row, so a lease that another agent just renewed is never taken over."""
    row = await conn.fetchrow(
        f"""
        with next as (
            select callback_id from callbacks
            where tenant = $1 and team_id = any($2::text[])
              and (status = 'queued' or (status = 'claimed' and lease_until <= now()))
            order by priority_score desc, requested_at, callback_id
            limit 1
            for update skip locked
        )
        update callbacks c
        set status = 'claimed', claimed_by = $3, claim_id = $4, claimed_at = now(),
            lease_until = now() + make_interval(secs => $5), updated_at = now()
        from next
        where c.callback_id = next.callback_id
        returning {_COLUMNS}
        """,
        tenant,
        teams,
        agent,
        claim_id,
        float(lease_seconds),
    )
    return _callback(row)


async def claim(
    conn: Conn, tenant: str, callback_id: UUID, *, agent: str, claim_id: UUID, lease_seconds: int
) -> Callback:
    row = await conn.fetchrow(
        f"update callbacks c set status = 'claimed', claimed_by = $3, claim_id = $4, claimed_at = now(), "
        f"lease_until = now() + make_interval(secs => $5), updated_at = now() "
        f"where tenant = $1 and callback_id = $2 returning {_COLUMNS}",
        tenant,
        callback_id,
        agent,
        claim_id,
        float(lease_seconds),
    )
    return _returned(row)


async def release(conn: Conn, tenant: str, callback_id: UUID) -> Callback:
    return _returned(
        await conn.fetchrow(
            "update callbacks c set status = 'queued', claimed_by = null, claim_id = null, "
            "claimed_at = null, lease_until = null, updated_at = now() "
            f"where tenant = $1 and callback_id = $2 returning {_COLUMNS}",
            tenant,
            callback_id,
        )
    )


async def finish(
    conn: Conn, tenant: str, callback_id: UUID, *, outcome: str, agent: str, at: datetime
) -> Callback:
    return _returned(
        await conn.fetchrow(
            "update callbacks c set status = 'done', outcome = $3, completed_at = $4, completed_by = $5, "
            "claimed_by = null, claim_id = null, claimed_at = null, lease_until = null, retry_at = null, "
            f"updated_at = now() where tenant = $1 and callback_id = $2 returning {_COLUMNS}",
            tenant,
            callback_id,
            outcome,
            at,
            agent,
        )
    )


async def wait_for_retry(
    conn: Conn, tenant: str, callback_id: UUID, *, outcome: str, retry_at: datetime
) -> Callback:
    return _returned(
        await conn.fetchrow(
            "update callbacks c set status = 'waiting_retry', outcome = $3, retry_at = $4, "
            "claimed_by = null, claim_id = null, claimed_at = null, lease_until = null, updated_at = now() "
            f"where tenant = $1 and callback_id = $2 returning {_COLUMNS}",
            tenant,
            callback_id,
            outcome,
            retry_at,
        )
    )


async def requeue_for_attempt(conn: Conn, tenant: str, callback_id: UUID, attempt: int) -> None:
    await conn.execute(
        "update callbacks set status = 'queued', attempt = $3, retry_at = null, updated_at = now() "
        "where tenant = $1 and callback_id = $2",
        tenant,
        callback_id,
        attempt,
    )


async def mark_escalated(conn: Conn, tenant: str, callback_id: UUID, at: datetime) -> None:
    await conn.execute(
        "update callbacks set escalated_at = $3, updated_at = now() where tenant = $1 and callback_id = $2",
        tenant,
        callback_id,
        at,
    )


async def queue(conn: Conn, *, tenant: str, teams: list[str] | None, limit: int) -> list[Callback]:
    """Open callbacks in queue order (claimed and waiting ones too, so the page shows all the work)."""
    return _callbacks(
        await conn.fetch(
            f"select {_COLUMNS} from callbacks c where tenant = $1 "
            "and ($2::text[] is null or team_id = any($2::text[])) "
            "and status in ('queued', 'claimed', 'waiting_retry') "
            "order by priority_score desc, requested_at, callback_id limit $3",
            tenant,
            teams,
            limit,
        )
    )


async def earlier_of_customer(conn: Conn, tenant: str, customer_id: str, exclude: UUID) -> list[Callback]:
    return _callbacks(
        await conn.fetch(
            f"select {_COLUMNS} from callbacks c where tenant = $1 and customer_id = $2 "
            "and callback_id <> $3 order by requested_at desc limit 20",
            tenant,
            customer_id,
            exclude,
        )
    )


# ---- outcomes ------------------------------------------------------------------------------------------


class OutcomeRow(BaseModel):
    """One attempt's outcome and the agent's note (R28)."""

    callback_id: UUID
    attempt: int
    agent_id: str
    team_id: str
    outcome: str
    reached: bool
    note: str | None = None
    retry_at: datetime | None = None
    recorded_at: datetime


async def insert_outcome(conn: Conn, tenant: str, row: OutcomeRow) -> None:
    await conn.execute(
        "insert into callback_outcomes (callback_id, attempt, tenant, team_id, agent_id, outcome, reached, "
        "note, retry_at, recorded_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        row.callback_id,
        row.attempt,
        tenant,
        row.team_id,
        row.agent_id,
        row.outcome,
        row.reached,
        row.note,
        row.retry_at,
        row.recorded_at,
    )


async def outcomes_of(conn: Conn, tenant: str, callback_ids: list[UUID]) -> list[OutcomeRow]:
    rows = await conn.fetch(
        "select callback_id, attempt, agent_id, team_id, outcome, reached, note, retry_at, recorded_at "
        "from callback_outcomes where tenant = $1 and callback_id = any($2::uuid[]) order by recorded_at",
        tenant,
        callback_ids,
    )
    return [OutcomeRow.model_validate(dict(r)) for r in rows]


async def has_outcome(conn: Conn, tenant: str, callback_id: UUID) -> bool:
    return bool(
        await conn.fetchval(
            "select exists (select 1 from callback_outcomes where tenant = $1 and callback_id = $2)",
            tenant,
            callback_id,
        )
    )


# ---- the read model (R27) --------------------------------------------------------------------------------


class ContactRow(BaseModel):
    """The earlier contact, as the platform reported it."""

    contact_id: str
    customer_id: str
    channel: str
    agent_id: str
    team_id: str
    language: str
    closed_at: datetime
    reason_code: str | None = None
    first_contact_resolved: bool | None = None
    recording_ref: str | None = None


class ComplaintRow(BaseModel):
    complaint_id: UUID
    customer_id: str
    category: str | None = None
    language: str | None = None
    team_id: str | None = None
    agent_id: str | None = None
    contact_id: str | None = None
    due_date: date | None = None
    raised_at: datetime | None = None
    breached_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    reopened_at: datetime | None = None
    root_cause_department: str | None = None
    first_contact_resolution: bool | None = None

    def facts(self) -> ComplaintFacts:
        return ComplaintFacts(
            raised_at=self.raised_at,
            breached_at=self.breached_at,
            resolved_at=self.resolved_at,
            closed_at=self.closed_at,
            reopened_at=self.reopened_at,
        )


class SurveyRow(BaseModel):
    """The customer's survey answer: scores, the agent's qualities and their own words (R18)."""

    survey_id: UUID
    customer_id: str
    trigger: str
    channel: str
    language: str
    answered_at: datetime
    contact_id: str | None = None
    complaint_id: UUID | None = None
    callback_id: UUID | None = None
    agent_id: str | None = None
    team_id: str | None = None
    satisfaction: int | None = None
    effort: int | None = None
    nps: int | None = None
    attributes: dict[str, int] = Field(default_factory=dict)
    comment: str | None = None
    contact_me: bool = False
    reason: str | None = None
    """Why the customer was unhappy: a code of the organisation's feedback reasons."""
    topics: list[str] = Field(default_factory=list)
    """The organisation's comment topics the survey service tagged the comment with."""


class AlertRow(BaseModel):
    alert_id: UUID
    customer_id: str
    kind: str
    severity: str
    raised_at: datetime
    team_id: str | None = None
    agent_id: str | None = None
    complaint_id: UUID | None = None
    survey_id: UUID | None = None
    contact_id: str | None = None
    satisfaction: int | None = None


async def upsert_contacts(conn: Conn, rows: Sequence[tuple[str, ContactRow]]) -> None:
    """Contacts ((tenant, row)) in one statement, the table's own column types read from JSON; a
    contact reported twice keeps its latest report (the last one given)."""
    latest = {
        (tenant, row.contact_id): {"tenant": tenant, **row.model_dump(mode="json")} for tenant, row in rows
    }
    if not latest:
        return
    names = ["tenant", *ContactRow.model_fields]
    await conn.execute(
        f"insert into ctx_contacts ({', '.join(names)}) select {', '.join(names)} "
        "from json_populate_recordset(null::ctx_contacts, $1::text::json) "
        "on conflict (tenant, contact_id) do update set "
        + ", ".join(f"{n} = excluded.{n}" for n in names if n not in ("tenant", "contact_id")),
        json.dumps(list(latest.values())),
    )


_LATEST_WINS = ("raised_at", "breached_at", "resolved_at", "closed_at", "reopened_at")


def merge_complaint(
    row: ComplaintRow | None, complaint_id: UUID, customer_id: str, fields: dict[str, Any]
) -> ComplaintRow:
    """What a complaint event adds to what we know (None: nothing yet). Times keep the latest (a
    complaint may be breached or closed again after a reopening); other fields take the newest
    non-empty value. Merging is associative, so a batch's events of one complaint fold into one
    change that `merge_complaints` applies as each of them would have been."""
    merged: dict[str, Any] = row.model_dump() if row is not None else {"complaint_id": complaint_id}
    merged["customer_id"] = customer_id
    for name, value in fields.items():
        old = merged.get(name)
        if name in _LATEST_WINS and old is not None and value is not None:
            merged[name] = max(old, value)
        elif value is not None:
            merged[name] = value
    return ComplaintRow.model_validate(merged)


async def merge_complaints(conn: Conn, changes: Sequence[tuple[str, ComplaintRow]]) -> None:
    """Each complaint's folded change ((tenant, change), one per complaint) merged into its row in one
    statement, by the rules of `merge_complaint`: a row another transaction changes meanwhile keeps
    what it wrote."""
    if not changes:
        return
    names = list(ComplaintRow.model_fields)
    updates = [
        f"{n} = greatest(ctx_complaints.{n}, excluded.{n})"
        if n in _LATEST_WINS
        else f"{n} = coalesce(excluded.{n}, ctx_complaints.{n})"
        for n in names
        if n != "complaint_id"
    ]
    await conn.execute(
        f"insert into ctx_complaints (tenant, {', '.join(names)}) select tenant, {', '.join(names)} "
        "from json_populate_recordset(null::ctx_complaints, $1::text::json) "
        f"on conflict (tenant, complaint_id) do update set {', '.join(updates)}",
        json.dumps([{"tenant": tenant, **row.model_dump(mode="json")} for tenant, row in changes]),
    )


async def insert_surveys(conn: Conn, rows: Sequence[tuple[str, SurveyRow]]) -> set[tuple[str, UUID]]:
    """Survey answers ((tenant, row)) in one statement; an answer already kept (or given twice) stays
    as it was first kept. Returns the (tenant, survey_id) of those new here."""
    first: dict[tuple[str, UUID], dict[str, Any]] = {}
    for tenant, row in rows:
        first.setdefault((tenant, row.survey_id), {"tenant": tenant, **row.model_dump(mode="json")})
    if not first:
        return set()
    names = ["tenant", *SurveyRow.model_fields]
    inserted = await conn.fetch(
        f"insert into ctx_surveys ({', '.join(names)}) select {', '.join(names)} "
        "from json_populate_recordset(null::ctx_surveys, $1::text::json) "
        "on conflict (tenant, survey_id) do nothing returning tenant, survey_id",
        json.dumps(list(first.values())),
    )
    return {(r["tenant"], r["survey_id"]) for r in inserted}


async def insert_alerts(conn: Conn, rows: Sequence[tuple[str, AlertRow]]) -> None:
    """Alerts ((tenant, row)) in one statement; an alert already kept stays as it was first kept."""
    first: dict[tuple[str, UUID], dict[str, Any]] = {}
    for tenant, row in rows:
        first.setdefault((tenant, row.alert_id), {"tenant": tenant, **row.model_dump(mode="json")})
    if not first:
        return
    names = ["tenant", *AlertRow.model_fields]
    await conn.execute(
        f"insert into ctx_alerts ({', '.join(names)}) select {', '.join(names)} "
        "from json_populate_recordset(null::ctx_alerts, $1::text::json) "
        "on conflict (tenant, alert_id) do nothing",
        json.dumps(list(first.values())),
    )


async def mark_customer(conn: Conn, tenant: str, customer_id: str, column: str, at: datetime) -> None:
    # deceased_at is not here: a mark can be withdrawn, see lock_deceased_mark.
    if column not in ("considering_leaving_at",):
        raise ValueError(column)
    await conn.execute(
        f"insert into ctx_customers (tenant, customer_id, {column}) values ($1, $2, $3) "
        f"on conflict (tenant, customer_id) do update "
        f"set {column} = greatest(ctx_customers.{column}, excluded.{column})",
        tenant,
        customer_id,
        at,
    )


async def lock_customer(conn: Conn, tenant: str, customer_id: str) -> DeceasedMark:
    """Lock the customer's row until the transaction ends (created on first use) and return their
    deceased mark (R10), so a mark and its withdrawal decided at once see each other.

    The lock order of the service: a transaction that locks or changes a customer's callbacks locks
    the customer here first, then the callbacks (by id). A mark withdrawing every open callback and an
    outcome moving the customer's other callbacks up therefore queue behind each other instead of
    each holding what the other waits for."""
    row = await conn.fetchrow(
        "insert into ctx_customers (tenant, customer_id) values ($1, $2) "
        "on conflict (tenant, customer_id) do update set customer_id = excluded.customer_id "
        "returning deceased_at, deceased_mark_withdrawn_at",
        tenant,
        customer_id,
    )
    assert row is not None
    return DeceasedMark(marked_at=row["deceased_at"], withdrawn_at=row["deceased_mark_withdrawn_at"])


class CustomerState(BaseModel):
    """What the read model knows of a customer whose row this transaction locked."""

    tenant: str
    customer_id: str
    mark: DeceasedMark
    considering_leaving: bool = False


def _pairs(keys: Sequence[tuple[str, Any]]) -> tuple[list[str], list[Any]]:
    return [k[0] for k in keys], [k[1] for k in keys]


async def lock_customers(conn: Conn, keys: Sequence[tuple[str, str]]) -> list[CustomerState]:
    """`lock_customer` for many (tenant, customer_id) in one statement, in a fixed order (by tenant,
    then customer), so two batches sharing customers queue behind each other instead of each holding
    what the other waits for."""
    ordered = sorted(set(keys))
    if not ordered:
        return []
    rows = await conn.fetch(
        "insert into ctx_customers (tenant, customer_id) "
        "select t, c from unnest($1::text[], $2::text[]) as u(t, c) order by t, c "
        "on conflict (tenant, customer_id) do update set customer_id = excluded.customer_id "
        "returning tenant, customer_id, deceased_at, deceased_mark_withdrawn_at, considering_leaving_at",
        *_pairs(ordered),
    )
    return [
        CustomerState(
            tenant=r["tenant"],
            customer_id=r["customer_id"],
            mark=DeceasedMark(marked_at=r["deceased_at"], withdrawn_at=r["deceased_mark_withdrawn_at"]),
            considering_leaving=r["considering_leaving_at"] is not None,
        )
        for r in rows
    ]


async def save_deceased_marks(conn: Conn, marks: Sequence[tuple[str, str, DeceasedMark]]) -> None:
    """Customers' deceased marks ((tenant, customer_id, mark)) in one statement; rows already locked."""
    if not marks:
        return
    await conn.execute(
        "update ctx_customers c set deceased_at = v.deceased_at, "
        "deceased_mark_withdrawn_at = v.deceased_mark_withdrawn_at "
        "from json_populate_recordset(null::ctx_customers, $1::text::json) v "
        "where c.tenant = v.tenant and c.customer_id = v.customer_id",
        json.dumps(
            [
                {
                    "tenant": tenant,
                    "customer_id": customer_id,
                    "deceased_at": mark.marked_at.isoformat() if mark.marked_at else None,
                    "deceased_mark_withdrawn_at": mark.withdrawn_at.isoformat()
                    if mark.withdrawn_at
                    else None,
                }
                for tenant, customer_id, mark in marks
            ]
        ),
    )


async def with_open_callbacks(conn: Conn, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of these (tenant, customer_id) have an open callback, in one statement (nothing locked)."""
    if not keys:
        return set()
    rows = await conn.fetch(
        "select distinct tenant, customer_id from callbacks "
        "where status in ('queued', 'claimed', 'waiting_retry') "
        "and (tenant, customer_id) in (select * from unnest($1::text[], $2::text[]))",
        *_pairs(sorted(set(keys))),
    )
    return {(r["tenant"], r["customer_id"]) for r in rows}


async def callbacks_for(
    conn: Conn, customers: Sequence[tuple[str, str]], refs: Sequence[tuple[str, str]]
) -> list[Callback]:
    """The open callbacks of these customers and the callbacks of these request refs, in one statement."""
    if not customers and not refs:
        return []
    return _callbacks(
        await conn.fetch(
            f"select {_COLUMNS} from callbacks c where (c.tenant, c.callback_id) in ("
            "  select tenant, callback_id from callbacks "
            "  where status in ('queued', 'claimed', 'waiting_retry') "
            "  and (tenant, customer_id) in (select * from unnest($1::text[], $2::text[])) "
            "  union select tenant, callback_id from callbacks "
            "  where (tenant, request_ref) in (select * from unnest($3::text[], $4::text[]))"
            ") order by c.tenant, c.callback_id",
            *_pairs(sorted(set(customers))),
            *_pairs(sorted(set(refs))),
        )
    )


async def insert_callbacks(conn: Conn, callbacks: Sequence[Callback]) -> set[tuple[str, str]]:
    """New callbacks in one statement; returns the (tenant, request_ref) of those that went in (a ref
    already taken keeps its callback)."""
    if not callbacks:
        return set()
    names = list(_CALLBACK_FIELDS)
    rows = await conn.fetch(
        f"insert into callbacks ({', '.join(names)}) select {', '.join(names)} "
        "from json_populate_recordset(null::callbacks, $1::text::json) "
        "on conflict (tenant, request_ref) do nothing returning tenant, request_ref",
        json.dumps([c.model_dump(mode="json") for c in callbacks]),
    )
    return {(r["tenant"], r["request_ref"]) for r in rows}


async def set_priorities(conn: Conn, callbacks: Sequence[Callback]) -> None:
    """`set_priority` for many callbacks in one statement, with the priority each of them holds."""
    if not callbacks:
        return
    await conn.execute(
        "update callbacks c set priority = v.priority, priority_score = v.priority_score, "
        "priority_reasons = v.priority_reasons, churn_risk = v.churn_risk, updated_at = now() "
        "from json_populate_recordset(null::callbacks, $1::text::json) v "
        "where c.tenant = v.tenant and c.callback_id = v.callback_id",
        json.dumps(
            [
                c.model_dump(
                    mode="json",
                    include={"tenant", "callback_id", "priority", "priority_score"}
                    | {"priority_reasons", "churn_risk"},
                )
                for c in callbacks
            ]
        ),
    )


async def withdraw_many(conn: Conn, callbacks: Sequence[Callback]) -> None:
    """`withdraw` for many callbacks in one statement, each with its withdrawn_at and reason; one
    finished meanwhile stays finished."""
    if not callbacks:
        return
    await conn.execute(
        "update callbacks c set status = 'withdrawn', withdrawn_at = v.withdrawn_at, "
        "withdrawn_reason = v.withdrawn_reason, claimed_by = null, claim_id = null, claimed_at = null, "
        "lease_until = null, retry_at = null, updated_at = now() "
        "from json_populate_recordset(null::callbacks, $1::text::json) v "
        "where c.tenant = v.tenant and c.callback_id = v.callback_id "
        "and c.status in ('queued', 'claimed', 'waiting_retry')",
        json.dumps(
            [
                c.model_dump(
                    mode="json", include={"tenant", "callback_id", "withdrawn_at", "withdrawn_reason"}
                )
                for c in callbacks
            ]
        ),
    )


async def complaints_for(
    conn: Conn,
    customers: Sequence[tuple[str, str]],
    complaint_ids: Sequence[tuple[str, UUID]],
    *,
    for_update: bool = False,
) -> list[tuple[str, ComplaintRow]]:
    """Every complaint of these customers and these complaints, in one statement; locked (in a fixed
    order) where the caller changes them."""
    if not customers and not complaint_ids:
        return []
    lock = " for update of k" if for_update else ""
    rows = await conn.fetch(
        "select k.* from ctx_complaints k where (k.tenant, k.complaint_id) in ("
        "  select tenant, complaint_id from ctx_complaints "
        "  where (tenant, customer_id) in (select * from unnest($1::text[], $2::text[])) "
        "  union select * from unnest($3::text[], $4::uuid[])"
        f") order by k.tenant, k.complaint_id{lock}",
        *_pairs(sorted(set(customers))),
        *_pairs(sorted(set(complaint_ids))),
    )
    return [
        (r["tenant"], ComplaintRow.model_validate({k: r[k] for k in ComplaintRow.model_fields})) for r in rows
    ]


async def latest_surveys(
    conn: Conn, customers: Sequence[tuple[str, str]], *, excluding: Sequence[tuple[str, UUID]] = ()
) -> dict[tuple[str, str], SurveyRow]:
    """`latest_survey` of many customers in one statement, leaving out the answers named (those a batch
    kept a moment ago, which it counts in their turn)."""
    if not customers:
        return {}
    rows = await conn.fetch(
        "select s.* from unnest($1::text[], $2::text[]) as u(t, c) "
        "cross join lateral (select * from ctx_surveys s where s.tenant = u.t and s.customer_id = u.c "
        "  and not exists (select 1 from unnest($3::text[], $4::uuid[]) as x(t, i) "
        "                  where x.t = s.tenant and x.i = s.survey_id) "
        "  order by s.answered_at desc limit 1) as s",
        *_pairs(sorted(set(customers))),
        *_pairs(sorted(set(excluding))),
    )
    return {
        (r["tenant"], r["customer_id"]): SurveyRow.model_validate({k: r[k] for k in SurveyRow.model_fields})
        for r in rows
    }


async def contacts(conn: Conn, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], ContactRow]:
    """`contact` for many (tenant, contact_id) in one statement."""
    if not keys:
        return {}
    rows = await conn.fetch(
        "select * from ctx_contacts "
        "where (tenant, contact_id) in (select * from unnest($1::text[], $2::text[]))",
        *_pairs(sorted(set(keys))),
    )
    return {
        (r["tenant"], r["contact_id"]): ContactRow.model_validate({k: r[k] for k in ContactRow.model_fields})
        for r in rows
    }


async def contact(conn: Conn, tenant: str, contact_id: str) -> ContactRow | None:
    row = await conn.fetchrow(
        "select * from ctx_contacts where tenant = $1 and contact_id = $2", tenant, contact_id
    )
    return ContactRow.model_validate({k: row[k] for k in ContactRow.model_fields}) if row else None


async def latest_contact(conn: Conn, tenant: str, customer_id: str, before: datetime) -> ContactRow | None:
    row = await conn.fetchrow(
        "select * from ctx_contacts where tenant = $1 and customer_id = $2 and closed_at <= $3 "
        "order by closed_at desc limit 1",
        tenant,
        customer_id,
        before,
    )
    return ContactRow.model_validate({k: row[k] for k in ContactRow.model_fields}) if row else None


async def survey(conn: Conn, tenant: str, survey_id: UUID) -> SurveyRow | None:
    row = await conn.fetchrow(
        "select * from ctx_surveys where tenant = $1 and survey_id = $2", tenant, survey_id
    )
    return SurveyRow.model_validate({k: row[k] for k in SurveyRow.model_fields}) if row else None


async def latest_survey(conn: Conn, tenant: str, customer_id: str) -> SurveyRow | None:
    row = await conn.fetchrow(
        "select * from ctx_surveys where tenant = $1 and customer_id = $2 order by answered_at desc limit 1",
        tenant,
        customer_id,
    )
    return SurveyRow.model_validate({k: row[k] for k in SurveyRow.model_fields}) if row else None


async def complaints_of(conn: Conn, tenant: str, customer_id: str) -> list[ComplaintRow]:
    rows = await conn.fetch(
        "select * from ctx_complaints where tenant = $1 and customer_id = $2 "
        "order by coalesce(raised_at, breached_at, resolved_at, closed_at) desc nulls last limit 50",
        tenant,
        customer_id,
    )
    return [ComplaintRow.model_validate({k: r[k] for k in ComplaintRow.model_fields}) for r in rows]


async def complaint(conn: Conn, tenant: str, complaint_id: UUID) -> ComplaintRow | None:
    row = await conn.fetchrow(
        "select * from ctx_complaints where tenant = $1 and complaint_id = $2", tenant, complaint_id
    )
    return ComplaintRow.model_validate({k: row[k] for k in ComplaintRow.model_fields}) if row else None


async def alerts_of(conn: Conn, tenant: str, customer_id: str) -> list[AlertRow]:
    rows = await conn.fetch(
        "select * from ctx_alerts where tenant = $1 and customer_id = $2 order by raised_at desc limit 20",
        tenant,
        customer_id,
    )
    return [AlertRow.model_validate({k: r[k] for k in AlertRow.model_fields}) for r in rows]


# ---- figures ---------------------------------------------------------------------------------------------


async def weekly_work(
    conn: Conn,
    *,
    tenant: str,
    teams: list[str] | None,
    agent: str | None,
    since: datetime,
    until: datetime,
    tz: str,
) -> list[asyncpg.Record]:
    """Per week, team and agent (and per week and team, agent null): items worked, conversations
    (the customer was reached) and positive closes (R26's 150 a week and 95%)."""
    return await conn.fetch(
        """
        with o as (
            select (date_trunc('week', recorded_at at time zone $6))::date as week, team_id, agent_id,
                   callback_id, outcome, reached
            from callback_outcomes
            where tenant = $1 and recorded_at >= $4 and recorded_at < $5
              and ($2::text[] is null or team_id = any($2::text[]))
              and ($3::text is null or agent_id = $3)
        )
        select week, team_id, agent_id, grouping(agent_id) = 1 as team_total,
               count(distinct callback_id) as items_worked,
               count(*) filter (where reached) as conversations,
               count(*) filter (where outcome = 'closed_positively') as closed_positively
        from o
        group by grouping sets ((week, team_id, agent_id), (week, team_id))
        """,
        tenant,
        teams,
        agent,
        since,
        until,
        tz,
    )


async def weekly_lead_times(
    conn: Conn,
    *,
    tenant: str,
    teams: list[str] | None,
    agent: str | None,
    since: datetime,
    until: datetime,
    tz: str,
) -> list[asyncpg.Record]:
    """Lead time (R28): from the request to the first attempt, in seconds, by the week of that attempt."""
    return await conn.fetch(
        """
        with o as (
            select (date_trunc('week', o.recorded_at at time zone $6))::date as week, o.team_id, o.agent_id,
                   extract(epoch from o.recorded_at - c.requested_at)::float8 as lead_s
            from callback_outcomes o join callbacks c using (tenant, callback_id)
            where o.attempt = 1 and o.tenant = $1 and o.recorded_at >= $4 and o.recorded_at < $5
              and ($2::text[] is null or o.team_id = any($2::text[]))
              and ($3::text is null or o.agent_id = $3)
        )
        select week, team_id, agent_id, grouping(agent_id) = 1 as team_total,
               percentile_cont(0.5) within group (order by lead_s) as p50,
               percentile_cont(0.9) within group (order by lead_s) as p90
        from o
        group by grouping sets ((week, team_id, agent_id), (week, team_id))
        """,
        tenant,
        teams,
        agent,
        since,
        until,
        tz,
    )
