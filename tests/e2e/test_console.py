"""The operator console (R8) in Debian's headless Chromium, signed in at the local Keycloak: an
operator lengthens a category's lead time through the form generated from its schema (a wrong value
is named next to its field and changes nothing), previews the promised date, saves with a reason;
the next complaint is promised the later date; a rollback restores the old one; the audit trail
shows both. Pages photographed in nl, fr and en under artifacts/pages/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from .support import as_user, submit_complaint, unique
from .test_staff_pages import photograph, signed_in

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CATEGORY = "information.unclear"


async def _promised(http: httpx.AsyncClient, urls: dict[str, str]) -> str:
    accepted = await submit_complaint(http, urls, unique("CUST-E2E-CONSOLE"), category=CATEGORY)
    return str(accepted["due_date"])


async def test_an_operator_changes_a_lead_time_in_the_console_and_rolls_it_back(
    urls: dict[str, str], http: httpx.AsyncClient, browser: Any, identity_provider: str, artifacts_dir: Path
) -> None:
    shots = artifacts_dir / "pages"
    shots.mkdir(parents=True, exist_ok=True)
    before = await _promised(http, urls)
    console = f"{urls['intake']}/console"
    ops, page = await signed_in(browser, f"{console}?lang=en", "admin-ops")
    assert await page.locator("nav.pages a").all_inner_texts() == ["Rules", "Customer data"]
    await page.click("#open-categories")
    await page.wait_for_selector("#document-form")
    version = int(await page.get_attribute("#version", "data-version") or "0")
    code = page.locator(f"input[name$='/code'][value='{CATEGORY}']")
    row = (await code.get_attribute("name") or "").removesuffix("/code")
    days = page.locator(f"input[name='{row}/sla/business_days']")
    usual = await days.input_value()

    # A value the model refuses: named next to its field, nothing saved.
    await days.fill("vijftien")
    await page.fill("#reason", "Longer lead time for unclear information")
    await page.click("#save")
    await page.wait_for_selector("#problem")
    assert await days.get_attribute("aria-invalid") == "true"
    assert await page.get_attribute("#version", "data-version") == str(version)

    # The preview names the date a complaint received now would be promised; then saved.
    await days.fill("20")
    await page.click("#preview-button")
    await page.wait_for_selector("#preview")
    previewed = await page.inner_text("#preview")
    assert CATEGORY in previewed
    await page.fill("#reason", "Longer lead time for unclear information")
    await page.click("#save")
    await page.wait_for_selector("#message")
    assert await page.get_attribute("#version", "data-version") == str(version + 1)
    later = await _promised(http, urls)
    assert later > before, "the next complaint is promised the later date"
    assert later in previewed, "the preview showed the date the complaint was then given"
    for lang in ("nl", "fr", "en"):
        await page.goto(f"{console}?lang={lang}")
        await page.screenshot(path=str(shots / f"console-{lang}.png"), full_page=True)
    await photograph(page, f"{console}/categories", "console-document", shots)

    # A form posted without its CSRF value changes nothing.
    forged = await page.request.post(
        f"{console}/categories/rollback",
        form={"to_version": str(version), "expected_version": str(version + 1), "reason": "forged"},
        max_redirects=0,
    )
    assert forged.status == 403

    # Rolled back to the version before: the old date again, as a new version with its reason.
    await page.goto(f"{console}/categories?lang=en")
    await page.fill(f"#rollback-{version}-reason", "Back to the usual lead time")
    await page.click(f"#rollback-{version} button[type=submit]")
    await page.wait_for_selector("#message")
    assert await page.get_attribute("#version", "data-version") == str(version + 2)
    assert await page.locator(f"input[name='{row}/sla/business_days']").input_value() == usual
    assert await _promised(http, urls) == before, "the rollback restores the old promised date"
    audit = page.locator("#audit > li")
    latest = await audit.nth(0).inner_text()
    changed = await audit.nth(1).inner_text()
    assert "rollback to version" in latest and "Back to the usual lead time" in latest
    assert "Longer lead time for unclear information" in changed and "business_days" in changed
    await ops.close()

    # An agent has no console.
    anna, page = await signed_in(browser, f"{urls['intake']}/workspace?lang=nl", "agent-anna")
    refused = await page.goto(f"{console}?lang=nl")
    assert refused is not None and refused.status == 403
    await anna.close()


async def test_every_service_has_its_console_for_the_operator(
    urls: dict[str, str], http: httpx.AsyncClient, browser: Any, identity_provider: str
) -> None:
    ops, page = await signed_in(browser, f"{urls['intake']}/console?lang=fr", "admin-ops")
    services = page.locator(".subhead nav a")
    assert await services.count() == 5
    for service in ("compensation", "survey", "alerts", "callback"):
        # Signed in once: the provider's session signs her in at the next service without asking.
        await page.goto(f"{urls[service]}/console?lang=fr")
        await page.wait_for_selector("#documents")
        rules = (await http.get(f"{urls[service]}/admin/rules", headers=as_user("admin-ops"))).json()
        shown = await page.locator("#documents tr[data-document]").count()
        assert shown == len(rules) > 0
    await ops.close()
