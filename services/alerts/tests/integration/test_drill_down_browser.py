"""R25's drill-down in Debian's headless Chromium: the supervisor clicks from the CSAT figure to the
answers behind it (the page's figures are the card's), narrows them to one channel, exports them;
the CSV holds exactly the answers the database holds for that view, a comment a spreadsheet would
run as a formula is defused, and another team's answers are not there. Photographed in nl, fr, en."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from pathlib import Path
from typing import Any

import pytest
from alerts_support import AlertsService, token, unhappy_answer
from hoera_devkit.testing import eventually
from hoera_events.common import Channel
from hoera_kit.auth import Role
from playwright.async_api import expect

pytestmark = [pytest.mark.integration, pytest.mark.browser]


async def test_a_supervisor_drills_from_csat_to_the_answers_and_exports_them(
    alerts: AlertsService, browser: Any, artifacts_dir: Path
) -> None:
    team = f"team-drill-{uuid.uuid4().hex[:6]}"
    other = f"team-other-{uuid.uuid4().hex[:6]}"
    formula = '=HYPERLINK("http://evil.test","klik")'
    answers = [
        unhappy_answer(team, satisfaction=1, channel=Channel.phone, comment=formula),
        unhappy_answer(team, satisfaction=4, effort=5, nps=9, channel=Channel.email, comment="Vlot geholpen"),
        unhappy_answer(team, satisfaction=5, effort=4, nps=10, channel=Channel.phone, comment="Top"),
        unhappy_answer(team, satisfaction=None, effort=None, nps=8, channel=Channel.chat, comment=None),
        unhappy_answer(other, satisfaction=2, channel=Channel.phone, comment="Niet mijn team"),
    ]
    for answer in answers:
        await alerts.publish(answer)
    stored = await eventually(
        lambda: alerts.fetch("select survey_id from answers where team_id = any($1)", [team, other]),
        lambda rows: len(rows) == len(answers),
    )
    assert len(stored) == len(answers)

    sara = token("sup-sara", Role.supervisor, teams=(team,), lang="nl")
    context = await browser.new_context(accept_downloads=True, viewport={"width": 1200, "height": 1200})
    page = await context.new_page()
    await page.goto(f"{alerts.url}/dashboard/teams/{team}?lang=nl")
    await page.get_by_label("Toegangstoken").fill(sara)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Aanmelden").click()
    card = (await page.inner_text("#fig-csat .value")).strip()

    # From the figure to the answers behind it: the same figure, from the same three answers.
    await page.click("#fig-csat a.drill")
    await page.wait_for_selector("#answers")
    assert (await page.inner_text("#sum-csat")).strip() == card
    assert await page.get_attribute("#summary", "data-total") == "3"
    assert await page.locator("#answers tr[data-survey]").count() == 3
    assert "Niet mijn team" not in await page.inner_text("main")
    for lang in ("nl", "fr", "en"):
        await page.goto(f"{page.url.split('?')[0]}?figure=csat&lang={lang}")
        assert await page.get_attribute("html", "lang") == lang
        await page.screenshot(path=str(artifacts_dir / f"alerts-answers-{lang}.png"), full_page=True)

    # From an answer to the alert it raised.
    await page.locator("#answers tr[data-survey] a", has_text="Alert").first.click()
    await page.wait_for_selector("form#acknowledge")
    alert_page = page.url.split("?")[0]
    for lang in ("nl", "fr", "en"):
        await page.goto(f"{alert_page}?lang={lang}")
        await page.screenshot(path=str(artifacts_dir / f"alerts-alert-{lang}.png"), full_page=True)
    await page.goto(f"{alerts.url}/dashboard/teams/{team}/answers?figure=csat&lang=en")

    # Narrowed to the phone, then exported.
    await page.select_option("#channel", "phone")
    async with page.expect_navigation():
        await page.click("#apply")
    await expect(page.locator("#answers tr[data-survey]")).to_have_count(2)
    async with page.expect_download() as waiting:
        await page.click("#export")
    download = await waiting.value
    text = await asyncio.to_thread(Path(await download.path()).read_text, encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))

    expected = await alerts.fetch(
        "select survey_id, satisfaction, effort, nps, comment, agent_id from answers "
        "where team_id = $1 and channel = 'phone' and satisfaction is not null order by answered_at desc",
        team,
    )
    assert [r["survey_id"] for r in rows] == [str(e["survey_id"]) for e in expected]
    assert [(r["satisfaction"], r["effort"], r["nps"], r["agent_id"]) for r in rows] == [
        (str(e["satisfaction"]), str(e["effort"]), str(e["nps"]), e["agent_id"]) for e in expected
    ]
    comments = {r["survey_id"]: r["comment"] for r in rows}
    by_db = {str(e["survey_id"]): e["comment"] for e in expected}
    for survey_id, comment in by_db.items():
        shown = comments[survey_id]
        assert shown == ("'" + comment if comment.startswith("=") else comment)
    assert any(c.startswith("'=HYPERLINK") for c in comments.values()), "a formula is defused"

    # Another team's answers are not this supervisor's to read, on the page or exported.
    refused = await page.goto(f"{alerts.url}/dashboard/teams/{other}/answers.csv?lang=nl")
    assert refused is not None and refused.status == 404
    await context.close()
