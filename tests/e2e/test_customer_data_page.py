"""The administrator's customer-data page (GDPR art. 15 and 17) in Debian's headless Chromium, signed in
at the local Keycloak: it shows what every service holds about a customer, readable and printable, and
erases them after a confirmation, following each service's confirmation to the end."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from .support import submit_complaint, unique
from .test_staff_pages import photograph, signed_in

pytestmark = [pytest.mark.integration, pytest.mark.browser]


async def test_an_administrator_reads_a_customers_data_from_every_service_and_erases_it(
    urls: dict[str, str], http: httpx.AsyncClient, browser: Any, identity_provider: str, artifacts_dir: Path
) -> None:
    shots = artifacts_dir / "pages"
    shots.mkdir(parents=True, exist_ok=True)
    customer = unique("CUST-E2E-DATA")
    summary = f"Summary {uuid.uuid4().hex[:8]}: the refund went to my old account"
    await submit_complaint(http, urls, customer, summary=summary)
    page_url = f"{urls['intake']}/customer-data?customer={customer}"

    context, page = await signed_in(browser, f"{page_url}&lang=en", "admin-ops")
    try:
        held = page.locator("#held")
        await expect(held).to_contain_text(summary)
        # Every service answered for itself: five parts, no "incomplete" notice.
        for service in ("intake", "compensation", "survey", "alerts", "callback"):
            await expect(page.locator(f"#svc-{service}")).to_have_count(1)
        await expect(page.locator("#incomplete")).to_have_count(0)
        await photograph(page, page_url, "customer-data", shots)

        # Without the confirmation nothing is asked; with it, the erasure runs in every service.
        await page.goto(f"{page_url}&lang=en")
        await page.click("#erase", no_wait_after=True)  # the browser refuses: the box is required
        await expect(page.locator("#erasures")).to_have_count(0)
        await page.check("#erase-confirm")
        await page.click("#erase")
        await expect(page.locator("#message")).to_have_text(
            "The erasure is requested; every service confirms it here."
        )
        for _ in range(60):
            if "Erased on" in (await page.locator("#erasures").inner_text()):
                break
            await page.wait_for_timeout(1000)
            await page.reload()
        await expect(page.locator("#erasures")).to_contain_text("Erased on")
        await expect(held).not_to_contain_text(summary)
    finally:
        await context.close()
