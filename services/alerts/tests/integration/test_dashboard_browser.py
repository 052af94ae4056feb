"""R25 in a real browser (Debian's headless Chromium): the supervisor's dashboard shows a new
unhappy answer's alert and the changed figures without a reload, and the alert is acknowledged
from its page."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alerts_support import AlertsService, token, unhappy_answer
from hoera_kit.auth import Role

pytestmark = [pytest.mark.integration, pytest.mark.browser]


@pytest.fixture
async def browser_team(alerts: AlertsService) -> AsyncIterator[str]:
    """A team only this test writes to, led by sup-sara, so the figures it sees are its own."""
    team_id = f"team-b-{uuid.uuid4().hex[:8]}"
    org = await alerts.rule("organisation")
    team = {"id": team_id, "name": "Klantendienst Browser", "supervisor": "sup-sara"}
    assert (await alerts.put_rule("organisation", {**org, "teams": [*org["teams"], team]})).status_code == 200
    yield team_id
    org = await alerts.rule("organisation")
    org["teams"] = [t for t in org["teams"] if t["id"] != team_id]
    await alerts.put_rule("organisation", org)


async def test_a_new_unhappy_answer_appears_live_on_the_dashboard(
    alerts: AlertsService, browser_team: str, browser: Any, artifacts_dir: Path
) -> None:
    sara = token("sup-sara", Role.supervisor, teams=(browser_team,), lang="nl")
    page = await browser.new_page(viewport={"width": 1200, "height": 1300})
    await page.goto(f"{alerts.url}/dashboard/teams/{browser_team}?token={sara}&lang=nl")
    await page.wait_for_selector("#live-status.on", timeout=15_000)
    assert (await page.inner_text("#fig-open-alerts .value")).strip() == "0"
    assert (await page.inner_text("#fig-csat .value")).strip() == "–"
    assert "Geen open meldingen" in await page.inner_text("#open-alerts")
    await page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    comment = f"De agent begreep mijn vraag niet ({uuid.uuid4().hex[:6]})"
    await alerts.publish(unhappy_answer(browser_team, satisfaction=2, comment=comment))

    await page.wait_for_function(
        "document.querySelector('#fig-open-alerts .value').textContent.trim() === '1'",
        timeout=20_000,
    )
    assert comment in await page.inner_text("#open-alerts")
    assert (await page.inner_text("#fig-csat .value")).strip() == "2.5"
    assert await page.evaluate("window.__sameDocument === true")
    await page.screenshot(path=str(artifacts_dir / "alerts-dashboard-live.png"), full_page=True)

    # Closing the loop from the alert's own page.
    await page.click("#open-alerts a.kind")
    await page.wait_for_selector("form#acknowledge")
    await page.select_option("#action", "coached")
    await page.fill("#note", "Gesprek samen beluisterd.")
    await page.click("form#acknowledge button[type=submit]")
    await page.wait_for_selector("#acknowledgement", timeout=10_000)
    assert "Agent gecoacht" in await page.inner_text("#acknowledgement")
    await page.screenshot(path=str(artifacts_dir / "alerts-alert-acknowledged.png"), full_page=True)
    await page.close()
