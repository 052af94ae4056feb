"""R25 in a real browser (Debian's headless Chromium): the supervisor signs in, the dashboard shows a
new unhappy answer's alert and the changed figures without a reload, and the alert is acknowledged
from its page. The session lives in a cookie: no URL the browser visits holds a token, and a form
posted without the session's CSRF value changes nothing."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from alerts_support import AlertsService, token, unhappy_answer
from hoera_kit.auth import Role
from playwright.async_api import expect

pytestmark = [pytest.mark.integration, pytest.mark.browser]


async def test_a_new_unhappy_answer_appears_live_on_the_dashboard(
    alerts: AlertsService, browser: Any, artifacts_dir: Path
) -> None:
    browser_team = "team-browser"  # a team of the tenant's organisation only this test writes to
    sara = token("sup-sara", Role.supervisor, teams=(browser_team,), lang="nl")
    page = await browser.new_page(viewport={"width": 1200, "height": 1300})
    visited: list[str] = []
    page.on("request", lambda request: visited.append(request.url))

    # Without a session the dashboard sends the browser to sign in, and back afterwards.
    await page.goto(f"{alerts.url}/dashboard/teams/{browser_team}?lang=nl")
    assert page.url.startswith(f"{alerts.url}/dashboard/sign-in?")
    assert await page.locator("html").get_attribute("lang") == "nl"
    await page.get_by_label("Toegangstoken").fill(sara)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Aanmelden").click()
    assert page.url == f"{alerts.url}/dashboard/teams/{browser_team}?lang=nl"

    await page.wait_for_selector("#live-status.on", timeout=15_000)
    assert (await page.inner_text("#fig-open-alerts .value")).strip() == "0"
    assert (await page.inner_text("#fig-csat .value")).strip() == "–"
    assert "Geen open meldingen" in await page.inner_text("#open-alerts")
    await page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    comment = f"De agent begreep mijn vraag niet ({uuid.uuid4().hex[:6]})"
    await alerts.publish(unhappy_answer(browser_team, satisfaction=2, comment=comment))

    # Playwright's own wait: a predicate evaluated in the page would be refused by the strict CSP.
    await expect(page.locator("#fig-open-alerts .value")).to_have_text("1", timeout=20_000)
    assert comment in await page.inner_text("#open-alerts")
    assert (await page.inner_text("#fig-csat .value")).strip() == "2.5"
    assert await page.evaluate("window.__sameDocument === true")
    await page.screenshot(path=str(artifacts_dir / "alerts-dashboard-live.png"), full_page=True)

    # Closing the loop from the alert's own page.
    await page.click("#open-alerts a.kind")
    await page.wait_for_selector("form#acknowledge")
    alert_id = page.url.split("/dashboard/alerts/")[1].split("?")[0]

    # The same form posted without its CSRF value (as another site's page would) is refused.
    forged = await page.request.post(
        f"{alerts.url}/dashboard/alerts/{alert_id}/acknowledgement",
        form={"action": "coached"},
        max_redirects=0,
    )
    assert forged.status == 403
    rows = await alerts.fetch("select status from alerts where alert_id = $1", uuid.UUID(alert_id))
    assert [r["status"] for r in rows] == ["open"]

    # A department at fault without its name: the page says so in Dutch and nothing is saved.
    await page.select_option("#action", "other_department_at_fault")
    async with page.expect_navigation():
        await page.click("form#acknowledge button[type=submit]")
    assert "Vul de afdeling in fout in" in await page.inner_text("#acknowledge-error")

    await page.select_option("#action", "coached")
    await page.fill("#note", "Gesprek samen beluisterd.")
    async with page.expect_navigation():
        await page.click("form#acknowledge button[type=submit]")
    await page.wait_for_selector("#acknowledgement", timeout=10_000)
    assert "Agent gecoacht" in await page.inner_text("#acknowledgement")
    await page.screenshot(path=str(artifacts_dir / "alerts-alert-acknowledged.png"), full_page=True)

    # Signing out ends the session: the dashboard asks to sign in again.
    async with page.expect_navigation():
        await page.get_by_role("button", name="Afmelden").click()
    assert "U bent afgemeld." in await page.inner_text("#sign-in-note")
    await page.goto(f"{alerts.url}/dashboard/teams/{browser_team}")
    assert page.url.startswith(f"{alerts.url}/dashboard/sign-in?")

    assert any("/stream" in url for url in visited), "the live stream was requested"
    assert not [url for url in visited if "token=" in url or sara in url]
    await page.close()
