"""A customer on a phone: Debian's headless Chromium opens the invitation link from the e-mail, clicks
smileys (in Dutch, and in French), submits and sees the thank-you page; after an unhappy smiley, and
only then, the page asks why (by CSS alone), and axe-core finds no WCAG A/AA violation either way.
Screenshots are artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from axe_playwright_python.async_playwright import Axe
from hoera_devkit.testing import ServiceProcess, mail_text
from hoera_events.common import Language
from hoera_events.surveys import SurveyAnswered

from .support import TENANT, auth, contact_closed, envelope, events_of, link_in, mail_to, publish, unique

pytestmark = [pytest.mark.integration, pytest.mark.browser]

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True}

# WCAG 2.x contrast of an element's text against its (first opaque) background.
CONTRAST = """(el) => {
  const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  let bg = el, colour = 'rgb(255, 255, 255)';
  while (bg) {
    const c = getComputedStyle(bg).backgroundColor;
    if (c && !c.startsWith('rgba(0, 0, 0, 0)') && c !== 'transparent') { colour = c; break; }
    bg = bg.parentElement;
  }
  const [a, b] = [lum(rgb(getComputedStyle(el).color)), lum(rgb(colour))].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}"""

UNLABELLED = """() => [...document.querySelectorAll('input[type=radio], input[type=checkbox], textarea')]
  .filter((i) => !(i.labels && i.labels.length
                   && (i.getAttribute('aria-label') || i.labels[0].innerText.trim())))
  .map((i) => i.id)"""


WCAG_AA = {
    "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
    "resultTypes": ["violations"],
}


async def _violations(page: Any) -> list[str]:
    results = await Axe().run(page, options=WCAG_AA)
    return [
        f"{v['id']}: {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
        for v in results.response["violations"]
    ]


async def _invitation_link(customer: str, language: Language) -> str:
    await publish(envelope(contact_closed(customer, language=language)))
    mail = await mail_to(f"{customer}@customers.hoera.test")
    return link_in(await mail_text(mail["id"]))


async def _answer(page: Any, choices: dict[str, int], shots: Path, name: str) -> None:
    for question, value in choices.items():
        await page.click(f"label[for={question}-{value}]")
        assert await page.is_checked(f"#{question}-{value}")
    await page.screenshot(path=str(shots / f"{name}-filled.png"), full_page=True)


async def test_a_customer_answers_on_a_phone_in_dutch_and_in_french(
    survey_process: ServiceProcess, browser: Any, artifacts_dir: Path
) -> None:
    shots = artifacts_dir / "survey"
    shots.mkdir(parents=True, exist_ok=True)
    dutch, french = unique("nl"), unique("fr")
    dutch_link = await _invitation_link(dutch, Language.nl)
    french_link = await _invitation_link(french, Language.fr)
    context = await browser.new_context(**PHONE)
    page = await context.new_page()

    # Dutch: the customer's language, smileys clicked, the keyboard used, a callback asked for.
    await page.goto(dutch_link)
    assert await page.get_attribute("html", "lang") == "nl"
    assert await page.inner_text("h1") == "Hoe was uw contact met ons?"
    await page.screenshot(path=str(shots / "nl-opened.png"), full_page=True)
    assert await page.evaluate(UNLABELLED) == []
    assert await page.locator("fieldset > legend").count() >= 5
    assert await page.eval_on_selector("button[type=submit]", CONTRAST) >= 4.5
    assert await page.eval_on_selector("label[for=satisfaction-1] span", CONTRAST) >= 4.5
    await _answer(page, {"satisfaction": 2, "effort": 4, "nps": 7, "attr_friendly": 5}, shots, "nl")
    await page.focus("#satisfaction-2")
    await page.keyboard.press("ArrowRight")  # radios are native: arrows move the choice
    assert await page.is_checked("#satisfaction-3")
    await page.fill("#comment", "Vriendelijk geholpen, maar het duurde lang.")
    await page.check("#contact_me")
    await page.click("label[for=moment-afternoon]")
    await page.click("button[type=submit]")
    await page.wait_for_selector("text=Hartelijk dank!")
    await page.screenshot(path=str(shots / "nl-thanks.png"), full_page=True)

    # French: the page speaks French; the switch offers Dutch and back without losing the link.
    await page.goto(french_link)
    assert await page.get_attribute("html", "lang") == "fr"
    await page.click("nav.lang a[hreflang=nl]")
    assert await page.inner_text("h1") == "Hoe was uw contact met ons?"
    await page.click("nav.lang a[hreflang=fr]")
    assert await page.inner_text("h1") == "Comment s'est passé votre contact avec nous ?"
    await _answer(page, {"satisfaction": 5, "effort": 5, "nps": 10, "attr_empathetic": 4}, shots, "fr")
    await page.click("button[type=submit]")
    await page.wait_for_selector("text=Merci beaucoup !")
    await page.screenshot(path=str(shots / "fr-thanks.png"), full_page=True)

    # The link was single-use: opened again, it says so kindly.
    response = await page.goto(french_link)
    assert response is not None and response.status == 409
    assert "déjà répondu" in await page.inner_text("main")
    await context.close()

    answers = await events_of(SurveyAnswered, {dutch, french}, until=2)
    by_customer = {e.data.customer_id: e.data for e in answers}  # type: ignore[attr-defined]
    nl, fr = by_customer[dutch], by_customer[french]
    assert (nl.satisfaction, nl.effort, nl.nps, nl.language) == (3, 4, 7, Language.nl)
    assert nl.contact_me is not None and nl.contact_me.preferred_moment.value == "afternoon"
    # The words stay in the survey service (Kafka's log cannot be erased): the event says there are
    # some, and a service asks for them.
    assert nl.comment is None and nl.commented is True and fr.commented is False
    async with httpx.AsyncClient() as http:
        asked = await http.post(
            f"{survey_process.url}/internal/survey-comments",
            json={"tenant": TENANT, "survey_ids": [str(nl.survey_id), str(fr.survey_id)]},
            headers=auth("service"),
        )
    assert asked.status_code == 200, asked.text
    assert asked.json()["comments"] == {str(nl.survey_id): "Vriendelijk geholpen, maar het duurde lang."}
    assert (fr.satisfaction, fr.effort, fr.nps, fr.language) == (5, 5, 10, Language.fr)
    assert fr.contact_me is None
    assert {k.value: v for k, v in fr.attributes.items()} == {"empathetic": 4}


async def test_the_reason_question_shows_only_after_an_unhappy_smiley(
    survey_process: ServiceProcess, browser: Any, artifacts_dir: Path
) -> None:
    shots = artifacts_dir / "survey"
    shots.mkdir(parents=True, exist_ok=True)
    dutch, french = unique("nl-why"), unique("fr-why")
    dutch_link = await _invitation_link(dutch, Language.nl)
    french_link = await _invitation_link(french, Language.fr)
    context = await browser.new_context(**PHONE)
    page = await context.new_page()

    await page.goto(dutch_link)
    reasons = page.locator("fieldset.reasons")
    assert await reasons.count() == 1 and not await reasons.is_visible()
    assert await _violations(page) == []
    await page.click("label[for=satisfaction-4]")
    assert not await reasons.is_visible()
    await page.click("label[for=satisfaction-2]")
    assert await reasons.is_visible()
    assert await page.inner_text("fieldset.reasons legend") == "Als u niet tevreden was: waarom?"
    assert await page.evaluate(UNLABELLED) == []
    assert await _violations(page) == []
    await page.click("text=Ik moest te lang wachten")
    assert await page.is_checked("#reason-waiting-time")
    await page.screenshot(path=str(shots / "nl-why.png"), full_page=True)
    await page.click("label[for=satisfaction-5]")  # happy after all: the question goes away again
    assert not await reasons.is_visible()
    await page.click("label[for=satisfaction-1]")
    assert await reasons.is_visible() and await page.is_checked("#reason-waiting-time")
    await page.fill("#comment", "Ik heb een half uur gewacht.")
    await page.click("button[type=submit]")
    await page.wait_for_selector("text=Hartelijk dank!")

    # French, picked from the keyboard: a reason radio is reachable and named in French.
    await page.goto(french_link)
    assert not await page.locator("fieldset.reasons").is_visible()
    await page.focus("#satisfaction-3")
    await page.keyboard.press("ArrowLeft")  # 2: unhappy
    assert await page.is_checked("#satisfaction-2")
    assert await page.locator("fieldset.reasons").is_visible()
    assert "pourquoi" in await page.inner_text("fieldset.reasons legend")
    assert await _violations(page) == []
    await page.click("text=Autre chose")
    await page.click("label[for=satisfaction-4]")  # a reason left checked with a happy smiley
    await page.click("button[type=submit]")
    await page.wait_for_selector("text=Merci beaucoup !")
    await context.close()

    answers = await events_of(SurveyAnswered, {dutch, french}, until=2)
    by_customer = {e.data.customer_id: e.data for e in answers}  # type: ignore[attr-defined]
    nl, fr = by_customer[dutch], by_customer[french]
    assert (nl.satisfaction, nl.reason, nl.topics) == (1, "waiting-time", ["waiting"])
    assert (fr.satisfaction, fr.reason, fr.topics) == (4, None, [])
