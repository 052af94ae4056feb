"""Who is calling and what they may see: bearer tokens, roles, team scope, development tokens.

Every service trusts the same kind of token: a JWT from the organisation's identity provider,
checked against its JWKS endpoint (HOERA_JWT_JWKS_URL) or a PEM public key (HOERA_JWT_PUBLIC_KEY),
or signed with an HS256 shared secret (HOERA_JWT_SECRET; in development and test the well-known
development key). PyJWT checks the signature and the standard claims; this module maps the rest
onto a Principal:

    roles   list of role names (platform, agent, supervisor, approver, admin, operator, service);
            unknown names are ignored, so an identity provider may carry roles of other applications
            in the token
    teams   list of team ids; an agent works in them, a supervisor (or deputy) leads them
    tenant  the organisation; absent means the deployment's own (HOERA_TENANT)
    name    display name (optional)
    lang    nl, fr or en for pages and e-mails (optional; nl-BE counts as nl)

Routes declare what they need as `Annotated` aliases, so their signatures read as a sentence:

    @router.get("/alerts/{alert_id}")
    async def read_alert(alert_id: str, principal: Supervisor) -> AlertView:
        alert = await store.get(alert_id)       # NotFound("alert") when there is none
        ensure_team_access(principal, alert.team_id, supervisor_scope=True, what="alert")

with `Supervisor = Annotated[Principal, Depends(require_roles(Role.supervisor))]` in its api.py.

A token is never read from a URL, where access logs, browser history and trace attributes would keep
it: APIs take the `Authorization` header, staff pages and their live streams a session cookie
(hoera_kit.sessions).
"""

# No `from __future__ import annotations`: require_roles builds its dependency's annotation from a
# local variable, which FastAPI could not resolve from a string.
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, Final, Self

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import (
    EllipticCurvePrivateKey,
    EllipticCurvePublicKey,
)
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from fastapi import Depends, HTTPException, Request, Security, WebSocketException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.requests import HTTPConnection

from hoera_kit.oidc import IdentityProviders, Provider, ProviderUnavailable
from hoera_kit.refusals import NotFound
from hoera_kit.settings import KitSettings


class Role(StrEnum):
    platform = "platform"
    agent = "agent"
    supervisor = "supervisor"
    approver = "approver"
    admin = "admin"
    """Administers their own tenant: its rules (R8) and its organisation."""
    operator = "operator"
    """Runs the platform: creates and changes tenants. Crosses tenants, never reads their data."""
    service = "service"
    """Another Hoera service calling an internal route (hoera_kit.service_tokens). Crosses tenants
    only where a route names the tenant; never a person, so no page, menu or staff route admits it."""


SUPPORTED_LANGUAGES: Final = ("nl", "fr", "en")
LEEWAY_SECONDS: Final = 30
DEFAULT_TTL_SECONDS: Final = 8 * 3600
REQUIRED_CLAIMS: Final = ("exp", "iat", "sub", "iss", "aud")

_ROLES_BY_NAME: Final = {role.value: role for role in Role}
_RSA_ALGORITHMS: Final = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
_EC_ALGORITHMS_BY_CURVE: Final = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
_ASYMMETRIC_ALGORITHMS: Final = frozenset({*_RSA_ALGORITHMS, *_EC_ALGORITHMS_BY_CURVE.values(), "EdDSA"})

PublicKey = RSAPublicKey | EllipticCurvePublicKey | Ed25519PublicKey
PrivateKey = RSAPrivateKey | EllipticCurvePrivateKey | Ed25519PrivateKey


@dataclass(frozen=True, slots=True)
class Principal:
    """The person or system behind a request, as its verified token describes them."""

    subject: str
    roles: frozenset[Role]
    teams: frozenset[str]
    tenant: str
    name: str | None = None
    language: str | None = None

    def has_role(self, *roles: Role) -> bool:
        """True when the principal holds at least one of the roles."""
        return not self.roles.isdisjoint(roles)

    def in_team(self, team_id: str) -> bool:
        return team_id in self.teams

    def leads(self, team_id: str) -> bool:
        """A supervisor (or deputy) leads the teams in their token; an agent only works in them."""
        return Role.supervisor in self.roles and team_id in self.teams


class AuthError(HTTPException):
    """No acceptable bearer token: 401 with a `WWW-Authenticate: Bearer` challenge."""

    def __init__(self, reason: str, *, missing: bool = False) -> None:
        # RFC 6750: a request without credentials gets a bare challenge, a bad token an error code.
        challenge = "Bearer" if missing else f'Bearer error="invalid_token", error_description="{reason}"'
        super().__init__(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail=reason,
            headers={"WWW-Authenticate": challenge},
        )
        self.reason = reason


class IdentityProviderUnavailable(HTTPException):
    """The JWKS endpoint cannot be reached: our outage, not the caller's fault, so 503, not 401."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=f"cannot verify tokens right now: {reason}",
            headers={"Retry-After": "5"},
        )


def _load_public_key(pem: str) -> PublicKey:
    # Environment variables often carry a PEM on one line with literal "\n".
    text = pem.replace("\\n", "\n") if "\n" not in pem else pem
    data = text.strip().encode()
    key: object
    if b"CERTIFICATE" in data:
        key = x509.load_pem_x509_certificate(data).public_key()
    else:
        key = serialization.load_pem_public_key(data)
    if not isinstance(key, RSAPublicKey | EllipticCurvePublicKey | Ed25519PublicKey):
        raise ValueError(f"unsupported public key type {type(key).__name__}")
    return key


def algorithms_for(key: PublicKey | PrivateKey) -> tuple[str, ...]:
    """The signature algorithms a key verifies, so a token cannot pick a weaker or different one."""
    if isinstance(key, RSAPublicKey | RSAPrivateKey):
        return _RSA_ALGORITHMS
    if isinstance(key, EllipticCurvePublicKey | EllipticCurvePrivateKey):
        algorithm = _EC_ALGORITHMS_BY_CURVE.get(key.curve.name)
        if algorithm is None:
            raise ValueError(f"unsupported elliptic curve {key.curve.name}")
        return (algorithm,)
    return ("EdDSA",)


def _string_list(claims: Mapping[str, Any], claim: str) -> list[str]:
    value = claims.get(claim, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise AuthError(f"malformed token: the {claim} claim must be a list of strings")
    return [item for item in value if item]


def _language(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    primary = value.strip().lower().replace("_", "-").split("-")[0]
    return primary if primary in SUPPORTED_LANGUAGES else None


# The ids a subject, team and tenant become in Hoera's events and tables (hoera_events.common): a
# token whose claims cannot be such ids is refused here, not by a database or an event model later.
ID_PATTERN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
TENANT_PATTERN: Final = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def principal_from_claims(claims: Mapping[str, Any], *, default_tenant: str) -> Principal:
    """Map verified claims onto a Principal (signature and standard claims are checked already)."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not ID_PATTERN.match(subject):
        raise AuthError("malformed token: the sub claim must be an id (letters, digits, . _ : -)")
    tenant = claims.get("tenant", default_tenant)
    if not isinstance(tenant, str) or not TENANT_PATTERN.match(tenant):
        raise AuthError("malformed token: the tenant claim must be a tenant id")
    teams = _string_list(claims, "teams")
    if any(not ID_PATTERN.match(team) for team in teams):
        raise AuthError("malformed token: a team in the teams claim is not an id")
    name = claims.get("name")
    return Principal(
        subject=subject,
        roles=frozenset(
            _ROLES_BY_NAME[role] for role in _string_list(claims, "roles") if role in _ROLES_BY_NAME
        ),
        teams=frozenset(teams),
        tenant=tenant,
        name=name if isinstance(name, str) and name else None,
        language=_language(claims.get("lang")),
    )


class TokenVerifier:
    """Checks bearer JWTs against the configured issuer, audience and keys, and yields a Principal.

    HS256 tokens are checked with the shared secret; RS/PS/ES/EdDSA tokens with the PEM public
    key, or with the JWKS endpoint's key named by the token's `kid` (when both are configured, a
    token with a `kid` goes to the JWKS endpoint). Each key accepts only the algorithms of its own
    kind, so a token can neither choose `none` nor pass a public key off as an HMAC secret.
    """

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks_url: str | None = None,
        public_key: str | None = None,
        secret: str | None = None,
        default_tenant: str = "demo",
        leeway_seconds: int = LEEWAY_SECONDS,
        jwks_cache_seconds: float = 300,
        jwks_timeout_seconds: float = 10,
        providers: IdentityProviders | None = None,
    ) -> None:
        if not (jwks_url or public_key or secret):
            raise ValueError("no key to verify tokens with: give a JWKS URL, a public key or a secret")
        self.issuer = issuer
        self.audience = audience
        # The tenants' own identity providers (staff sign-in); their tokens are checked by issuer.
        self.providers = providers
        self.default_tenant = default_tenant
        self.leeway_seconds = leeway_seconds
        self._secret = secret or None
        self._public_key = _load_public_key(public_key) if public_key else None
        # PyJWKClient caches the key set for jwks_cache_seconds and refetches once for an unknown
        # kid, so the identity provider can rotate its keys without a restart here.
        self._jwks = (
            jwt.PyJWKClient(
                jwks_url,
                cache_jwk_set=True,
                lifespan=jwks_cache_seconds,
                timeout=jwks_timeout_seconds,
            )
            if jwks_url
            else None
        )

    @classmethod
    def from_settings(cls, settings: KitSettings) -> Self:
        try:
            return cls(
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
                jwks_url=settings.jwt_jwks_url,
                public_key=settings.jwt_public_key,
                secret=settings.signing_secret,
                default_tenant=settings.tenant,
                providers=IdentityProviders(settings.oidc_providers) if settings.oidc_providers else None,
            )
        except ValueError as exc:
            raise ValueError(f"HOERA_JWT_PUBLIC_KEY / HOERA_JWT_JWKS_URL / HOERA_JWT_SECRET: {exc}") from exc

    @property
    def uses_jwks(self) -> bool:
        return self._jwks is not None

    def verify(self, token: str) -> Principal:
        """The token's Principal, or AuthError. May fetch the JWKS, blocking: see verify_async."""
        provider = self.providers.for_token(token) if self.providers else None
        if provider is not None:
            return self._verify_at(provider, token)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as exc:
            raise AuthError("malformed token: not a JWT") from exc
        algorithm = header.get("alg")
        key: str | PublicKey | jwt.PyJWK
        algorithms: Sequence[str]
        if algorithm == "HS256" and self._secret is not None:
            key, algorithms = self._secret, ("HS256",)
        elif (
            algorithm in _ASYMMETRIC_ALGORITHMS
            and self._public_key is not None
            and (self._jwks is None or not header.get("kid"))
        ):
            key, algorithms = self._public_key, algorithms_for(self._public_key)
        elif algorithm in _ASYMMETRIC_ALGORITHMS and self._jwks is not None:
            key = self._jwks_key(token)
            algorithms = (key.algorithm_name,)
        else:
            raise AuthError(f"token signed with an algorithm not accepted here ({algorithm})")
        claims = _checked(
            lambda: jwt.decode(
                token,
                key,
                algorithms=list(algorithms),
                issuer=self.issuer,
                audience=self.audience,
                leeway=self.leeway_seconds,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        )
        return principal_from_claims(claims, default_tenant=self.default_tenant)

    def _verify_at(self, provider: Provider, token: str) -> Principal:
        """A token of a tenant's own identity provider: that provider's keys, issuer and audience,
        its claim names, and the tenant the provider belongs to (whatever the token says)."""
        try:
            claims = _checked(
                lambda: provider.decode(
                    token, audience=provider.config.audience, leeway_s=self.leeway_seconds
                )
            )
        except ProviderUnavailable as exc:
            raise IdentityProviderUnavailable(str(exc)) from exc
        return principal_from_claims(provider.principal_claims(claims), default_tenant=provider.tenant)

    async def verify_async(self, token: str) -> Principal:
        """As verify, without blocking the event loop when the JWKS has to be fetched."""
        if self._jwks is None and not self.providers:
            return self.verify(token)
        return await run_in_threadpool(self.verify, token)

    def _jwks_key(self, token: str) -> jwt.PyJWK:
        assert self._jwks is not None
        try:
            return self._jwks.get_signing_key_from_jwt(token)
        except jwt.PyJWKClientConnectionError as exc:
            raise IdentityProviderUnavailable("the identity provider is unreachable") from exc
        except (jwt.PyJWKClientError, jwt.PyJWKSetError, jwt.PyJWKError) as exc:
            raise AuthError("token signed with a key the identity provider does not list") from exc
        except jwt.DecodeError as exc:
            raise AuthError("malformed token: not a JWT") from exc


def _checked(decode: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """PyJWT's verdicts as the 401 reasons callers see."""
    try:
        return decode()
    except jwt.ExpiredSignatureError as exc:
        raise AuthError("token expired") from exc
    except jwt.ImmatureSignatureError as exc:
        raise AuthError("token not yet valid") from exc
    except jwt.InvalidSignatureError as exc:
        raise AuthError("bad signature") from exc
    except jwt.InvalidIssuerError as exc:
        raise AuthError("wrong issuer") from exc
    except jwt.InvalidAudienceError as exc:
        raise AuthError("wrong audience") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise AuthError(f"malformed token: the {exc.claim} claim is missing") from exc
    except jwt.InvalidAlgorithmError as exc:
        raise AuthError("token signed with an algorithm not accepted here") from exc
    except (jwt.PyJWKClientError, jwt.PyJWKSetError, jwt.PyJWKError) as exc:
        raise AuthError("token signed with a key the identity provider does not list") from exc
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"malformed token: {exc}") from exc


# --- FastAPI dependencies -------------------------------------------------------------------------

_bearer = HTTPBearer(
    auto_error=False,
    description="A JWT from the identity provider (in development: `hoera-dev token`).",
)


def _verifier(connection: HTTPConnection) -> TokenVerifier:
    verifier = getattr(connection.app.state, "token_verifier", None)
    if not isinstance(verifier, TokenVerifier):
        raise RuntimeError("app.state.token_verifier is not set to a TokenVerifier")
    return verifier


def _bearer_token(connection: HTTPConnection) -> str | None:
    header = connection.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("expected an Authorization header of the form 'Bearer <token>'")
    return token.strip()


def for_connection(connection: HTTPConnection, exc: HTTPException) -> Exception:
    """A websocket cannot answer with an HTTP status; it closes with a policy violation instead."""
    if connection.scope["type"] == "websocket":
        return WebSocketException(code=status.WS_1008_POLICY_VIOLATION, reason=str(exc.detail))
    return exc


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
) -> Principal:
    """The verified caller, from the `Authorization: Bearer` header; 401 when missing or bad."""
    token = credentials.credentials if credentials is not None else _bearer_token(request)
    if token is None:
        raise AuthError("missing bearer token", missing=True)
    principal = await _verifier(request).verify_async(token)
    await ensure_known_tenant(request, principal)
    return principal


async def ensure_known_tenant(connection: HTTPConnection, principal: Principal) -> None:
    """A token for a tenant this deployment does not serve is no credential here (an operator's is:
    operators create tenants; so is a service's: it carries its deployment's default tenant, and the
    internal routes it may call name the tenant they are about). A token that holds a person's role
    beside `service` is checked as that person's."""
    service = getattr(connection.app.state, "service", None)
    if service is None or principal.has_role(Role.operator) or principal.roles == {Role.service}:
        return
    if await service.tenants.known(principal.tenant) is None:
        raise AuthError(f"tenant {principal.tenant!r} is not served here")


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: Role | str) -> Callable[..., Awaitable[Principal]]:
    """A dependency that yields the principal when they hold one of the roles, else 403.

    Admin passes only when listed: an administrator configures the platform, they do not approve
    compensations or read supervisors' alerts by virtue of being admin. The token comes from the
    `Authorization` header only; pages and their live streams use sessions (hoera_kit.sessions).
    """
    if not roles:
        raise ValueError("require_roles needs at least one role")
    needed = tuple(Role(role) for role in roles)
    names = ", ".join(role.value for role in needed)

    async def _require_roles(
        connection: HTTPConnection, principal: Annotated[Principal, Depends(current_principal)]
    ) -> Principal:
        if not principal.has_role(*needed):
            refused = HTTPException(
                status_code=status.HTTP_403_FORBIDDEN,
                detail=f"requires one of the roles: {names}",
            )
            raise for_connection(connection, refused)
        return principal

    return _require_roles


# --- Object-level checks --------------------------------------------------------------------------
# Both answer 404, exactly as for an object that does not exist: a 403 would confirm to a caller of
# another team or organisation that the complaint, alert or dossier is there, and ids in URLs would
# let them probe for it. Pass the `what` of the route's own not-found answer so both read alike.


def _not_found(what: str) -> NotFound:
    return NotFound(what)


def ensure_team_access(
    principal: Principal, team_id: str, *, supervisor_scope: bool = False, what: str = "object"
) -> None:
    """404 unless the principal may see an object of this team; admin always may.

    Without supervisor_scope, working in the team is enough (an agent's dossiers). With it, the
    principal must lead the team (a supervisor's or deputy's alerts): agents of the team and
    supervisors of other teams see nothing.
    """
    if principal.has_role(Role.admin):
        return
    allowed = principal.leads(team_id) if supervisor_scope else principal.in_team(team_id)
    if not allowed:
        raise _not_found(what)


def ensure_tenant(principal: Principal, tenant: str, *, what: str = "object") -> None:
    """404 unless the object belongs to the principal's organisation.

    Admin does not cross organisations: an administrator administers their own tenant.
    """
    if principal.tenant != tenant:
        raise _not_found(what)
