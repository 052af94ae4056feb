"""Staff sign-in with the organisation's own identity provider: OpenID Connect, the authorization-code
flow with PKCE (RFC 7636, S256), a public client without a secret.

Each tenant names its provider in the settings (HOERA_OIDC_PROVIDERS, hoera_kit.settings
StaffIdentityProvider): its issuer, the client Hoera is registered as, and the claims that carry
roles, teams, language and name. The provider's tokens name no tenant: the issuer says whose staff
they are, so a token of one organisation's provider can never act for another.

The flow (hoera_kit.sessions wires it into every service's pages):

1. A page without a session goes to the service's sign-in page, which offers the tenant's provider;
   a session that ran out goes straight back to the provider it came from (the provider still knows
   the person, so this is silent).
2. `begin` makes a random state, nonce and PKCE verifier, keeps them with the page to return to in a
   short-lived HttpOnly cookie of this service (`Pending`), and sends the browser to the provider.
3. The provider sends the browser back to `<home>/signed-in` with a code and the state. `finish`
   checks the state against the cookie, exchanges the code with the verifier at the token endpoint,
   checks the ID token (signature, issuer, audience: this client, nonce), and hands the access token
   to the session, which verifies it like any bearer token and keeps it in its cookie.

Moving from one service's pages to another's repeats 2-3 silently against the provider's own
session: one sign-in for all five services, without a shared cookie or a session store of ours.

Discovery (/.well-known/openid-configuration) gives the endpoints and the key set; both are cached and
refetched for a key id not seen yet, so a provider can rotate its keys. authlib supplies the PKCE and
random-token primitives; PyJWT checks signatures, as for every other token here.
"""

from __future__ import annotations

import base64
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final

import httpx
import jwt
from authlib.common.security import generate_token
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from hoera_kit.settings import StaffIdentityProvider

PENDING_SECONDS: Final = 600
"""How long a sign-in may take at the provider before its state is forgotten."""
DISCOVERY_SECONDS: Final = 3600
_ALGORITHMS: Final = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)


class SignInFailed(Exception):
    """The provider's answer cannot start a session (state, code, ID token); the reason is logged,
    the person sees the sign-in page again."""


class ProviderUnavailable(Exception):
    """The provider's discovery document, key set or token endpoint cannot be reached."""


@dataclass(frozen=True, slots=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None


@dataclass(frozen=True, slots=True)
class Pending:
    """A sign-in under way at the provider: what the callback needs, kept in a cookie of ours."""

    tenant: str
    state: str
    nonce: str
    verifier: str
    next: str
    started: float

    def encode(self) -> str:
        raw = json.dumps(asdict(self), separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, value: str | None) -> Pending | None:
        if not value:
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
            pending = cls(**data)
        except (ValueError, TypeError):
            return None
        if not all(isinstance(v, str) for v in (pending.tenant, pending.state, pending.nonce, pending.next)):
            return None
        return pending


class Provider:
    """One tenant's identity provider: its metadata and keys (cached), its tokens' claims."""

    def __init__(self, tenant: str, config: StaffIdentityProvider, *, timeout_s: float = 10) -> None:
        self.tenant = tenant
        self.config = config
        self.timeout_s = timeout_s
        self._metadata: ProviderMetadata | None = None
        self._fetched_at = 0.0
        self._keys: jwt.PyJWKClient | None = None

    @property
    def issuer(self) -> str:
        return self.config.issuer

    def metadata(self) -> ProviderMetadata:
        """The discovery document (blocking on first use and after an hour: call from a thread)."""
        if self._metadata is not None and time.monotonic() - self._fetched_at < DISCOVERY_SECONDS:
            return self._metadata
        url = f"{self.issuer}/.well-known/openid-configuration"
        try:
            response = httpx.get(url, timeout=self.timeout_s)
            response.raise_for_status()
            doc = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderUnavailable(f"{self.tenant}'s identity provider: {url}: {exc}") from exc
        if doc.get("issuer", "").rstrip("/") != self.issuer:
            # OpenID Connect Discovery 1.0, section 4.3: the document must be the issuer's own.
            raise ProviderUnavailable(f"{url} names another issuer ({doc.get('issuer')!r})")
        self._metadata = ProviderMetadata(
            issuer=self.issuer,
            authorization_endpoint=doc["authorization_endpoint"],
            token_endpoint=doc["token_endpoint"],
            jwks_uri=doc["jwks_uri"],
            end_session_endpoint=doc.get("end_session_endpoint"),
        )
        self._fetched_at = time.monotonic()
        return self._metadata

    def _key_for(self, token: str) -> jwt.PyJWK:
        if self._keys is None:
            self._keys = jwt.PyJWKClient(
                self.metadata().jwks_uri, cache_jwk_set=True, lifespan=300, timeout=int(self.timeout_s)
            )
        try:
            return self._keys.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError as exc:
            raise ProviderUnavailable(f"{self.tenant}'s identity provider's keys: {exc}") from exc

    def decode(self, token: str, *, audience: str, leeway_s: int) -> dict[str, Any]:
        """A token of this provider, checked (signature, issuer, audience, expiry); jwt errors pass."""
        key = self._key_for(token)
        if key.algorithm_name not in _ALGORITHMS:
            raise jwt.InvalidAlgorithmError(f"{key.algorithm_name} is not accepted")
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[key.algorithm_name],
            issuer=self.issuer,
            audience=audience,
            leeway=leeway_s,
            options={"require": ["exp", "iat", "iss", "aud", "sub"]},
        )
        return claims

    def principal_claims(self, claims: Mapping[str, Any]) -> dict[str, Any]:
        """The provider's claims in the shape hoera_kit.auth maps onto a Principal, for this tenant."""
        c = self.config
        roles = claims.get(c.roles_claim, [])
        roles = [c.role_names.get(r, r) for r in roles] if isinstance(roles, list) else roles
        mapped: dict[str, Any] = {
            "sub": claims.get(c.subject_claim),
            "tenant": self.tenant,
            "roles": roles,
            "teams": claims.get(c.teams_claim, []),
        }
        if c.name_claim in claims:
            mapped["name"] = claims[c.name_claim]
        if c.language_claim in claims:
            mapped["lang"] = claims[c.language_claim]
        return mapped

    # --- the authorization-code flow -------------------------------------------------------------

    def begin(self, *, redirect_uri: str, next_path: str, language: str | None) -> tuple[str, Pending]:
        """Where to send the browser, and what to keep for the callback (blocking: discovery)."""
        pending = Pending(
            tenant=self.tenant,
            state=generate_token(32),
            nonce=generate_token(32),
            verifier=generate_token(64),
            next=next_path,
            started=time.time(),
        )
        params = {
            "response_type": "code",
            "client_id": self.config.client_id,
            "redirect_uri": redirect_uri,
            "scope": self.config.scopes,
            "state": pending.state,
            "nonce": pending.nonce,
            "code_challenge": create_s256_code_challenge(pending.verifier),
            "code_challenge_method": "S256",
        }
        if language is not None:
            params["ui_locales"] = language
        return add_params_to_uri(self.metadata().authorization_endpoint, params), pending

    async def finish(
        self,
        http: httpx.AsyncClient,
        pending: Pending,
        *,
        state: str | None,
        code: str | None,
        redirect_uri: str,
    ) -> str:
        """The access token for the session, once the state, the code and the ID token check out."""
        if time.time() - pending.started > PENDING_SECONDS:
            raise SignInFailed("the sign-in took too long")
        if not state or not hmac.compare_digest(state.encode(), pending.state.encode()):
            raise SignInFailed("the state does not match this browser's sign-in")
        if not code:
            raise SignInFailed("the provider sent no code")
        try:
            response = await http.post(
                self.metadata().token_endpoint,
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": redirect_uri,
                    "client_id": self.config.client_id,
                    "code_verifier": pending.verifier,
                },
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"{self.tenant}'s token endpoint: {exc}") from exc
        if response.status_code != 200:
            raise SignInFailed(f"the token endpoint refused the code ({response.status_code})")
        tokens = response.json()
        access, id_token = tokens.get("access_token"), tokens.get("id_token")
        if not isinstance(access, str) or not isinstance(id_token, str):
            raise SignInFailed("the token endpoint's answer lacks an access or ID token")
        try:
            identity = self.decode(id_token, audience=self.config.client_id, leeway_s=30)
        except jwt.InvalidTokenError as exc:
            raise SignInFailed(f"the ID token does not verify: {exc}") from exc
        if not hmac.compare_digest(str(identity.get("nonce", "")).encode(), pending.nonce.encode()):
            raise SignInFailed("the ID token's nonce is not this sign-in's")
        return access

    def sign_out_url(self, *, post_logout_redirect_uri: str) -> str | None:
        """The provider's end-session endpoint, which ends its own session too (RP-initiated logout)."""
        endpoint = self.metadata().end_session_endpoint
        if endpoint is None:
            return None
        url: str = add_params_to_uri(
            endpoint,
            {"client_id": self.config.client_id, "post_logout_redirect_uri": post_logout_redirect_uri},
        )
        return url


class IdentityProviders:
    """The tenants' providers, found by tenant (to sign in) or by a token's issuer (to verify it)."""

    def __init__(self, configured: Mapping[str, StaffIdentityProvider]) -> None:
        self.by_tenant = {tenant: Provider(tenant, config) for tenant, config in configured.items()}
        self.by_issuer = {p.issuer: p for p in self.by_tenant.values()}
        if len(self.by_issuer) != len(self.by_tenant):
            raise ValueError("two tenants name the same issuer: a token could not say whose it is")

    def __bool__(self) -> bool:
        return bool(self.by_tenant)

    def for_token(self, token: str) -> Provider | None:
        """The provider whose issuer the token names (unverified: the provider's key checks it)."""
        try:
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.InvalidTokenError:
            return None
        return self.by_issuer.get(issuer.rstrip("/")) if isinstance(issuer, str) else None


__all__ = [
    "IdentityProviders",
    "Pending",
    "Provider",
    "ProviderMetadata",
    "ProviderUnavailable",
    "SignInFailed",
]
