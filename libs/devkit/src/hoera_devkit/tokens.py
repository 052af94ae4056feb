"""Tokens for development, demos and tests: the demo users and a local signer.

In production the organisation's identity provider issues every token; nothing here is imported by a
service. `hoera-dev token --demo` prints a token per demo user, signed with the development key that a
service accepts only in development and test.
"""

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from hoera_kit.auth import DEFAULT_TTL_SECONDS, SUPPORTED_LANGUAGES, PrivateKey, Role, algorithms_for
from hoera_kit.settings import KitSettings
from pydantic import ValidationError


def _load_private_key(pem: str) -> PrivateKey:
    data = pem.replace("\\n", "\n").strip().encode()
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, RSAPrivateKey | EllipticCurvePrivateKey | Ed25519PrivateKey):
        raise ValueError(f"unsupported private key type {type(key).__name__}")
    return key


def mint_token(
    *,
    subject: str,
    roles: Iterable[Role | str],
    teams: Iterable[str] = (),
    tenant: str = "demo",
    name: str | None = None,
    language: str | None = None,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    secret: str | None = None,
    private_key: str | None = None,
    algorithm: str | None = None,
    key_id: str | None = None,
    issuer: str,
    audience: str,
    now: datetime | None = None,
) -> str:
    """Sign a token as an identity provider would: with an HS256 secret or a PEM private key.

    For development, demos and tests; in production the organisation's identity provider does it.
    """
    if (secret is None) == (private_key is None):
        raise ValueError("give exactly one of secret and private_key")
    issued = (now or datetime.now(UTC)).astimezone(UTC)
    claims: dict[str, Any] = {
        "sub": subject,
        "iss": issuer,
        "aud": audience,
        "iat": int(issued.timestamp()),
        "exp": int((issued + timedelta(seconds=ttl_seconds)).timestamp()),
        "roles": [str(role) for role in roles],
        "teams": list(teams),
        "tenant": tenant,
    }
    if name is not None:
        claims["name"] = name
    if language is not None:
        claims["lang"] = language
    headers = {"kid": key_id} if key_id else None
    if secret is not None:
        return jwt.encode(claims, secret, algorithm=algorithm or "HS256", headers=headers)
    assert private_key is not None
    key = _load_private_key(private_key)
    return jwt.encode(claims, key, algorithm=algorithm or algorithms_for(key)[0], headers=headers)


@dataclass(frozen=True, slots=True)
class DemoUser:
    subject: str
    roles: tuple[Role, ...]
    teams: tuple[str, ...] = ()
    name: str | None = None
    language: str | None = None


DEMO_USERS: Final[tuple[DemoUser, ...]] = (
    DemoUser("contact-platform", (Role.platform,), name="Contact platform"),
    DemoUser("agent-anna", (Role.agent,), ("team-nl-1",), "Anna Peeters", "nl"),
    DemoUser("agent-luc", (Role.agent,), ("team-fr-1",), "Luc Dubois", "fr"),
    DemoUser("sup-sara", (Role.supervisor,), ("team-nl-1",), "Sara Janssens", "nl"),
    DemoUser("sup-marc", (Role.supervisor,), ("team-fr-1",), "Marc Lambert", "fr"),
    DemoUser("sup-dirk", (Role.supervisor,), ("team-nl-1",), "Dirk Claes (deputy)", "nl"),
    DemoUser("appr-eva", (Role.approver,), (), "Eva Maes", "nl"),
    DemoUser("admin-ops", (Role.admin,), (), "Operations", "en"),
    DemoUser("mgmt-lena", (Role.supervisor,), ("team-nl-1", "team-fr-1"), "Lena Wouters", "en"),
)


OPERATOR: Final = DemoUser("platform-operator", (Role.operator,), (), "Platform operator", "en")
"""Runs the platform: creates tenants. Not of any tenant."""

DEMO_TENANTS: Final[dict[str, tuple[str, tuple[DemoUser, ...]]]] = {
    # tenant: (template, its people as the demo signs them in); the teams are the templates' own.
    "partena": (
        "nl",
        (
            DemoUser("contact-platform", (Role.platform,), name="Contact platform"),
            DemoUser("agent-anna", (Role.agent,), ("team-nl-1",), "Anna Peeters", "nl"),
            DemoUser("agent-luc", (Role.agent,), ("team-fr-1",), "Luc Dubois", "fr"),
            DemoUser("sup-sara", (Role.supervisor,), ("team-nl-1",), "Sara Janssens", "nl"),
            DemoUser("sup-marc", (Role.supervisor,), ("team-fr-1",), "Marc Lambert", "fr"),
            DemoUser("appr-eva", (Role.approver,), (), "Eva Maes", "nl"),
            DemoUser("admin-ops", (Role.admin,), (), "Operations", "en"),
            DemoUser("mgmt-lena", (Role.supervisor,), ("team-nl-1", "team-fr-1"), "Lena Wouters", "en"),
        ),
    ),
    "partenamut": (
        "fr",
        (
            DemoUser("contact-platform", (Role.platform,), name="Plateforme de contact"),
            DemoUser("agent-luc", (Role.agent,), ("team-fr-1",), "Luc Dubois", "fr"),
            DemoUser("agent-sophie", (Role.agent,), ("team-fr-2",), "Sophie Lambert", "fr"),
            DemoUser("sup-marc", (Role.supervisor,), ("team-fr-1",), "Marc Lambert", "fr"),
            DemoUser("sup-claire", (Role.supervisor,), ("team-fr-2",), "Claire Martin", "fr"),
            DemoUser("appr-jules", (Role.approver,), (), "Jules Renard", "fr"),
            DemoUser("admin-ops", (Role.admin,), (), "Opérations", "fr"),
            DemoUser("mgmt-julie", (Role.supervisor,), ("team-fr-1", "team-fr-2"), "Julie Renard", "fr"),
        ),
    ),
}
"""The two organisations `make up` runs, modelled on the seeds: a Dutch- and a French-speaking insurer."""


def _dev_secret(settings: KitSettings) -> str:
    if not settings.is_dev:
        raise RuntimeError(
            f"tokens are minted here only in development and test, not in {settings.environment}; "
            "the organisation's identity provider issues them"
        )
    secret: str | None = settings.signing_secret
    if secret is None:
        raise RuntimeError("no HS256 key: set HOERA_JWT_SECRET or unset the JWKS URL and public key")
    return secret


def mint_demo_tokens(
    settings: KitSettings,
    *,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    tenant: str | None = None,
    users: tuple[DemoUser, ...] = DEMO_USERS,
) -> dict[str, str]:
    """A token per demo user (by subject) of a tenant, signed with the development key (dev only)."""
    secret = _dev_secret(settings)
    return {
        user.subject: mint_token(
            subject=user.subject,
            roles=user.roles,
            teams=user.teams,
            tenant=tenant or settings.tenant,
            name=user.name,
            language=user.language,
            ttl_seconds=ttl_seconds,
            secret=secret,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
        for user in users
    }


def _token_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hoera-dev token",
        description="Print tokens signed with the local key (development and test only).",
    )
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument(
        "--demo",
        action="store_true",
        help="one line per demo user of each demo tenant: tenant name role token",
    )
    who.add_argument("--sub", help="the subject of a single token")
    parser.add_argument("--role", action="append", default=[], choices=[r.value for r in Role])
    parser.add_argument("--team", action="append", default=[], help="a team id; repeatable")
    parser.add_argument("--tenant", help="the organisation (default: HOERA_TENANT)")
    parser.add_argument("--name", help="display name")
    parser.add_argument("--lang", choices=SUPPORTED_LANGUAGES)
    parser.add_argument("--ttl", type=int, default=DEFAULT_TTL_SECONDS, help="seconds (8 h)")
    return parser


def token_command(argv: list[str]) -> int:
    """`hoera-dev token --demo`, or `--sub X --role R [--team T]...`; returns the exit code."""
    parser = _token_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    if args.sub is not None and not args.role:
        parser.print_usage(sys.stderr)
        print("hoera-dev token: --sub needs at least one --role", file=sys.stderr)
        return 2
    if args.ttl <= 0:
        print("hoera-dev token: --ttl must be positive", file=sys.stderr)
        return 2
    try:
        settings = KitSettings(service_name="cli")
        secret = _dev_secret(settings)
    except (ValidationError, RuntimeError) as exc:
        print(f"hoera-dev token: {exc}", file=sys.stderr)
        return 1
    if args.demo:
        for tenant, (_, users) in DEMO_TENANTS.items():
            tokens = mint_demo_tokens(settings, ttl_seconds=args.ttl, tenant=tenant, users=users)
            for user in users:
                print(tenant, user.subject, ",".join(user.roles), tokens[user.subject])
        operator = mint_demo_tokens(settings, ttl_seconds=args.ttl, tenant="platform", users=(OPERATOR,))
        print("-", OPERATOR.subject, "operator", operator[OPERATOR.subject])
        return 0
    print(
        mint_token(
            subject=args.sub,
            roles=args.role,
            teams=args.team,
            tenant=args.tenant or settings.tenant,
            name=args.name,
            language=args.lang,
            ttl_seconds=args.ttl,
            secret=secret,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
        )
    )
    return 0
