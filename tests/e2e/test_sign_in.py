"""Staff sign in once, at their organisation's own identity provider (the local stack's Keycloak, one
realm per tenant), with OpenID Connect's authorization-code flow and PKCE, in Debian's headless
Chromium: a page without a session leads there and back, the other services' pages follow without a
password, the role decides what a person may open, no URL ever carries the session's token, and
signing out ends the provider's session too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hoera_local import config, keycloak

from .support import sign_in_at_provider

pytestmark = [pytest.mark.integration, pytest.mark.browser]

TENANT = "demo"  # the test tenant whose realm the identity_provider fixture waits for


async def test_staff_sign_in_once_at_their_provider_and_move_between_services(
    urls: dict[str, str], browser: Any, identity_provider: str, artifacts_dir: Path
) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    visited: list[str] = []
    page.on("request", lambda request: visited.append(request.url))

    # No session: the dashboard sends the browser to its sign-in page, which offers the provider.
    await page.goto(f"{urls['alerts']}/dashboard?lang=nl")
    assert page.url.startswith(f"{urls['alerts']}/dashboard/sign-in?")
    await page.screenshot(path=str(artifacts_dir / "sign-in-nl.png"), full_page=True)
    await page.click(f"#provider-{TENANT}")
    assert page.url.startswith(f"{identity_provider}/protocol/openid-connect/auth?")
    assert "code_challenge_method=S256" in page.url
    await sign_in_at_provider(page, "sup-sara")
    # Back where she was going (a supervisor of one team lands on that team's page).
    await page.wait_for_url(f"{urls['alerts']}/dashboard/teams/team-nl-1?lang=nl", timeout=30_000)
    assert "Sara Janssens" in await page.inner_text("body")
    session = [c for c in await context.cookies(urls["alerts"]) if c["name"] == "hoera-alerts-session"]
    assert len(session) == 1 and session[0]["httpOnly"] and session[0]["sameSite"] == "Lax"

    # Another service's page: back at the provider, which still knows her, and in without a password.
    forms_shown = sum("login-actions/authenticate" in url for url in visited)
    await page.goto(f"{urls['callback']}/agent")
    await page.wait_for_url(f"{urls['callback']}/agent**", timeout=30_000)
    assert await page.locator("#sign-out").count() == 1, "signed in on the callback pages"
    assert sum("login-actions/authenticate" in url for url in visited) == forms_shown, "no password asked"
    assert any(url.startswith(f"{identity_provider}/protocol/openid-connect/auth?") for url in visited)

    # No URL the browser asked for holds a session's token.
    tokens = [c["value"] for c in await context.cookies() if c["name"].endswith("-session")]
    assert len(tokens) == 2
    assert not [url for url in visited for token in tokens if token in url or "access_token" in url]

    # Signing out ends the provider's session too: the next sign-in asks for the password again.
    await page.goto(f"{urls['alerts']}/dashboard")
    await page.click("#sign-out button[type=submit]")
    if await page.locator("#kc-logout").count():
        await page.click("#kc-logout")  # the provider asks to confirm a sign-out it did not start
    await page.wait_for_url(f"{urls['alerts']}/dashboard/sign-in?**", timeout=30_000)
    assert await page.locator("#sign-in-note").count() == 1
    assert not [c for c in await context.cookies(urls["alerts"]) if c["name"] == "hoera-alerts-session"]
    # The browser remembers the organisation, so the next page goes straight to its provider, which
    # asks for the password again.
    await page.goto(f"{urls['alerts']}/dashboard")
    await page.wait_for_selector("#username", timeout=30_000)
    assert page.url.startswith(f"{identity_provider}/")
    await context.close()


async def test_a_person_without_the_role_is_refused_and_another_organisations_account_is_not_this_ones(
    urls: dict[str, str], browser: Any, identity_provider: str
) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    # An agent of the organisation: the supervisors' dashboard is not theirs.
    await page.goto(f"{urls['alerts']}/dashboard?lang=en")
    await page.click(f"#provider-{TENANT}")
    await sign_in_at_provider(page, "agent-anna")
    await page.wait_for_url(f"{urls['alerts']}/dashboard/**", timeout=30_000)
    assert "/dashboard/signed-in" in page.url
    note = await page.inner_text("#sign-in-note")
    assert "supervisors" in note or "team" in note
    assert not [c for c in await context.cookies(urls["alerts"]) if c["name"] == "hoera-alerts-session"]
    # A callback page (agents' own) lets her in without the password again.
    await page.goto(f"{urls['callback']}/agent")
    await page.wait_for_url(f"{urls['callback']}/agent**", timeout=30_000)
    assert await page.locator("#sign-out").count() == 1
    await context.close()

    # The other tenant's provider knows its own people only: sup-sara has no account at acme's.
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{urls['alerts']}/dashboard")
    await page.click("#provider-acme")
    await page.wait_for_selector("#username", timeout=30_000)
    await page.fill("#username", "nobody-here")
    await page.fill("#password", keycloak.DEMO_PASSWORD)
    await page.click("#kc-login")
    await page.wait_for_selector("#input-error, .kc-feedback-text, [id*=error]", timeout=30_000)
    assert page.url.startswith(keycloak.issuer(config.load(), "acme"))
    await context.close()
