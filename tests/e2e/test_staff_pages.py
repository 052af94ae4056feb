"""Every role works on its own pages, signed in once at the organisation's identity provider (the
local Keycloak), in Debian's headless Chromium: the agent resolves a complaint in the workspace and
proposes EUR 450 on the compensation panel, above her EUR 300 mandate; the approver approves it on
the approval queue; the cost ledger books it. Four eyes hold on the page, a form posted without its
CSRF value changes nothing, a role sees only its own pages, and every page is photographed in nl, fr
and en under artifacts/pages/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from hoera_devkit.testing import eventually

from .support import as_user, sign_in_at_provider, submit_complaint, unique

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CATEGORY = "reimbursement.refused"
LANGUAGES = ("nl", "fr", "en")


async def _ledger(http: httpx.AsyncClient, urls: dict[str, str]) -> tuple[int, int]:
    resp = await http.get(
        f"{urls['compensation']}/ledger", params={"group_by": "category"}, headers=as_user("appr-eva")
    )
    assert resp.status_code == 200, resp.text
    line = next((x for x in resp.json()["lines"] if x["category"] == CATEGORY), None)
    return (line["count"], line["total_cents"]) if line else (0, 0)


async def known_to_compensation(http: httpx.AsyncClient, urls: dict[str, str], complaint_id: str) -> None:
    url = f"{urls['compensation']}/complaints/{complaint_id}/compensation"
    resp = await eventually(
        lambda: http.get(url, headers=as_user("agent-anna")), lambda r: r.status_code == 200
    )
    assert resp.status_code == 200, resp.text


async def signed_in(browser: Any, url: str, username: str) -> tuple[Any, Any]:
    """A browser of its own for one person: the page asks to sign in, the provider signs them in."""
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(url)
    assert "/sign-in" in page.url, "a page without a session leads to sign-in"
    await page.click("#provider-demo")
    await sign_in_at_provider(page, username)
    await page.wait_for_url(url.split("?")[0] + "**", timeout=30_000)
    return context, page


async def photograph(page: Any, url: str, name: str, shots: Path) -> None:
    """The page in every language; each must name itself in that language (html lang)."""
    for lang in LANGUAGES:
        glue = "&" if "?" in url else "?"
        await page.goto(f"{url}{glue}lang={lang}")
        assert await page.get_attribute("html", "lang") == lang
        await page.screenshot(path=str(shots / f"{name}-{lang}.png"), full_page=True)


async def test_an_agent_resolves_and_proposes_450_and_the_approver_approves_it_on_the_queue(
    urls: dict[str, str], http: httpx.AsyncClient, browser: Any, identity_provider: str, artifacts_dir: Path
) -> None:
    shots = artifacts_dir / "pages"
    shots.mkdir(parents=True, exist_ok=True)
    customer = unique("CUST-E2E-PAGES")
    complaint = await submit_complaint(http, urls, customer, category=CATEGORY)
    complaint_id = complaint["complaint_id"]
    await known_to_compensation(http, urls, complaint_id)
    before = await _ledger(http, urls)

    # The agent: from the dossier in the workspace, resolved with its department and first contact.
    dossier = f"{urls['intake']}/workspace/complaints/{complaint_id}"
    anna, page = await signed_in(browser, f"{dossier}?lang=nl", "agent-anna")
    assert await page.locator("#status").get_attribute("data-status") == "open"
    await page.select_option("#root-cause-department", "claims-processing")
    await page.check("input[name=first_contact_resolution][value=false]")
    await page.fill("#answer", "De weigering was onterecht; we betalen de kosten terug.")
    await page.click("#resolve")
    await page.wait_for_selector("#message")
    assert await page.locator("#status").get_attribute("data-status") == "resolved"
    assert await page.inner_text("#root-cause") == "claims-processing"
    assert await page.locator("#timeline li[data-what=resolved]").count() == 1
    dossier_json = (
        await http.get(f"{urls['intake']}/complaints/{complaint_id}", headers=as_user("agent-anna"))
    ).json()
    assert (dossier_json["status"], dossier_json["first_contact_resolution"]) == ("resolved", False)

    # On to the compensation panel: another service, no password asked again.
    await page.click("#to-compensation")
    await page.wait_for_url(
        f"{urls['compensation']}/compensation/complaints/{complaint_id}**", timeout=30_000
    )
    assert "300" in await page.inner_text("#mandate")
    # A form posted without its CSRF value is refused and changes nothing.
    forged = await anna.request.post(
        f"{urls['compensation']}/compensation/complaints/{complaint_id}/damage",
        form={"amount": "999", "lang": "nl"},
        max_redirects=0,
    )
    assert forged.status == 403
    await page.click("#apology-form button[type=submit]")
    await page.wait_for_selector("#apology-done")
    await page.fill("#damage-amount", "450,00")
    await page.click("#damage-form button[type=submit]")
    await page.wait_for_selector("#damage-done")
    assert "450,00" in await page.inner_text("#damage-done")
    # A bad amount is named next to its field.
    await page.check("#kind-financial")
    await page.fill("#amount", "vierhonderd")
    await page.click("#propose")
    await page.wait_for_selector("#amount-error")
    await page.check("#kind-financial")
    await page.fill("#amount", "450")
    await page.click("#propose")
    await page.wait_for_selector("#message")
    assert await page.locator("#compensations tr[data-status=awaiting_approval]").count() == 1
    panel = f"{urls['compensation']}/compensation/complaints/{complaint_id}"
    await photograph(page, f"{urls['intake']}/workspace", "workspace", shots)
    await photograph(page, dossier, "dossier", shots)
    await photograph(page, panel, "compensation-panel", shots)
    # The agent's pages do not include the approval queue.
    await page.goto(f"{urls['compensation']}/approval-queue")
    await page.wait_for_selector("#not-approver")
    await anna.close()

    resp = await http.get(f"{urls['compensation']}/approvals", headers=as_user("appr-eva"))
    waiting = [c for c in resp.json() if c["complaint_id"] == complaint_id]
    assert len(waiting) == 1 and waiting[0]["amount"]["amount_cents"] == 45000
    compensation_id = waiting[0]["compensation_id"]

    # The approver: the queue shows it with its deadline; approved with a reason on its page.
    eva, page = await signed_in(browser, f"{urls['compensation']}/approval-queue?lang=nl", "appr-eva")
    await page.click(f"#open-{compensation_id}")
    await page.wait_for_selector("#decision-form")
    assert "450,00" in await page.inner_text("#proposal-amount")
    await photograph(page, f"{urls['compensation']}/approval-queue/{compensation_id}", "approval", shots)
    await page.fill("#reason", "Hospitalisatiekosten aantoonbaar; de weigering was een fout van ons.")
    await page.click("#approve")
    await page.wait_for_url(f"{urls['compensation']}/approval-queue?**", timeout=30_000)
    await page.wait_for_selector("#message")
    assert await page.locator(f"tr[data-compensation='{compensation_id}']").count() == 0
    await photograph(page, f"{urls['compensation']}/approval-queue", "approvals", shots)
    # The approver reads the dossier (R1) but does not work it.
    await page.goto(f"{dossier}?lang=en")
    await page.wait_for_selector("#facts")
    assert await page.locator("#resolve-form, #close-form, #note-form").count() == 0
    await eva.close()

    decided = (
        await http.get(
            f"{urls['compensation']}/complaints/{complaint_id}/compensation", headers=as_user("agent-anna")
        )
    ).json()
    assert [(c["status"], c["decided_by"]) for c in decided["compensations"]] == [("approved", "appr-eva")]
    count, total = before
    after = await _ledger(http, urls)
    assert after == (count + 1, total + 45000), "the ledger books the approved EUR 450"


async def test_each_role_sees_its_own_pages_and_an_agent_her_teams_dossiers(
    urls: dict[str, str], http: httpx.AsyncClient, browser: Any, identity_provider: str, artifacts_dir: Path
) -> None:
    # The supervisor: the workspace, the dashboard, the callbacks, the recovery cases and the
    # departments, not the approvals.
    sara, page = await signed_in(browser, f"{urls['intake']}/workspace?lang=en", "sup-sara")
    labels = await page.locator("nav.pages a").all_inner_texts()
    assert labels == ["Complaints", "Dashboard", "Callbacks", "Recovery", "Departments"]
    await page.locator("nav.pages a", has_text="Dashboard").click()
    await page.wait_for_url(f"{urls['alerts']}/dashboard/**", timeout=30_000)
    assert await page.locator("#sign-out").count() == 1
    shots = artifacts_dir / "pages"
    shots.mkdir(parents=True, exist_ok=True)
    team = f"{urls['alerts']}/dashboard/teams/team-nl-1"
    await photograph(page, team, "dashboard", shots)
    # From the team's dashboard to the team's callbacks, in the callback service.
    await page.click("#team-callbacks")
    await page.wait_for_url(f"{urls['callback']}/agent?**", timeout=30_000)
    assert await page.get_attribute("#queue-h", "data-team") == "team-nl-1"
    await photograph(page, f"{team}/answers?figure=csat", "answers", shots)
    await photograph(page, f"{urls['callback']}/agent", "callbacks", shots)
    await photograph(page, f"{urls['callback']}/recovery", "recovery", shots)
    await photograph(page, f"{urls['callback']}/recovery/figures", "recovery-figures", shots)
    await photograph(page, f"{urls['callback']}/recovery/departments", "departments", shots)
    await sara.close()

    # The sign-in page, in each language, before anyone has signed in.
    stranger = await browser.new_context()
    page = await stranger.new_page()
    for lang in LANGUAGES:
        await page.goto(f"{urls['intake']}/workspace?lang={lang}")
        await page.wait_for_selector("#provider-demo")
        assert await page.get_attribute("html", "lang") == lang
        await page.screenshot(path=str(shots / f"sign-in-{lang}.png"), full_page=True)
    await stranger.close()

    # The approver: the approvals only.
    eva, page = await signed_in(browser, f"{urls['compensation']}/approval-queue?lang=fr", "appr-eva")
    assert await page.locator("nav.pages a").all_inner_texts() == ["Approbations"]
    await eva.close()

    # An agent's dossier list holds her team's complaints, newest first.
    customer = unique("CUST-E2E-LIST")
    created = await submit_complaint(http, urls, customer)
    anna, page = await signed_in(
        browser, f"{urls['intake']}/workspace?lang=nl&customer={customer}", "agent-anna"
    )
    rows = page.locator("#complaints tr[data-complaint]")
    assert await rows.count() == 1
    assert await rows.first.get_attribute("data-complaint") == created["complaint_id"]
    await anna.close()
