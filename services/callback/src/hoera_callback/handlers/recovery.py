"""The inner loop (R23, R28, R29): a recovery case per unhappy customer, owned by the team, closed only
with the department at fault and an outcome.

A case opens on an unhappy answer, a missed promised date or a reopened complaint (where the tenant's
`recovery` document says so); a later signal while it is open joins it. The customer's callback is
attached to it, its outcome is recorded on it, and the recovery survey after the callback (survey
trigger `callback_completed`) decides the outcome when the customer's answer is clear: with the
department known (set on the case, or the one the complaint was resolved with) the case then closes by
itself; otherwise the suggestion waits for the team. Past its target time an open case escalates once.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID, uuid4

from hoera_events.callbacks import CallbackOutcome
from hoera_events.common import Code
from hoera_events.envelope import Envelope
from hoera_events.recovery import (
    RecoveryCaseClosed,
    RecoveryCaseEscalated,
    RecoveryCaseOpened,
    RecoveryOutcome,
    RecoveryTrigger,
)
from hoera_events.surveys import SurveyAnswered, SurveyTrigger
from hoera_kit import timers
from hoera_kit.auth import Principal, Role
from hoera_kit.db import Conn
from hoera_kit.refusals import Forbidden, NotFound
from hoera_kit.timers import Timer
from pydantic import BaseModel, Field

from hoera_callback import recovery_store as rstore
from hoera_callback import store
from hoera_callback.domain import queue_team
from hoera_callback.handlers.book import Book
from hoera_callback.handlers.common import from_timer_key, sees_team, tenant_language, timer_key, utc
from hoera_callback.recovery import (
    RecoveryRules,
    Status,
    answer_opens_case,
    case_due_at,
    check_may_close,
    complaint_opens_case,
    suggested_outcome,
)
from hoera_callback.recovery_store import RecoveryCase, Step

if TYPE_CHECKING:
    from hoera_callback.handlers import Deps

RECOVERY_TIMER = "recovery.due"
"""Fires at a case's target time; escalates it once when it is still open."""

CloseNote = Annotated[str, Field(max_length=2000)]


class CaseOpening(BaseModel):
    """A signal that a customer may need winning back."""

    tenant: str
    open_ref: str
    """What makes a redelivered signal recognisable (survey:<id>, complaint:<id>:<moment>)."""
    customer_id: str
    team_id: str | None
    language: str
    trigger: RecoveryTrigger
    at: datetime
    agent_id: str | None = None
    survey_id: UUID | None = None
    complaint_id: UUID | None = None
    contact_id: str | None = None
    reason: str | None = None
    topics: list[str] = Field(default_factory=list)
    satisfaction: int | None = None


def _signal(opening: CaseOpening) -> dict[str, Any]:
    """A step's detail: codes and scores, never words (a step is not erased)."""
    detail = {
        "trigger": opening.trigger.value,
        "survey_id": str(opening.survey_id) if opening.survey_id else None,
        "complaint_id": str(opening.complaint_id) if opening.complaint_id else None,
        "reason": opening.reason,
        "satisfaction": opening.satisfaction,
    }
    return {k: v for k, v in detail.items() if v is not None}


def open_case(book: Book, opening: CaseOpening, *, cause: Envelope | None) -> RecoveryCase | None:
    """One open case per customer: a first signal opens it, a later one joins it; a redelivered
    signal does neither. None for a customer marked deceased (R10) or a tenant without teams yet."""
    deps = book.deps
    if book.customer(opening.tenant, opening.customer_id).mark.deceased:
        return None
    if book.case_by_ref(opening.tenant, opening.open_ref) is not None:
        return None
    current = book.open_case_of(opening.tenant, opening.customer_id)
    if current is not None:
        book.add_step(current, Step(at=opening.at, kind="joined", detail=_signal(opening)))
        return current
    team = queue_team(deps.tenants.organisation(opening.tenant), opening.team_id, opening.language)
    if team is None:
        return None  # no team to own it: the callback request of the same signal is refused and retried
    rules = book.rules(opening.tenant).recovery
    # The case is the customer's from the moment they were unhappy (the figures count from then), but the
    # team cannot act before it knows: a signal that arrives late (a backlog, a replay) is not overdue
    # on arrival.
    due_at = case_due_at(deps.tenants.calendar(opening.tenant), max(opening.at, deps.now()), rules.target)
    callbacks = book.open_callbacks(opening.tenant, opening.customer_id)
    case = RecoveryCase(
        tenant=opening.tenant,
        case_id=uuid4(),
        open_ref=opening.open_ref,
        customer_id=opening.customer_id,
        team_id=team,
        agent_id=opening.agent_id,
        trigger=opening.trigger.value,
        opened_at=utc(opening.at),
        due_at=utc(due_at),
        survey_id=opening.survey_id,
        complaint_id=opening.complaint_id,
        contact_id=opening.contact_id,
        reason=opening.reason,
        topics=opening.topics,
        first_satisfaction=opening.satisfaction,
        status=Status.open.value,
        callback_id=max(callbacks, key=lambda c: c.requested_at).callback_id if callbacks else None,
    )
    book.add_case(case)
    book.add_step(case, Step(at=opening.at, kind="opened", detail=_signal(opening)))
    book.schedule(RECOVERY_TIMER, timer_key(case.tenant, case.case_id), case.due_at)
    book.emit(
        RecoveryCaseOpened(
            case_id=case.case_id,
            customer_id=case.customer_id,
            trigger=opening.trigger,
            opened_at=case.opened_at,
            due_at=case.due_at,
            team_id=case.team_id,
            agent_id=case.agent_id,
            survey_id=case.survey_id,
            complaint_id=case.complaint_id,
            contact_id=case.contact_id,
            reason=case.reason,
            satisfaction=case.first_satisfaction,
        ),
        tenant=case.tenant,
        cause=cause,
    )
    return case


def answer_opens(event: SurveyAnswered, rules: RecoveryRules) -> bool:
    """An unhappy answer other than a recovery survey's opens a case (or joins the open one)."""
    return event.trigger is not SurveyTrigger.callback_completed and answer_opens_case(
        event.satisfaction, event.nps, rules
    )


def survey_answered(book: Book, env: Envelope, event: SurveyAnswered) -> None:
    """A recovery survey feeds the case its callback worked; any other unhappy answer opens one."""
    if event.trigger is SurveyTrigger.callback_completed:
        if event.callback_id is not None:
            _recovery_answer(book, env, event, event.callback_id)
        return
    if not answer_opens(event, book.rules(env.tenant).recovery):
        return
    open_case(
        book,
        CaseOpening(
            tenant=env.tenant,
            open_ref=f"survey:{event.survey_id}",
            customer_id=event.customer_id,
            team_id=event.team_id,
            language=event.language.value,
            trigger=RecoveryTrigger.unhappy_answer,
            at=event.answered_at,
            agent_id=event.agent_id,
            survey_id=event.survey_id,
            complaint_id=event.complaint_id,
            contact_id=event.contact_id,
            reason=event.reason,
            topics=list(event.topics),
            satisfaction=event.satisfaction,
        ),
        cause=env,
    )


def complaint_signal(
    book: Book,
    env: Envelope,
    row: store.ComplaintRow,
    trigger: RecoveryTrigger,
    ref: str,
    at: datetime,
) -> None:
    """A missed promised date or a reopened complaint: a customer to win back, where the rules say so."""
    if not complaint_opens_case(trigger, book.rules(env.tenant).recovery):
        return
    open_case(
        book,
        CaseOpening(
            tenant=env.tenant,
            open_ref=ref,
            customer_id=row.customer_id,
            team_id=row.team_id,
            language=row.language or tenant_language(book.deps, env.tenant).value,
            trigger=trigger,
            at=at,
            agent_id=row.agent_id,
            complaint_id=row.complaint_id,
            contact_id=row.contact_id,
        ),
        cause=env,
    )


def callback_requested(book: Book, callback: store.Callback) -> None:
    """A callback for a customer with an open case works that case."""
    case = book.open_case_of(callback.tenant, callback.customer_id)
    if case is not None and case.callback_id is None:
        case = book.update_case(case, {"callback_id": callback.callback_id})
        book.add_step(
            case,
            Step(
                at=callback.requested_at, kind="callback", detail={"callback_id": str(callback.callback_id)}
            ),
        )


async def callback_outcome(
    conn: Conn, callback: store.Callback, outcome: CallbackOutcome, agent: str, at: datetime
) -> None:
    """The call's outcome goes on the case it worked; "considering leaving" marks a churn signal (R29)."""
    case = await rstore.by_callback(conn, callback.tenant, callback.callback_id)
    if case is None or case.status != Status.open:
        return
    values: dict[str, Any] = {"callback_outcome": outcome.value}
    if outcome is CallbackOutcome.considering_leaving:
        values["churn_signal"] = True
    await rstore.update(conn, case.tenant, case.case_id, values)
    await rstore.add_step(
        conn,
        case.tenant,
        case.case_id,
        Step(at=at, kind="callback_outcome", actor=agent, detail={"outcome": outcome.value}),
    )


def _recovery_answer(book: Book, env: Envelope, event: SurveyAnswered, callback_id: UUID) -> None:
    case = book.case_by_callback(env.tenant, callback_id)
    if case is None or case.recovery_survey_id == event.survey_id:
        return
    detail = {"survey_id": str(event.survey_id), "satisfaction": event.satisfaction}
    book.add_step(case, Step(at=event.answered_at, kind="recovery_survey", detail=detail))
    case = book.update_case(
        case, {"recovery_survey_id": event.survey_id, "recovery_satisfaction": event.satisfaction}
    )
    if case.status != Status.open:
        return  # closed by hand before the customer answered: the answer is kept for the figures
    suggestion = suggested_outcome(event.satisfaction, book.rules(env.tenant).recovery)
    department = case.root_cause_department or book.complaint_department(case.tenant, case.complaint_id)
    if suggestion is not None and department:
        values, step, closed = closing(case, suggestion, department, by=None, note=None, at=event.answered_at)
        case = book.update_case(case, values)
        book.add_step(case, step)
        book.cancel(RECOVERY_TIMER, timer_key(case.tenant, case.case_id))
        book.emit(closed, tenant=case.tenant, cause=env)
    else:
        book.update_case(case, {"suggested_outcome": suggestion.value if suggestion else None})


def closing(
    case: RecoveryCase,
    outcome: RecoveryOutcome,
    department: str,
    *,
    by: str | None,
    note: str | None,
    at: datetime,
) -> tuple[dict[str, Any], Step, RecoveryCaseClosed]:
    """What closing a case changes on it, the step it adds and the event it publishes."""
    check_may_close(case.status, outcome, department)
    values: dict[str, Any] = {
        "status": Status.closed.value,
        "outcome": outcome.value,
        "root_cause_department": department,
        "closed_at": at,
        "closed_by": by,
        "close_note": note,
    }
    closed = case.model_copy(update=values)
    step = Step(at=at, kind="closed", actor=by, detail={"outcome": outcome.value, "department": department})
    event = RecoveryCaseClosed(
        case_id=closed.case_id,
        customer_id=closed.customer_id,
        trigger=RecoveryTrigger(closed.trigger),
        outcome=outcome,
        root_cause_department=department,
        opened_at=closed.opened_at,
        closed_at=at,
        closed_by=by,
        team_id=closed.team_id,
        agent_id=closed.agent_id,
        reason=closed.reason,
        callback_id=closed.callback_id,
        first_satisfaction=closed.first_satisfaction,
        recovery_satisfaction=closed.recovery_satisfaction,
    )
    return values, step, event


async def _close(
    deps: Deps,
    conn: Conn,
    case: RecoveryCase,
    outcome: RecoveryOutcome,
    department: str,
    *,
    by: str | None,
    note: str | None,
    at: datetime,
) -> RecoveryCase:
    values, step, event = closing(case, outcome, department, by=by, note=note, at=at)
    closed = await rstore.update(conn, case.tenant, case.case_id, values)
    await rstore.add_step(conn, case.tenant, case.case_id, step)
    await timers.cancel(conn, RECOVERY_TIMER, timer_key(case.tenant, case.case_id))
    await deps.emit(conn, event, tenant=closed.tenant)
    return closed


async def target_missed(deps: Deps, conn: Conn, timer: Timer) -> None:
    """Past its target time a case still open escalates, once: the supervisor is told (alerts)."""
    tenant, case_id = from_timer_key(timer.key)
    case = await rstore.get(conn, tenant, case_id, for_update=True)
    if case is None or case.status != Status.open or case.escalated_at is not None:
        return
    now = deps.now()
    await rstore.update(conn, tenant, case_id, {"escalated_at": now})
    await rstore.add_step(conn, tenant, case_id, Step(at=now, kind="escalated"))
    await deps.emit(
        conn,
        RecoveryCaseEscalated(
            case_id=case_id,
            customer_id=case.customer_id,
            due_at=case.due_at,
            escalated_at=now,
            team_id=case.team_id,
            agent_id=case.agent_id,
        ),
        tenant=tenant,
    )


# ---- the team's use cases -----------------------------------------------------------------------


def _visible(principal: Principal, case: RecoveryCase | None) -> RecoveryCase:
    """404 for a case of another organisation or team, exactly as for one that does not exist."""
    if case is None or case.tenant != principal.tenant or not sees_team(principal, case.team_id):
        raise NotFound("recovery case")
    return case


class CaseDetail(BaseModel):
    case: RecoveryCase
    steps: list[Step]
    department_default: str | None
    """The department the case will close with unless another is chosen: the one set on the case,
    else the one its complaint was resolved with."""
    departments: list[str]
    """Departments the tenant's complaints and cases were traced to, to choose from."""
    overdue: bool


class DepartmentCommand(BaseModel):
    root_cause_department: Code


class CloseCommand(BaseModel):
    outcome: RecoveryOutcome | None = None
    root_cause_department: Code | None = None
    """Required, unless the case already has one (set on it, or its complaint's root cause)."""
    note: CloseNote | None = None


async def cases(
    deps: Deps, principal: Principal, *, team_id: str | None, status: Status | None, overdue: bool = False
) -> list[RecoveryCase]:
    if team_id is not None and not sees_team(principal, team_id):
        raise NotFound("team")
    teams = [team_id] if team_id else (None if principal.has_role(Role.admin) else sorted(principal.teams))
    async with deps.transaction() as conn:
        return await rstore.cases(
            conn,
            principal.tenant,
            teams=teams,
            status=status.value if status else None,
            overdue_at=deps.now() if overdue else None,
        )


async def detail(deps: Deps, principal: Principal, case_id: UUID) -> CaseDetail:
    async with deps.transaction() as conn:
        case = _visible(principal, await rstore.get(conn, principal.tenant, case_id))
        default = case.root_cause_department or await rstore.complaint_department(
            conn, case.tenant, case.complaint_id
        )
        return CaseDetail(
            case=case,
            steps=await rstore.steps(conn, case.tenant, case_id),
            department_default=default,
            departments=await rstore.known_departments(conn, case.tenant),
            overdue=case.status == Status.open and case.due_at <= deps.now(),
        )


def _may_work(principal: Principal) -> None:
    if not principal.has_role(Role.agent, Role.supervisor):
        raise Forbidden("agents and supervisors of the team work its recovery cases")


async def set_department(
    deps: Deps, principal: Principal, case_id: UUID, cmd: DepartmentCommand
) -> RecoveryCase:
    """The team traced the customer's trouble to a department (R7), before the case can close."""
    _may_work(principal)
    async with deps.transaction() as conn:
        found = _visible(principal, await rstore.get(conn, principal.tenant, case_id, for_update=True))
        check_may_close(found.status, RecoveryOutcome.recovered, cmd.root_cause_department)
        now = deps.now()
        await rstore.add_step(
            conn,
            found.tenant,
            case_id,
            Step(
                at=now,
                kind="department",
                actor=principal.subject,
                detail={"department": cmd.root_cause_department},
            ),
        )
        return await rstore.update(
            conn, found.tenant, case_id, {"root_cause_department": cmd.root_cause_department}
        )


async def close(deps: Deps, principal: Principal, case_id: UUID, cmd: CloseCommand) -> RecoveryCase:
    """The team closes the case: an outcome and the department at fault are required (422 otherwise)."""
    _may_work(principal)
    async with deps.transaction() as conn:
        found = _visible(principal, await rstore.get(conn, principal.tenant, case_id, for_update=True))
        department = (
            cmd.root_cause_department
            or found.root_cause_department
            or await rstore.complaint_department(conn, found.tenant, found.complaint_id)
        )
        check_may_close(found.status, cmd.outcome, department)
        assert cmd.outcome is not None and department is not None
        note = cmd.note.strip() if cmd.note and cmd.note.strip() else None
        return await _close(
            deps,
            conn,
            found,
            cmd.outcome,
            department,
            by=principal.subject,
            note=note,
            at=deps.now(),
        )
