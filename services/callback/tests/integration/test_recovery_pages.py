"""The recovery pages as a supervisor and an agent use them (server-rendered forms, CSRF, nl/fr/en):
the team's cases with the reason in the reader's language; a case refuses to close without an outcome
or a department (422, named, nothing changed) and closes with both; the departments' view plans and
finishes an improvement action; an agent does not reach the departments."""

from __future__ import annotations

import html
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hoera_callback import handlers
from hoera_events.common import Channel, Language
from hoera_events.envelope import make_envelope
from hoera_events.surveys import SurveyAnswered, SurveyTrigger

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from callback_support import Running, StartService, agent_page, fetch, token

pytestmark = pytest.mark.integration

TEAM = "team-nl-1"


async def unhappy(running: Running, customer: str) -> str:
    env = make_envelope(
        SurveyAnswered(
            survey_id=uuid.uuid4(),
            customer_id=customer,
            trigger=SurveyTrigger.contact_closed,
            channel=Channel.phone,
            language=Language.nl,
            answered_at=datetime.now(UTC),
            team_id=TEAM,
            agent_id="agent-anna",
            satisfaction=1,
            reason="waiting-time",
        ),
        producer="survey",
        tenant="demo",
    )
    deps = running.svc.api.state.deps
    async with deps.transaction() as conn:
        await handlers.surveys_answered(deps, conn, [env])
    [row] = await fetch(running.dsn, "select case_id from recovery_cases where customer_id = $1", customer)
    return str(row["case_id"])


async def test_a_supervisor_lists_traces_and_closes_a_case_on_the_pages(start_service: StartService) -> None:
    running = await start_service()
    customer = f"CUST-P{uuid.uuid4().hex[:8]}"
    case_id = await unhappy(running, customer)
    sara = token("sup-sara", "supervisor", teams=[TEAM], lang="nl")

    async with agent_page(running, sara) as (http, csrf):
        listed = await http.get("/recovery", params={"team": TEAM})
        assert listed.status_code == 200
        assert f'data-case-id="{case_id}"' in listed.text
        assert "Ik moest te lang wachten" in html.unescape(listed.text), "the reason in the reader's language"
        french = await http.get(f"/recovery/cases/{case_id}", params={"lang": "fr"})
        assert "J'ai dû attendre trop longtemps" in html.unescape(french.text)

        no_outcome = await http.post(
            f"/recovery/cases/{case_id}/close", data={"csrf": csrf, "root_cause_department": "claims"}
        )
        assert no_outcome.status_code == 422
        assert "Kies hoe de case afliep." in html.unescape(no_outcome.text)
        no_department = await http.post(
            f"/recovery/cases/{case_id}/close", data={"csrf": csrf, "outcome": "recovered"}
        )
        assert no_department.status_code == 422
        assert "Geef de afdeling die de oorzaak was" in html.unescape(no_department.text)
        without_csrf = await http.post(
            f"/recovery/cases/{case_id}/close",
            data={"outcome": "recovered", "root_cause_department": "claims"},
        )
        assert without_csrf.status_code == 403
        [still] = await fetch(
            running.dsn, "select status from recovery_cases where case_id = $1", uuid.UUID(case_id)
        )
        assert still["status"] == "open", "refused forms change nothing"

        traced = await http.post(
            f"/recovery/cases/{case_id}/department",
            data={"csrf": csrf, "root_cause_department": "claims-processing"},
        )
        assert traced.status_code == 303
        closed = await http.post(
            f"/recovery/cases/{case_id}/close",
            data={"csrf": csrf, "outcome": "customer_left", "note": "Moved to another insurer"},
        )
        assert closed.status_code == 303
        page = await http.get(f"/recovery/cases/{case_id}")
        assert 'data-status="closed"' in page.text and "Klant vertrokken" in page.text

        figures = await http.get("/recovery/figures", params={"by": "department"})
        assert figures.status_code == 200 and 'data-group="claims-processing"' in figures.text

    [row] = await fetch(
        running.dsn,
        "select status, outcome, root_cause_department, closed_by, close_note from recovery_cases "
        "where case_id = $1",
        uuid.UUID(case_id),
    )
    assert tuple(row) == (
        "closed",
        "customer_left",
        "claims-processing",
        "sup-sara",
        "Moved to another insurer",
    )


async def test_a_supervisor_plans_and_finishes_an_improvement_action_and_an_agent_sees_no_departments(
    start_service: StartService,
) -> None:
    running = await start_service()
    department = f"dept-{uuid.uuid4().hex[:8]}"
    sara = token("sup-sara", "supervisor", teams=[TEAM], lang="en")
    async with agent_page(running, sara) as (http, csrf):
        missing = await http.post(
            f"/recovery/departments/{department}/actions",
            data={"csrf": csrf, "title": "", "owner": "sup-sara", "due_on": ""},
        )
        assert missing.status_code == 422
        assert (
            await fetch(running.dsn, "select 1 from improvement_actions where department = $1", department)
            == []
        )
        planned = await http.post(
            f"/recovery/departments/{department}/actions",
            data={
                "csrf": csrf,
                "title": "Rewrite the refund letter",
                "owner": "sup-sara",
                "due_on": (date.today() + timedelta(days=10)).isoformat(),
            },
        )
        assert planned.status_code == 303, planned.text
        [action] = await fetch(
            running.dsn,
            "select action_id, version from improvement_actions where department = $1",
            department,
        )
        done = await http.post(
            f"/recovery/departments/{department}/actions/{action['action_id']}",
            data={
                "csrf": csrf,
                "version": str(action["version"]),
                "status": "done",
                "note": "Sent since Monday",
            },
        )
        assert done.status_code == 303
        shown = await http.get(f"/recovery/departments/{department}")
        assert f'data-action-id="{action["action_id"]}" data-status="done"' in shown.text
        assert 'class="before-after"' in shown.text
        stale = await http.post(
            f"/recovery/departments/{department}/actions/{action['action_id']}",
            data={"csrf": csrf, "version": str(action["version"]), "status": "dropped"},
        )
        assert stale.status_code == 409
    [row] = await fetch(
        running.dsn, "select status, done_at from improvement_actions where department = $1", department
    )
    assert row["status"] == "done" and row["done_at"] is not None

    anna = token("agent-anna", "agent", teams=[TEAM], lang="en")
    async with agent_page(running, anna) as (http, _csrf):
        assert (await http.get("/recovery/departments")).status_code == 403
        cases = await http.get("/recovery")
        assert cases.status_code == 200 and 'href="/recovery/departments' not in cases.text
