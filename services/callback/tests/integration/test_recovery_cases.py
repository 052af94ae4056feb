"""The inner loop (R23, R28, R29): an unhappy answer opens one recovery case; the callback works it,
the recovery survey closes it as recovered with its department; a case never closes without a
department and an outcome; an overdue case escalates once, at the target time on the tenant's calendar;
the recovery figures are those computed by hand."""

from __future__ import annotations

import html
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hoera_callback import handlers
from hoera_devkit.testing import eventually, read_topic
from hoera_events.common import Channel, Language
from hoera_events.complaints import ComplaintResolved
from hoera_events.envelope import Envelope, make_envelope
from hoera_events.recovery import RecoveryCaseClosed, RecoveryCaseEscalated, RecoveryCaseOpened
from hoera_events.registry import topic_for
from hoera_events.surveys import ContactMeRequest, SurveyAnswered, SurveyTrigger
from hoera_kit.calendar import Span

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from callback_support import Running, StartService, agent_page, bearer, decoded, fetch, token

pytestmark = pytest.mark.integration

TEAM = "team-nl-1"  # a team of the demo organisation: its supervisor is told of escalations


def answered(customer: str, satisfaction: int, **fields: Any) -> Envelope:
    event = SurveyAnswered(
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
    )
    return make_envelope(event, producer="survey", tenant="demo")


async def handle(running: Running, env: Envelope) -> None:
    """The event as the surveys consumer hands it over, inside its inbox transaction."""
    deps = running.svc.api.state.deps
    async with deps.transaction() as conn:
        if isinstance(env.data, SurveyAnswered):
            await handlers.surveys_answered(deps, conn, [env])
        else:
            await handlers.complaint_events(deps, conn, [env])


async def cases_of(running: Running, customer: str) -> list[dict[str, Any]]:
    sup = bearer("sup-sara", "supervisor", teams=[TEAM])
    listed = await running.http.get("/recovery-cases", params={"team_id": TEAM}, headers=sup)
    assert listed.status_code == 200, listed.text
    return [c for c in listed.json() if c["customer_id"] == customer]


async def test_unhappy_answer_callback_and_happy_recovery_survey_close_the_case_as_recovered(
    start_service: StartService,
) -> None:
    running = await start_service()
    customer = f"CUST-R{uuid.uuid4().hex[:8]}"
    sup = bearer("sup-sara", "supervisor", teams=[TEAM])
    agent = bearer("agent-anna", "agent", teams=[TEAM])
    before = {
        r["group"]: r
        for r in (
            await running.http.get("/recovery-figures", params={"by": "team", "days": 1}, headers=sup)
        ).json()
    }.get(TEAM, {"rated": 0, "recovered": 0})

    first = answered(
        customer,
        1,
        reason="waiting-time",
        topics=["waiting"],
        contact_me=ContactMeRequest(preferred_channel=Channel.phone),
    )
    await handle(running, first)
    await handle(running, first)  # redelivered: nothing twice
    await handle(running, answered(customer, 2, reason="not-solved"))  # a second signal joins the case

    [case] = await cases_of(running, customer)
    assert (case["status"], case["trigger"], case["reason"], case["first_satisfaction"]) == (
        "open",
        "unhappy_answer",
        "waiting-time",
        1,
    )
    assert case["topics"] == ["waiting"]
    detail = (await running.http.get(f"/recovery-cases/{case['case_id']}", headers=agent)).json()
    assert [s["kind"] for s in detail["steps"]] == ["opened", "joined"]
    assert case["callback_id"], "the customer's callback works the case"
    context = (await running.http.get(f"/callbacks/{case['callback_id']}", headers=agent)).json()["context"]
    assert (context["survey"]["reason"], context["survey"]["topics"]) == ("waiting-time", ["waiting"])

    # Not without a department and an outcome.
    no_outcome = await running.http.post(
        f"/recovery-cases/{case['case_id']}/close", json={"root_cause_department": "claims"}, headers=agent
    )
    assert (no_outcome.status_code, no_outcome.json()["field"]) == (422, "outcome")
    no_department = await running.http.post(
        f"/recovery-cases/{case['case_id']}/close", json={"outcome": "recovered"}, headers=agent
    )
    assert (no_department.status_code, no_department.json()["field"]) == (422, "root_cause_department")
    assert (await cases_of(running, customer))[0]["status"] == "open", "a refused close changes nothing"

    traced = await running.http.put(
        f"/recovery-cases/{case['case_id']}/department",
        json={"root_cause_department": "claims-processing"},
        headers=agent,
    )
    assert traced.status_code == 200, traced.text

    taken = (await running.http.post("/callbacks/next", headers=agent)).json()["callback"]
    assert taken["callback_id"] == case["callback_id"]
    async with agent_page(running, token("agent-anna", "agent", teams=[TEAM], lang="fr")) as (page, _):
        shown = html.unescape((await page.get("/agent?lang=fr")).text)
    assert "J'ai dû attendre trop longtemps" in shown and "Temps d'attente" in shown, "the reason in context"
    done = await running.http.post(
        f"/callbacks/{taken['callback_id']}/outcome", json={"outcome": "closed_positively"}, headers=agent
    )
    assert done.status_code == 200, done.text
    assert (await cases_of(running, customer))[0]["callback_outcome"] == "closed_positively"

    await handle(
        running,
        answered(
            customer, 5, trigger=SurveyTrigger.callback_completed, callback_id=uuid.UUID(taken["callback_id"])
        ),
    )
    [closed] = await cases_of(running, customer)
    assert (closed["status"], closed["outcome"], closed["root_cause_department"], closed["closed_by"]) == (
        "closed",
        "recovered",
        "claims-processing",
        None,
    )
    assert closed["recovery_satisfaction"] == 5

    after = {
        r["group"]: r
        for r in (
            await running.http.get("/recovery-figures", params={"by": "team", "days": 1}, headers=sup)
        ).json()
    }[TEAM]
    assert (after["rated"], after["recovered"]) == (before["rated"] + 1, before["recovered"] + 1)
    by_department = {
        r["group"]: r
        for r in (
            await running.http.get("/recovery-figures", params={"by": "department", "days": 1}, headers=sup)
        ).json()
    }
    rows = await fetch(
        running.dsn,
        "select count(*) filter (where outcome = 'recovered') as recovered, "
        "count(*) filter (where outcome in ('recovered', 'not_recovered', 'customer_left')) as rated "
        "from recovery_cases where root_cause_department = 'claims-processing' "
        "and closed_at > now() - interval '1 day'",
    )
    assert (by_department["claims-processing"]["recovered"], by_department["claims-processing"]["rated"]) == (
        rows[0]["recovered"],
        rows[0]["rated"],
    )

    key = {case["case_id"]}
    records = await read_topic(
        topic_for(RecoveryCaseClosed), until=lambda r: len(decoded(r, RecoveryCaseClosed, key)) >= 1
    )
    [event] = decoded(records, RecoveryCaseClosed, key)
    assert (event.outcome.value, event.first_satisfaction, event.recovery_satisfaction) == ("recovered", 1, 5)
    opened = await read_topic(
        topic_for(RecoveryCaseOpened),
        until=lambda r: len(decoded(r, RecoveryCaseOpened, key)) >= 1,
        timeout=5,
    )
    assert len(decoded(opened, RecoveryCaseOpened, key)) == 1, "one case, one opening event"


async def test_the_complaints_department_closes_the_case_and_an_unhappy_recovery_survey_is_not_recovered(
    start_service: StartService,
) -> None:
    running = await start_service()
    customer = f"CUST-R{uuid.uuid4().hex[:8]}"
    agent = bearer("agent-anna", "agent", teams=[TEAM])
    complaint = uuid.uuid4()
    resolved = make_envelope(
        ComplaintResolved(
            complaint_id=complaint,
            customer_id=customer,
            category="refund.late",
            resolved_at=datetime.now(UTC),
            root_cause_department="finance",
            first_contact_resolution=False,
            team_id=TEAM,
            agent_id="agent-anna",
        ),
        producer="intake",
        tenant="demo",
    )
    await handle(running, resolved)
    await handle(running, answered(customer, 2, complaint_id=complaint))
    [case] = await cases_of(running, customer)
    detail = (await running.http.get(f"/recovery-cases/{case['case_id']}", headers=agent)).json()
    assert detail["department_default"] == "finance"

    # A callback by hand for the customer works the open case.
    made = await running.http.post(
        "/callbacks", json={"customer_id": customer, "team_id": TEAM, "language": "nl"}, headers=agent
    )
    callback_id = made.json()["callback_id"]
    assert (await cases_of(running, customer))[0]["callback_id"] == callback_id
    await handle(
        running,
        answered(customer, 1, trigger=SurveyTrigger.callback_completed, callback_id=uuid.UUID(callback_id)),
    )
    [closed] = await cases_of(running, customer)
    assert (closed["status"], closed["outcome"], closed["root_cause_department"]) == (
        "closed",
        "not_recovered",
        "finance",
    )
    again = await running.http.post(
        f"/recovery-cases/{case['case_id']}/close",
        json={"outcome": "recovered", "root_cause_department": "finance"},
        headers=agent,
    )
    assert again.status_code == 409, "a case closes once"
    other_team = bearer("agent-luc", "agent", teams=["team-fr-1"])
    assert (
        await running.http.get(f"/recovery-cases/{case['case_id']}", headers=other_team)
    ).status_code == 404


async def test_an_overdue_case_escalates_once_at_its_target_on_the_tenants_calendar(
    start_service: StartService,
) -> None:
    running = await start_service(recovery={"target": {"business_days": 1}})
    customer = f"CUST-R{uuid.uuid4().hex[:8]}"
    # Next Friday evening after closing time: the business day starts counting on Monday morning.
    now = datetime.now(UTC)
    friday = (now + timedelta(days=(4 - now.weekday()) % 7 or 7)).date()
    friday_evening = datetime(friday.year, friday.month, friday.day, 19, 30, tzinfo=UTC)
    await handle(running, answered(customer, 1, answered_at=friday_evening))
    [case] = await cases_of(running, customer)
    # The tenant's calendar as this service holds it (the test organisation's: weekdays, 08:00-18:00).
    calendar = running.svc.api.state.deps.tenants.calendar("demo")
    expected = calendar.after(friday_evening, Span(business_days=1))
    assert datetime.fromisoformat(case["due_at"]) == expected
    [timer] = await fetch(
        running.dsn,
        "select due_at from kit_timers where kind = 'recovery.due' and key = $1",
        f"demo/{case['case_id']}",
    )
    assert timer["due_at"] == expected

    # Time passes: the target is reached.
    await fetch(
        running.dsn,
        "update kit_timers set due_at = now() where kind = 'recovery.due' and key = $1 returning 1",
        f"demo/{case['case_id']}",
    )
    escalated = await eventually(
        lambda: cases_of(running, customer), lambda found: bool(found and found[0]["escalated_at"])
    )
    assert escalated[0]["escalated_at"], "the overdue case escalated"
    # A second firing (a timer planned again by mistake) escalates nothing more.
    deps = running.svc.api.state.deps
    from hoera_kit.timers import Timer

    async with deps.transaction() as conn:
        await handlers.recovery.target_missed(
            deps,
            conn,
            Timer(
                id=0,
                kind="recovery.due",
                key=f"demo/{case['case_id']}",
                due_at=datetime.now(UTC),
                payload={},
                attempts=0,
            ),
        )
    key = {case["case_id"]}
    records = await read_topic(
        topic_for(RecoveryCaseEscalated),
        until=lambda r: len(decoded(r, RecoveryCaseEscalated, key)) >= 2,
        timeout=5,
    )
    assert len(decoded(records, RecoveryCaseEscalated, key)) == 1
    overdue = await running.http.get(
        "/recovery-cases",
        params={"team_id": TEAM, "overdue": "true"},
        headers=bearer("sup-sara", "supervisor", teams=[TEAM]),
    )
    assert case["case_id"] in {c["case_id"] for c in overdue.json()}


async def resolve(running: Running, customer: str, department: str, at: datetime) -> None:
    await handle(
        running,
        make_envelope(
            ComplaintResolved(
                complaint_id=uuid.uuid4(),
                customer_id=customer,
                category="refund.late",
                resolved_at=at,
                root_cause_department=department,
                first_contact_resolution=False,
                team_id=TEAM,
            ),
            producer="intake",
            tenant="demo",
        ),
    )


async def close_by_hand(running: Running, customer: str, outcome: str, department: str) -> None:
    await handle(running, answered(customer, 1, topics=["waiting"]))
    [case] = [c for c in await cases_of(running, customer) if c["status"] == "open"]
    closed = await running.http.post(
        f"/recovery-cases/{case['case_id']}/close",
        json={"outcome": outcome, "root_cause_department": department},
        headers=bearer("sup-sara", "supervisor", teams=[TEAM]),
    )
    assert closed.status_code == 200, closed.text


async def independent_counts(
    running: Running, department: str, since: datetime, until: datetime
) -> dict[str, int]:
    """The outer loop's figures for one department, computed here from the tables, not by the service."""
    [complaints] = await fetch(
        running.dsn,
        "select count(*) as n from ctx_complaints where root_cause_department = $1 "
        "and resolved_at >= $2 and resolved_at < $3",
        department,
        since,
        until,
    )
    rows = await fetch(
        running.dsn,
        "select trigger, outcome from recovery_cases where root_cause_department = $1 "
        "and closed_at >= $2 and closed_at < $3",
        department,
        since,
        until,
    )
    return {
        "complaints": complaints["n"],
        "unhappy_answers": sum(1 for r in rows if r["trigger"] == "unhappy_answer"),
        "recovery_cases": len(rows),
        "recovered": sum(1 for r in rows if r["outcome"] == "recovered"),
        "rated": sum(1 for r in rows if r["outcome"] != "no_action_needed"),
    }


def counts(found: dict[str, Any]) -> dict[str, int]:
    return {k: found[k] for k in ("complaints", "unhappy_answers", "recovery_cases", "recovered", "rated")}


async def test_an_improvement_actions_before_and_after_figures_equal_an_independent_count(
    start_service: StartService,
) -> None:
    running = await start_service()
    department = f"dept-{uuid.uuid4().hex[:8]}"
    sup = bearer("sup-sara", "supervisor", teams=[TEAM])
    now = datetime.now(UTC)
    for days_ago in (3, 9, 20, 40):  # the one 40 days ago falls outside the 28-day window before
        await resolve(running, f"CUST-D{uuid.uuid4().hex[:6]}", department, now - timedelta(days=days_ago))
    await close_by_hand(running, f"CUST-D{uuid.uuid4().hex[:6]}", "not_recovered", department)
    await close_by_hand(running, f"CUST-D{uuid.uuid4().hex[:6]}", "customer_left", department)

    planned = await running.http.post(
        "/improvement-actions",
        json={
            "department": department,
            "title": "Explain the refund delay in the first letter",
            "owner": "sup-sara",
            "due_on": (now + timedelta(days=14)).date().isoformat(),
        },
        headers=sup,
    )
    assert planned.status_code == 201, planned.text
    action = planned.json()
    stale = await running.http.patch(
        f"/improvement-actions/{action['action_id']}", json={"version": 99, "status": "done"}, headers=sup
    )
    assert stale.status_code == 409, "a change made against an old version is refused"
    done = await running.http.patch(
        f"/improvement-actions/{action['action_id']}",
        json={"version": action["version"], "status": "done", "note": "New letter in use"},
        headers=sup,
    )
    assert done.status_code == 200, done.text
    done_at = datetime.fromisoformat(done.json()["done_at"])

    await resolve(running, f"CUST-D{uuid.uuid4().hex[:6]}", department, datetime.now(UTC))
    await close_by_hand(running, f"CUST-D{uuid.uuid4().hex[:6]}", "recovered", department)
    await close_by_hand(running, f"CUST-D{uuid.uuid4().hex[:6]}", "no_action_needed", department)

    view = await running.http.get(f"/departments/{department}", params={"window_days": 28}, headers=sup)
    assert view.status_code == 200, view.text
    [compared] = view.json()["before_after"]
    window = timedelta(days=28)
    assert counts(compared["before"]) == await independent_counts(
        running, department, done_at - window, done_at
    )
    after_until = min(done_at + window, datetime.fromisoformat(view.json()["period"]["until"]))
    assert counts(compared["after"]) == await independent_counts(running, department, done_at, after_until)
    assert (compared["before"]["complaints"], compared["after"]["complaints"]) == (3, 1)
    assert (compared["before"]["recovered"], compared["after"]["recovered"]) == (0, 1)
    assert compared["after_complete"] is False
    assert view.json()["topics"] == {"waiting": 4}, (
        "every closed case of the department had a comment on waiting"
    )

    agent = bearer("agent-anna", "agent", teams=[TEAM])
    assert (await running.http.get(f"/departments/{department}", headers=agent)).status_code == 403


async def test_a_signal_that_arrives_late_is_not_overdue_on_arrival(start_service: StartService) -> None:
    running = await start_service()
    customer = f"CUST-R{uuid.uuid4().hex[:8]}"
    month_ago = datetime.now(UTC) - timedelta(days=30)
    await handle(running, answered(customer, 1, answered_at=month_ago))
    [case] = await cases_of(running, customer)
    assert datetime.fromisoformat(case["opened_at"]) == month_ago, "the case is the customer's since then"
    assert datetime.fromisoformat(case["due_at"]) > datetime.now(UTC), "the team gets its target from now"
    assert case["escalated_at"] is None
