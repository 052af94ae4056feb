"""Staff page sessions: sign in on a page, a cookie from then on, CSRF on every form, no token in a URL."""

from __future__ import annotations

import html
import re
import warnings
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import Depends, FastAPI, Request, Response, WebSocket
from fastapi.responses import HTMLResponse
from hoera_devkit.tokens import mint_token
from hoera_kit.auth import Role, TokenVerifier
from hoera_kit.errors import install_error_handlers
from hoera_kit.sessions import (
    SignedForm,
    SignInView,
    StaffSession,
    StaffSessions,
    local_path,
)
from hoera_kit.settings import DEV_ISSUER, DEV_SIGNING_SECRET, Environment, KitSettings
from hypothesis import given
from hypothesis import strategies as st

COOKIE = "hoera-test-session"
SECURE_COOKIE = "__Host-hoera-test-session"
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture(autouse=True)
def _no_outside_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("HOERA_"):
            monkeypatch.delenv(name)


def token(subject: str = "sup-sara", roles: tuple[str, ...] = ("supervisor",), **overrides: Any) -> str:
    arguments: dict[str, Any] = {
        "subject": subject,
        "roles": roles,
        "teams": ("team-nl-1",),
        "secret": DEV_SIGNING_SECRET,
        "issuer": DEV_ISSUER,
        "audience": "hoera",
    }
    arguments.update(overrides)
    minted: str = mint_token(**arguments)
    return minted


def render_sign_in(request: Request, view: SignInView, status_code: int) -> Response:
    note = f'<p id="note">{view.note.value}</p>' if view.note else ""
    return HTMLResponse(
        f'{note}<form method="post" action="{view.action}">'
        f'<input name="csrf" value="{html.escape(view.csrf)}">'
        f'<input name="next" value="{html.escape(view.next)}">'
        f'<input name="token"></form><a href="?{html.escape(view.query(lang="fr"))}">FR</a>',
        status_code=status_code,
    )


SESSIONS = StaffSessions(
    service="test", roles=(Role.supervisor,), home="/pages", render_sign_in=render_sign_in
)
Page = Annotated[StaffSession, Depends(SESSIONS.page)]
Posted = Annotated[SignedForm, Depends(SESSIONS.form)]
Stream = Annotated[StaffSession, Depends(SESSIONS.stream)]


def build_app(**settings: Any) -> tuple[FastAPI, list[str]]:
    """A page, a form that records what it was told, a stream and a websocket behind sessions."""
    app = FastAPI()
    kit_settings = KitSettings(service_name="test", environment=Environment.test, **settings)
    app.state.token_verifier = TokenVerifier.from_settings(kit_settings)
    app.state.settings = kit_settings
    install_error_handlers(app)
    app.include_router(SESSIONS.router())
    done: list[str] = []

    @app.get("/pages")
    async def home(session: Page) -> HTMLResponse:
        return HTMLResponse(f'<input name="csrf" value="{session.csrf}">{session.principal.subject}')

    @app.get("/pages/team")
    async def team(session: Page) -> dict[str, str]:
        return {"subject": session.principal.subject, "expires_at": session.expires_at.isoformat()}

    @app.post("/pages/note")
    async def note(posted: Posted) -> dict[str, str]:
        done.append(posted.form.get("text") or "")
        return {"by": posted.principal.subject}

    @app.get("/pages/stream")
    async def stream(session: Stream) -> dict[str, str]:
        return {"subject": session.principal.subject}

    @app.websocket("/pages/ws")
    async def live(websocket: WebSocket, session: Stream) -> None:
        await websocket.accept()
        await websocket.send_text(session.principal.subject)
        await websocket.close()

    return app, done


@pytest.fixture
def app_and_effects() -> tuple[FastAPI, list[str]]:
    return build_app()


@pytest.fixture
async def client(app_and_effects: tuple[FastAPI, list[str]]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app_and_effects[0])
    async with httpx.AsyncClient(transport=transport, base_url="http://hoera.test") as http:
        yield http


def hidden(page: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert found is not None, f"no {name} field in {page!r}"
    return html.unescape(found.group(1))


async def sign_in(http: httpx.AsyncClient, bearer: str, next_path: str = "/pages") -> httpx.Response:
    form_page = await http.get("/pages/sign-in", params={"next": next_path})
    return await http.post(
        "/pages/sign-in",
        data={"csrf": hidden(form_page.text, "csrf"), "next": next_path, "token": bearer},
    )


def set_cookie(response: httpx.Response, name: str) -> str:
    [header] = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    return header


# --- Signing in -----------------------------------------------------------------------------------


async def test_a_page_without_a_session_sends_the_browser_to_sign_in_and_back(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/pages/team", params={"lang": "nl"})

    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert location.path == "/pages/sign-in"
    assert parse_qs(location.query) == {"next": ["/pages/team?lang=nl"], "lang": ["nl"]}


async def test_signing_in_with_a_pasted_token_opens_the_page_it_came_from(client: httpx.AsyncClient) -> None:
    signed_in = await sign_in(client, token(), next_path="/pages/team?lang=nl")

    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/pages/team?lang=nl"
    page = await client.get(signed_in.headers["location"])
    assert page.status_code == 200 and page.json()["subject"] == "sup-sara"


async def test_the_session_cookie_is_http_only_same_site_path_root_and_ends_with_the_token(
    client: httpx.AsyncClient,
) -> None:
    issued = datetime.now(UTC)
    bearer = token(ttl_seconds=600, now=issued)

    cookie = set_cookie(await sign_in(client, bearer), COOKIE).lower()

    assert "httponly" in cookie and "samesite=lax" in cookie and "path=/" in cookie
    assert "secure" not in cookie, "plain http in development: a Secure cookie would not come back"
    max_age = int(re.search(r"max-age=(\d+)", cookie).group(1))  # type: ignore[union-attr]
    assert 590 <= max_age <= 600
    session = (await client.get("/pages/team")).json()
    assert datetime.fromisoformat(session["expires_at"]) == issued.replace(microsecond=0) + timedelta(
        seconds=600
    )


async def test_over_https_the_cookie_is_secure_and_host_prefixed() -> None:
    app, _ = build_app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://hoera.test") as http:
        signed_in = await sign_in(http, token())
        page = await http.get("/pages/team")

    assert "secure" in set_cookie(signed_in, SECURE_COOKIE).lower()
    assert page.status_code == 200


async def test_the_secure_setting_forces_secure_cookies_behind_a_proxy_that_ends_tls() -> None:
    app, _ = build_app(session_cookie_secure=True)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hoera.test") as http:
        form_page = await http.get("/pages/sign-in")
        csrf = hidden(form_page.text, "csrf")
        # The proxy's browser speaks https and returns Secure cookies; httpx over http would not.
        signed_in = await http.post(
            "/pages/sign-in",
            data={"csrf": csrf, "token": token()},
            headers={"cookie": f"__Host-hoera-test-sign-in={csrf}"},
        )

    assert "; secure" in set_cookie(form_page, "__Host-hoera-test-sign-in").lower()
    assert "; secure" in set_cookie(signed_in, SECURE_COOKIE).lower()


@pytest.mark.parametrize(
    ("bearer", "note", "status"),
    [
        ("not-a-jwt", "invalid_token", 401),
        (token(secret="another-key-entirely-another-key-entirely"), "invalid_token", 401),
        (token(now=datetime.now(UTC) - timedelta(hours=9)), "expired_token", 401),
        (token(subject="agent-anna", roles=("agent",)), "not_allowed", 403),
        ("", "invalid_token", 401),
    ],
    ids=["not-a-jwt", "another-key", "expired", "without-the-role", "empty"],
)
async def test_a_token_that_may_not_sign_in_shows_the_form_again_and_starts_no_session(
    client: httpx.AsyncClient, bearer: str, note: str, status: int
) -> None:
    refused = await sign_in(client, bearer)

    assert refused.status_code == status
    assert f'<p id="note">{note}</p>' in refused.text
    assert not [h for h in refused.headers.get_list("set-cookie") if h.startswith(COOKIE)]
    assert (await client.get("/pages")).status_code == 303


async def test_a_sign_in_post_without_its_forms_csrf_value_is_refused(client: httpx.AsyncClient) -> None:
    await client.get("/pages/sign-in")  # the form's cookie is there, the posted value is not

    forged = await client.post("/pages/sign-in", data={"token": token(), "next": "/pages"})
    wrong = await client.post("/pages/sign-in", data={"token": token(), "csrf": "guessed"})

    assert (forged.status_code, wrong.status_code) == (403, 403)
    assert '<p id="note">stale_form</p>' in forged.text
    assert not [h for h in forged.headers.get_list("set-cookie") if h.startswith(COOKIE)]
    assert (await client.get("/pages")).status_code == 303


async def test_a_sign_in_post_from_another_site_has_no_form_cookie_and_is_refused() -> None:
    app, _ = build_app()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hoera.test") as victim:
        # The attacker read a form value off their own visit; the victim's browser has no such cookie.
        async with httpx.AsyncClient(transport=transport, base_url="http://hoera.test") as attacker:
            value = hidden((await attacker.get("/pages/sign-in")).text, "csrf")
        forged = await victim.post("/pages/sign-in", data={"token": token("attacker"), "csrf": value})

    assert forged.status_code == 403


# --- Every request verifies the session again ------------------------------------------------------


async def test_a_tampered_session_cookie_ends_the_session(client: httpx.AsyncClient) -> None:
    header, payload, signature = token().split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    client.cookies.set(COOKIE, forged, domain="hoera.test")

    response = await client.get("/pages/team")

    assert response.status_code == 303
    assert parse_qs(urlsplit(response.headers["location"]).query)["note"] == ["session_ended"]
    assert "max-age=0" in set_cookie(response, COOKIE).lower()


async def test_an_expired_token_ends_the_session(client: httpx.AsyncClient) -> None:
    expired = token(ttl_seconds=60, now=datetime.now(UTC) - timedelta(minutes=5))
    client.cookies.set(COOKIE, expired, domain="hoera.test")

    page = await client.get("/pages/team")
    stream = await client.get("/pages/stream")

    assert page.status_code == 303 and "session_ended" in page.headers["location"]
    assert stream.status_code == 401


async def test_a_session_without_the_pages_role_is_refused(client: httpx.AsyncClient) -> None:
    # Signing in refuses such a token; a cookie set by hand is checked on every request all the same.
    client.cookies.set(COOKIE, token("agent-anna", roles=("agent",)), domain="hoera.test")

    assert (await client.get("/pages/team")).status_code == 403
    assert (await client.get("/pages/stream")).status_code == 403


# --- Forms: CSRF ----------------------------------------------------------------------------------


async def test_a_form_post_with_the_sessions_csrf_value_is_carried_out(
    client: httpx.AsyncClient, app_and_effects: tuple[FastAPI, list[str]]
) -> None:
    await sign_in(client, token())
    csrf = hidden((await client.get("/pages")).text, "csrf")

    response = await client.post("/pages/note", data={"csrf": csrf, "text": "coached"})

    assert response.status_code == 200 and response.json() == {"by": "sup-sara"}
    assert app_and_effects[1] == ["coached"]


@pytest.mark.parametrize("csrf", [None, "", "guessed", "CSRF-OF-ANOTHER-SESSION"])
async def test_a_form_post_without_the_right_csrf_value_gets_403_and_changes_nothing(
    client: httpx.AsyncClient, app_and_effects: tuple[FastAPI, list[str]], csrf: str | None
) -> None:
    if csrf == "CSRF-OF-ANOTHER-SESSION":
        csrf = SESSIONS.csrf_for(token("sup-marc"))
    await sign_in(client, token())
    data = {"text": "forged"} | ({"csrf": csrf} if csrf is not None else {})

    response = await client.post("/pages/note", data=data)

    assert response.status_code == 403
    assert "csrf" in response.json()["detail"].lower()
    assert app_and_effects[1] == []


async def test_a_form_post_without_a_session_goes_to_sign_in_and_changes_nothing(
    client: httpx.AsyncClient, app_and_effects: tuple[FastAPI, list[str]]
) -> None:
    response = await client.post("/pages/note", data={"text": "anonymous", "csrf": "x"})

    assert response.status_code == 303
    assert parse_qs(urlsplit(response.headers["location"]).query)["next"] == ["/pages"]
    assert app_and_effects[1] == []


async def test_each_session_has_its_own_csrf_value() -> None:
    first, second = token(), token(now=datetime.now(UTC) - timedelta(seconds=5))

    assert SESSIONS.csrf_for(first) != SESSIONS.csrf_for(second)
    assert SESSIONS.csrf_for(first) == SESSIONS.csrf_for(first)
    assert first not in SESSIONS.csrf_for(first)


# --- Signing out ----------------------------------------------------------------------------------


async def test_signing_out_clears_the_cookie(client: httpx.AsyncClient) -> None:
    await sign_in(client, token())
    csrf = hidden((await client.get("/pages")).text, "csrf")

    response = await client.post("/pages/sign-out", data={"csrf": csrf})

    assert response.status_code == 303
    assert response.headers["location"] == "/pages/sign-in?note=signed_out"
    assert "max-age=0" in set_cookie(response, COOKIE).lower()
    assert (await client.get("/pages")).status_code == 303


async def test_signing_out_without_the_csrf_value_is_refused_and_the_session_stays(
    client: httpx.AsyncClient,
) -> None:
    await sign_in(client, token())

    response = await client.post("/pages/sign-out", data={"csrf": "guessed"})

    assert response.status_code == 403
    assert not response.headers.get_list("set-cookie")
    assert (await client.get("/pages")).status_code == 200


# --- No token in a URL, and no open redirect -------------------------------------------------------


async def test_a_token_in_the_query_string_opens_nothing_and_is_not_carried_into_the_redirect(
    client: httpx.AsyncClient,
) -> None:
    bearer = token()

    page = await client.get("/pages/team", params={"token": bearer, "lang": "fr"})
    stream = await client.get("/pages/stream", params={"token": bearer})
    sign_in_page = await client.get("/pages/sign-in", params={"next": f"/pages/team?token={bearer}"})

    assert page.status_code == 303
    assert "token" not in page.headers["location"] and bearer not in page.headers["location"]
    assert parse_qs(urlsplit(page.headers["location"]).query)["next"] == ["/pages/team?lang=fr"]
    assert stream.status_code == 401
    assert bearer not in sign_in_page.text


@pytest.mark.parametrize(
    "candidate",
    [
        "https://evil.example/pages",
        "//evil.example/pages",
        "/\\evil.example/pages",
        "\\\\evil.example",
        "javascript:alert(1)",
        "pages/team",
        "/pages\r\nSet-Cookie: x=1",
        "/pages/sign-in",
        "/pages/sign-out",
        "",
        "/" + "a" * 3000,
    ],
)
async def test_next_must_be_a_path_on_this_site(client: httpx.AsyncClient, candidate: str) -> None:
    form_page = await client.get("/pages/sign-in", params={"next": candidate})
    signed_in = await client.post(
        "/pages/sign-in", data={"csrf": hidden(form_page.text, "csrf"), "next": candidate, "token": token()}
    )

    assert hidden(form_page.text, "next") == "/pages"
    assert signed_in.headers["location"] == "/pages"


@given(st.text(max_size=60))
def test_no_next_leads_off_the_site(candidate: str) -> None:
    chosen = local_path(candidate, "/home")
    parts = urlsplit(chosen)

    assert chosen.startswith("/") and not chosen.startswith("//") and "\\" not in chosen
    assert not parts.scheme and not parts.netloc


# --- The live stream and websockets use the same cookie ----------------------------------------------


async def test_the_live_stream_takes_the_session_cookie(client: httpx.AsyncClient) -> None:
    assert (await client.get("/pages/stream")).status_code == 401
    await sign_in(client, token())

    response = await client.get("/pages/stream")

    assert response.status_code == 200 and response.json() == {"subject": "sup-sara"}


def test_a_websocket_takes_the_session_cookie_and_refuses_other_sites_and_strangers() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
        from starlette.websockets import WebSocketDisconnect

    app, _ = build_app()
    cookie = f"{COOKIE}={token()}"
    with TestClient(app) as test_client:  # its websockets reach host "testserver"
        same_site = {"origin": "http://testserver", "cookie": cookie}
        with test_client.websocket_connect("/pages/ws", headers=same_site) as websocket:
            greeting = websocket.receive_text()
        with pytest.raises(WebSocketDisconnect) as cross_site:
            other_site = {"origin": "https://evil.example", "cookie": cookie}
            with test_client.websocket_connect("/pages/ws", headers=other_site) as ws:
                ws.receive_text()
        with pytest.raises(WebSocketDisconnect) as stranger:  # noqa: SIM117
            with test_client.websocket_connect(f"/pages/ws?token={token()}") as ws:
                ws.receive_text()

    assert greeting == "sup-sara"
    assert (cross_site.value.code, stranger.value.code) == (1008, 1008)
