"""Intake's SQL, for its own tables only. Every table of tenant data has the tenant in its key and every
query names the tenant: an id that another tenant also uses lands beside the first, never on it."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Any, Literal

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from hoera_intake.domain import Complaint, Move, SlaUnit, Status

Conn = asyncpg.Connection | PoolConnectionProxy


_COLUMNS = [f.name for f in fields(Complaint)]
_MUTABLE = [c for c in _COLUMNS if c not in ("id", "tenant", "raised_at", "received_via")]


def _complaint(row: asyncpg.Record) -> Complaint:
    values = {c: row[c] for c in _COLUMNS}
    values["status"] = Status(values["status"])
    values["sla_unit"] = SlaUnit(values["sla_unit"])
    return Complaint(**values)


def _db_value(value: Any) -> Any:
    return value.value if isinstance(value, Status | SlaUnit) else value


async def save_complaint(conn: Conn, c: Complaint) -> None:
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(_MUTABLE, start=3))
    await conn.execute(
        f"update complaints set {sets}, updated_at = now() where tenant = $1 and id = $2",
        c.tenant,
        c.id,
        *(_db_value(getattr(c, name)) for name in _MUTABLE),
    )


async def get_complaint(
    conn: Conn, tenant: str, complaint_id: uuid.UUID, *, lock: bool = False
) -> Complaint | None:
    sql = f"select {', '.join(_COLUMNS)} from complaints where tenant = $1 and id = $2"
    row = await conn.fetchrow(sql + (" for update" if lock else ""), tenant, complaint_id)
    return _complaint(row) if row else None


async def by_platform_refs(conn: Conn, refs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Complaint]:
    """The dossiers of these (tenant, platform_ref), in one query."""
    if not refs:
        return {}
    rows = await conn.fetch(
        f"select {', '.join(f'c.{name}' for name in _COLUMNS)} from complaints c "
        "join unnest($1::text[], $2::text[]) as u(t, r) on c.tenant = u.t and c.platform_ref = u.r",
        [t for t, _ in refs],
        [r for _, r in refs],
    )
    found = [_complaint(r) for r in rows]
    return {(c.tenant, c.platform_ref): c for c in found if c.platform_ref is not None}


def _json_value(value: Any) -> Any:
    if isinstance(value, Status | SlaUnit):
        return value.value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


async def insert_complaints(conn: Conn, cs: Sequence[Complaint]) -> set[uuid.UUID]:
    """New dossiers in one statement; returns the ids inserted. One whose platform_ref another
    transaction has just used is not inserted (that dossier is the one: see by_platform_refs)."""
    if not cs:
        return set()
    rows = json.dumps([{name: _json_value(getattr(c, name)) for name in _COLUMNS} for c in cs])
    inserted = await conn.fetch(
        f"insert into complaints ({', '.join(_COLUMNS)}) "
        f"select {', '.join(_COLUMNS)} from json_populate_recordset(null::complaints, $1::text::json) "
        "on conflict (tenant, platform_ref) do nothing returning id",
        rows,
    )
    return {r["id"] for r in inserted}


async def open_complaints_of(conn: Conn, tenant: str, customer_id: str) -> list[Complaint]:
    rows = await conn.fetch(
        f"select {', '.join(_COLUMNS)} from complaints where tenant = $1 and customer_id = $2 "
        "and status <> 'closed' order by raised_at, id for update",
        tenant,
        customer_id,
    )
    return [_complaint(r) for r in rows]


async def deceased_case_complaints(conn: Conn, tenant: str, customer_id: str) -> list[Complaint]:
    """The customer's complaints a withdrawn marking touches, locked: the open ones and every one
    flagged about a deceased customer (a closed one may be reopened, and must then reach the customer)."""
    rows = await conn.fetch(
        f"select {', '.join(_COLUMNS)} from complaints where tenant = $1 and customer_id = $2 "
        "and (status <> 'closed' or about_deceased) order by raised_at, id for update",
        tenant,
        customer_id,
    )
    return [_complaint(r) for r in rows]


async def customer_teams(conn: Conn, tenant: str, customer_id: str) -> set[str]:
    """The teams that have dealt with the customer: their complaints' and their contacts'."""
    rows = await conn.fetch(
        "select team_id from complaints where tenant = $1 and customer_id = $2 and team_id is not null "
        "union select team_id from contacts where tenant = $1 and customer_id = $2",
        tenant,
        customer_id,
    )
    return {r["team_id"] for r in rows}


_CUSTOMER_LOCK = 0x1A7E
"""The first key of intake's per-customer advisory locks (the second is a hash of tenant and customer)."""


async def lock_customer(conn: Conn, tenant: str, customer_id: str) -> None:
    """Until the transaction ends: marking a customer deceased, withdrawing it and routing a new
    complaint of theirs take turns, so none of them acts on a marking another is changing."""
    await conn.execute(
        "select pg_advisory_xact_lock($1, hashtext($2))", _CUSTOMER_LOCK, f"{tenant}/{customer_id}"
    )


async def open_work(conn: Conn, tenant: str, agent_ids: list[str]) -> dict[str, int]:
    rows = await conn.fetch(
        "select agent_id, count(*) as n from complaints where tenant = $1 and agent_id = any($2::text[]) "
        "and status not in ('resolved', 'closed') group by agent_id",
        tenant,
        agent_ids,
    )
    return {r["agent_id"]: r["n"] for r in rows}


# ---- the complainant's contact details --------------------------------------------------------------


@dataclass(frozen=True)
class Complainant:
    email: str | None
    phone: str | None
    prefer_sms: bool
    next_of_kin_email: str | None


async def save_complainants(conn: Conn, rows: Sequence[tuple[str, uuid.UUID, Complainant]]) -> None:
    """The contact details handed over with new dossiers (HTTP), in one statement."""
    if not rows:
        return
    await conn.execute(
        "insert into complainants (tenant, complaint_id, email, phone, prefer_sms, next_of_kin_email) "
        "select * from unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::boolean[], $6::text[]) "
        "on conflict (tenant, complaint_id) do update set "
        "email = excluded.email, phone = excluded.phone, prefer_sms = excluded.prefer_sms, "
        "next_of_kin_email = coalesce(excluded.next_of_kin_email, complainants.next_of_kin_email)",
        [t for t, _, _ in rows],
        [i for _, i, _ in rows],
        [c.email for _, _, c in rows],
        [c.phone for _, _, c in rows],
        [c.prefer_sms for _, _, c in rows],
        [c.next_of_kin_email for _, _, c in rows],
    )


async def get_complainant(conn: Conn, tenant: str, complaint_id: uuid.UUID) -> Complainant | None:
    row = await conn.fetchrow(
        "select email, phone, prefer_sms, next_of_kin_email from complainants "
        "where tenant = $1 and complaint_id = $2",
        tenant,
        complaint_id,
    )
    return Complainant(**dict(row)) if row else None


# ---- timeline (R1) and status periods (R6) ----------------------------------------------------------


async def add_timeline(
    conn: Conn,
    c: Complaint,
    what: str,
    who: str,
    why: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        "insert into timeline (tenant, complaint_id, what, who, why, detail) values ($1, $2, $3, $4, $5, $6)",
        c.tenant,
        c.id,
        what,
        who,
        why,
        detail or {},
    )


@dataclass(frozen=True)
class TimelineEntry:
    """One line of a dossier's timeline, for writing many in one statement (add_timelines)."""

    tenant: str
    complaint_id: uuid.UUID
    what: str
    who: str
    why: str | None = None
    detail: dict[str, Any] | None = None


def entry(
    c: Complaint, what: str, who: str, why: str | None = None, detail: dict[str, Any] | None = None
) -> TimelineEntry:
    return TimelineEntry(c.tenant, c.id, what, who, why, detail)


async def add_timelines(conn: Conn, entries: Sequence[TimelineEntry], *, known_only: bool = False) -> None:
    """Timeline lines in one statement, each dossier's in the order given (their ids follow it).
    known_only: only lines of dossiers that exist in their tenant (others' events about a dossier not
    ours). Written dossier by dossier in a fixed order, so the key locks the lines take on their
    dossiers are taken in that order whatever the batch (fewer deadlocks between batches)."""
    if not entries:
        return
    known = " join complaints k on k.tenant = u.t and k.id = u.c" if known_only else ""
    await conn.execute(
        "insert into timeline (tenant, complaint_id, what, who, why, detail) "
        "select u.t, u.c, u.w, u.who, u.why, u.d::jsonb from unnest($1::text[], $2::uuid[], $3::text[], "
        "$4::text[], $5::text[], $6::text[]) with ordinality as u(t, c, w, who, why, d, n)"
        f"{known} order by u.t, u.c, u.n",
        [e.tenant for e in entries],
        [e.complaint_id for e in entries],
        [e.what for e in entries],
        [e.who for e in entries],
        [e.why for e in entries],
        [json.dumps(e.detail or {}) for e in entries],
    )


async def timeline(conn: Conn, tenant: str, complaint_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        "select at, what, who, why, detail from timeline where tenant = $1 and complaint_id = $2 order by id",
        tenant,
        complaint_id,
    )


async def start_period(conn: Conn, c: Complaint, at: datetime, *, first: bool = False) -> None:
    """Close the status period that is running (none for a new dossier) and start the one of c.status."""
    if not first:
        await conn.execute(
            "update status_periods set ended_at = $3 "
            "where tenant = $1 and complaint_id = $2 and ended_at is null",
            c.tenant,
            c.id,
            at,
        )
    if c.status is not Status.closed:
        await conn.execute(
            "insert into status_periods (complaint_id, tenant, status, category, team_id, started_at) "
            "values ($1, $2, $3, $4, $5, $6)",
            c.id,
            c.tenant,
            c.status.value,
            c.category,
            c.team_id,
            at,
        )


async def start_first_periods(conn: Conn, cs: Sequence[Complaint], at: datetime) -> None:
    """`start_period(first=True)` for many new dossiers, in one statement."""
    opened = [c for c in cs if c.status is not Status.closed]
    if not opened:
        return
    await conn.execute(
        "insert into status_periods (complaint_id, tenant, status, category, team_id, started_at) "
        "select c, t, s, k, tm, $6 from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[]) "
        "as u(c, t, s, k, tm)",
        [c.id for c in opened],
        [c.tenant for c in opened],
        [c.status.value for c in opened],
        [c.category for c in opened],
        [c.team_id for c in opened],
        at,
    )


async def step_durations(
    conn: Conn,
    tenant: str,
    since: datetime,
    until: datetime,
    *,
    teams: list[str] | None,
    category: str | None,
) -> list[asyncpg.Record]:
    """R6: p50/p90 seconds per status, category and team of the periods that ended in [since, until),
    of the teams given (None: every team, and periods without a team)."""
    return await conn.fetch(
        "select status, category, team_id, count(*) as periods, "
        "percentile_cont(0.5) within group (order by extract(epoch from ended_at - started_at)) as p50, "
        "percentile_cont(0.9) within group (order by extract(epoch from ended_at - started_at)) as p90 "
        "from status_periods where tenant = $1 and ended_at >= $2 and ended_at < $3 "
        "and ($4::text[] is null or team_id = any($4)) and ($5::text is null or category = $5) "
        "group by status, category, team_id order by status, category, team_id nulls last",
        tenant,
        since,
        until,
        teams,
        category,
    )


async def fcr(
    conn: Conn,
    tenant: str,
    since: datetime,
    until: datetime,
    *,
    bucket: str,
    teams: list[str] | None,
    zone: str,
) -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
    """R9: complaints resolved at first contact, and contacts the platform marked resolved first time,
    per period bucket (day, week, month, in the tenant's time zone) and team, of the teams given
    (None: every team, and complaints without a team)."""
    complaints = await conn.fetch(
        "select date_trunc($4, resolved_at, $6)::date as period, team_id, "
        "count(*) as resolved, count(*) filter (where first_contact_resolution) as first_contact "
        "from complaints where tenant = $1 and resolved_at >= $2 and resolved_at < $3 "
        "and ($5::text[] is null or team_id = any($5)) group by 1, 2 order by 1, 2 nulls last",
        tenant,
        since,
        until,
        bucket,
        teams,
        zone,
    )
    contacts = await conn.fetch(
        "select date_trunc($4, closed_at, $6)::date as period, team_id, "
        "count(*) filter (where first_contact_resolved is not null) as reported, "
        "count(*) filter (where first_contact_resolved) as first_contact "
        "from contacts where tenant = $1 and closed_at >= $2 and closed_at < $3 "
        "and ($5::text[] is null or team_id = any($5)) group by 1, 2 order by 1, 2",
        tenant,
        since,
        until,
        bucket,
        teams,
        zone,
    )
    return complaints, contacts


# ---- search -----------------------------------------------------------------------------------------


def encode_cursor(raised_at: datetime, complaint_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{raised_at.isoformat()}|{complaint_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """ValueError for anything that is not a cursor this service handed out."""
    text = base64.urlsafe_b64decode(cursor.encode()).decode()
    moment, _, ident = text.partition("|")
    at = datetime.fromisoformat(moment)
    if at.tzinfo is None:
        raise ValueError("cursor without time zone")
    return at, uuid.UUID(ident)


async def search(
    conn: Conn,
    tenant: str,
    *,
    customer_id: str | None,
    status: Status | None,
    category: str | None,
    team_id: str | None,
    overdue: bool | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
    now: datetime,
) -> list[Complaint]:
    """Newest first, keyset-paginated on (raised_at, id) so deep pages cost what the first does."""
    where = ["tenant = $1"]
    args: list[Any] = [tenant]

    def arg(value: Any) -> str:
        args.append(value)
        return f"${len(args)}"

    if customer_id is not None:
        where.append(f"customer_id = {arg(customer_id)}")
    if status is not None:
        where.append(f"status = {arg(status.value)}")
    if category is not None:
        where.append(f"category = {arg(category)}")
    if team_id is not None:
        where.append(f"team_id = {arg(team_id)}")
    if overdue is not None:
        late = f"(status not in ('resolved', 'closed') and paused_at is null and breach_at <= {arg(now)})"
        where.append(late if overdue else f"not {late}")
    if after is not None:
        where.append(f"(raised_at, id) < ({arg(after[0])}, {arg(after[1])})")
    rows = await conn.fetch(
        f"select {', '.join(_COLUMNS)} from complaints where {' and '.join(where)} "
        f"order by raised_at desc, id desc limit {arg(limit)}",
        *args,
    )
    return [_complaint(r) for r in rows]


# ---- contacts (R9) and deceased customers (R10) -----------------------------------------------------


async def record_contacts(
    conn: Conn, contacts: Sequence[tuple[str, dict[str, Any]]], via: str
) -> set[tuple[str, str]]:
    """Contacts ((tenant, values)) in one statement; returns the new ones as (tenant, contact_id).
    The same contact reported again (HTTP, topic, our own re-emitted event) changes nothing."""
    if not contacts:
        return set()
    rows = await conn.fetch(
        "insert into contacts (tenant, contact_id, customer_id, channel, agent_id, team_id, language, "
        "closed_at, first_contact_resolved, about_deceased, reported_via) "
        "select *, $11 from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], "
        "$6::text[], $7::text[], $8::timestamptz[], $9::boolean[], $10::boolean[]) "
        "on conflict (tenant, contact_id) do nothing returning tenant, contact_id",
        [t for t, _ in contacts],
        *(
            [v[name] for _, v in contacts]
            for name in (
                "contact_id",
                "customer_id",
                "channel",
                "agent_id",
                "team_id",
                "language",
                "closed_at",
                "first_contact_resolved",
                "about_deceased",
            )
        ),
        via,
    )
    return {(r["tenant"], r["contact_id"]) for r in rows}


@dataclass(frozen=True)
class Deceased:
    customer_id: str
    owner_agent_id: str
    team_id: str | None
    marked_at: datetime
    marked_by: str
    complaint_id: uuid.UUID | None
    contact_id: str | None
    next_of_kin_email: str | None
    reason: str = ""


async def get_deceased(
    conn: Conn, tenant: str, customer_id: str, *, lock: Literal["update", "key share"] | None = None
) -> Deceased | None:
    """lock: "key share" keeps the marking from being withdrawn until the transaction ends (a new
    complaint routed by it); "update" withdraws it (waits for those, and keeps new ones waiting)."""
    row = await conn.fetchrow(
        "select customer_id, owner_agent_id, team_id, marked_at, marked_by, complaint_id, contact_id, "
        "next_of_kin_email, reason from deceased_customers where tenant = $1 and customer_id = $2"
        + (f" for {lock}" if lock else ""),
        tenant,
        customer_id,
    )
    return Deceased(**dict(row)) if row else None


async def deceased_of(
    conn: Conn, customers: Sequence[tuple[str, str]], *, lock: Literal["key share"] | None = None
) -> dict[tuple[str, str], Deceased]:
    """`get_deceased` for many (tenant, customer_id) in one query; locked in a fixed order."""
    if not customers:
        return {}
    pairs = sorted(set(customers))
    rows = await conn.fetch(
        "select d.tenant, d.customer_id, d.owner_agent_id, d.team_id, d.marked_at, d.marked_by, "
        "d.complaint_id, d.contact_id, d.next_of_kin_email, d.reason from deceased_customers d "
        "join unnest($1::text[], $2::text[]) as u(t, c) on d.tenant = u.t and d.customer_id = u.c "
        "order by d.tenant, d.customer_id" + (f" for {lock} of d" if lock else ""),
        [t for t, _ in pairs],
        [c for _, c in pairs],
    )
    return {
        (r["tenant"], r["customer_id"]): Deceased(**{k: v for k, v in dict(r).items() if k != "tenant"})
        for r in rows
    }


async def insert_deceased(conn: Conn, tenant: str, d: Deceased) -> bool:
    inserted = await conn.fetchval(
        "insert into deceased_customers (tenant, customer_id, owner_agent_id, team_id, marked_at, "
        "marked_by, complaint_id, contact_id, next_of_kin_email, reason) "
        "values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) on conflict do nothing returning true",
        tenant,
        d.customer_id,
        d.owner_agent_id,
        d.team_id,
        d.marked_at,
        d.marked_by,
        d.complaint_id,
        d.contact_id,
        d.next_of_kin_email,
        d.reason,
    )
    return bool(inserted)


async def change_deceased_owner(conn: Conn, tenant: str, customer_id: str, owner: str) -> None:
    await conn.execute(
        "update deceased_customers set owner_agent_id = $3 where tenant = $1 and customer_id = $2",
        tenant,
        customer_id,
        owner,
    )


async def delete_deceased(conn: Conn, tenant: str, customer_id: str) -> None:
    """A withdrawn marking is gone (with the next of kin's address it held); the audit keeps its story."""
    await conn.execute(
        "delete from deceased_customers where tenant = $1 and customer_id = $2", tenant, customer_id
    )


@dataclass(frozen=True)
class DeceasedAudit:
    """One marking or withdrawal (R10): who, when, why, and which complaints changed hands."""

    customer_id: str
    action: str
    """marked or withdrawn"""
    actor: str
    at: datetime
    reason: str
    owner_agent_id: str
    team_id: str | None
    moved: list[Move]


def _move_json(m: Move) -> dict[str, Any]:
    return {
        "complaint_id": str(m.complaint_id),
        "from_agent_id": m.from_agent_id,
        "from_team_id": m.from_team_id,
        "to_agent_id": m.to_agent_id,
        "to_team_id": m.to_team_id,
    }


def _audit(row: asyncpg.Record) -> DeceasedAudit:
    values = dict(row)
    values["moved"] = [
        Move(
            complaint_id=uuid.UUID(m["complaint_id"]),
            from_agent_id=m["from_agent_id"],
            from_team_id=m["from_team_id"],
            to_agent_id=m["to_agent_id"],
            to_team_id=m["to_team_id"],
        )
        for m in values["moved"]
    ]
    return DeceasedAudit(**values)


async def add_deceased_audit(conn: Conn, tenant: str, a: DeceasedAudit) -> None:
    await conn.execute(
        "insert into deceased_audit (tenant, customer_id, action, actor, at, reason, owner_agent_id, "
        "team_id, moved) values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        tenant,
        a.customer_id,
        a.action,
        a.actor,
        a.at,
        a.reason,
        a.owner_agent_id,
        a.team_id,
        [_move_json(m) for m in a.moved],
    )


async def last_deceased_audit(conn: Conn, tenant: str, customer_id: str) -> DeceasedAudit | None:
    """The customer's latest marking or withdrawal."""
    row = await conn.fetchrow(
        "select customer_id, action, actor, at, reason, owner_agent_id, team_id, moved from deceased_audit "
        "where tenant = $1 and customer_id = $2 order by id desc limit 1",
        tenant,
        customer_id,
    )
    return _audit(row) if row else None


# ---- idempotent HTTP edges --------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredResponse:
    request_hash: str
    status_code: int
    body: Any


async def claim_idempotency_key(
    conn: Conn, tenant: str, scope: str, key: str, request_hash: str
) -> StoredResponse | None:
    """None: the key is new and now ours (in this transaction). Else the first request's answer;
    a concurrent first request holds the row until it commits, so we wait and then see its answer."""
    claimed = await conn.fetchval(
        "insert into idempotency_keys (tenant, scope, key, request_hash) values ($1, $2, $3, $4) "
        "on conflict do nothing returning true",
        tenant,
        scope,
        key,
        request_hash,
    )
    if claimed:
        return None
    row = await conn.fetchrow(
        "select request_hash, status_code, response from idempotency_keys "
        "where tenant = $1 and scope = $2 and key = $3",
        tenant,
        scope,
        key,
    )
    assert row is not None  # the insert above conflicted with it
    return StoredResponse(row["request_hash"], row["status_code"], row["response"])


async def store_response(conn: Conn, tenant: str, scope: str, key: str, status_code: int, body: Any) -> None:
    await conn.execute(
        "update idempotency_keys set status_code = $4, response = $5 "
        "where tenant = $1 and scope = $2 and key = $3",
        tenant,
        scope,
        key,
        status_code,
        body,
    )


# ---- tenants (intake owns them for every service) ----------------------------------------------------


@dataclass(frozen=True)
class TenantRow:
    id: str
    name: str
    template: str
    language: str
    mail_from: str
    platform_keys: list[dict[str, str]]
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime
    updated_by: str


_TENANT_COLUMNS = (
    "id, name, template, language, mail_from, platform_keys::text as platform_keys, active, version, "
    "created_at, updated_at, updated_by"
)


def _tenant(row: asyncpg.Record) -> TenantRow:
    return TenantRow(**{**dict(row), "platform_keys": json.loads(row["platform_keys"])})


async def get_tenant(conn: Conn, tenant_id: str, *, lock: bool = False) -> TenantRow | None:
    row = await conn.fetchrow(
        f"select {_TENANT_COLUMNS} from tenants where id = $1" + (" for update" if lock else ""), tenant_id
    )
    return _tenant(row) if row else None


async def list_tenants(conn: Conn) -> list[TenantRow]:
    return [_tenant(r) for r in await conn.fetch(f"select {_TENANT_COLUMNS} from tenants order by id")]


async def insert_tenant(
    conn: Conn,
    *,
    tenant_id: str,
    name: str,
    template: str,
    language: str,
    mail_from: str,
    platform_keys: list[dict[str, str]],
    by: str,
) -> TenantRow | None:
    """None: a tenant of that id exists already."""
    row = await conn.fetchrow(
        "insert into tenants (id, name, template, language, mail_from, platform_keys, updated_by) "
        "values ($1, $2, $3, $4, $5, $6::text::jsonb, $7) on conflict (id) do nothing "
        f"returning {_TENANT_COLUMNS}",
        tenant_id,
        name,
        template,
        language,
        mail_from,
        json.dumps(platform_keys),
        by,
    )
    return _tenant(row) if row else None


async def update_tenant(
    conn: Conn,
    tenant_id: str,
    *,
    name: str,
    mail_from: str,
    platform_keys: list[dict[str, str]],
    active: bool,
    by: str,
) -> TenantRow:
    row = await conn.fetchrow(
        "update tenants set name = $2, mail_from = $3, platform_keys = $4::text::jsonb, active = $5, "
        "version = version + 1, updated_at = now(), updated_by = $6 where id = $1 "
        f"returning {_TENANT_COLUMNS}",
        tenant_id,
        name,
        mail_from,
        json.dumps(platform_keys),
        active,
        by,
    )
    assert row is not None
    return _tenant(row)


async def add_tenant_change(
    conn: Conn, tenant_id: str, version: int, by: str, before: str, after: str
) -> None:
    await conn.execute(
        "insert into tenant_changes (tenant, version, changed_by, before, after) "
        "values ($1, $2, $3, $4::text::jsonb, $5::text::jsonb)",
        tenant_id,
        version,
        by,
        before,
        after,
    )


async def unpublished(conn: Conn, key: str, topics: list[str]) -> int:
    """Outbox rows of these topics and key not yet on the broker (the relay deletes what it published)."""
    n: int = await conn.fetchval(
        "select count(*) from kit_outbox where key = $1 and topic = any($2::text[])", key, topics
    )
    return n


async def tenants_with(conn: Conn, document: str) -> list[str]:
    """The tenants that have written a rule document (carried over by a migration, or since)."""
    rows = await conn.fetch("select distinct tenant from kit_rule_versions where name = $1", document)
    return [r["tenant"] for r in rows]
