"""Closing the loop end to end (issue 19): an unhappy answer with a reason opens one recovery case;
the team traces it to a department, calls the customer back and closes the call positively; the
recovery survey after the call is happy, and the case closes as recovered with its department; the
recovery rate of the team and of the department move exactly as computed by hand.

Only public edges: the platform's topic, the survey page, the callback service's API, the topics and
the SMTP sink."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from hoera_events.recovery import RecoveryCaseClosed, RecoveryCaseOpened, RecoveryOutcome
from hoera_events.surveys import SurveyAnswered, SurveyInvited, SurveyTrigger

from .support import Mailbox, Publisher, Tap, as_user, customer_address, survey_link, unique, wait_until
from .test_journeys import contact_closed

pytestmark = pytest.mark.integration

TEAM = "team-nl-1"


async def _rates(http: httpx.AsyncClient, urls: dict[str, str], by: str) -> dict[str, dict[str, Any]]:
    resp = await http.get(
        f"{urls['callback']}/recovery-figures", params={"by": by, "days": 30}, headers=as_user("sup-sara")
    )
    assert resp.status_code == 200, resp.text
    return {row["group"]: row for row in resp.json()}


def _counted(rows: dict[str, dict[str, Any]], group: str) -> tuple[int, int]:
    row = rows.get(group, {"recovered": 0, "rated": 0})
    return row["recovered"], row["rated"]


async def test_an_unhappy_customer_with_a_reason_is_called_back_recovered_and_counted(
    urls: dict[str, str], http: httpx.AsyncClient, tap: Tap, mailbox: Mailbox, publisher: Publisher
) -> None:
    customer = unique("CUST-E2E-REC")
    department = unique("dept-e2e").lower()
    contact = contact_closed(customer, reason_code="refund.status")
    await publisher.publish(contact)

    invitation = await mailbox.wait_to(customer_address(customer), contains=f"{urls['survey']}/s/")
    _, survey_id, link_token = survey_link(invitation.text)
    posted = await http.post(
        f"{urls['survey']}/s/{survey_id}",
        data={
            "t": link_token,
            "lang": "nl",
            "satisfaction": "1",
            "reason": "waiting-time",
            "comment": "Ik heb weken gewacht op mijn terugbetaling.",
            "contact_me": "yes",
            "moment": "morning",
            "contact_channel": "phone",
        },
    )
    assert posted.status_code == 303, posted.text[:500]
    answered = await tap.wait(SurveyAnswered, lambda e: str(e.survey_id) == survey_id)
    assert answered.reason == "waiting-time"
    assert {"waiting", "payment"} <= set(answered.topics), answered.topics

    opened = await tap.wait(RecoveryCaseOpened, lambda e: str(e.survey_id) == survey_id)
    assert (opened.team_id, opened.reason, opened.satisfaction) == (TEAM, "waiting-time", 1)
    sara, anna = as_user("sup-sara"), as_user("agent-anna")
    cases = await http.get(f"{urls['callback']}/recovery-cases", params={"team_id": TEAM}, headers=sara)
    assert [c["case_id"] for c in cases.json() if c["customer_id"] == customer] == [str(opened.case_id)]

    before_team = _counted(await _rates(http, urls, "team"), TEAM)
    before_department = _counted(await _rates(http, urls, "department"), department)
    assert before_department == (0, 0)

    # The supervisor listened and traced the trouble to a department (R7, R23).
    traced = await http.put(
        f"{urls['callback']}/recovery-cases/{opened.case_id}/department",
        json={"root_cause_department": department},
        headers=sara,
    )
    assert traced.status_code == 200, traced.text

    # The callback the customer asked for works the case; the agent closes the call positively.
    case = await wait_until(
        lambda: http.get(f"{urls['callback']}/recovery-cases/{opened.case_id}", headers=anna),
        lambda r: r.status_code == 200 and r.json()["case"]["callback_id"] is not None,
    )
    callback_id = case.json()["case"]["callback_id"]
    claimed = await http.post(f"{urls['callback']}/callbacks/{callback_id}/claim", headers=anna)
    assert claimed.status_code == 200, claimed.text
    done = await http.post(
        f"{urls['callback']}/callbacks/{callback_id}/outcome",
        json={"outcome": "closed_positively", "note": "Terugbetaling uitgelegd."},
        headers=anna,
    )
    assert done.status_code == 200, done.text

    # The recovery survey after the call: the customer is happy again.
    recovery_invited = await tap.wait(
        SurveyInvited,
        lambda e: e.trigger is SurveyTrigger.callback_completed and str(e.callback_id) == callback_id,
    )
    second = await mailbox.wait_to(
        customer_address(customer), contains=f"{urls['survey']}/s/{recovery_invited.survey_id}"
    )
    _, recovery_survey, recovery_token = survey_link(second.text)
    happy = await http.post(
        f"{urls['survey']}/s/{recovery_survey}",
        data={"t": recovery_token, "lang": "nl", "satisfaction": "5"},
    )
    assert happy.status_code == 303, happy.text[:500]

    closed = await tap.wait(RecoveryCaseClosed, lambda e: e.case_id == opened.case_id)
    assert (closed.outcome, closed.root_cause_department, closed.closed_by) == (
        RecoveryOutcome.recovered,
        department,
        None,
    )
    assert (closed.first_satisfaction, closed.recovery_satisfaction) == (1, 5)

    after_team = _counted(await _rates(http, urls, "team"), TEAM)
    after_department = _counted(await _rates(http, urls, "department"), department)
    assert after_team == (before_team[0] + 1, before_team[1] + 1)
    assert after_department == (1, 1)
    team = (await _rates(http, urls, "team"))[TEAM]
    assert team["rate"] == pytest.approx(after_team[0] / after_team[1]), "the rate is recovered / counted"
    assert len([e for e in tap.events(RecoveryCaseOpened) if e.customer_id == customer]) == 1, "one case"
