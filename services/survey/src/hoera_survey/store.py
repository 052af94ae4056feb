"""The survey service's SQL: its own tables only (migrations/). Every table holds one tenant's rows
under a key that starts with the tenant, and every query names the tenant: a caller of one tenant
can at worst find nothing of another's. The one lookup without a tenant is a link key's, by the id a
link carries: it is how a link (which has no login) says which tenant it belongs to."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from hoera_events.common import AgeBand, Channel, Language, MessageChannel
from hoera_events.surveys import SurveyTrigger
from hoera_kit.db import Conn

from hoera_survey.domain import Answer, BudgetKind, DeceasedMark, Spend, Standing, Suppress, Tally
from hoera_survey.links import LinkKey


class SurveyState(StrEnum):
    scheduled = "scheduled"
    """Waiting for the rules' delay; the budget is decided when it ends."""
    invited = "invited"
    answered = "answered"
    suppressed = "suppressed"


@dataclass(frozen=True)
class SurveyRow:
    survey_id: UUID
    tenant: str
    customer_id: str
    trigger: SurveyTrigger
    trigger_ref: str
    """What the survey is about, unique per tenant: contact:<id>, complaint:<id>, callback:<id>."""
    channel: Channel
    language: Language
    state: SurveyState
    requested_at: datetime
    due_at: datetime
    contact_id: str | None = None
    complaint_id: UUID | None = None
    callback_id: UUID | None = None
    agent_id: str | None = None
    team_id: str | None = None
    age_band: AgeBand | None = None
    recording_ref: str | None = None
    correlation_id: UUID | None = None
    delivery_channel: MessageChannel | None = None
    invited_at: datetime | None = None
    expires_at: datetime | None = None
    link_nonce: str | None = None
    answered_at: datetime | None = None


_SURVEY_COLUMNS = [f.name for f in fields(SurveyRow)]
_CONVERT: dict[str, Any] = {
    "trigger": SurveyTrigger,
    "channel": Channel,
    "language": Language,
    "state": SurveyState,
    "age_band": AgeBand,
    "delivery_channel": MessageChannel,
}


def _survey(row: Any) -> SurveyRow:
    values = {}
    for name in _SURVEY_COLUMNS:
        value = row[name]
        if value is not None and name in _CONVERT:
            value = _CONVERT[name](value)
        values[name] = value
    return SurveyRow(**values)


def _db(value: Any) -> Any:
    return value.value if isinstance(value, StrEnum) else value


def _json(value: Any) -> Any:
    if isinstance(value, UUID | datetime):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


async def insert_surveys(conn: Conn, surveys: Sequence[SurveyRow]) -> set[tuple[str, UUID]]:
    """Many surveys in one statement; returns those inserted ((tenant, survey_id)). A survey whose
    tenant already has one for the same trigger_ref is left out (a second trigger). The rows are read
    into the table's own column types (json_populate_recordset), so no type is named twice."""
    if not surveys:
        return set()
    names = ", ".join(_SURVEY_COLUMNS)
    rows = [{n: _db(getattr(survey, n)) for n in _SURVEY_COLUMNS} for survey in surveys]
    inserted = await conn.fetch(
        f"insert into surveys ({names}) select {names} "
        "from json_populate_recordset(null::surveys, $1::text::json) "
        "on conflict (tenant, trigger_ref) do nothing returning tenant, survey_id",
        json.dumps(rows, default=_json),
    )
    return {(r["tenant"], r["survey_id"]) for r in inserted}


async def get_survey(
    conn: Conn, tenant: str, survey_id: UUID, *, for_update: bool = False
) -> SurveyRow | None:
    lock = " for update" if for_update else ""
    row = await conn.fetchrow(
        f"select {', '.join(_SURVEY_COLUMNS)} from surveys where tenant = $1 and survey_id = $2{lock}",
        tenant,
        survey_id,
    )
    return _survey(row) if row else None


async def lock_customers(conn: Conn, customers: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Standing]:
    """R21: the customers' rows ((tenant, customer_id)), locked until the transaction ends (made on
    first use), in one statement, in the order given (callers sort them, so two transactions sharing
    customers cannot deadlock on each other).

    Every budget decision for a customer passes here, so concurrent decisions for that customer, on
    any replica, run one after the other and each sees what the previous one spent.
    """
    rows = await conn.fetch(
        "insert into customers (tenant, customer_id) "
        "select t, c from unnest($1::text[], $2::text[]) with ordinality as u(t, c, n) order by n "
        "on conflict (tenant, customer_id) do update set customer_id = excluded.customer_id "
        "returning tenant, customer_id, deceased_at, opted_out_at",
        [t for t, _ in customers],
        [c for _, c in customers],
    )
    return {
        (r["tenant"], r["customer_id"]): Standing(
            deceased=r["deceased_at"] is not None, opted_out=r["opted_out_at"] is not None
        )
        for r in rows
    }


async def spends_since_many(
    conn: Conn, since: Mapping[tuple[str, str], datetime]
) -> dict[tuple[str, str], list[Spend]]:
    """Each customer's spends after its own moment, in one statement, oldest first."""
    found: dict[tuple[str, str], list[Spend]] = {key: [] for key in since}
    rows = await conn.fetch(
        "select b.tenant, b.customer_id, b.kind, b.spent_at from budget_spends b "
        "join unnest($1::text[], $2::text[], $3::timestamptz[]) as u(t, c, since) "
        "on b.tenant = u.t and b.customer_id = u.c and b.spent_at > u.since order by b.spent_at",
        [t for t, _ in since],
        [c for _, c in since],
        list(since.values()),
    )
    for r in rows:
        found[(r["tenant"], r["customer_id"])].append(Spend(BudgetKind(r["kind"]), r["spent_at"]))
    return found


@dataclass(frozen=True)
class NewSpend:
    tenant: str
    customer_id: str
    kind: BudgetKind
    at: datetime
    reference: str


async def add_spends(conn: Conn, spends: Sequence[NewSpend]) -> set[tuple[str, BudgetKind, str]]:
    """Many spends in one statement; a reference spent already adds nothing (a repeated request).
    Returns the (tenant, kind, reference) spent here."""
    if not spends:
        return set()
    rows = await conn.fetch(
        "insert into budget_spends (tenant, customer_id, kind, spent_at, reference) "
        "select * from unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[]) "
        "on conflict (tenant, kind, reference) do nothing returning tenant, kind, reference",
        [x.tenant for x in spends],
        [x.customer_id for x in spends],
        [x.kind.value for x in spends],
        [x.at for x in spends],
        [x.reference for x in spends],
    )
    return {(r["tenant"], BudgetKind(r["kind"]), r["reference"]) for r in rows}


async def spent_for(conn: Conn, tenant: str, kind: BudgetKind, reference: str) -> str | None:
    """The customer whose budget this reference was spent on, if it was."""
    customer_id: str | None = await conn.fetchval(
        "select customer_id from budget_spends where tenant = $1 and kind = $2 and reference = $3",
        tenant,
        kind.value,
        reference,
    )
    return customer_id


@dataclass(frozen=True)
class Invited:
    tenant: str
    survey_id: UUID
    language: Language
    delivery_channel: MessageChannel
    invited_at: datetime
    expires_at: datetime
    nonce: str


async def mark_invited_many(conn: Conn, invited: Sequence[Invited]) -> None:
    """`mark_invited` for many surveys in one statement."""
    if not invited:
        return
    await conn.execute(
        "update surveys s set state = 'invited', language = u.l, delivery_channel = u.d, "
        "invited_at = u.i, expires_at = u.e, link_nonce = u.n "
        "from unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[], "
        "$6::timestamptz[], $7::text[]) as u(t, id, l, d, i, e, n) "
        "where s.tenant = u.t and s.survey_id = u.id",
        [x.tenant for x in invited],
        [x.survey_id for x in invited],
        [x.language.value for x in invited],
        [x.delivery_channel.value for x in invited],
        [x.invited_at for x in invited],
        [x.expires_at for x in invited],
        [x.nonce for x in invited],
    )


async def mark_suppressed_many(conn: Conn, surveys: Sequence[tuple[str, UUID]]) -> None:
    if not surveys:
        return
    await conn.execute(
        "update surveys s set state = 'suppressed' from unnest($1::text[], $2::uuid[]) as u(t, id) "
        "where s.tenant = u.t and s.survey_id = u.id",
        [t for t, _ in surveys],
        [i for _, i in surveys],
    )


async def consume_link(
    conn: Conn, tenant: str, survey_id: UUID, nonce: str, now: datetime
) -> SurveyRow | None:
    """The single use of a link: only one transaction can move an invited survey to answered."""
    row = await conn.fetchrow(
        "update surveys set state = 'answered', answered_at = $4, link_nonce = null "
        "where tenant = $1 and survey_id = $2 and state = 'invited' and link_nonce = $3 "
        f"and expires_at > $4 returning {', '.join(_SURVEY_COLUMNS)}",
        tenant,
        survey_id,
        nonce,
        now,
    )
    return _survey(row) if row else None


async def add_answer(
    conn: Conn,
    tenant: str,
    survey_id: UUID,
    answer: Answer,
    *,
    answered_at: datetime,
    language: Language,
    topics: list[str],
) -> None:
    await conn.execute(
        "insert into survey_answers (tenant, survey_id, answered_at, language, satisfaction, effort, nps, "
        "attributes, comment, contact_me, reason, topics) "
        "values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        tenant,
        survey_id,
        answered_at,
        language.value,
        answer.satisfaction,
        answer.effort,
        answer.nps,
        {k.value: v for k, v in answer.attributes.items()},
        answer.comment,
        answer.contact_me.model_dump(mode="json") if answer.contact_me else None,
        answer.reason,
        topics,
    )


@dataclass(frozen=True)
class AnswerComment:
    """A customer's words, with the answer's reason and the topics the words were tagged with."""

    comment: str
    reason: str | None
    topics: list[str]


async def comments(conn: Conn, tenant: str, survey_ids: list[UUID]) -> dict[UUID, AnswerComment]:
    """The comments of these answered surveys of the tenant; none written (or erased): absent."""
    rows = await conn.fetch(
        "select survey_id, comment, reason, topics from survey_answers "
        "where tenant = $1 and survey_id = any($2::uuid[]) and comment is not null",
        tenant,
        survey_ids,
    )
    return {r["survey_id"]: AnswerComment(r["comment"], r["reason"], list(r["topics"])) for r in rows}


class MarkChange(StrEnum):
    marked = "marked"
    withdrawn = "withdrawn"


async def lock_deceased_marks(
    conn: Conn, customers: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], DeceasedMark]:
    """R10: the customers' deceased marks ((tenant, customer_id)), their rows locked until the
    transaction ends (made on first use), in one statement, in the order given (callers sort them,
    as for lock_customers): a mark and its withdrawal decided at once on two consumers see each other."""
    rows = await conn.fetch(
        "insert into customers (tenant, customer_id) "
        "select t, c from unnest($1::text[], $2::text[]) with ordinality as u(t, c, n) order by n "
        "on conflict (tenant, customer_id) do update set customer_id = excluded.customer_id "
        "returning tenant, customer_id, deceased_at, deceased_mark_withdrawn_at",
        [t for t, _ in customers],
        [c for _, c in customers],
    )
    return {
        (r["tenant"], r["customer_id"]): DeceasedMark(
            marked_at=r["deceased_at"], withdrawn_at=r["deceased_mark_withdrawn_at"]
        )
        for r in rows
    }


@dataclass(frozen=True)
class MarkHistory:
    """One change of a customer's deceased mark, and the standing it left."""

    tenant: str
    customer_id: str
    change: MarkChange
    at: datetime
    agent_id: str
    event_id: UUID
    deceased_after: bool


async def save_deceased_marks(
    conn: Conn, marks: Mapping[tuple[str, str], DeceasedMark], history: Sequence[MarkHistory]
) -> None:
    """The marks in force (rows locked by lock_deceased_marks), and the changes that led to them in
    the history (never overwritten), in the order given: two statements however many."""
    if marks:
        await conn.execute(
            "update customers c set deceased_at = u.m, deceased_mark_withdrawn_at = u.w "
            "from unnest($1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[]) as u(t, id, m, w) "
            "where c.tenant = u.t and c.customer_id = u.id",
            [t for t, _ in marks],
            [c for _, c in marks],
            [m.marked_at for m in marks.values()],
            [m.withdrawn_at for m in marks.values()],
        )
    if history:
        await conn.execute(
            "insert into deceased_mark_history (tenant, customer_id, change, occurred_at, agent_id, "
            "event_id, deceased_after) select t, c, ch, at, agent, ev, dec from unnest($1::text[], "
            "$2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::uuid[], $7::boolean[]) "
            "with ordinality as u(t, c, ch, at, agent, ev, dec, n) order by n",
            [h.tenant for h in history],
            [h.customer_id for h in history],
            [h.change.value for h in history],
            [h.at for h in history],
            [h.agent_id for h in history],
            [h.event_id for h in history],
            [h.deceased_after for h in history],
        )


async def set_opt_out(conn: Conn, tenant: str, customer_id: str, at: datetime | None, by: str | None) -> None:
    await conn.execute(
        "insert into customers (tenant, customer_id, opted_out_at, opted_out_by) values ($1, $2, $3, $4) "
        "on conflict (tenant, customer_id) do update "
        "set opted_out_at = excluded.opted_out_at, opted_out_by = excluded.opted_out_by",
        tenant,
        customer_id,
        at,
        by,
    )


async def customer(conn: Conn, tenant: str, customer_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "select customer_id, deceased_at, deceased_mark_withdrawn_at, opted_out_at, opted_out_by "
        "from customers "
        "where tenant = $1 and customer_id = $2",
        tenant,
        customer_id,
    )
    return dict(row) if row else None


class Segment(StrEnum):
    """R20: the segments response rates are broken down by (where the platform gives them)."""

    channel = "channel"
    language = "language"
    team = "team"
    age_band = "age_band"
    trigger = "trigger"


_SEGMENT_COLUMN = {
    Segment.channel: "s.channel",
    Segment.language: "s.language",
    Segment.team: "s.team_id",
    Segment.age_band: "s.age_band",
    Segment.trigger: "s.trigger",
}


async def tallies(
    conn: Conn,
    *,
    tenant: str,
    since: datetime,
    until: datetime,
    segment: Segment | None,
    teams: list[str] | None,
) -> list[tuple[str | None, Tally]]:
    """Counts per segment value of the surveys invited in [since, until); teams=None: every team."""
    column = _SEGMENT_COLUMN[segment] if segment else "null::text"
    rows = await conn.fetch(
        f"select {column} as segment, count(*) as invited, count(a.survey_id) as answered, "
        "count(a.satisfaction) as satisfaction_answers, "
        "count(*) filter (where a.satisfaction >= 4) as satisfied, "
        "coalesce(sum(a.satisfaction), 0) as satisfaction_sum, "
        "count(a.effort) as effort_answers, coalesce(sum(a.effort), 0) as effort_sum, "
        "count(a.nps) as nps_answers, count(*) filter (where a.nps >= 9) as promoters, "
        "count(*) filter (where a.nps <= 6) as detractors "
        "from surveys s left join survey_answers a on a.tenant = s.tenant and a.survey_id = s.survey_id "
        "where s.tenant = $1 and s.invited_at >= $2 and s.invited_at < $3 "
        "and ($4::text[] is null or s.team_id = any($4::text[])) "
        "group by 1 order by 1 nulls last",
        tenant,
        since,
        until,
        teams,
    )
    return [
        (
            r["segment"],
            Tally(**{k: int(v) for k, v in r.items() if k != "segment"}),
        )
        for r in rows
    ]


async def suppression_counts(
    conn: Conn, *, tenant: str, since: datetime, until: datetime, teams: list[str] | None
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "select kind, reason, detail, count(*) as n from suppressions "
        "where tenant = $1 and suppressed_at >= $2 and suppressed_at < $3 "
        "and ($4::text[] is null or team_id = any($4::text[])) "
        "group by kind, reason, detail order by kind, reason, detail",
        tenant,
        since,
        until,
        teams,
    )
    return [dict(r) for r in rows]


# --- the survey links' signing keys ----------------------------------------------------------------


@dataclass(frozen=True)
class KeyRow:
    generation: int
    key_id: str
    created_at: datetime
    created_by: str
    retired_at: datetime | None


async def link_key(conn: Conn, key_id: str) -> LinkKey | None:
    """A key that is not retired, by the id a link carries (it names the link's tenant)."""
    row = await conn.fetchrow(
        "select tenant, key_id, secret from link_keys where key_id = $1 and secret is not null", key_id
    )
    return LinkKey(row["tenant"], row["key_id"], bytes(row["secret"])) if row else None


@dataclass(frozen=True)
class NewSuppression:
    tenant: str
    customer_id: str
    kind: BudgetKind
    suppress: Suppress
    reference: str
    at: datetime
    trigger: SurveyTrigger | None = None
    survey_id: UUID | None = None
    channel: Channel | None = None
    team_id: str | None = None


async def add_suppressions(conn: Conn, rows: Sequence[NewSuppression]) -> None:
    """Many suppressions in one statement (R21: never silently)."""
    if not rows:
        return
    await conn.execute(
        "insert into suppressions (tenant, customer_id, kind, trigger, reason, detail, survey_id, "
        "channel, team_id, reference, suppressed_at) select * from unnest($1::text[], $2::text[], "
        "$3::text[], $4::text[], $5::text[], $6::text[], $7::uuid[], $8::text[], $9::text[], $10::text[], "
        "$11::timestamptz[])",
        [x.tenant for x in rows],
        [x.customer_id for x in rows],
        [x.kind.value for x in rows],
        [_db(x.trigger) for x in rows],
        [x.suppress.reason.value for x in rows],
        [x.suppress.detail for x in rows],
        [x.survey_id for x in rows],
        [_db(x.channel) for x in rows],
        [x.team_id for x in rows],
        [x.reference for x in rows],
        [x.at for x in rows],
    )


async def signing_keys(conn: Conn, tenants: Sequence[str]) -> dict[str, LinkKey]:
    """Each tenant's newest key (those that have one), in one statement."""
    rows = await conn.fetch(
        "select distinct on (tenant) tenant, key_id, secret from link_keys "
        "where tenant = any($1::text[]) and secret is not null order by tenant, generation desc",
        list(tenants),
    )
    return {r["tenant"]: LinkKey(r["tenant"], r["key_id"], bytes(r["secret"])) for r in rows}


async def newest_generation(conn: Conn, tenant: str) -> int:
    generation: int = await conn.fetchval(
        "select coalesce(max(generation), 0) from link_keys where tenant = $1", tenant
    )
    return generation


async def signing_key(conn: Conn, tenant: str) -> LinkKey | None:
    """The tenant's newest key: it signs every new link."""
    row = await conn.fetchrow(
        "select tenant, key_id, secret from link_keys where tenant = $1 and secret is not null "
        "order by generation desc limit 1",
        tenant,
    )
    return LinkKey(row["tenant"], row["key_id"], bytes(row["secret"])) if row else None


async def add_link_key(conn: Conn, key: LinkKey, generation: int, created_by: str) -> bool:
    """False when that generation exists already (another transaction made it first)."""
    inserted = await conn.fetchval(
        "insert into link_keys (tenant, generation, key_id, secret, created_by) values ($1, $2, $3, $4, $5) "
        "on conflict (tenant, generation) do nothing returning true",
        key.tenant,
        generation,
        key.key_id,
        key.secret,
        created_by,
    )
    return bool(inserted)


async def retire_link_keys(conn: Conn, tenant: str, *, older_than: int, at: datetime) -> None:
    """Destroy the secrets of the tenant's keys before generation `older_than`."""
    await conn.execute(
        "update link_keys set secret = null, retired_at = $3 "
        "where tenant = $1 and generation < $2 and secret is not null",
        tenant,
        older_than,
        at,
    )


async def link_keys(conn: Conn, tenant: str) -> list[KeyRow]:
    rows = await conn.fetch(
        "select generation, key_id, created_at, created_by, retired_at from link_keys where tenant = $1 "
        "order by generation desc",
        tenant,
    )
    return [KeyRow(**dict(r)) for r in rows]
