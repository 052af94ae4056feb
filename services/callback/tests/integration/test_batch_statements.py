"""Every consumer of the callback service handles a Kafka batch in a constant number of statements,
whatever its size: counted on the real PostgreSQL with asyncpg's query logger, a batch of 500 events
against one of ten, each batch holding every kind of event its consumer decides on (so every statement
it may write runs in both). The effects are checked too: the rows, and that a batch leaves what its
events applied one by one, in the same order, leave (a repeated customer or complaint included)."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hoera_callback import handlers
from hoera_callback.handlers import Deps
from hoera_devkit.testing import counted_statements
from hoera_events.alerts import AlertKind, AlertRaised, Severity
from hoera_events.base import Event
from hoera_events.common import Channel, Language
from hoera_events.complaints import (
    ComplaintClosed,
    ComplaintRaised,
    ComplaintReopened,
    ComplaintResolved,
    ComplaintSlaBreached,
    CustomerDeceasedMarkWithdrawn,
    CustomerMarkedDeceased,
    ReopenReason,
)
from hoera_events.envelope import Envelope, decode, make_envelope
from hoera_events.platform import ContactClosed
from hoera_events.surveys import ContactMeRequest, SurveyAnswered, SurveyTrigger
from hoera_kit.db import Conn

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from callback_support import Running, StartService, fetch

pytestmark = pytest.mark.integration


def _contacts(n: int) -> list[Envelope]:
    """n closed contacts; the first is reported again at the end, later and with another reason."""
    closed = datetime.now(UTC)
    events = [
        ContactClosed(
            contact_id=f"ct-{uuid.uuid4().hex[:12]}",
            customer_id=f"cust-{i}",
            channel=Channel.phone,
            agent_id="agent-anna",
            team_id="team-nl-1",
            closed_at=closed,
            language=Language.nl,
            reason_code="invoice",
        )
        for i in range(n - 1)
    ]
    again = events[0].model_copy(update={"reason_code": "refund", "closed_at": closed + timedelta(minutes=1)})
    return [make_envelope(e, producer="platform", tenant="demo") for e in [*events, again]]


async def _record(running: Running, envelopes: list[Envelope]) -> int:
    deps = running.svc.api.state.deps
    async with deps.transaction() as conn, counted_statements(conn) as seen:
        await handlers.contacts_closed(deps, conn, envelopes)
    return len(seen)


async def test_a_batch_of_500_contacts_costs_the_statements_of_a_batch_of_ten(
    start_service: StartService,
) -> None:
    running = await start_service()
    await _record(running, _contacts(3))  # asyncpg asks the server for the types once
    small = await _record(running, _contacts(10))
    batch = _contacts(500)
    large = await _record(running, batch)
    assert large == small == 1, f"{large} statements for 500 contacts, {small} for 10"
    ids = [env.data_as(ContactClosed).contact_id for env in batch]
    rows = await fetch(
        running.dsn,
        "select contact_id, reason_code from ctx_contacts where tenant = 'demo' and contact_id = any($1)",
        ids,
    )
    assert len(rows) == 499
    assert {r["reason_code"] for r in rows if r["contact_id"] == ids[0]} == {"refund"}, "the latest report"


# ---- shared ------------------------------------------------------------------------------------------

TEAM = "team-nl-1"
Handler = Callable[[Deps, Conn, Sequence[Envelope]], Awaitable[None]]


def _env(event: Event, producer: str) -> Envelope:
    return make_envelope(event, producer=producer, tenant="demo")


async def _run(
    running: Running, handler: Handler, envelopes: list[Envelope], *, one_by_one: bool = False
) -> tuple[int, list[tuple[str, str | None]]]:
    """One call of the handler for the whole batch in one transaction (or, one_by_one, the same events
    as lists of one, in order, in one transaction, as the kit redoes a failed batch): the statements it
    sent and the events it wrote to the outbox ((type, customer), in the order written)."""
    deps = running.svc.api.state.deps
    async with deps.transaction() as conn:
        async with counted_statements(conn) as seen:
            for part in [[env] for env in envelopes] if one_by_one else [envelopes]:
                await handler(deps, conn, part)
        written = await conn.fetch(
            "select payload from kit_outbox where xmin = pg_current_xact_id()::xid order by seq"
        )
    events = [decode(r["payload"]) for r in written]
    return len(seen), [(e.type, getattr(e.data, "customer_id", None)) for e in events]


def _without(prefix: str, events: list[tuple[str, str | None]]) -> list[tuple[str, str]]:
    return [(kind, (customer or "").replace(prefix, "")) for kind, customer in events]


async def _state(running: Running, prefix: str) -> dict[str, Any]:
    """What the service holds about the customers whose ids start with `prefix`, without the prefix,
    the ids and the moments: two runs of the same events for two prefixes compare equal."""

    async def rows(query: str) -> list[tuple[Any, ...]]:
        return sorted(tuple(r) for r in await fetch(running.dsn, query, prefix, f"{prefix}%"))

    return {
        "callbacks": await rows(
            "select replace(customer_id, $1, ''), source, priority, priority_score, priority_reasons, "
            "churn_risk, status, withdrawn_reason, reason_code, satisfaction, request_ref like 'survey:%' "
            "from callbacks where customer_id like $2"
        ),
        "cases": await rows(
            "select replace(customer_id, $1, ''), trigger, status, outcome, root_cause_department, "
            "callback_id is not null, recovery_satisfaction, suggested_outcome, array(select kind "
            "from recovery_steps s where s.tenant = r.tenant and s.case_id = r.case_id order by step_no) "
            "from recovery_cases r where customer_id like $2"
        ),
        "timers": await rows(
            "select replace(c.customer_id, $1, ''), t.kind from kit_timers t join callbacks c "
            "on t.key = c.tenant || '/' || c.callback_id where c.customer_id like $2 "
            "union all select replace(r.customer_id, $1, ''), t.kind from kit_timers t join recovery_cases r "
            "on t.key = r.tenant || '/' || r.case_id where r.customer_id like $2"
        ),
        "customers": await rows(
            "select replace(customer_id, $1, ''), deceased_at is not null, "
            "deceased_mark_withdrawn_at is not null, considering_leaving_at is not null "
            "from ctx_customers where customer_id like $2"
        ),
        "surveys": await rows(
            "select replace(customer_id, $1, ''), count(*) from ctx_surveys where customer_id like $2 "
            "group by customer_id"
        ),
        "complaints": await rows(
            "select replace(customer_id, $1, ''), category, team_id, due_date, raised_at is not null, "
            "breached_at is not null, resolved_at is not null, closed_at is not null, "
            "reopened_at is not null, root_cause_department from ctx_complaints where customer_id like $2"
        ),
        "alerts": await rows(
            "select replace(customer_id, $1, ''), kind, count(*) from ctx_alerts where customer_id like $2 "
            "group by customer_id, kind"
        ),
    }


def _prefix(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:6]}-"


# ---- surveys -----------------------------------------------------------------------------------------


def _answer(customer: str, satisfaction: int | None, **fields: Any) -> Envelope:
    return _env(
        SurveyAnswered(
            survey_id=fields.pop("survey_id", uuid.uuid4()),
            customer_id=customer,
            trigger=fields.pop("trigger", SurveyTrigger.contact_closed),
            channel=Channel.phone,
            language=Language.nl,
            answered_at=fields.pop("answered_at", datetime.now(UTC)),
            team_id=TEAM,
            agent_id="agent-anna",
            satisfaction=satisfaction,
            **fields,
        ),
        "survey",
    )


async def _survey_groups(running: Running, prefix: str, groups: int, happy: int) -> list[Envelope]:
    """Per group, customers in every role an answer can play, their history written first (not
    counted); then the batch: A is happy; B, who has a callback, turns detractor (it moves up); C asks
    to be called about an earlier contact; D is unhappy and asks to be called, then answers again (a
    case opened, then joined, the new callback moved up); E's recovery survey closes E's case; F's
    answer comes twice. `happy` more happy answers follow."""
    deps = running.svc.api.state.deps
    before: list[Envelope] = []
    contacts: list[Envelope] = []
    resolved: list[Envelope] = []
    for g in range(groups):
        c = f"{prefix}{g}-"
        complaint = uuid.uuid4()
        contacts.append(
            _env(
                ContactClosed(
                    contact_id=f"{c}ct",
                    customer_id=f"{c}C",
                    channel=Channel.phone,
                    agent_id="agent-anna",
                    team_id=TEAM,
                    closed_at=datetime.now(UTC) - timedelta(hours=1),
                    language=Language.nl,
                    reason_code="refund.status",
                ),
                "platform",
            )
        )
        resolved.append(
            _env(
                ComplaintResolved(
                    complaint_id=complaint,
                    customer_id=f"{c}E",
                    category="refund.late",
                    root_cause_department="finance",
                    first_contact_resolution=False,
                    resolved_at=datetime.now(UTC) - timedelta(days=1),
                    team_id=TEAM,
                ),
                "intake",
            )
        )
        before += [
            _answer(f"{c}B", 4, contact_me=ContactMeRequest()),
            _answer(f"{c}E", 1, contact_me=ContactMeRequest(), complaint_id=complaint),
        ]
    async with deps.transaction() as conn:
        await handlers.contacts_closed(deps, conn, contacts)
        await handlers.complaint_events(deps, conn, resolved)
        await handlers.surveys_answered(deps, conn, before)
    worked = {
        r["customer_id"]: r["callback_id"]
        for r in await fetch(
            running.dsn,
            "select customer_id, callback_id from recovery_cases where customer_id like $1",
            f"{prefix}%",
        )
    }
    batch: list[Envelope] = []
    for g in range(groups):
        c = f"{prefix}{g}-"
        now = datetime.now(UTC)
        twice = _answer(f"{c}F", 3, contact_me=ContactMeRequest())
        batch += [
            _answer(f"{c}A", 5),
            _answer(f"{c}B", 4, nps=2),
            _answer(f"{c}C", 3, contact_me=ContactMeRequest(), contact_id=f"{c}ct"),
            _answer(f"{c}D", 1, contact_me=ContactMeRequest(), answered_at=now - timedelta(minutes=1)),
            _answer(
                f"{c}E",
                5,
                trigger=SurveyTrigger.callback_completed,
                callback_id=worked[f"{c}E"],
                answered_at=now,
            ),
            _answer(f"{c}D", 2, nps=1, answered_at=now),
            twice,
            _env(twice.data, "survey"),  # published twice: a new event, the same answer
        ]
    return batch + [_answer(f"{prefix}happy-{i}", 4) for i in range(happy)]


def _check_survey_group(state: dict[str, Any], group: int) -> None:
    c = f"{group}-"
    callbacks = {r[0]: r for r in state["callbacks"] if r[0].startswith(c)}
    assert set(callbacks) == {f"{c}B", f"{c}C", f"{c}D", f"{c}E", f"{c}F"}, "one callback each"
    assert callbacks[f"{c}B"][2:5] == ("high", 25, ["nps_detractor"]), "B's callback moved up"
    assert callbacks[f"{c}C"][1] == "contact_me" and callbacks[f"{c}C"][8] == "refund.status"
    assert callbacks[f"{c}D"][2:5] == ("high", 35, ["nps_detractor", "unhappy_smiley"]), "after both answers"
    cases = {r[0]: r for r in state["cases"] if r[0].startswith(c)}
    assert cases[f"{c}D"][1:3] == ("unhappy_answer", "open") and cases[f"{c}D"][5] is True
    assert cases[f"{c}D"][8] == ["opened", "joined"], "opened by the first answer, joined by the second"
    assert cases[f"{c}E"][2:5] == ("closed", "recovered", "finance"), "the recovery survey closed it"
    assert cases[f"{c}E"][8] == ["opened", "recovery_survey", "closed"]
    timers = [r for r in state["timers"] if r[0].startswith(c)]
    assert (f"{c}E", "recovery.due") not in timers and (f"{c}D", "recovery.due") in timers
    surveys = dict(r for r in state["surveys"] if r[0].startswith(c))
    assert surveys == {f"{c}A": 1, f"{c}B": 2, f"{c}C": 1, f"{c}D": 2, f"{c}E": 2, f"{c}F": 1}
    assert f"{c}A" not in {r[0] for r in state["customers"]}, "a happy customer is never locked"


async def test_a_batch_of_500_answers_costs_the_statements_of_a_batch_of_ten_and_applies_them_in_order(
    start_service: StartService,
) -> None:
    running = await start_service()
    await _run(running, handlers.surveys_answered, await _survey_groups(running, _prefix("warm"), 1, 2))
    small_prefix, large_prefix, seq_prefix = _prefix("small"), _prefix("large"), _prefix("seq")
    small_batch = await _survey_groups(running, small_prefix, 1, 2)
    small, small_events = await _run(running, handlers.surveys_answered, small_batch)
    large_batch = await _survey_groups(running, large_prefix, 50, 100)
    assert len(small_batch) == 10 and len(large_batch) == 500
    large, large_events = await _run(running, handlers.surveys_answered, large_batch)
    assert large == small, f"{large} statements for 500 answers, {small} for 10"

    state = await _state(running, large_prefix)
    for group in range(50):
        _check_survey_group(state, group)
    assert len([r for r in state["surveys"] if "happy" in r[0]]) == 100
    per_group = [
        ("callback.requested", "C"),
        ("callback.requested", "D"),
        ("recovery.case_opened", "D"),
        ("recovery.case_closed", "E"),
        ("callback.requested", "F"),
    ]
    assert _without(large_prefix, large_events) == [
        (kind, f"{g}-{who}") for g in range(50) for kind, who in per_group
    ], "each decision's event, in the order of the answers"

    # The same events one by one leave what the batch left, and write the same events in the same order.
    _, seq_events = await _run(
        running, handlers.surveys_answered, await _survey_groups(running, seq_prefix, 1, 2), one_by_one=True
    )
    assert _without(seq_prefix, seq_events) == _without(small_prefix, small_events)
    assert await _state(running, small_prefix) == await _state(running, seq_prefix)
    _check_survey_group(await _state(running, small_prefix), 0)


# ---- alerts ------------------------------------------------------------------------------------------


def _alert(
    customer: str | None, alert_id: uuid.UUID | None = None, severity: Severity = Severity.warning
) -> Envelope:
    return _env(
        AlertRaised(
            alert_id=alert_id or uuid.uuid4(),
            kind=AlertKind.unhappy_smiley if customer else AlertKind.escalation,
            severity=severity,
            raised_at=datetime.now(UTC),
            team_id=TEAM,
            customer_id=customer,
            satisfaction=1 if customer else None,
        ),
        "alerts",
    )


def _alert_groups(prefix: str, groups: int, more: int) -> list[Envelope]:
    """Per group: an alert about K, a team's alert (about nobody), and L's alert delivered twice, the
    second time with another severity (the first kept stays)."""
    batch: list[Envelope] = []
    for g in range(groups):
        again = uuid.uuid4()
        batch += [
            _alert(f"{prefix}{g}-K"),
            _alert(None),
            _alert(f"{prefix}{g}-L", again),
            _alert(f"{prefix}{g}-L", again, Severity.critical),
        ]
    return batch + [_alert(f"{prefix}more-{i}") for i in range(more)]


async def test_a_batch_of_500_alerts_costs_the_statements_of_a_batch_of_ten(
    start_service: StartService,
) -> None:
    running = await start_service()
    await _run(running, handlers.alerts_raised, _alert_groups(_prefix("warm"), 2, 2))
    small_prefix, large_prefix, seq_prefix = _prefix("small"), _prefix("large"), _prefix("seq")
    small, _ = await _run(running, handlers.alerts_raised, _alert_groups(small_prefix, 2, 2))
    large_batch = _alert_groups(large_prefix, 125, 0)
    assert len(large_batch) == 500
    large, _ = await _run(running, handlers.alerts_raised, large_batch)
    assert large == small == 1, f"{large} statements for 500 alerts, {small} for 10"
    rows = await fetch(
        running.dsn,
        "select customer_id, severity from ctx_alerts where customer_id like $1",
        f"{large_prefix}%",
    )
    assert len(rows) == 250, "K's and L's alerts; a team's alert is about nobody's story"
    assert {r["severity"] for r in rows if r["customer_id"].endswith("-L")} == {"warning"}, "the first kept"
    await _run(running, handlers.alerts_raised, _alert_groups(seq_prefix, 2, 2), one_by_one=True)
    assert await _state(running, small_prefix) == await _state(running, seq_prefix)


# ---- complaints --------------------------------------------------------------------------------------


def _raised(
    customer: str, complaint: uuid.UUID, category: str, *, days_ago: int = 0, **fields: Any
) -> Envelope:
    at = datetime.now(UTC) - timedelta(days=days_ago)
    return _env(
        ComplaintRaised(
            complaint_id=complaint,
            customer_id=customer,
            channel=Channel.phone,
            category=category,
            language=Language.nl,
            raised_at=at,
            due_date=(at + timedelta(days=7)).date(),
            team_id=TEAM,
            **fields,
        ),
        "intake",
    )


def _breached(customer: str, complaint: uuid.UUID, category: str) -> Envelope:
    return _env(
        ComplaintSlaBreached(
            complaint_id=complaint,
            customer_id=customer,
            category=category,
            due_date=(datetime.now(UTC) - timedelta(days=1)).date(),
            breached_at=datetime.now(UTC),
            team_id=TEAM,
        ),
        "intake",
    )


def _resolved(customer: str, complaint: uuid.UUID, category: str) -> Envelope:
    return _env(
        ComplaintResolved(
            complaint_id=complaint,
            customer_id=customer,
            category=category,
            root_cause_department="finance",
            first_contact_resolution=False,
            resolved_at=datetime.now(UTC),
            team_id=TEAM,
        ),
        "intake",
    )


async def _complaint_groups(running: Running, prefix: str, groups: int, more: int) -> list[Envelope]:
    """Per group, with their history written first (not counted): P's complaint is raised, breached
    (a callback and a case) and resolved in one batch (the callback moves back down); Q's resolved one
    is reopened (a callback and a case); R, with a callback, is marked deceased (it is withdrawn); S's
    is closed; T's raised in a category that always gets a call; U's too, but about someone deceased
    (no call); W's breached one, with its callback, is resolved (the callback moves down). `more`
    closings of complaints of other customers follow."""
    deps = running.svc.api.state.deps
    before: list[Envelope] = []
    batch: list[Envelope] = []
    for g in range(groups):
        c = f"{prefix}{g}-"
        p, q, r, s, t, u, w = (uuid.uuid4() for _ in range(7))
        before += [
            _raised(f"{c}Q", q, "premium.wrong", days_ago=10),
            _resolved(f"{c}Q", q, "premium.wrong"),
            _breached(f"{c}R", r, "refund.late"),
            _raised(f"{c}S", s, "refund.late", days_ago=3),
            _breached(f"{c}W", w, "refund.late"),
        ]
        batch += [
            _raised(f"{c}P", p, "refund.late", days_ago=8),
            _breached(f"{c}P", p, "refund.late"),
            _resolved(f"{c}P", p, "refund.late"),
            _env(
                ComplaintReopened(
                    complaint_id=q,
                    customer_id=f"{c}Q",
                    reason=ReopenReason.customer_disagrees,
                    reopened_at=datetime.now(UTC),
                    due_date=(datetime.now(UTC) + timedelta(days=5)).date(),
                    team_id=TEAM,
                ),
                "intake",
            ),
            _env(
                CustomerMarkedDeceased(
                    customer_id=f"{c}R", owner_agent_id="agent-anna", marked_at=datetime.now(UTC)
                ),
                "intake",
            ),
            _env(
                ComplaintClosed(
                    complaint_id=s,
                    customer_id=f"{c}S",
                    category="refund.late",
                    channel=Channel.phone,
                    language=Language.nl,
                    closed_at=datetime.now(UTC),
                    team_id=TEAM,
                ),
                "intake",
            ),
            _raised(f"{c}T", t, "deceased.handling"),
            _raised(f"{c}U", u, "deceased.handling", about_deceased=True),
            _resolved(f"{c}W", w, "refund.late"),
        ]
    async with deps.transaction() as conn:
        await handlers.complaint_events(deps, conn, before)
    more_closed = [
        _env(
            ComplaintClosed(
                complaint_id=uuid.uuid4(),
                customer_id=f"{prefix}more-{i}",
                category="refund.late",
                channel=Channel.phone,
                language=Language.nl,
                closed_at=datetime.now(UTC),
            ),
            "intake",
        )
        for i in range(more)
    ]
    return batch + more_closed


def _check_complaint_group(state: dict[str, Any], group: int) -> None:
    c = f"{group}-"
    callbacks = {r[0]: r for r in state["callbacks"] if r[0].startswith(c)}
    assert set(callbacks) == {f"{c}P", f"{c}Q", f"{c}R", f"{c}T", f"{c}W"}
    assert callbacks[f"{c}P"][2:7] == ("normal", 0, [], False, "queued"), "the breach resolved in the batch"
    assert callbacks[f"{c}W"][2:5] == ("normal", 0, []), "W's breach resolved: down again"
    assert callbacks[f"{c}R"][6:8] == ("withdrawn", "customer_deceased")
    assert callbacks[f"{c}T"][8] == "deceased.handling"
    cases = {r[0]: r for r in state["cases"] if r[0].startswith(c)}
    assert {k: v[1:3] for k, v in cases.items()} == {
        f"{c}P": ("sla_breach", "open"),
        f"{c}Q": ("complaint_reopened", "open"),
        f"{c}R": ("sla_breach", "open"),
        f"{c}W": ("sla_breach", "open"),
    }
    assert cases[f"{c}P"][5] is True and cases[f"{c}Q"][5] is True, "their new callbacks work them"
    timers = {r for r in state["timers"] if r[0].startswith(c)}
    assert (f"{c}R", "callback.lead_time") not in timers and (f"{c}P", "callback.lead_time") in timers
    complaints = {r[0]: r for r in state["complaints"] if r[0].startswith(c)}
    assert complaints[f"{c}P"][4:10] == (True, True, True, False, False, "finance"), (
        "raised, breached, resolved"
    )
    assert complaints[f"{c}Q"][4:9] == (True, False, True, False, True)
    assert complaints[f"{c}S"][7] is True
    assert [r[1:] for r in state["customers"] if r[0] == f"{c}R"] == [(True, False, False)]


async def test_a_batch_of_500_complaint_events_costs_the_statements_of_a_batch_of_ten_and_keeps_their_order(
    start_service: StartService,
) -> None:
    running = await start_service(triggers={"raised_categories": ["deceased.handling"]})
    await _run(running, handlers.complaint_events, await _complaint_groups(running, _prefix("warm"), 1, 1))
    small_prefix, large_prefix, seq_prefix = _prefix("small"), _prefix("large"), _prefix("seq")
    small_batch = await _complaint_groups(running, small_prefix, 1, 1)
    small, small_events = await _run(running, handlers.complaint_events, small_batch)
    large_batch = await _complaint_groups(running, large_prefix, 55, 5)
    assert len(small_batch) == 10 and len(large_batch) == 500
    large, large_events = await _run(running, handlers.complaint_events, large_batch)
    assert large == small, f"{large} statements for 500 complaint events, {small} for 10"

    state = await _state(running, large_prefix)
    for group in range(55):
        _check_complaint_group(state, group)
    per_group = [
        ("callback.requested", "P"),
        ("recovery.case_opened", "P"),
        ("callback.requested", "Q"),
        ("recovery.case_opened", "Q"),
        ("callback.requested", "T"),
    ]
    assert _without(large_prefix, large_events) == [
        (kind, f"{g}-{who}") for g in range(55) for kind, who in per_group
    ]

    _, seq_events = await _run(
        running,
        handlers.complaint_events,
        await _complaint_groups(running, seq_prefix, 1, 1),
        one_by_one=True,
    )
    assert _without(seq_prefix, seq_events) == _without(small_prefix, small_events)
    assert await _state(running, small_prefix) == await _state(running, seq_prefix)
    _check_complaint_group(await _state(running, small_prefix), 0)


# ---- deceased marks withdrawn ----------------------------------------------------------------------


async def _withdrawal_groups(running: Running, prefix: str, groups: int) -> list[Envelope]:
    """Per group, the marks written first (not counted): M1's mark is withdrawn; M2's twice, the later
    withdrawal second; M3's mark is newer than its withdrawal (it stays); M4 was never marked."""
    deps = running.svc.api.state.deps
    t0 = datetime.now(UTC) - timedelta(hours=2)

    def marked(customer: str, at: datetime) -> Envelope:
        return _env(
            CustomerMarkedDeceased(customer_id=customer, owner_agent_id="agent-anna", marked_at=at), "intake"
        )

    def withdrawn(customer: str, at: datetime) -> Envelope:
        return _env(
            CustomerDeceasedMarkWithdrawn(customer_id=customer, withdrawn_by="agent-anna", withdrawn_at=at),
            "intake",
        )

    before: list[Envelope] = []
    batch: list[Envelope] = []
    for g in range(groups):
        c = f"{prefix}{g}-"
        before += [marked(f"{c}M1", t0), marked(f"{c}M2", t0), marked(f"{c}M3", t0 + timedelta(hours=1))]
        batch += [
            withdrawn(f"{c}M1", t0 + timedelta(minutes=10)),
            withdrawn(f"{c}M2", t0 + timedelta(minutes=5)),
            withdrawn(f"{c}M3", t0 + timedelta(minutes=10)),
            withdrawn(f"{c}M2", t0 + timedelta(minutes=20)),
            withdrawn(f"{c}M4", t0),
        ]
    async with deps.transaction() as conn:
        await handlers.complaint_events(deps, conn, before)
    return batch


async def _marks(running: Running, prefix: str) -> dict[str, tuple[Any, Any]]:
    rows = await fetch(
        running.dsn,
        "select replace(customer_id, $1, '') as c, deceased_at, deceased_mark_withdrawn_at "
        "from ctx_customers where customer_id like $2",
        prefix,
        f"{prefix}%",
    )
    return {r["c"]: (r["deceased_at"], r["deceased_mark_withdrawn_at"]) for r in rows}


async def test_a_batch_of_500_withdrawn_marks_costs_the_statements_of_a_batch_of_ten(
    start_service: StartService,
) -> None:
    running = await start_service()
    await _run(
        running, handlers.deceased_marks_withdrawn, await _withdrawal_groups(running, _prefix("warm"), 2)
    )
    small_prefix, large_prefix, seq_prefix = _prefix("small"), _prefix("large"), _prefix("seq")
    small_batch = await _withdrawal_groups(running, small_prefix, 2)
    small, _ = await _run(running, handlers.deceased_marks_withdrawn, small_batch)
    large_batch = await _withdrawal_groups(running, large_prefix, 100)
    assert len(small_batch) == 10 and len(large_batch) == 500
    large, _ = await _run(running, handlers.deceased_marks_withdrawn, large_batch)
    assert large == small == 2, f"{large} statements for 500 withdrawals, {small} for 10"

    marks = await _marks(running, large_prefix)
    withdrawn_at = {
        e.data_as(CustomerDeceasedMarkWithdrawn).customer_id.replace(large_prefix, ""): e.data_as(
            CustomerDeceasedMarkWithdrawn
        ).withdrawn_at
        for e in large_batch
    }  # the last withdrawal of each customer
    for g in range(100):
        c = f"{g}-"
        assert marks[f"{c}M1"] == (None, withdrawn_at[f"{c}M1"])
        assert marks[f"{c}M2"] == (None, withdrawn_at[f"{c}M2"]), "the later of the two withdrawals"
        assert marks[f"{c}M3"][0] is not None, "a withdrawal older than the mark leaves it"
        assert marks[f"{c}M4"] == (None, withdrawn_at[f"{c}M4"])
    await _run(
        running,
        handlers.deceased_marks_withdrawn,
        await _withdrawal_groups(running, seq_prefix, 2),
        one_by_one=True,
    )
    small_marks, seq_marks = await _marks(running, small_prefix), await _marks(running, seq_prefix)
    assert {k: tuple(v is None for v in vs) for k, vs in small_marks.items()} == {
        k: tuple(v is None for v in vs) for k, vs in seq_marks.items()
    }
