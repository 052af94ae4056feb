"""The recovery loop's SQL: cases and their timeline, improvement actions, and the figures of both.

Every query names the tenant. Figures are computed from the cases and the complaint read model at the
moment they are asked for, never stored, so a page and an export of the same period agree.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg
from hoera_kit.db import Conn
from pydantic import BaseModel, Field, computed_field


class RecoveryCase(BaseModel):
    tenant: str
    case_id: UUID
    open_ref: str
    customer_id: str
    team_id: str
    agent_id: str | None = None
    trigger: str
    opened_at: datetime
    due_at: datetime
    survey_id: UUID | None = None
    complaint_id: UUID | None = None
    contact_id: str | None = None
    reason: str | None = None
    topics: list[str] = Field(default_factory=list)
    first_satisfaction: int | None = None
    status: str
    escalated_at: datetime | None = None
    callback_id: UUID | None = None
    callback_outcome: str | None = None
    churn_signal: bool = False
    recovery_survey_id: UUID | None = None
    recovery_satisfaction: int | None = None
    suggested_outcome: str | None = None
    root_cause_department: str | None = None
    outcome: str | None = None
    closed_at: datetime | None = None
    closed_by: str | None = None
    close_note: str | None = None


_FIELDS = tuple(RecoveryCase.model_fields)
_COLUMNS = ", ".join(_FIELDS)


def _case(row: asyncpg.Record | None) -> RecoveryCase | None:
    return RecoveryCase.model_validate(dict(row)) if row is not None else None


async def get(conn: Conn, tenant: str, case_id: UUID, *, for_update: bool = False) -> RecoveryCase | None:
    lock = " for update" if for_update else ""
    row = await conn.fetchrow(
        f"select {_COLUMNS} from recovery_cases where tenant = $1 and case_id = $2{lock}", tenant, case_id
    )
    return _case(row)


async def by_callback(conn: Conn, tenant: str, callback_id: UUID) -> RecoveryCase | None:
    """The case a callback worked (the latest, should a callback have served two), locked."""
    row = await conn.fetchrow(
        f"select {_COLUMNS} from recovery_cases where tenant = $1 and callback_id = $2 "
        "order by opened_at desc limit 1 for update",
        tenant,
        callback_id,
    )
    return _case(row)


async def update(conn: Conn, tenant: str, case_id: UUID, values: dict[str, Any]) -> RecoveryCase:
    names = list(values)
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(names, start=3))
    row = await conn.fetchrow(
        f"update recovery_cases set {sets} where tenant = $1 and case_id = $2 returning {_COLUMNS}",
        tenant,
        case_id,
        *values.values(),
    )
    found = _case(row)
    assert found is not None, "recovery cases are never deleted"
    return found


class Step(BaseModel):
    at: datetime
    kind: str
    actor: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


async def add_step(conn: Conn, tenant: str, case_id: UUID, step: Step) -> None:
    await conn.execute(
        "insert into recovery_steps (tenant, case_id, at, kind, actor, detail) "
        "values ($1, $2, $3, $4, $5, $6)",
        tenant,
        case_id,
        step.at,
        step.kind,
        step.actor,
        json.dumps(step.detail),
    )


async def add_steps(conn: Conn, steps: Sequence[tuple[str, UUID, Step]]) -> None:
    """Steps ((tenant, case_id, step)) in one statement, numbered in the order given; the detail is
    kept as `add_step` keeps it (its JSON text as a JSON string), so `steps` reads both alike."""
    if not steps:
        return
    await conn.execute(
        "insert into recovery_steps (tenant, case_id, at, kind, actor, detail) "
        "select t, c, a, k, w, to_jsonb(d) from unnest($1::text[], $2::uuid[], $3::timestamptz[], "
        "$4::text[], $5::text[], $6::text[]) with ordinality as u(t, c, a, k, w, d, n) order by n",
        [t for t, _, _ in steps],
        [c for _, c, _ in steps],
        [s.at for _, _, s in steps],
        [s.kind for _, _, s in steps],
        [s.actor for _, _, s in steps],
        [json.dumps(s.detail) for _, _, s in steps],
    )


async def cases_for(
    conn: Conn,
    customers: Sequence[tuple[str, str]],
    open_refs: Sequence[tuple[str, str]],
    callbacks: Sequence[tuple[str, UUID]],
) -> list[RecoveryCase]:
    """In one statement, locked in a fixed order: the open cases of these customers, the cases these
    signals opened and the cases these callbacks worked."""
    if not customers and not open_refs and not callbacks:
        return []
    rows = await conn.fetch(
        f"select {', '.join(f'r.{n}' for n in _FIELDS)} from recovery_cases r "
        "where (r.tenant, r.case_id) in ("
        "  select tenant, case_id from recovery_cases where status = 'open' "
        "  and (tenant, customer_id) in (select * from unnest($1::text[], $2::text[])) "
        "  union select tenant, case_id from recovery_cases "
        "  where (tenant, open_ref) in (select * from unnest($3::text[], $4::text[])) "
        "  union select tenant, case_id from recovery_cases "
        "  where (tenant, callback_id) in (select * from unnest($5::text[], $6::uuid[]))"
        ") order by r.tenant, r.case_id for update of r",
        *_pairs(customers),
        *_pairs(open_refs),
        *_pairs(callbacks),
    )
    return [RecoveryCase.model_validate(dict(r)) for r in rows]


async def insert_cases(conn: Conn, cases: Sequence[RecoveryCase]) -> int:
    """New cases in one statement; how many went in (a signal that already opened one, or a customer
    who has an open one, adds none)."""
    if not cases:
        return 0
    inserted = await conn.fetch(
        f"insert into recovery_cases ({_COLUMNS}) select {_COLUMNS} "
        "from json_populate_recordset(null::recovery_cases, $1::text::json) "
        "on conflict do nothing returning case_id",
        json.dumps([c.model_dump(mode="json") for c in cases]),
    )
    return len(inserted)


async def update_cases(conn: Conn, cases: Sequence[RecoveryCase]) -> None:
    """Cases (locked by this transaction) written as they are now, in one statement."""
    if not cases:
        return
    names = [n for n in _FIELDS if n not in ("tenant", "case_id")]
    await conn.execute(
        f"update recovery_cases r set {', '.join(f'{n} = v.{n}' for n in names)} "
        "from json_populate_recordset(null::recovery_cases, $1::text::json) v "
        "where r.tenant = v.tenant and r.case_id = v.case_id",
        json.dumps([c.model_dump(mode="json") for c in cases]),
    )


def _pairs(keys: Sequence[tuple[str, Any]]) -> tuple[list[str], list[Any]]:
    ordered = sorted(set(keys))
    return [k[0] for k in ordered], [k[1] for k in ordered]


async def steps(conn: Conn, tenant: str, case_id: UUID) -> list[Step]:
    rows = await conn.fetch(
        "select at, kind, actor, detail from recovery_steps where tenant = $1 and case_id = $2 "
        "order by step_no",
        tenant,
        case_id,
    )
    return [Step(at=r["at"], kind=r["kind"], actor=r["actor"], detail=json.loads(r["detail"])) for r in rows]


async def cases(
    conn: Conn,
    tenant: str,
    *,
    teams: list[str] | None,
    status: str | None,
    department: str | None = None,
    overdue_at: datetime | None = None,
    limit: int = 200,
) -> list[RecoveryCase]:
    """Newest first; `teams` None for every team of the tenant; `overdue_at` keeps the open cases due by
    then or escalated."""
    rows = await conn.fetch(
        f"select {_COLUMNS} from recovery_cases where tenant = $1 "
        "and ($2::text[] is null or team_id = any($2)) and ($3::text is null or status = $3) "
        "and ($4::text is null or root_cause_department = $4) "
        "and ($5::timestamptz is null "
        "     or (status = 'open' and (due_at <= $5 or escalated_at is not null))) "
        "order by opened_at desc limit $6",
        tenant,
        teams,
        status,
        department,
        overdue_at,
        limit,
    )
    return [RecoveryCase.model_validate(dict(r)) for r in rows]


# ---- figures ------------------------------------------------------------------------------------

_DIMENSIONS = {
    "team": "team_id",
    "agent": "agent_id",
    "department": "root_cause_department",
    "reason": "reason",
    "week": "to_char(date_trunc('week', closed_at at time zone $5), 'IYYY-\"W\"IW')",
}
"""What the recovery figures can be grouped by; the names are the API's, the values trusted SQL."""


class RecoveryFigures(BaseModel):
    """The recovery figures of one group of closed cases (definitions in docs/services/callback.md)."""

    group: str | None
    closed: int
    rated: int
    """Closed as recovered, not recovered or customer left: the rate's denominator."""
    recovered: int
    lost: int
    """Not recovered or customer left."""
    left: int
    """Customer left: churn."""
    median_hours_to_recover: float | None
    """Median time from opening to closing, of the recovered cases."""
    first_satisfaction: float | None
    """Mean smiley that opened the cases that also have a recovery survey answer."""
    recovery_satisfaction: float | None
    """Mean smiley of the recovery survey, on the same cases."""
    churn_signals: int
    """Cases where the customer said they were considering leaving."""
    churn_signals_recovered: int
    churn_signals_lost: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def rate(self) -> float | None:
        return self.recovered / self.rated if self.rated else None


async def recovery_figures(
    conn: Conn,
    tenant: str,
    *,
    by: str | None,
    since: datetime,
    until: datetime,
    timezone: str,
    teams: list[str] | None,
) -> list[RecoveryFigures]:
    """Cases closed in [since, until), grouped by one dimension (or all together when `by` is None)."""
    group = _DIMENSIONS[by] if by else "null::text"
    rows = await conn.fetch(
        f"""
        select {group} as grp,
               count(*) as closed,
               count(*) filter (where outcome in ('recovered', 'not_recovered', 'customer_left')) as rated,
               count(*) filter (where outcome = 'recovered') as recovered,
               count(*) filter (where outcome in ('not_recovered', 'customer_left')) as lost,
               count(*) filter (where outcome = 'customer_left') as left_,
               percentile_cont(0.5) within group (order by extract(epoch from closed_at - opened_at) / 3600)
                   filter (where outcome = 'recovered') as median_hours,
               avg(first_satisfaction) filter (where recovery_satisfaction is not null
                   and first_satisfaction is not null) as first_sat,
               avg(recovery_satisfaction) filter (where recovery_satisfaction is not null
                   and first_satisfaction is not null) as recovery_sat,
               count(*) filter (where churn_signal) as churn,
               count(*) filter (where churn_signal and outcome = 'recovered') as churn_recovered,
               count(*) filter (where churn_signal
                   and outcome in ('not_recovered', 'customer_left')) as churn_lost
        from recovery_cases
        where tenant = $1 and status = 'closed' and closed_at >= $2 and closed_at < $3
          and ($4::text[] is null or team_id = any($4))
        group by 1 order by 1 nulls first
        """,
        tenant,
        since,
        until,
        teams,
        *([timezone] if by == "week" else []),  # a week is the tenant's, in its time zone
    )
    return [
        RecoveryFigures(
            group=r["grp"],
            closed=r["closed"],
            rated=r["rated"],
            recovered=r["recovered"],
            lost=r["lost"],
            left=r["left_"],
            median_hours_to_recover=_float(r["median_hours"]),
            first_satisfaction=_float(r["first_sat"]),
            recovery_satisfaction=_float(r["recovery_sat"]),
            churn_signals=r["churn"],
            churn_signals_recovered=r["churn_recovered"],
            churn_signals_lost=r["churn_lost"],
        )
        for r in rows
    ]


def _float(value: Any) -> float | None:
    return round(float(value), 2) if value is not None else None


class DepartmentCounts(BaseModel):
    """What one root-cause department caused in a period (R7)."""

    department: str
    complaints: int
    """Complaints resolved with this department as the root cause."""
    unhappy_answers: int
    """Cases opened by an unhappy answer, traced to this department."""
    recovery_cases: int
    """Cases of any trigger traced to this department (closed in the period)."""
    recovered: int
    rated: int

    @computed_field  # type: ignore[prop-decorator]
    @property
    def rate(self) -> float | None:
        return self.recovered / self.rated if self.rated else None


async def department_counts(
    conn: Conn, tenant: str, *, since: datetime, until: datetime, department: str | None = None
) -> list[DepartmentCounts]:
    """Per department: complaints resolved in [since, until), and cases closed in it."""
    rows = await conn.fetch(
        """
        with c as (
            select root_cause_department as department, count(*) as complaints
            from ctx_complaints
            where tenant = $1 and root_cause_department is not null
              and resolved_at >= $2 and resolved_at < $3
            group by 1
        ), r as (
            select root_cause_department as department,
                   count(*) filter (where trigger = 'unhappy_answer') as unhappy_answers,
                   count(*) as recovery_cases,
                   count(*) filter (where outcome = 'recovered') as recovered,
                   count(*) filter (where outcome in ('recovered', 'not_recovered', 'customer_left')) as rated
            from recovery_cases
            where tenant = $1 and status = 'closed' and closed_at >= $2 and closed_at < $3
            group by 1
        )
        select coalesce(c.department, r.department) as department,
               coalesce(c.complaints, 0) as complaints,
               coalesce(r.unhappy_answers, 0) as unhappy_answers,
               coalesce(r.recovery_cases, 0) as recovery_cases,
               coalesce(r.recovered, 0) as recovered,
               coalesce(r.rated, 0) as rated
        from c full join r on c.department = r.department
        where ($4::text is null or coalesce(c.department, r.department) = $4)
        order by 1
        """,
        tenant,
        since,
        until,
        department,
    )
    return [DepartmentCounts.model_validate(dict(r)) for r in rows]


async def department_topics(
    conn: Conn, tenant: str, *, department: str, since: datetime, until: datetime
) -> dict[str, int]:
    """How often each comment topic came up in the department's cases closed in [since, until)."""
    rows = await conn.fetch(
        """
        select topic, count(*) as n
        from recovery_cases, unnest(topics) as topic
        where tenant = $1 and root_cause_department = $2 and status = 'closed'
          and closed_at >= $3 and closed_at < $4
        group by topic order by n desc, topic
        """,
        tenant,
        department,
        since,
        until,
    )
    return {r["topic"]: r["n"] for r in rows}


async def known_departments(conn: Conn, tenant: str) -> list[str]:
    """The departments complaints and cases of the tenant were traced to, for the pages' choices."""
    rows = await conn.fetch(
        """
        select root_cause_department as d from ctx_complaints
        where tenant = $1 and root_cause_department is not null
        union
        select root_cause_department from recovery_cases
        where tenant = $1 and root_cause_department is not null
        union
        select department from improvement_actions where tenant = $1
        order by 1
        """,
        tenant,
    )
    return [r["d"] for r in rows]


async def complaint_department(conn: Conn, tenant: str, complaint_id: UUID | None) -> str | None:
    """The root cause the complaint was resolved with, when the case is about one."""
    if complaint_id is None:
        return None
    value = await conn.fetchval(
        "select root_cause_department from ctx_complaints where tenant = $1 and complaint_id = $2",
        tenant,
        complaint_id,
    )
    return str(value) if value is not None else None


# ---- improvement actions ------------------------------------------------------------------------


class ImprovementAction(BaseModel):
    tenant: str
    action_id: UUID
    department: str
    title: str
    owner: str
    due_on: date
    status: str
    note: str | None = None
    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str
    done_at: datetime | None = None
    version: int


_ACTION_COLUMNS = ", ".join(ImprovementAction.model_fields)


async def insert_action(conn: Conn, values: dict[str, Any]) -> ImprovementAction:
    names = list(values)
    row = await conn.fetchrow(
        f"insert into improvement_actions ({', '.join(names)}) "
        f"values ({', '.join(f'${i}' for i in range(1, len(names) + 1))}) returning {_ACTION_COLUMNS}",
        *values.values(),
    )
    assert row is not None, "returning gives the row"
    return ImprovementAction.model_validate(dict(row))


async def action(
    conn: Conn, tenant: str, action_id: UUID, *, for_update: bool = False
) -> ImprovementAction | None:
    lock = " for update" if for_update else ""
    row = await conn.fetchrow(
        f"select {_ACTION_COLUMNS} from improvement_actions where tenant = $1 and action_id = $2{lock}",
        tenant,
        action_id,
    )
    return ImprovementAction.model_validate(dict(row)) if row is not None else None


async def update_action(
    conn: Conn, tenant: str, action_id: UUID, values: dict[str, Any]
) -> ImprovementAction:
    names = list(values)
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(names, start=3))
    row = await conn.fetchrow(
        f"update improvement_actions set {sets}, version = version + 1 "
        f"where tenant = $1 and action_id = $2 returning {_ACTION_COLUMNS}",
        tenant,
        action_id,
        *values.values(),
    )
    assert row is not None, "returning gives the row"
    return ImprovementAction.model_validate(dict(row))


async def actions(conn: Conn, tenant: str, *, department: str | None) -> list[ImprovementAction]:
    rows = await conn.fetch(
        f"select {_ACTION_COLUMNS} from improvement_actions where tenant = $1 "
        "and ($2::text is null or department = $2) order by status = 'done', due_on, created_at",
        tenant,
        department,
    )
    return [ImprovementAction.model_validate(dict(r)) for r in rows]
