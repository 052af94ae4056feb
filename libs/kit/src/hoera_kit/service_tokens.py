"""How a service proves it is one when it calls another service's internal route: a bearer token with
the role `service` (hoera_kit.auth.Role.service), which people never hold.

Two ways, chosen by the settings:

- client credentials (HOERA_SERVICE_TOKEN_URL, HOERA_SERVICE_CLIENT_ID, HOERA_SERVICE_CLIENT_SECRET):
  the identity provider's OAuth2 client-credentials grant gives an access token, kept until 30 s
  before it expires. The provider must put `roles: ["service"]` in it (and the audience and issuer the
  services check), as it puts people's roles in theirs.
- where the deployment checks HS256 tokens with a shared secret (HOERA_JWT_SECRET; in development and
  test the development key): the service signs a token itself, for five minutes, with sub = its name,
  roles = ["service"] and the deployment's default tenant, issuer and audience, and signs a new one
  before the old one runs out.

Neither configured: `header()` raises RuntimeError naming the settings. A token endpoint that cannot
be reached, or refuses, raises ServiceTokenUnavailable, a ConnectionError: the kit's consumers retry it
(hoera_kit.retry) instead of dead-lettering the event they were handling.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Final

import httpx
import jwt

from hoera_kit.settings import KitSettings

MINTED_TTL_S: Final = 300
"""How long a token this service signs itself is valid."""
RENEW_BEFORE_S: Final = 30
"""A token is replaced this long before it expires, so one is never sent in its last seconds."""
SERVICE_ROLE: Final = "service"


class ServiceTokenUnavailable(ConnectionError):
    """The identity provider gave no token (unreachable, an error, or a refusal): retried, never the
    fault of the event being handled."""


class ServiceTokens:
    """This service's bearer token for calls to other services; one per process, shared by its clients."""

    def __init__(
        self,
        settings: KitSettings,
        *,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        timeout: float = 5.0,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._timeout = timeout
        self._client = client
        self._owns_client = client is None
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    @property
    def mode(self) -> str | None:
        """ "client_credentials", "signed" (HS256, signed here) or None when nothing is configured."""
        if self.settings.service_token_url:
            return "client_credentials"
        if self.settings.signing_secret is not None:
            return "signed"
        return None

    async def header(self) -> dict[str, str]:
        """{"Authorization": "Bearer <token>"}, with a token valid for at least RENEW_BEFORE_S more."""
        return {"Authorization": f"Bearer {await self.token()}"}

    async def token(self) -> str:
        if self._token is not None and self._clock() < self._expires_at - RENEW_BEFORE_S:
            return self._token
        async with self._lock:  # one request to the provider however many callers wait for it
            if self._token is None or self._clock() >= self._expires_at - RENEW_BEFORE_S:
                self._token, self._expires_at = await self._new_token()
            return self._token

    def forget(self) -> None:
        """Drop the token in hand (another service refused it): the next call gets a new one."""
        self._token, self._expires_at = None, 0.0

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _new_token(self) -> tuple[str, float]:
        mode = self.mode
        if mode == "client_credentials":
            return await self._client_credentials()
        if mode == "signed":
            return self._signed()
        raise RuntimeError(
            f"{self.settings.service_name} cannot call another service: set HOERA_SERVICE_TOKEN_URL, "
            "HOERA_SERVICE_CLIENT_ID and HOERA_SERVICE_CLIENT_SECRET (the identity provider's "
            "client-credentials grant), or HOERA_JWT_SECRET where tokens are checked with a shared secret"
        )

    def _signed(self) -> tuple[str, float]:
        secret = self.settings.signing_secret
        assert secret is not None
        now = int(self._clock())
        expires = now + MINTED_TTL_S
        claims = {
            "sub": self.settings.service_name,
            "roles": [SERVICE_ROLE],
            "tenant": self.settings.tenant,
            "iss": self.settings.jwt_issuer,
            "aud": self.settings.jwt_audience,
            "iat": now,
            "exp": expires,
        }
        return jwt.encode(claims, secret, algorithm="HS256"), float(expires)

    async def _client_credentials(self) -> tuple[str, float]:
        s = self.settings
        assert s.service_token_url and s.service_client_id and s.service_client_secret
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout)
        asked_at = self._clock()
        try:
            resp = await self._client.post(
                s.service_token_url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": s.service_client_id,
                    "client_secret": s.service_client_secret.get_secret_value(),
                },
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise ServiceTokenUnavailable(f"the token endpoint cannot be reached: {exc!r}") from exc
        if resp.status_code != 200:
            # A refusal (a wrong secret, a disabled client) is not the event's fault either: the
            # consumer waits, its lag shows, and the event is handled once the provider answers.
            raise ServiceTokenUnavailable(f"the token endpoint answered {resp.status_code}")
        try:
            body = resp.json()
            token = body["access_token"]
            lifetime = float(body.get("expires_in", MINTED_TTL_S))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ServiceTokenUnavailable("the token endpoint's answer has no access_token") from exc
        if not isinstance(token, str) or not token:
            raise ServiceTokenUnavailable("the token endpoint's answer has no access_token")
        return token, asked_at + lifetime
