"""The agent page in a real headless Chromium: sign in, take the next callback from the keyboard, read
its context, record "closed positively", and the callback leaves the queue (R26-R28). The session
lives in a cookie: no URL the browser visits holds a token, and a form posted without the session's
CSRF value changes nothing."""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hoera_devkit.testing import ServiceProcess, eventually
from hoera_events.common import Channel, Language
from hoera_events.platform import ContactClosed
from hoera_events.surveys import ContactMeRequest, SurveyAnswered, SurveyTrigger

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from callback_support import bearer, envelope, fetch, process_env, publish, token

pytestmark = [pytest.mark.integration, pytest.mark.browser]

COMMENT = "Ik wacht nog altijd op mijn terugbetaling van de kinesist."


async def test_an_agent_takes_the_next_callback_reads_the_context_and_closes_it_positively(
    fresh_db: str, test_tenants: tuple[str, ...], browser: Any, artifacts_dir: Path
) -> None:
    team, customer = f"team-{uuid.uuid4().hex[:8]}", f"CUST-{uuid.uuid4().hex[:10]}"
    contact_id = f"CNT-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    proc = ServiceProcess("hoera_callback", env=process_env(fresh_db)).start()
    try:
        await proc.wait_ready()
        await publish(
            envelope(
                ContactClosed(
                    contact_id=contact_id,
                    customer_id=customer,
                    channel=Channel.phone,
                    agent_id="AGT-0042",
                    team_id=team,
                    closed_at=now - timedelta(hours=1),
                    language=Language.nl,
                    reason_code="refund.status",
                    first_contact_resolved=False,
                ),
                producer="platform",
            ),
            envelope(
                SurveyAnswered(
                    survey_id=uuid.uuid4(),
                    customer_id=customer,
                    trigger=SurveyTrigger.contact_closed,
                    channel=Channel.phone,
                    language=Language.nl,
                    answered_at=now,
                    contact_id=contact_id,
                    agent_id="AGT-0042",
                    team_id=team,
                    satisfaction=2,
                    nps=4,
                    comment=COMMENT,
                    contact_me=ContactMeRequest(),
                ),
                producer="survey",
            ),
        )
        async with httpx.AsyncClient(base_url=proc.url) as http:
            listed = await eventually(
                lambda: http.get("/callbacks", headers=bearer("sup-sara", "supervisor", teams=[team])),
                lambda resp: len(resp.json()) == 1,
            )
        cid = listed.json()[0]["callback"]["callback_id"]

        page = await browser.new_page(locale="nl-BE")
        visited: list[str] = []
        page.on("request", lambda request: visited.append(request.url))
        agent_token = token("agent-anna", "agent", teams=[team], lang="nl")

        # Without a session the page sends the browser to sign in, in the browser's language.
        await page.goto(f"{proc.url}/agent")
        assert page.url.startswith(f"{proc.url}/agent/sign-in?")
        assert await page.locator("html").get_attribute("lang") == "nl"
        await page.get_by_label("Toegangstoken").fill(agent_token)
        async with page.expect_navigation():
            await page.get_by_label("Toegangstoken").press("Enter")
        assert page.url == f"{proc.url}/agent"
        assert await page.locator("html").get_attribute("lang") == "nl"
        assert await page.locator(f'#queue tr[data-callback-id="{cid}"]').count() == 1

        # Taking it with a form posted without the CSRF value (as another site's page would) fails.
        forged = await page.request.post(f"{proc.url}/agent/next", form={"lang": "nl"}, max_redirects=0)
        assert forged.status == 403
        [queued] = await fetch(
            fresh_db, "select status from callbacks where callback_id = $1", uuid.UUID(cid)
        )
        assert queued["status"] == "queued"
        await page.reload()
        assert await page.locator(f'#queue tr[data-callback-id="{cid}"]').count() == 1

        # The take-next button has the focus: Enter takes the next callback, no mouse needed.
        focused = await page.evaluate("document.activeElement.textContent")
        assert focused.strip() == "Neem het volgende"
        async with page.expect_navigation():
            await page.keyboard.press("Enter")
        assert await page.locator("#message").inner_text() == "U belt deze klant nu."
        assert await page.locator("#current").get_attribute("data-callback-id") == cid
        assert await page.locator("#context-comment").inner_text() == COMMENT
        assert await page.locator("#context-topic").inner_text() == "refund.status"
        assert "AGT-0042" in await page.locator("#context-contact").inner_text()
        reasons = await page.locator("#current-reasons li").all_inner_texts()
        assert reasons == ["Zou ons niet aanraden", "Ontevreden smiley"]
        await page.screenshot(path=str(artifacts_dir / "callback-agent-page-context.png"), full_page=True)

        # The first outcome has the focus; Space chooses it, Tab reaches the note.
        await page.keyboard.press("Space")
        assert await page.get_by_label("Positief afgesloten").is_checked()
        await page.get_by_label("Notitie (voor collega's)").fill("Terugbetaling uitgelegd, klant tevreden.")
        async with page.expect_navigation():
            await page.get_by_role("button", name="Uitkomst registreren").click()

        assert await page.locator("#message").inner_text() == "Uitkomst geregistreerd."
        assert await page.locator("#current").count() == 0
        assert await page.locator(f'tr[data-callback-id="{cid}"]').count() == 0, "the callback left the queue"
        assert await page.locator("#queue-empty").is_visible()
        await page.screenshot(path=str(artifacts_dir / "callback-agent-page-after.png"), full_page=True)

        [row] = await fetch(
            fresh_db,
            "select status, outcome, completed_by from callbacks where callback_id = $1",
            uuid.UUID(cid),
        )
        assert (row["status"], row["outcome"], row["completed_by"]) == (
            "done",
            "closed_positively",
            "agent-anna",
        )
        [note] = await fetch(
            fresh_db, "select note from callback_outcomes where callback_id = $1", uuid.UUID(cid)
        )
        assert note["note"] == "Terugbetaling uitgelegd, klant tevreden."

        # The same page in French, for a colleague of Partenamut.
        await page.get_by_role("link", name="Français").click()
        assert await page.get_by_role("button", name="Prendre le suivant").is_visible()

        # Signing out ends the session: the page asks to sign in again.
        async with page.expect_navigation():
            await page.get_by_role("button", name="Se déconnecter").click()
        assert await page.locator("#sign-in-note").inner_text() == "Vous êtes déconnecté."
        await page.goto(f"{proc.url}/agent")
        assert page.url.startswith(f"{proc.url}/agent/sign-in?")
        assert not [url for url in visited if "token=" in url or agent_token in url]
        await page.close()
    finally:
        proc.stop()
