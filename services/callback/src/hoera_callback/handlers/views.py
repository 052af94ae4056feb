"""Reading: the queue, the context panel an agent reads before dialling (R27), and the figures per
agent and team per week (R26, R28)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from hoera_kit.auth import Principal, Role
from hoera_kit.db import Conn
from pydantic import BaseModel

from hoera_callback import store
from hoera_callback.domain import (
    ComplaintState,
    Status,
    complaint_state,
    effective_status,
    lease_active,
    sla_breach_open,
)
from hoera_callback.handlers.common import ensure_sees_team, visible
from hoera_callback.store import AlertRow, Callback, ComplaintRow, ContactRow, OutcomeRow, SurveyRow

if TYPE_CHECKING:
    from hoera_callback.handlers import Deps


class QueueItem(BaseModel):
    callback: Callback
    state: Status
    """The status as the agent sees it: a claim whose lease lapsed is back in the queue."""
    mine: bool
    """Held by the caller under a running lease."""


async def queue(deps: Deps, principal: Principal, *, team_id: str | None, limit: int) -> list[QueueItem]:
    if team_id is not None:
        ensure_sees_team(principal, team_id)
    teams = [team_id] if team_id else (None if principal.has_role(Role.admin) else sorted(principal.teams))
    async with deps.transaction() as conn:
        now = await store.db_now(conn)
        callbacks = await store.queue(conn, tenant=principal.tenant, teams=teams, limit=limit)
    return [
        QueueItem(
            callback=c,
            state=effective_status(c.entry(), now),
            mine=c.claimed_by == principal.subject and lease_active(c.entry(), now),
        )
        for c in callbacks
    ]


class ComplaintView(ComplaintRow):
    state: ComplaintState
    sla_breach_open: bool


class EarlierCallback(BaseModel):
    callback: Callback
    attempts: list[OutcomeRow]
    """Each attempt's outcome and the agent's note: how the earlier call went."""


class CallbackContext(BaseModel):
    """What the agent reads before dialling (R27)."""

    topic: str | None
    """What the customer's question was about: the contact's reason or the complaint's category."""
    earlier_contact: ContactRow | None
    """The contact the request is about: its agent, team, channel and whether it was resolved."""
    survey: SurveyRow | None
    """The survey answer: scores, the agent's qualities and the customer's comment."""
    complaints: list[ComplaintView]
    """The customer's complaints, open ones first, with their status."""
    alerts: list[AlertRow]
    attempts: list[OutcomeRow]
    """Earlier attempts at this callback."""
    earlier_callbacks: list[EarlierCallback]


class CustomerReach(BaseModel):
    """How to reach the customer, from the platform's directory; shown to the holder only."""

    phone: str | None
    email: str | None


class CallbackDetail(BaseModel):
    callback: Callback
    state: Status
    mine: bool
    context: CallbackContext
    reach: CustomerReach | None = None


async def load_context(conn: Conn, callback: Callback) -> CallbackContext:
    tenant, customer = callback.tenant, callback.customer_id
    contact = (
        await store.contact(conn, tenant, callback.contact_id)
        if callback.contact_id
        else await store.latest_contact(conn, tenant, customer, callback.requested_at)
    )
    survey = (
        await store.survey(conn, tenant, callback.survey_id)
        if callback.survey_id
        else await store.latest_survey(conn, tenant, customer)
    )
    complaints = [
        ComplaintView(
            **c.model_dump(), state=complaint_state(c.facts()), sla_breach_open=sla_breach_open(c.facts())
        )
        for c in await store.complaints_of(conn, tenant, customer)
    ]
    complaints.sort(key=lambda c: c.state is not ComplaintState.open)
    earlier = await store.earlier_of_customer(conn, tenant, customer, callback.callback_id)
    outcomes = await store.outcomes_of(
        conn, tenant, [callback.callback_id, *(e.callback_id for e in earlier)]
    )
    topic = callback.reason_code or (contact.reason_code if contact else None)
    if topic is None and callback.complaint_id:
        topic = next((c.category for c in complaints if c.complaint_id == callback.complaint_id), None)
    return CallbackContext(
        topic=topic or callback.request_note,
        earlier_contact=contact,
        survey=survey,
        complaints=complaints,
        alerts=await store.alerts_of(conn, tenant, customer),
        attempts=[o for o in outcomes if o.callback_id == callback.callback_id],
        earlier_callbacks=[
            EarlierCallback(callback=e, attempts=[o for o in outcomes if o.callback_id == e.callback_id])
            for e in earlier
        ],
    )


async def detail(deps: Deps, principal: Principal, callback_id: UUID) -> CallbackDetail:
    async with deps.transaction() as conn:
        found, now = await store.get_at(conn, principal.tenant, callback_id)
        callback = visible(principal, found)
        assert now is not None
        context = await load_context(conn, callback)
    mine = callback.claimed_by == principal.subject and lease_active(callback.entry(), now)
    reach = None
    if mine:
        # Contact details stay with the platform (events carry ids): asked at the moment of need.
        reached = await deps.directory.lookup(callback.tenant, callback.customer_id)
        reach = CustomerReach(phone=reached.phone, email=reached.email) if reached else None
    return CallbackDetail(
        callback=callback,
        state=effective_status(callback.entry(), now),
        mine=mine,
        context=context,
        reach=reach,
    )


# ---- figures (R26, R28) ----------------------------------------------------------------------------------


class WeekFigures(BaseModel):
    week: date
    """The Monday of the week, in the organisation's time zone."""
    team_id: str
    agent_id: str | None
    """None on the team's total row."""
    items_worked: int
    conversations: int
    """Outcomes where the customer was reached."""
    closed_positively: int
    share_closed_positively: float | None
    """Positive closes over conversations (the seed's 95%); None without conversations."""
    lead_time_p50_s: float | None
    """From the request to the first attempt, seconds (R28)."""
    lead_time_p90_s: float | None


async def figures(
    deps: Deps, principal: Principal, *, weeks: int, team_id: str | None, agent_id: str | None
) -> list[WeekFigures]:
    """Per agent and team per week, weeks beginning on Monday in the organisation's time zone.
    Agents see their own rows; supervisors their teams; admins their organisation's."""
    if team_id is not None:
        ensure_sees_team(principal, team_id)
    if principal.has_role(Role.admin):
        teams = [team_id] if team_id else None
    else:
        teams = [team_id] if team_id else sorted(principal.teams)
    own_rows_only = not principal.has_role(Role.supervisor, Role.admin)
    if own_rows_only:
        agent_id = principal.subject
    zone = deps.tenants.calendar(principal.tenant).zone
    async with deps.transaction() as conn:
        now = deps.now()
        today = now.astimezone(zone).date()
        monday = today - timedelta(days=today.weekday()) - timedelta(weeks=weeks - 1)
        since = datetime.combine(monday, time(0), tzinfo=zone).astimezone(UTC)
        args: dict[str, Any] = {
            "tenant": principal.tenant,
            "teams": teams,
            "agent": agent_id,
            "since": since,
            "until": now + timedelta(seconds=1),
            "tz": zone.key,
        }
        work = await store.weekly_work(conn, **args)
        leads = await store.weekly_lead_times(conn, **args)
    lead = {(r["week"], r["team_id"], None if r["team_total"] else r["agent_id"]): r for r in leads}
    out = []
    for r in work:
        agent = None if r["team_total"] else r["agent_id"]
        if own_rows_only and agent is None:
            continue  # a total over the agent's own rows would pose as the team's
        found = lead.get((r["week"], r["team_id"], agent))
        out.append(
            WeekFigures(
                week=r["week"],
                team_id=r["team_id"],
                agent_id=agent,
                items_worked=r["items_worked"],
                conversations=r["conversations"],
                closed_positively=r["closed_positively"],
                share_closed_positively=(r["closed_positively"] / r["conversations"])
                if r["conversations"]
                else None,
                lead_time_p50_s=found["p50"] if found else None,
                lead_time_p90_s=found["p90"] if found else None,
            )
        )
    out.sort(key=lambda f: (f.week, f.team_id, f.agent_id is not None, f.agent_id or ""))
    return out
