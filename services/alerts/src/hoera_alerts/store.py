"""The alerts service's SQL: its own tables only (migrations/). Every row belongs to a tenant: the
tenant is part of every key and every statement names it, so one organisation's ids (a survey, a
complaint, an alert) never reach another's rows."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, timedelta
from typing import Any

from hoera_events.alerts import AlertKind, RecipientRole, Severity
from hoera_events.complaints import ComplaintClosed, ComplaintRaised, ComplaintResolved
from hoera_events.platform import ContactClosed
from hoera_events.surveys import SurveyAnswered, SurveyInvited
from hoera_kit.db import Conn

from hoera_alerts.domain import (
    AlertStatus,
    Counts,
    ThresholdRule,
    ThresholdState,
    WindowKind,
)

LIVE_CHANNEL = "hoera_alerts_live"


# --- facts the dashboard counts ---------------------------------------------------------------------


async def insert_answers(
    conn: Conn, rows: list[tuple[str, SurveyAnswered, bool]]
) -> set[tuple[str, uuid.UUID]]:
    """The first answer of each survey is kept; returns the (tenant, survey) that were new. Its topics
    are kept once each (a topic counts an answer once), as a JSON list per row: unnest cannot take an
    array of arrays of different lengths."""
    inserted = await conn.fetch(
        "insert into answers (survey_id, tenant, team_id, agent_id, contact_id, complaint_id, "
        "answered_at, satisfaction, effort, nps, unhappy, channel, comment, customer_id, reason, topics) "
        "select s, t, team, agent, cont, compl, at, sat, eff, nps, unh, chan, com, cust, reason, "
        "array(select jsonb_array_elements_text(tp::jsonb)) "
        "from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], "
        "$6::uuid[], $7::timestamptz[], $8::smallint[], $9::smallint[], $10::smallint[], "
        "$11::boolean[], $12::text[], $13::text[], $14::text[], $15::text[], $16::text[]) "
        "as u(s, t, team, agent, cont, compl, at, sat, eff, nps, unh, chan, com, cust, reason, tp) "
        "on conflict (tenant, survey_id) do nothing returning tenant, survey_id",
        [a.survey_id for _, a, _ in rows],
        [t for t, _, _ in rows],
        [a.team_id for _, a, _ in rows],
        [a.agent_id for _, a, _ in rows],
        [a.contact_id for _, a, _ in rows],
        [a.complaint_id for _, a, _ in rows],
        [a.answered_at for _, a, _ in rows],
        [a.satisfaction for _, a, _ in rows],
        [a.effort for _, a, _ in rows],
        [a.nps for _, a, _ in rows],
        [u for _, _, u in rows],
        [a.channel.value for _, a, _ in rows],
        [a.comment for _, a, _ in rows],
        [a.customer_id for _, a, _ in rows],
        [a.reason for _, a, _ in rows],
        [json.dumps(list(dict.fromkeys(a.topics))) for _, a, _ in rows],
    )
    return {(r["tenant"], r["survey_id"]) for r in inserted}


async def insert_invitations(conn: Conn, rows: list[tuple[str, SurveyInvited]]) -> None:
    await conn.execute(
        "insert into invitations (survey_id, tenant, team_id, invited_at) "
        "select * from unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) "
        "on conflict (tenant, survey_id) do nothing",
        [i.survey_id for _, i in rows],
        [t for t, _ in rows],
        [i.team_id for _, i in rows],
        [i.invited_at for _, i in rows],
    )


async def insert_contacts(conn: Conn, rows: list[tuple[str, ContactClosed]]) -> None:
    await conn.execute(
        "insert into contacts (tenant, contact_id, team_id, closed_at, first_contact_resolved) "
        "select * from unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], "
        "$5::boolean[]) on conflict (tenant, contact_id) do nothing",
        [t for t, _ in rows],
        [c.contact_id for _, c in rows],
        [c.team_id for _, c in rows],
        [c.closed_at for _, c in rows],
        [c.first_contact_resolved for _, c in rows],
    )


@dataclass(frozen=True)
class ComplaintFacts:
    """What the dashboard knows of a complaint (R7: the department at fault), as its events told it."""

    tenant: str
    complaint_id: uuid.UUID
    team_id: str | None = None
    category: str | None = None
    """Every complaint event names it: a row without one is a row just made, no event applied yet."""
    raised_at: datetime | None = None
    root_cause_department: str | None = None
    first_contact_resolution: bool | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None


ComplaintEvent = ComplaintRaised | ComplaintResolved | ComplaintClosed


def complaint_after(facts: ComplaintFacts, event: ComplaintEvent) -> ComplaintFacts:
    """One event applied to a complaint's facts. Events of one complaint may arrive before its
    ComplaintRaised (other topics), so any of them makes the complaint; after that, a raise keeps the
    team already known, a resolution or a closure names the team it was done by (when it names one)."""
    new = facts.category is None
    if isinstance(event, ComplaintRaised):
        return replace(
            facts,
            team_id=event.team_id if new else (facts.team_id if facts.team_id is not None else event.team_id),
            category=event.category,
            raised_at=event.raised_at,
        )
    team = event.team_id if new or event.team_id is not None else facts.team_id
    category = event.category if new else facts.category
    if isinstance(event, ComplaintResolved):
        return replace(
            facts,
            team_id=team,
            category=category,
            root_cause_department=event.root_cause_department,
            first_contact_resolution=event.first_contact_resolution,
            resolved_at=event.resolved_at,
        )
    return replace(facts, team_id=team, category=category, closed_at=event.closed_at)


async def lock_complaints(
    conn: Conn, keys: Sequence[tuple[str, uuid.UUID]]
) -> dict[tuple[str, uuid.UUID], ComplaintFacts]:
    """The complaints' rows ((tenant, complaint_id), made where missing), locked in the order given
    (callers sort them, so two batches sharing complaints cannot deadlock), in one statement."""
    rows = await conn.fetch(
        "insert into complaints (tenant, complaint_id) "
        "select t, c from unnest($1::text[], $2::uuid[]) with ordinality as u(t, c, n) order by n "
        "on conflict (tenant, complaint_id) do update set complaint_id = excluded.complaint_id "
        "returning *",
        [t for t, _ in keys],
        [c for _, c in keys],
    )
    return {
        (r["tenant"], r["complaint_id"]): ComplaintFacts(
            **{f.name: r[f.name] for f in fields(ComplaintFacts)}
        )
        for r in rows
    }


async def save_complaints(conn: Conn, complaints: Sequence[ComplaintFacts]) -> None:
    """The complaints' facts (rows locked by lock_complaints), in one statement."""
    if not complaints:
        return
    await conn.execute(
        "update complaints c set team_id = u.team, category = u.cat, raised_at = u.raised, "
        "root_cause_department = u.dep, first_contact_resolution = u.fcr, resolved_at = u.resolved, "
        "closed_at = u.closed from unnest($1::text[], $2::uuid[], $3::text[], $4::text[], "
        "$5::timestamptz[], $6::text[], $7::boolean[], $8::timestamptz[], $9::timestamptz[]) "
        "as u(t, id, team, cat, raised, dep, fcr, resolved, closed) "
        "where c.tenant = u.t and c.complaint_id = u.id",
        [c.tenant for c in complaints],
        [c.complaint_id for c in complaints],
        [c.team_id for c in complaints],
        [c.category for c in complaints],
        [c.raised_at for c in complaints],
        [c.root_cause_department for c in complaints],
        [c.first_contact_resolution for c in complaints],
        [c.resolved_at for c in complaints],
        [c.closed_at for c in complaints],
    )


# --- alerts -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewAlert:
    alert_id: uuid.UUID
    tenant: str
    kind: AlertKind
    severity: Severity
    status: AlertStatus
    raised_at: datetime
    team_id: str | None = None
    agent_id: str | None = None
    customer_id: str | None = None
    complaint_id: uuid.UUID | None = None
    survey_id: uuid.UUID | None = None
    contact_id: str | None = None
    satisfaction: int | None = None
    recording_ref: str | None = None
    reason: str | None = None
    """Why the customer was unhappy (a code of the tenant's reasons), for an unhappy smiley."""
    recovery_case_id: uuid.UUID | None = None
    """The recovery case an overdue-case alert is about."""
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredAlert(NewAlert):
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    action: str | None = None
    note: str | None = None
    root_cause_department: str | None = None


async def insert_alerts(conn: Conn, alerts: list[NewAlert]) -> set[uuid.UUID]:
    """The alerts that were new; one that exists already (the same answer or notice seen again)
    is left as it is. An alert id is unique across tenants (domain.unhappy_alert_id and
    notice_alert_id include the tenant), so the ids alone say which were new."""
    if not alerts:
        return set()
    rows = await conn.fetch(
        "insert into alerts (alert_id, tenant, kind, severity, status, team_id, agent_id, "
        "customer_id, complaint_id, survey_id, contact_id, satisfaction, recording_ref, details, "
        "raised_at, reason, recovery_case_id) select a, t, k, sev, st, team, agent, cust, compl, surv, "
        "cont, sat, rec, d::jsonb, at, reason, rcase from unnest($1::uuid[], $2::text[], $3::text[], "
        "$4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::uuid[], $10::uuid[], "
        "$11::text[], $12::smallint[], $13::text[], $14::text[], $15::timestamptz[], $16::text[], "
        "$17::uuid[]) "
        "as u(a, t, k, sev, st, team, agent, cust, compl, surv, cont, sat, rec, d, at, reason, rcase) "
        "on conflict (tenant, alert_id) do nothing returning alert_id",
        [a.alert_id for a in alerts],
        [a.tenant for a in alerts],
        [a.kind.value for a in alerts],
        [a.severity.value for a in alerts],
        [a.status.value for a in alerts],
        [a.team_id for a in alerts],
        [a.agent_id for a in alerts],
        [a.customer_id for a in alerts],
        [a.complaint_id for a in alerts],
        [a.survey_id for a in alerts],
        [a.contact_id for a in alerts],
        [a.satisfaction for a in alerts],
        [a.recording_ref for a in alerts],
        [json.dumps(a.details) for a in alerts],
        [a.raised_at for a in alerts],
        [a.reason for a in alerts],
        [a.recovery_case_id for a in alerts],
    )
    return {r["alert_id"] for r in rows}


def _alert(row: Any) -> StoredAlert:
    details = row["details"]
    return StoredAlert(
        alert_id=row["alert_id"],
        tenant=row["tenant"],
        kind=AlertKind(row["kind"]),
        severity=Severity(row["severity"]),
        status=AlertStatus(row["status"]),
        raised_at=row["raised_at"],
        team_id=row["team_id"],
        agent_id=row["agent_id"],
        customer_id=row["customer_id"],
        complaint_id=row["complaint_id"],
        survey_id=row["survey_id"],
        contact_id=row["contact_id"],
        satisfaction=row["satisfaction"],
        recording_ref=row["recording_ref"],
        reason=row["reason"],
        recovery_case_id=row["recovery_case_id"],
        details=details if isinstance(details, dict) else json.loads(details),
        acknowledged_by=row["acknowledged_by"],
        acknowledged_at=row["acknowledged_at"],
        action=row["action"],
        note=row["note"],
        root_cause_department=row["root_cause_department"],
    )


async def get_alert(
    conn: Conn, tenant: str, alert_id: uuid.UUID, *, for_update: bool = False
) -> StoredAlert | None:
    lock = " for update" if for_update else ""
    row = await conn.fetchrow(
        f"select * from alerts where tenant = $1 and alert_id = $2{lock}", tenant, alert_id
    )
    return _alert(row) if row else None


async def list_alerts(
    conn: Conn,
    tenant: str,
    team_ids: list[str],
    statuses: list[AlertStatus],
    *,
    limit: int = 100,
) -> list[StoredAlert]:
    rows = await conn.fetch(
        "select * from alerts where tenant = $1 and team_id = any($2::text[]) "
        "and status = any($3::text[]) order by raised_at desc, alert_id limit $4",
        tenant,
        team_ids,
        [s.value for s in statuses],
        limit,
    )
    return [_alert(r) for r in rows]


async def count_open(conn: Conn, tenant: str, team_id: str) -> int:
    return int(
        await conn.fetchval(
            "select count(*) from alerts where tenant = $1 and team_id = $2 and status = 'open'",
            tenant,
            team_id,
        )
    )


async def acknowledge(
    conn: Conn,
    tenant: str,
    alert_id: uuid.UUID,
    *,
    by: str,
    at: datetime,
    action: str,
    note: str | None,
    root_cause_department: str | None,
) -> StoredAlert:
    row = await conn.fetchrow(
        "update alerts set status = 'acknowledged', acknowledged_by = $2, acknowledged_at = $3, "
        "action = $4, note = $5, root_cause_department = $6 where tenant = $7 and alert_id = $1 "
        "returning *",
        alert_id,
        by,
        at,
        action,
        note,
        root_cause_department,
        tenant,
    )
    assert row is not None
    return _alert(row)


@dataclass(frozen=True)
class RecipientRow:
    """Who was told about an alert, through which delivery."""

    tenant: str
    alert_id: uuid.UUID
    recipient_id: str
    role: RecipientRole
    deputy_for: str | None
    delivery_id: uuid.UUID


async def add_recipients(conn: Conn, rows: list[RecipientRow]) -> None:
    if not rows:
        return
    await conn.execute(
        "insert into alert_recipients (tenant, alert_id, recipient_id, role, deputy_for, delivery_id) "
        "select * from unnest($6::text[], $1::uuid[], $2::text[], $3::text[], $4::text[], $5::uuid[]) "
        "on conflict (tenant, alert_id, recipient_id) do nothing",
        [r.alert_id for r in rows],
        [r.recipient_id for r in rows],
        [r.role.value for r in rows],
        [r.deputy_for for r in rows],
        [r.delivery_id for r in rows],
        [r.tenant for r in rows],
    )


@dataclass(frozen=True)
class Delivered:
    alert_id: uuid.UUID
    tenant: str
    team_id: str | None
    recipient_id: str
    role: RecipientRole
    deputy_for: str | None


async def mark_delivered(conn: Conn, tenant: str, delivery_id: uuid.UUID, at: datetime) -> list[Delivered]:
    """The alerts a delivery carried, marked delivered once (a digest carries several); their
    teams' dashboards are told in the same statement."""
    rows = await conn.fetch(
        "with done as (update alert_recipients r set delivered_at = $2 from alerts a "
        "where r.tenant = $4 and r.delivery_id = $1 and r.delivered_at is null "
        "and a.tenant = r.tenant and a.alert_id = r.alert_id "
        "returning r.alert_id, a.tenant, a.team_id, r.recipient_id, r.role, r.deputy_for) "
        "select done.*, case when team_id is not null then pg_notify($3, "
        "json_build_object('tenant', tenant, 'team', team_id)::text) end from done",
        delivery_id,
        at,
        LIVE_CHANNEL,
        tenant,
    )
    return [
        Delivered(
            alert_id=r["alert_id"],
            tenant=r["tenant"],
            team_id=r["team_id"],
            recipient_id=r["recipient_id"],
            role=RecipientRole(r["role"]),
            deputy_for=r["deputy_for"],
        )
        for r in rows
    ]


async def mark_given_up(conn: Conn, tenant: str, delivery_id: uuid.UUID) -> None:
    await conn.execute(
        "update alert_recipients set given_up = true where tenant = $1 and delivery_id = $2",
        tenant,
        delivery_id,
    )


@dataclass(frozen=True)
class RecipientView:
    recipient_id: str
    role: str
    deputy_for: str | None
    delivered_at: datetime | None
    given_up: bool


async def recipients_of(conn: Conn, tenant: str, alert_id: uuid.UUID) -> list[RecipientView]:
    rows = await conn.fetch(
        "select recipient_id, role, deputy_for, delivered_at, given_up from alert_recipients "
        "where tenant = $1 and alert_id = $2 order by recipient_id",
        tenant,
        alert_id,
    )
    return [
        RecipientView(
            recipient_id=r["recipient_id"],
            role=r["role"],
            deputy_for=r["deputy_for"],
            delivered_at=r["delivered_at"],
            given_up=r["given_up"],
        )
        for r in rows
    ]


# --- R4 digests ------------------------------------------------------------------------------------------


async def queue_notices(conn: Conn, notices: Sequence[tuple[str, uuid.UUID]]) -> None:
    """Notices ((tenant, alert_id)) waiting for management's next digest, in one statement."""
    if not notices:
        return
    await conn.execute(
        "insert into pending_notices (tenant, alert_id) select * from unnest($1::text[], $2::uuid[]) "
        "on conflict do nothing",
        [t for t, _ in notices],
        [a for _, a in notices],
    )


async def take_pending_notices(conn: Conn, tenant: str) -> list[StoredAlert]:
    rows = await conn.fetch(
        "with taken as (delete from pending_notices where tenant = $1 returning tenant, alert_id) "
        "select a.* from alerts a join taken t using (tenant, alert_id) "
        "order by a.raised_at, a.alert_id",
        tenant,
    )
    return [_alert(r) for r in rows]


# --- R24 threshold ------------------------------------------------------------------------------------


async def lock_threshold_state(conn: Conn, tenant: str, team_id: str) -> ThresholdState:
    """The team's state, locked: replicas handling answers of one team decide one after another."""
    await conn.execute(
        "insert into threshold_state (tenant, team_id) values ($1, $2) on conflict do nothing",
        tenant,
        team_id,
    )
    alerting = await conn.fetchval(
        "select alerting from threshold_state where tenant = $1 and team_id = $2 for update",
        tenant,
        team_id,
    )
    return ThresholdState(alerting=bool(alerting))


async def save_threshold_state(
    conn: Conn,
    tenant: str,
    team_id: str,
    state: ThresholdState,
    csat: float | None,
    sample_size: int,
) -> None:
    await conn.execute(
        "update threshold_state set alerting = $3, csat = $4, sample_size = $5, changed_at = now() "
        "where tenant = $1 and team_id = $2",
        tenant,
        team_id,
        state.alerting,
        csat,
        sample_size,
    )


@dataclass(frozen=True)
class Rolling:
    satisfaction_sum: int
    answers: int
    oldest: datetime | None


async def rolling_satisfaction(
    conn: Conn, tenant: str, team_id: str, rule: ThresholdRule, now: datetime
) -> Rolling:
    if rule.window_kind is WindowKind.answers:
        row = await conn.fetchrow(
            "select coalesce(sum(satisfaction), 0) as s, count(*) as n, min(answered_at) as oldest "
            "from (select satisfaction, answered_at from answers where tenant = $1 and team_id = $2 "
            "and satisfaction is not null order by answered_at desc limit $3) w",
            tenant,
            team_id,
            rule.window_size,
        )
    else:
        row = await conn.fetchrow(
            "select coalesce(sum(satisfaction), 0) as s, count(*) as n, min(answered_at) as oldest "
            "from answers where tenant = $1 and team_id = $2 and satisfaction is not null "
            "and answered_at > $3",
            tenant,
            team_id,
            now - timedelta(hours=rule.window_size),
        )
    assert row is not None
    return Rolling(satisfaction_sum=int(row["s"]), answers=int(row["n"]), oldest=row["oldest"])


# --- R25 dashboard ------------------------------------------------------------------------------------


async def counts(conn: Conn, tenant: str, team_id: str, since: datetime) -> Counts:
    answers = await conn.fetchrow(
        "select count(satisfaction) as sn, coalesce(sum(satisfaction), 0) as ss, "
        "count(effort) as en, coalesce(sum(effort), 0) as es, count(nps) as nn, "
        "count(*) filter (where nps >= 9) as pro, count(*) filter (where nps <= 6) as det "
        "from answers where tenant = $1 and team_id = $2 and answered_at >= $3",
        tenant,
        team_id,
        since,
    )
    invited = await conn.fetchrow(
        "select count(*) as n, count(a.survey_id) as answered from invitations i "
        "left join answers a using (tenant, survey_id) "
        "where i.tenant = $1 and i.team_id = $2 and i.invited_at >= $3",
        tenant,
        team_id,
        since,
    )
    contacts = await conn.fetchrow(
        "select count(first_contact_resolved) as n, "
        "count(*) filter (where first_contact_resolved) as yes "
        "from contacts where tenant = $1 and team_id = $2 and closed_at >= $3",
        tenant,
        team_id,
        since,
    )
    complaints = await conn.fetchrow(
        "select count(*) as n, count(*) filter (where first_contact_resolution) as yes "
        "from complaints where tenant = $1 and team_id = $2 and resolved_at >= $3",
        tenant,
        team_id,
        since,
    )
    assert answers and invited and contacts and complaints
    return Counts(
        satisfaction_n=answers["sn"],
        satisfaction_sum=answers["ss"],
        effort_n=answers["en"],
        effort_sum=answers["es"],
        nps_n=answers["nn"],
        promoters=answers["pro"],
        detractors=answers["det"],
        invited=invited["n"],
        invited_answered=invited["answered"],
        contacts_with_fcr=contacts["n"],
        contacts_resolved_first_time=contacts["yes"],
        complaints_resolved=complaints["n"],
        complaints_resolved_first_time=complaints["yes"],
    )


@dataclass(frozen=True)
class DayCounts:
    day: date
    satisfaction_n: int
    satisfaction_sum: int
    nps_n: int
    promoters: int
    detractors: int


async def daily(conn: Conn, tenant: str, team_id: str, since: datetime, timezone: str) -> list[DayCounts]:
    rows = await conn.fetch(
        "select (answered_at at time zone $4)::date as day, count(satisfaction) as sn, "
        "coalesce(sum(satisfaction), 0) as ss, count(nps) as nn, "
        "count(*) filter (where nps >= 9) as pro, count(*) filter (where nps <= 6) as det "
        "from answers where tenant = $1 and team_id = $2 and answered_at >= $3 "
        "group by 1 order by 1",
        tenant,
        team_id,
        since,
        timezone,
    )
    return [
        DayCounts(
            day=r["day"],
            satisfaction_n=r["sn"],
            satisfaction_sum=r["ss"],
            nps_n=r["nn"],
            promoters=r["pro"],
            detractors=r["det"],
        )
        for r in rows
    ]


@dataclass(frozen=True)
class RootCauseCounts:
    department: str | None
    """None: answers about a contact, or a complaint whose root cause is not known (yet)."""
    satisfaction_n: int
    satisfaction_sum: int


async def by_root_cause(conn: Conn, tenant: str, team_id: str, since: datetime) -> list[RootCauseCounts]:
    """R7, R25: satisfaction split by the department a complaint names as at fault."""
    rows = await conn.fetch(
        "select c.root_cause_department as dep, count(a.satisfaction) as sn, "
        "coalesce(sum(a.satisfaction), 0) as ss from answers a "
        "left join complaints c on c.tenant = a.tenant and c.complaint_id = a.complaint_id "
        "where a.tenant = $1 and a.team_id = $2 and a.answered_at >= $3 "
        "and a.satisfaction is not null group by 1 order by 2 desc, 1 nulls last",
        tenant,
        team_id,
        since,
    )
    return [
        RootCauseCounts(department=r["dep"], satisfaction_n=r["sn"], satisfaction_sum=r["ss"]) for r in rows
    ]


async def touch_many(conn: Conn, teams: set[tuple[str, str | None]]) -> None:
    known = sorted((t, team) for t, team in teams if team is not None)
    if known:
        await conn.execute(
            "select pg_notify($1, json_build_object('tenant', t, 'team', team)::text) "
            "from unnest($2::text[], $3::text[]) as u(t, team)",
            LIVE_CHANNEL,
            [t for t, _ in known],
            [team for _, team in known],
        )


async def touch(conn: Conn, tenant: str, team_id: str | None) -> None:
    """Tell the open dashboards of a team that something changed. NOTIFY is delivered when the
    transaction commits (never for a rollback), to the listeners of every replica."""
    if team_id is None:
        return
    await conn.execute(
        "select pg_notify($1, $2)", LIVE_CHANNEL, json.dumps({"tenant": tenant, "team": team_id})
    )


# --- the drill-down (R25): the answers behind a figure --------------------------------------------------

# The score column each figure reads: a whitelist, so no filter value ever reaches the SQL text.
FIGURE_COLUMNS: dict[str, str] = {"csat": "satisfaction", "ces": "effort", "nps": "nps"}


@dataclass(frozen=True)
class AnswerQuery:
    """Which answers of a team: answered in [since, until), by an agent, on a channel, giving a score
    for `figure` (csat, ces, nps), that score equal to `score`, with a reason, tagged with a topic."""

    team_id: str
    since: datetime
    until: datetime | None = None
    agent_id: str | None = None
    channel: str | None = None
    figure: str | None = None
    score: int | None = None
    reason: str | None = None
    topic: str | None = None

    def where(self, tenant: str) -> tuple[str, list[Any]]:
        args: list[Any] = [tenant, self.team_id, self.since]
        sql = "a.tenant = $1 and a.team_id = $2 and a.answered_at >= $3"
        for column, value in (
            ("answered_at <", self.until),
            ("agent_id =", self.agent_id),
            ("channel =", self.channel),
            ("reason =", self.reason),
        ):
            if value is not None:
                args.append(value)
                sql += f" and a.{column} ${len(args)}"
        if self.topic is not None:
            args.append(self.topic)
            sql += f" and ${len(args)} = any(a.topics)"
        if self.figure is not None:
            column = FIGURE_COLUMNS[self.figure]
            sql += f" and a.{column} is not null"
            if self.score is not None:
                args.append(self.score)
                sql += f" and a.{column} = ${len(args)}"
        return sql, args


@dataclass(frozen=True)
class AnswerRow:
    survey_id: uuid.UUID
    answered_at: datetime
    agent_id: str | None
    channel: str | None
    contact_id: str | None
    complaint_id: uuid.UUID | None
    satisfaction: int | None
    effort: int | None
    nps: int | None
    unhappy: bool
    comment: str | None
    reason: str | None
    topics: list[str]
    alert_id: uuid.UUID | None


async def answers_behind(
    conn: Conn, tenant: str, query: AnswerQuery, *, limit: int, worst_first: bool = False
) -> list[AnswerRow]:
    """The answers a query selects, newest first (or the least satisfied first), each with the
    alert it raised (if any)."""
    order = "a.satisfaction nulls last, a.answered_at desc" if worst_first else "a.answered_at desc"
    where, args = query.where(tenant)
    rows = await conn.fetch(
        "select a.survey_id, a.answered_at, a.agent_id, a.channel, a.contact_id, a.complaint_id, "
        "a.satisfaction, a.effort, a.nps, a.unhappy, a.comment, a.reason, a.topics, "
        "(select al.alert_id from alerts al where al.tenant = a.tenant and al.survey_id = a.survey_id "
        " order by al.raised_at limit 1) as alert_id "
        f"from answers a where {where} order by {order}, a.survey_id limit {int(limit)}",
        *args,
    )
    return [AnswerRow(**{**dict(r), "topics": list(r["topics"])}) for r in rows]


async def answers_counts(conn: Conn, tenant: str, query: AnswerQuery) -> tuple[int, Counts]:
    """How many answers a query selects, and their sums (the same as the dashboard's figures')."""
    where, args = query.where(tenant)
    row = await conn.fetchrow(
        "select count(*) as n, count(satisfaction) as sn, coalesce(sum(satisfaction), 0) as ss, "
        "count(effort) as en, coalesce(sum(effort), 0) as es, count(nps) as nn, "
        "count(*) filter (where nps >= 9) as pro, count(*) filter (where nps <= 6) as det "
        f"from answers a where {where}",
        *args,
    )
    assert row is not None
    return row["n"], Counts(
        satisfaction_n=row["sn"],
        satisfaction_sum=row["ss"],
        effort_n=row["en"],
        effort_sum=row["es"],
        nps_n=row["nn"],
        promoters=row["pro"],
        detractors=row["det"],
    )


@dataclass(frozen=True)
class CodeCount:
    code: str
    answers: int


@dataclass(frozen=True)
class PairCount:
    topic: str
    reason: str
    answers: int


@dataclass(frozen=True)
class FeedbackCounts:
    """How many of a query's answers carry each topic, each reason, and each topic with each reason.
    An answer counts once per topic it carries; answers without a reason are not in `reasons` or
    `pairs`. Each count is the total of the drill-down filtered on it (the same query, one more
    condition)."""

    topics: list[CodeCount]
    reasons: list[CodeCount]
    pairs: list[PairCount]

    @property
    def pair_topics(self) -> list[str]:
        """The topics of the topic × reason table, the most frequent first."""
        return list(dict.fromkeys(c.code for c in self.topics if any(p.topic == c.code for p in self.pairs)))

    @property
    def pair_reasons(self) -> list[str]:
        return list(
            dict.fromkeys(c.code for c in self.reasons if any(p.reason == c.code for p in self.pairs))
        )

    def pair(self, topic: str, reason: str) -> int:
        return next((p.answers for p in self.pairs if p.topic == topic and p.reason == reason), 0)


async def feedback_counts(conn: Conn, tenant: str, query: AnswerQuery) -> FeedbackCounts:
    """R25: the topics and reasons of the answers a query selects (the dashboard's period), counted."""
    where, args = query.where(tenant)
    topics = await conn.fetch(
        f"select tp.code, count(*) as n from answers a cross join lateral unnest(a.topics) as tp(code) "
        f"where {where} group by tp.code order by n desc, tp.code",
        *args,
    )
    reasons = await conn.fetch(
        f"select a.reason as code, count(*) as n from answers a where {where} and a.reason is not null "
        "group by a.reason order by n desc, a.reason",
        *args,
    )
    pairs = await conn.fetch(
        f"select tp.code as topic, a.reason, count(*) as n from answers a "
        f"cross join lateral unnest(a.topics) as tp(code) where {where} and a.reason is not null "
        "group by tp.code, a.reason order by n desc, tp.code, a.reason",
        *args,
    )
    return FeedbackCounts(
        topics=[CodeCount(code=r["code"], answers=r["n"]) for r in topics],
        reasons=[CodeCount(code=r["code"], answers=r["n"]) for r in reasons],
        pairs=[PairCount(topic=r["topic"], reason=r["reason"], answers=r["n"]) for r in pairs],
    )
