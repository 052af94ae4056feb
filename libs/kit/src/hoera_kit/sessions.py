"""Staff page sessions: sign in once on a page, then a cookie; never a token in a URL.

A person signs in on a service's sign-in page. For now they paste the bearer token their identity
provider gave them into a POST form; a later OpenID Connect login replaces the form by a callback
route that receives a token from the identity provider and calls `StaffSessions.start` exactly as
the form does, so pages, streams and forms do not change.

The session cookie holds the verified JWT itself, not a copy of its claims: the identity provider's
signature makes it tamper-proof, every replica can check it without shared state, and each request
verifies it again with the same TokenVerifier as the `Authorization: Bearer` header (issuer,
audience, signature, expiry). An expired token ends the session; the cookie's Max-Age ends with the
token, so the browser forgets it then too. The cookie is HttpOnly (no script reads it), Path=/,
Secure when the request came over https or HOERA_SESSION_COOKIE_SECURE says so (for a proxy in
front that ends TLS), and then named with the `__Host-` prefix so no sibling domain can plant one.

SameSite=Lax, not Strict: the alert e-mails (R23) link to the dashboard, and an identity provider
sends the browser back with a redirect from its own site; both are cross-site top-level GETs for
which a Strict cookie is withheld, so the supervisor who is signed in would be asked to sign in
again from every mail, and an OIDC callback could not find its state. Lax still withholds the
cookie from every cross-site POST, frame, image and script request; GETs change nothing, and every
form POST carries a CSRF token besides.

CSRF: each form posts a `csrf` field, an HMAC of a fixed label keyed by the session's own token,
compared in constant time. It is per session (a new sign-in gives a new one), needs no server-side
store, and reveals nothing of the token: whoever can compute it holds the session already. The
sign-in form, which has no session yet, is protected against login forgery by a random value in a
short-lived cookie that the form must post back (double submit). A POST without a valid token gets
403 and changes nothing.

Each service has its own cookie (`hoera-<service>-session`): cookies ignore ports, so on one host
the dashboard and the agent page would otherwise share, and overwrite, one session.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import jwt
from fastapi import APIRouter, HTTPException, Request, Response, WebSocketException, status
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from hoera_kit.auth import (
    AuthError,
    IdentityProviderUnavailable,
    Principal,
    Role,
    TokenVerifier,
    ensure_known_tenant,
    for_connection,
)
from hoera_kit.oidc import PENDING_SECONDS, Pending, Provider, ProviderUnavailable, SignInFailed
from hoera_kit.refusals import Forbidden, NotFound, Refusal

log = logging.getLogger(__name__)
CSRF_FIELD: Final = "csrf"
TOKEN_FIELD: Final = "token"
# A browser keeps at most 4096 bytes per cookie, name and attributes included, and drops a larger
# one silently: refuse such a token at sign-in rather than loop back to the sign-in page.
MAX_TOKEN_BYTES: Final = 3800
SIGN_IN_FORM_SECONDS: Final = 3600
MAX_NEXT_LENGTH: Final = 2000
MAX_FORM_FIELDS: Final = 100
# Never carried into a `next` or a redirect: a bookmarked URL from before sessions may hold a token.
_TOKEN_PARAMETERS: Final = frozenset({"token", "access_token", "id_token"})
_LANGUAGES: Final = frozenset({"nl", "fr", "en"})
STALE_FORM: Final = "the form is out of date (its CSRF token is missing or wrong): reload the page"


class SignInNote(StrEnum):
    """Why the sign-in page is shown; the service words each one in the page's language."""

    invalid_token = "invalid_token"  # not a token of our identity provider, or tampered with
    expired_token = "expired_token"  # a real token, but past its expiry
    token_too_long = "token_too_long"
    not_allowed = "not_allowed"  # a valid token without a role these pages need
    stale_form = "stale_form"  # the form's CSRF value is missing or wrong: nothing was done
    session_ended = "session_ended"  # the session's token expired or no longer verifies
    signed_out = "signed_out"
    provider_refused = "provider_refused"  # the identity provider's answer did not check out
    provider_unavailable = "provider_unavailable"  # the identity provider cannot be reached

    @property
    def is_problem(self) -> bool:
        """Shown as an error (role="alert"); the others are news (role="status")."""
        return self not in (SignInNote.session_ended, SignInNote.signed_out)


_NOTES_BY_QUERY: Final = {SignInNote.session_ended.value, SignInNote.signed_out.value}
CALLBACK_PATH: Final = "signed-in"
ORGANISATION_SECONDS: Final = 30 * 24 * 3600


@dataclass(frozen=True, slots=True)
class StaffSession:
    """A signed-in person on a page: who they are and the CSRF value their forms must post."""

    principal: Principal
    csrf: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class PostedForm:
    """An application/x-www-form-urlencoded body. A repeated field counts by its first value."""

    fields: dict[str, list[str]]

    def get(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[0] if values else None


@dataclass(frozen=True, slots=True)
class SignedForm:
    """A form POST from a session whose CSRF value matched: safe to act on."""

    session: StaffSession
    form: PostedForm

    @property
    def principal(self) -> Principal:
        return self.session.principal


@dataclass(frozen=True, slots=True)
class ProviderChoice:
    """One organisation's "sign in with your account" link on the sign-in page."""

    tenant: str
    name: str
    """The organisation's name as its definition gives it (its id until the definition is known)."""
    href: str


@dataclass(frozen=True, slots=True)
class SignInView:
    """What a sign-in page shows; the service renders it in its own look and language."""

    action: str  # where the form posts
    next: str  # a local path, checked
    csrf: str
    lang: str | None  # asked for with ?lang= or by the form; None lets the page choose
    note: SignInNote | None
    providers: tuple[ProviderChoice, ...] = ()
    """The organisations whose staff sign in with their own identity provider here (OpenID Connect)."""
    token_form: bool = True
    """Whether the page offers the form for a pasted token (development and test, or no provider)."""

    def query(self, **overrides: str) -> str:
        """The sign-in page's own query string (for its language links), keeping `next`."""
        params = {"next": self.next, "lang": self.lang or "", **overrides}
        return urlencode({key: value for key, value in params.items() if value})


SignInRenderer = Callable[[Request, SignInView, int], Response]
"""Renders the sign-in page with the given status code (the service's template and headers)."""


class SignInRequired(HTTPException):
    """No session on a page: 303 to the sign-in page. An HTTPException, so the kit's handler answers
    it as it is and no service needs a handler of its own."""

    def __init__(self, location: str, *, clear_cookie: str | None = None) -> None:
        headers = {"Location": location, "Cache-Control": "no-store"}
        if clear_cookie is not None:
            headers["Set-Cookie"] = clear_cookie
        super().__init__(status_code=status.HTTP_303_SEE_OTHER, detail="sign in first", headers=headers)


async def read_form(request: Request, *, max_fields: int = MAX_FORM_FIELDS) -> PostedForm:
    """The posted form, parsed by Starlette (python-multipart); 415 for any other kind of body.

    Only url-encoded: the pages post no files, so a multipart body is refused rather than parsed.
    """
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise Refusal("expected a form (application/x-www-form-urlencoded)", status=415)
    form = await request.form(max_fields=max_fields)
    fields: dict[str, list[str]] = {}
    for name, value in form.multi_items():
        fields.setdefault(name, []).append(value if isinstance(value, str) else "")
    return PostedForm(fields)


def local_path(candidate: str | None, default: str, *, avoid: Sequence[str] = ()) -> str:
    """`candidate` when it is a path on this site, else `default`: no open redirect.

    Refused: anything with a scheme or host (`https://x`, `//x`), a backslash (browsers read `/\\x`
    as `//x`), control characters, and the paths in `avoid` (the sign-in and sign-out pages, which
    would loop). Token parameters are dropped from the query.
    """
    if not candidate or len(candidate) > MAX_NEXT_LENGTH or not candidate.startswith("/"):
        return default
    if candidate.startswith("//") or "\\" in candidate:
        return default
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in candidate):
        return default
    parts = urlsplit(candidate)
    if parts.scheme or parts.netloc or parts.path in avoid:
        return default
    query = [
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if key.lower() not in _TOKEN_PARAMETERS
    ]
    return urlunsplit(("", "", parts.path, urlencode(query), ""))


def _same(posted: str | None, expected: str) -> bool:
    """Constant time, so the answer's timing does not tell how much of a guess was right."""
    return bool(expected) and hmac.compare_digest((posted or "").encode(), expected.encode())


def _language(value: str | None) -> str | None:
    return value if value in _LANGUAGES else None


def _organisation_name(connection: HTTPConnection, tenant: str) -> str:
    service = getattr(connection.app.state, "service", None)
    definition = service.tenants.definition(tenant) if service is not None else None
    return definition.name if definition is not None else tenant


def _token_expiry(token: str) -> datetime:
    # Called only after TokenVerifier accepted the token, which requires `exp`.
    claims = jwt.decode(token, options={"verify_signature": False})
    return datetime.fromtimestamp(int(claims["exp"]), UTC)


def _verifier(connection: HTTPConnection) -> TokenVerifier:
    verifier = getattr(connection.app.state, "token_verifier", None)
    if not isinstance(verifier, TokenVerifier):
        raise RuntimeError("app.state.token_verifier is not set to a TokenVerifier")
    return verifier


class StaffSessions:
    """Sign-in, sign-out, and the dependencies of a service's staff pages.

        SESSIONS = StaffSessions(service="alerts", roles=(Role.supervisor,), home="/dashboard",
                                 render_sign_in=render_sign_in)
        router.include_router(SESSIONS.router())
        PageSession = Annotated[StaffSession, Depends(SESSIONS.page)]      # GET pages
        PageForm = Annotated[SignedForm, Depends(SESSIONS.form)]           # form POSTs
        StreamSession = Annotated[StaffSession, Depends(SESSIONS.stream)]  # SSE, websockets

    A page without a session redirects (303) to the sign-in page with `next`; a stream answers 401
    (a websocket closes with 1008), since neither can show a page; a form POST needs a session and
    its CSRF value (403 otherwise). The principal must hold one of `roles` (403 otherwise).
    """

    def __init__(
        self,
        *,
        service: str,
        roles: Sequence[Role],
        home: str,
        render_sign_in: SignInRenderer,
        sign_in_path: str | None = None,
        sign_out_path: str | None = None,
        max_form_fields: int = MAX_FORM_FIELDS,
    ) -> None:
        if not roles:
            raise ValueError("StaffSessions needs at least one role")
        self.service = service
        self.roles = tuple(Role(role) for role in roles)
        self.home = home
        self.sign_in_path = sign_in_path or f"{home.rstrip('/')}/sign-in"
        self.sign_out_path = sign_out_path or f"{home.rstrip('/')}/sign-out"
        self.render_sign_in = render_sign_in
        self.max_form_fields = max_form_fields
        self._csrf_label = f"hoera-csrf:v1:{service}".encode()

    # --- cookies ----------------------------------------------------------------------------------

    def secure(self, connection: HTTPConnection) -> bool:
        settings = getattr(connection.app.state, "settings", None)
        forced = bool(getattr(settings, "secure_cookies", False))
        return forced or connection.url.scheme in ("https", "wss")

    def _name(self, connection: HTTPConnection, what: str) -> str:
        # The __Host- prefix (Secure, Path=/, no Domain) is refused by browsers over plain http.
        prefix = "__Host-" if self.secure(connection) else ""
        return f"{prefix}hoera-{self.service}-{what}"

    def session_cookie(self, connection: HTTPConnection) -> str:
        return self._name(connection, "session")

    def sign_in_cookie(self, connection: HTTPConnection) -> str:
        return self._name(connection, "sign-in")

    def organisation_cookie(self, connection: HTTPConnection) -> str:
        """The organisation the browser last signed in with, shared by every service on the host (no
        service in its name): another service's page without a session goes straight to that
        organisation's provider, which signs the person in without asking again. Not a secret."""
        prefix = "__Host-" if self.secure(connection) else ""
        return f"{prefix}hoera-organisation"

    def pending_cookie(self, connection: HTTPConnection) -> str:
        """A sign-in under way at the identity provider (hoera_kit.oidc.Pending)."""
        return self._name(connection, "oidc")

    def _set(
        self,
        connection: HTTPConnection,
        response: Response,
        name: str,
        value: str,
        *,
        max_age: int,
        same_site: Literal["lax", "strict"] = "lax",
    ) -> None:
        response.set_cookie(
            name,
            value,
            max_age=max_age,
            expires=max_age,
            path="/",
            secure=self.secure(connection),
            httponly=True,
            samesite=same_site,
        )

    def _clear(self, connection: HTTPConnection, response: Response, name: str) -> None:
        response.delete_cookie(name, path="/", secure=self.secure(connection), httponly=True, samesite="lax")

    def _clear_header(self, connection: HTTPConnection) -> str:
        response = Response()
        self._clear(connection, response, self.session_cookie(connection))
        return response.headers["set-cookie"]

    # --- the one way a session starts and ends ----------------------------------------------------

    async def start(self, request: Request, response: Response, token: str) -> StaffSession:
        """Verify the token and hold it in the session cookie on `response`.

        The sign-in form calls this; so will an OpenID Connect callback with the token it received.
        AuthError for a token that does not verify (or too long for a cookie), Forbidden for one
        without any of the roles; the response is untouched then.
        """
        if len(token.encode()) > MAX_TOKEN_BYTES:
            raise AuthError("token too long to keep in a session cookie")
        principal = await _verifier(request).verify_async(token)
        await ensure_known_tenant(request, principal)
        if not principal.has_role(*self.roles):
            raise Forbidden(f"requires one of the roles: {', '.join(self.roles)}")
        expires_at = _token_expiry(token)
        lifetime = int((expires_at - datetime.now(UTC)).total_seconds())
        self._set(request, response, self.session_cookie(request), token, max_age=max(lifetime, 0))
        return StaffSession(principal=principal, csrf=self.csrf_for(token), expires_at=expires_at)

    def end(self, connection: HTTPConnection, response: Response) -> None:
        self._clear(connection, response, self.session_cookie(connection))

    def csrf_for(self, token: str) -> str:
        digest = hmac.new(token.encode(), self._csrf_label, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    async def _session(self, connection: HTTPConnection) -> tuple[StaffSession | None, bool]:
        """The verified session, or None; the flag says a cookie was there but no longer verifies."""
        token = connection.cookies.get(self.session_cookie(connection))
        if not token:
            return None, False
        try:
            principal = await _verifier(connection).verify_async(token)
            await ensure_known_tenant(connection, principal)
        except AuthError:
            return None, True
        session = StaffSession(
            principal=principal, csrf=self.csrf_for(token), expires_at=_token_expiry(token)
        )
        return session, False

    def _check_roles(self, connection: HTTPConnection, principal: Principal) -> None:
        if not principal.has_role(*self.roles):
            refused = HTTPException(
                status.HTTP_403_FORBIDDEN, f"requires one of the roles: {', '.join(self.roles)}"
            )
            raise for_connection(connection, refused)

    def _to_sign_in(self, request: Request, *, next_path: str, ended: bool) -> SignInRequired:
        provider = self._provider_of_cookie(request) if ended else None
        if provider is None:
            provider = self._providers(request).get(
                request.cookies.get(self.organisation_cookie(request), "")
            )
        if provider is not None:
            # The provider most likely still knows the person: back there, and (silently) back here.
            location = f"{self.provider_path(provider.tenant)}?{urlencode({'next': next_path})}"
            return SignInRequired(location, clear_cookie=self._clear_header(request))
        params = {"next": next_path}
        lang = _language(request.query_params.get("lang"))
        if lang is not None:
            params["lang"] = lang
        if ended:
            params["note"] = SignInNote.session_ended.value
        location = f"{self.sign_in_path}?{urlencode(params)}"
        return SignInRequired(location, clear_cookie=self._clear_header(request) if ended else None)

    # --- dependencies -----------------------------------------------------------------------------

    async def page(self, request: Request) -> StaffSession:
        """A GET page's session; without one, 303 to sign-in and back to this page afterwards."""
        session, ended = await self._session(request)
        if session is None:
            wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            raise self._to_sign_in(request, next_path=local_path(wanted, self.home), ended=ended)
        self._check_roles(request, session.principal)
        return session

    async def form(self, request: Request) -> SignedForm:
        """A form POST's session, once its CSRF value matched; 403 and nothing done otherwise.

        Without a session the browser goes to sign-in and then to the home page: the form's own
        URL only takes POSTs, and what was typed is not kept.
        """
        session, ended = await self._session(request)
        if session is None:
            raise self._to_sign_in(request, next_path=self.home, ended=ended)
        form = await read_form(request, max_fields=self.max_form_fields)
        if not _same(form.get(CSRF_FIELD), session.csrf):
            raise Forbidden(STALE_FORM)
        self._check_roles(request, session.principal)
        return SignedForm(session=session, form=form)

    async def stream(self, connection: HTTPConnection) -> StaffSession:
        """An event stream's or websocket's session: 401 (websocket: close 1008) without one.

        A websocket handshake from another site's page is refused as well: browsers send cookies
        with it, and unlike fetch it is not bound by CORS.
        """
        if connection.scope["type"] == "websocket":
            origin = connection.headers.get("origin")
            if origin is not None and urlsplit(origin).netloc != connection.headers.get("host"):
                raise WebSocketException(status.WS_1008_POLICY_VIOLATION, "cross-site websocket refused")
        session, _ = await self._session(connection)
        if session is None:
            missing = HTTPException(status.HTTP_401_UNAUTHORIZED, "sign in first: no session")
            raise for_connection(connection, missing)
        self._check_roles(connection, session.principal)
        return session

    # --- the sign-in and sign-out routes ----------------------------------------------------------

    def router(self) -> APIRouter:
        router = APIRouter(include_in_schema=False)
        router.add_api_route(self.sign_in_path, self._sign_in_page, methods=["GET"])
        router.add_api_route(self.sign_in_path, self._sign_in, methods=["POST"])
        router.add_api_route(self.sign_out_path, self._sign_out, methods=["POST"])
        router.add_api_route(f"{self.sign_in_path}/{{tenant}}", self._begin, methods=["GET"])
        router.add_api_route(self.callback_path, self._signed_in, methods=["GET"])
        return router

    # --- OpenID Connect (hoera_kit.oidc) ----------------------------------------------------------

    @property
    def callback_path(self) -> str:
        return f"{self.home.rstrip('/')}/{CALLBACK_PATH}"

    def provider_path(self, tenant: str) -> str:
        return f"{self.sign_in_path}/{tenant}"

    def _providers(self, connection: HTTPConnection) -> dict[str, Provider]:
        providers = _verifier(connection).providers
        return providers.by_tenant if providers else {}

    def _provider_of_cookie(self, connection: HTTPConnection) -> Provider | None:
        providers = _verifier(connection).providers
        token = connection.cookies.get(self.session_cookie(connection))
        return providers.for_token(token) if providers and token else None

    def _redirect_uri(self, request: Request) -> str:
        return f"{str(request.base_url).rstrip('/')}{self.callback_path}"

    def _token_form(self, request: Request) -> bool:
        settings = getattr(request.app.state, "settings", None)
        return not self._providers(request) or bool(getattr(settings, "is_dev", True))

    async def _begin(self, request: Request, tenant: str) -> Response:
        provider = self._providers(request).get(tenant)
        next_path = self._next(request.query_params.get("next"))
        lang = _language(request.query_params.get("lang"))
        if provider is None:
            raise NotFound("identity provider of this organisation")
        try:
            url, pending = await run_in_threadpool(
                provider.begin, redirect_uri=self._redirect_uri(request), next_path=next_path, language=lang
            )
        except ProviderUnavailable as exc:
            log.warning("%s: sign-in with %s's identity provider: %s", self.service, tenant, exc)
            return self._sign_in_form(
                request,
                next_path=next_path,
                lang=lang,
                note=SignInNote.provider_unavailable,
                status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        response = RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)
        # Lax: the provider sends the browser back with a cross-site top-level GET, which Lax allows.
        self._set(request, response, self.pending_cookie(request), pending.encode(), max_age=PENDING_SECONDS)
        response.headers["Cache-Control"] = "no-store"
        return response

    async def _signed_in(self, request: Request) -> Response:
        query = request.query_params
        pending = Pending.decode(request.cookies.get(self.pending_cookie(request)))
        provider = self._providers(request).get(pending.tenant) if pending else None
        next_path = self._next(pending.next if pending else None)

        def again(note: SignInNote, status_code: int) -> Response:
            response = self._sign_in_form(
                request, next_path=next_path, lang=None, note=note, status_code=status_code
            )
            self._clear(request, response, self.pending_cookie(request))
            return response

        if pending is None or provider is None:
            return again(SignInNote.provider_refused, status.HTTP_400_BAD_REQUEST)
        if query.get("error"):
            # The person cancelled, or the provider would not sign them in for this client.
            log.info(
                "%s: %s's identity provider answered %s", self.service, pending.tenant, query["error"][:100]
            )
            return again(SignInNote.provider_refused, status.HTTP_401_UNAUTHORIZED)
        response = RedirectResponse(next_path, status_code=status.HTTP_303_SEE_OTHER)
        try:
            async with httpx.AsyncClient(timeout=provider.timeout_s) as http:
                token = await provider.finish(
                    http,
                    pending,
                    state=query.get("state"),
                    code=query.get("code"),
                    redirect_uri=self._redirect_uri(request),
                )
            await self.start(request, response, token)
        except SignInFailed as exc:
            log.warning(
                "%s: sign-in with %s's identity provider refused: %s", self.service, pending.tenant, exc
            )
            return again(SignInNote.provider_refused, status.HTTP_401_UNAUTHORIZED)
        except (ProviderUnavailable, IdentityProviderUnavailable) as exc:
            log.warning("%s: %s's identity provider unavailable: %s", self.service, pending.tenant, exc)
            return again(SignInNote.provider_unavailable, status.HTTP_503_SERVICE_UNAVAILABLE)
        except AuthError as exc:
            log.warning(
                "%s: a token of %s's identity provider refused: %s", self.service, pending.tenant, exc
            )
            return again(SignInNote.invalid_token, status.HTTP_401_UNAUTHORIZED)
        except Forbidden:
            # Signed in at the organisation, just not for these pages: its other services' pages
            # may still be theirs, and will find the organisation.
            refused = again(SignInNote.not_allowed, status.HTTP_403_FORBIDDEN)
            self._set(
                request,
                refused,
                self.organisation_cookie(request),
                pending.tenant,
                max_age=ORGANISATION_SECONDS,
            )
            return refused
        self._clear(request, response, self.pending_cookie(request))
        self._set(
            request, response, self.organisation_cookie(request), pending.tenant, max_age=ORGANISATION_SECONDS
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    def _next(self, value: str | None) -> str:
        return local_path(value, self.home, avoid=(self.sign_in_path, self.sign_out_path))

    def _sign_in_form(
        self,
        request: Request,
        *,
        next_path: str,
        lang: str | None,
        note: SignInNote | None,
        status_code: int,
    ) -> Response:
        # Two tabs on the sign-in page share one value: a second page does not void the first form.
        csrf = request.cookies.get(self.sign_in_cookie(request)) or secrets.token_urlsafe(32)
        choices = tuple(
            ProviderChoice(
                tenant,
                _organisation_name(request, tenant),
                f"{self.provider_path(tenant)}?{urlencode({'next': next_path, 'lang': lang or ''})}",
            )
            for tenant in sorted(self._providers(request))
        )
        view = SignInView(
            action=self.sign_in_path,
            next=next_path,
            csrf=csrf,
            lang=lang,
            note=note,
            providers=choices,
            token_form=self._token_form(request),
        )
        response = self.render_sign_in(request, view, status_code)
        response.headers["Cache-Control"] = "no-store"
        # Strict is enough here: only our own sign-in page posts this form.
        self._set(
            request,
            response,
            self.sign_in_cookie(request),
            csrf,
            max_age=SIGN_IN_FORM_SECONDS,
            same_site="strict",
        )
        return response

    async def _sign_in_page(self, request: Request) -> Response:
        query = request.query_params
        note = query.get("note")
        return self._sign_in_form(
            request,
            next_path=self._next(query.get("next")),
            lang=_language(query.get("lang")),
            note=SignInNote(note) if note in _NOTES_BY_QUERY else None,
            status_code=200,
        )

    async def _sign_in(self, request: Request) -> Response:
        form = await read_form(request)
        next_path = self._next(form.get("next"))
        lang = _language(form.get("lang"))

        def again(note: SignInNote, status_code: int) -> Response:
            return self._sign_in_form(
                request, next_path=next_path, lang=lang, note=note, status_code=status_code
            )

        if not _same(form.get(CSRF_FIELD), request.cookies.get(self.sign_in_cookie(request)) or ""):
            return again(SignInNote.stale_form, status.HTTP_403_FORBIDDEN)
        if not self._token_form(request):
            # Staff sign in at their organisation's identity provider; a pasted token is for development.
            return again(SignInNote.invalid_token, status.HTTP_403_FORBIDDEN)
        token = (form.get(TOKEN_FIELD) or "").strip()
        if token.lower().startswith("bearer "):
            token = token[len("bearer ") :].strip()
        if not token:
            return again(SignInNote.invalid_token, status.HTTP_401_UNAUTHORIZED)
        if len(token.encode()) > MAX_TOKEN_BYTES:
            return again(SignInNote.token_too_long, status.HTTP_422_UNPROCESSABLE_CONTENT)
        response = RedirectResponse(next_path, status_code=status.HTTP_303_SEE_OTHER)
        try:
            await self.start(request, response, token)
        except AuthError as exc:
            expired = exc.reason == "token expired"
            return again(
                SignInNote.expired_token if expired else SignInNote.invalid_token,
                status.HTTP_401_UNAUTHORIZED,
            )
        except Forbidden:
            return again(SignInNote.not_allowed, status.HTTP_403_FORBIDDEN)
        self._clear(request, response, self.sign_in_cookie(request))
        response.headers["Cache-Control"] = "no-store"
        return response

    async def _sign_out(self, request: Request) -> Response:
        form = await read_form(request)
        token = request.cookies.get(self.session_cookie(request))
        # Even an expired session's form must match: signing someone out is a change too.
        if token and not _same(form.get(CSRF_FIELD), self.csrf_for(token)):
            raise Forbidden(STALE_FORM)
        params = {"note": SignInNote.signed_out.value}
        lang = _language(form.get("lang"))
        if lang is not None:
            params["lang"] = lang
        back = f"{self.sign_in_path}?{urlencode(params)}"
        provider = self._provider_of_cookie(request)
        if provider is not None:
            # Ends the provider's session too, or the next page would sign the person in again silently.
            here = f"{str(request.base_url).rstrip('/')}{back}"
            with suppress(ProviderUnavailable):
                at_provider: str | None = await run_in_threadpool(
                    lambda: provider.sign_out_url(post_logout_redirect_uri=here)
                )
                back = at_provider or back
        response = RedirectResponse(back, status_code=status.HTTP_303_SEE_OTHER)
        self.end(request, response)
        response.headers["Cache-Control"] = "no-store"
        return response


__all__ = [
    "CSRF_FIELD",
    "PostedForm",
    "ProviderChoice",
    "SignInNote",
    "SignInRenderer",
    "SignInRequired",
    "SignInView",
    "SignedForm",
    "StaffSession",
    "StaffSessions",
    "local_path",
    "read_form",
]
