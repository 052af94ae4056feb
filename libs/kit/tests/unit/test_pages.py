"""Staff pages (hoera_kit.pages): one look and navigation for every service, a strict CSP, the kit's
sign-in page, texts in nl/fr/en with a service's own words on top."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse
from hoera_devkit.tokens import mint_token
from hoera_kit.auth import Role, TokenVerifier
from hoera_kit.errors import install_error_handlers
from hoera_kit.pages import KIT_PAGES, NAVIGATION, StaffPages
from hoera_kit.sessions import StaffSession
from hoera_kit.settings import DEV_ISSUER, DEV_SIGNING_SECRET, Environment, KitSettings

ADDRESSES = {"intake": "https://intake.example", "alerts": "https://alerts.example"}


@pytest.fixture(autouse=True)
def _no_outside_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("HOERA_"):
            monkeypatch.delenv(name)


@pytest.fixture
def service_pages(tmp_path: Path) -> StaffPages:
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "own.js").write_text("// the service's own script\n")
    (tmp_path / "texts.json").write_text(
        json.dumps(
            {
                lang: {"title": f"Callback {lang}", "sign_in_notes": {"not_allowed": f"agents only ({lang})"}}
                for lang in ("nl", "fr", "en")
            }
        )
    )
    (tmp_path / "queue.html").write_text(
        '{% extends "base.html" %}{% block main %}<p id="who">{{ who }}</p>{% endblock %}'
    )
    return StaffPages(
        service="callback", directory=tmp_path, roles=(Role.agent, Role.supervisor), home="/agent"
    )


def token(subject: str, roles: tuple[str, ...]) -> str:
    minted: str = mint_token(
        subject=subject,
        roles=roles,
        teams=("team-nl-1",),
        secret=DEV_SIGNING_SECRET,
        issuer=DEV_ISSUER,
        audience="hoera",
    )
    return minted


@pytest.fixture
async def client(service_pages: StaffPages) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    settings = KitSettings(service_name="callback", environment=Environment.test, staff_pages=ADDRESSES)
    app.state.token_verifier = TokenVerifier.from_settings(settings)
    app.state.settings = settings
    install_error_handlers(app)
    app.include_router(service_pages.router())
    page_session = Depends(service_pages.sessions.page)

    @app.get("/agent")
    async def queue(
        request: Request, session: StaffSession = page_session, lang: str | None = None
    ) -> HTMLResponse:
        chosen = service_pages.language(lang, session.principal, request)
        return service_pages.render(request, "queue.html", lang=chosen, session=session)

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://hoera.test"
    ) as http:
        yield http


async def sign_in(http: httpx.AsyncClient, subject: str, roles: tuple[str, ...]) -> None:
    page = await http.get("/agent/sign-in")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    done = await http.post(
        "/agent/sign-in", data={"csrf": csrf.group(1), "token": token(subject, roles), "next": "/agent"}
    )
    assert done.status_code == 303, done.text


async def test_the_navigation_holds_the_pages_of_the_persons_roles_where_they_are_reached(
    client: httpx.AsyncClient,
) -> None:
    await sign_in(client, "sup-sara", ("supervisor",))
    page = await client.get("/agent?lang=en")
    assert page.status_code == 200
    nav = re.search(r'<nav aria-label="Main menu" class="pages">(.*?)</nav>', page.text, re.S)
    assert nav is not None
    links = re.findall(r'<a href="([^"]+)"( aria-current="page")?>([^<]+)</a>', nav.group(1))
    # Intake and alerts are reached at their addresses, callback is here; compensation has no address
    # and an approver's page is not a supervisor's anyway.
    assert links == [
        ("https://intake.example/workspace?lang=en", "", "Complaints"),
        ("https://alerts.example/dashboard?lang=en", "", "Dashboard"),
        ("/agent?lang=en", ' aria-current="page"', "Callbacks"),
        ("/recovery?lang=en", "", "Recovery"),
        ("/recovery/departments?lang=en", "", "Departments"),
    ]
    assert '<html lang="en">' in page.text and "Callback en" in page.text


async def test_an_agent_sees_no_supervisors_page(client: httpx.AsyncClient) -> None:
    await sign_in(client, "agent-anna", ("agent",))
    page = await client.get("/agent?lang=nl")
    labels = re.findall(r'<a href="[^"]+"(?: aria-current="page")?>([^<]+)</a></li>', page.text)
    assert "Dashboard" not in labels and "Klachten" in labels and "Terugbellen" in labels


async def test_pages_forbid_inline_script_and_style_and_serve_their_assets(client: httpx.AsyncClient) -> None:
    page = await client.get("/agent/sign-in?lang=fr")
    csp = page.headers["content-security-policy"]
    assert "unsafe-inline" not in csp and "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp and page.headers["cache-control"] == "no-store"
    assert "<script>" not in page.text and "<style>" not in page.text and " style=" not in page.text
    assert '<html lang="fr">' in page.text
    css = await client.get("/staff-assets/hoera.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    own = await client.get("/staff-assets/own.js")
    assert own.status_code == 200 and "own script" in own.text
    assert (await client.get("/staff-assets/..%2Ftexts.json")).status_code == 404
    assert (await client.get("/staff-assets/texts.json")).status_code == 404


def test_a_services_words_come_on_top_of_the_kits(service_pages: StaffPages) -> None:
    kit: dict[str, Any] = json.loads((KIT_PAGES / "texts.json").read_text())
    for lang in ("nl", "fr", "en"):
        texts = service_pages.texts[lang]
        assert texts["title"] == f"Callback {lang}"
        assert texts["sign_in_notes"]["not_allowed"] == f"agents only ({lang})"
        # The rest of the notes stay the kit's.
        assert texts["sign_in_notes"]["signed_out"] == kit[lang]["sign_in_notes"]["signed_out"]
        assert set(texts["pages"]) == {item.text for item in NAVIGATION}


def test_the_kits_texts_say_the_same_things_in_every_language() -> None:
    kit: dict[str, dict[str, Any]] = json.loads((KIT_PAGES / "texts.json").read_text())

    def shape(value: Any) -> Any:
        return {k: shape(v) for k, v in value.items()} if isinstance(value, dict) else None

    assert shape(kit["nl"]) == shape(kit["fr"]) == shape(kit["en"])
