"""WCAG 2.1 AA, as far as a machine can tell: axe-core (axe-playwright-python) in Debian's headless
Chromium finds no violation of the WCAG 2.0/2.1 A and AA rules on any staff page, each role signed in
at the local Keycloak, in Dutch and French. (What a machine cannot tell, a person still checks.)"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from axe_playwright_python.async_playwright import Axe
from hoera_events.common import Channel, Language
from hoera_events.surveys import SurveyAnswered, SurveyTrigger

from .support import Publisher, as_user, submit_complaint, unique, wait_until
from .test_staff_pages import known_to_compensation, signed_in

pytestmark = [pytest.mark.integration, pytest.mark.browser]

WCAG_AA = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}


async def _violations(page: Any, url: str) -> list[str]:
    found = []
    for lang in ("nl", "fr"):
        glue = "&" if "?" in url else "?"
        await page.goto(f"{url}{glue}lang={lang}")
        await page.wait_for_selector("main")
        results = await Axe().run(page, options=WCAG_AA)
        for v in results.response["violations"]:
            targets = [", ".join(map(str, n["target"])) for n in v["nodes"][:3]]
            found.append(f"{url} ({lang}) {v['id']}: {v['help']} at {targets}")
    return found


async def _recovery_case(urls: dict[str, str], http: httpx.AsyncClient, publisher: Publisher) -> str:
    """A recovery case of team-nl-1: an unhappy answer with a reason, as the survey service publishes it."""
    customer = unique("CUST-E2E-A11Y-R")
    answer = SurveyAnswered(
        survey_id=uuid.uuid4(),
        customer_id=customer,
        trigger=SurveyTrigger.contact_closed,
        channel=Channel.phone,
        language=Language.nl,
        answered_at=datetime.now(UTC),
        team_id="team-nl-1",
        agent_id="agent-anna",
        satisfaction=1,
        reason="waiting-time",
        topics=["waiting"],
    )
    await publisher.publish(answer, producer="survey")
    found = await wait_until(
        lambda: http.get(f"{urls['callback']}/recovery-cases", headers=as_user("sup-sara")),
        lambda r: any(c["customer_id"] == customer for c in r.json()),
    )
    [case] = [c for c in found.json() if c["customer_id"] == customer]
    return str(case["case_id"])


async def test_no_staff_page_breaks_a_wcag_aa_rule_that_a_machine_can_check(
    urls: dict[str, str], http: httpx.AsyncClient, browser: Any, identity_provider: str, publisher: Publisher
) -> None:
    customer = unique("CUST-E2E-A11Y")
    case_id = await _recovery_case(urls, http, publisher)
    complaint = await submit_complaint(http, urls, customer)
    dossier = f"{urls['intake']}/workspace/complaints/{complaint['complaint_id']}"
    await known_to_compensation(http, urls, complaint["complaint_id"])
    found: list[str] = []

    stranger = await browser.new_context()
    page = await stranger.new_page()
    found += await _violations(page, f"{urls['intake']}/workspace/sign-in")
    await stranger.close()

    pages = {
        "agent-anna": [f"{urls['intake']}/workspace", dossier, f"{urls['callback']}/agent"],
        "appr-eva": [f"{urls['compensation']}/approval-queue"],
        "sup-sara": [
            f"{urls['alerts']}/dashboard/teams/team-nl-1",
            f"{urls['alerts']}/dashboard/teams/team-nl-1/answers",
            f"{urls['compensation']}/compensation/complaints/{complaint['complaint_id']}",
            f"{urls['callback']}/recovery",
            f"{urls['callback']}/recovery/cases/{case_id}",
            f"{urls['callback']}/recovery/figures",
            f"{urls['callback']}/recovery/departments",
            f"{urls['callback']}/recovery/departments/claims-processing",
        ],
        "admin-ops": [
            f"{urls['intake']}/console",
            f"{urls['intake']}/console/categories",
            f"{urls['intake']}/customer-data?customer={customer}",
        ],
    }
    for person, visits in pages.items():
        context, page = await signed_in(browser, f"{visits[0]}?lang=nl", person)
        for url in visits:
            found += await _violations(page, url)
        await context.close()
    assert not found, "\n".join(found)
