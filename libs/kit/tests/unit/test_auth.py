"""The kit's auth: tokens in, principals out, and the right refusals at the edge."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Annotated, Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import Depends, FastAPI, HTTPException
from hoera_devkit.tokens import DEMO_TENANTS, DEMO_USERS, mint_demo_tokens, mint_token, token_command
from hoera_kit.auth import (
    AuthError,
    CurrentPrincipal,
    Principal,
    Role,
    TokenVerifier,
    ensure_team_access,
    ensure_tenant,
    require_roles,
)
from hoera_kit.errors import install_error_handlers
from hoera_kit.refusals import NotFound
from hoera_kit.settings import DEV_ISSUER, DEV_SIGNING_SECRET, Environment, KitSettings
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

AUDIENCE = "hoera"

Approver = Annotated[Principal, Depends(require_roles(Role.approver))]
Supervisor = Annotated[Principal, Depends(require_roles(Role.supervisor))]


@pytest.fixture(autouse=True)
def _no_outside_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("HOERA_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def dev_settings(**overrides: Any) -> KitSettings:
    return KitSettings(service_name="test", environment=Environment.test, **overrides)


def token(
    subject: str = "agent-anna",
    roles: tuple[str, ...] = ("agent",),
    teams: tuple[str, ...] = ("team-nl-1",),
    **overrides: Any,
) -> str:
    arguments: dict[str, Any] = {
        "subject": subject,
        "roles": roles,
        "teams": teams,
        "secret": DEV_SIGNING_SECRET,
        "issuer": DEV_ISSUER,
        "audience": AUDIENCE,
    }
    arguments.update(overrides)
    minted: str = mint_token(**arguments)
    return minted


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def build_app(verifier: TokenVerifier) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.state.token_verifier = verifier

    @app.get("/me")
    async def me(principal: CurrentPrincipal) -> dict[str, Any]:
        return {
            "subject": principal.subject,
            "roles": sorted(principal.roles),
            "teams": sorted(principal.teams),
            "tenant": principal.tenant,
            "name": principal.name,
            "language": principal.language,
        }

    @app.get("/approvals")
    async def approvals(principal: Approver) -> dict[str, str]:
        return {"approver": principal.subject}

    @app.get("/teams/{team_id}/dossiers")
    async def dossiers(team_id: str, principal: CurrentPrincipal) -> dict[str, str]:
        ensure_team_access(principal, team_id, what="dossier")
        return {"team": team_id}

    @app.get("/teams/{team_id}/alerts")
    async def alerts(team_id: str, principal: Supervisor) -> dict[str, str]:
        ensure_team_access(principal, team_id, supervisor_scope=True, what="alert")
        return {"team": team_id}

    @app.get("/alerts/missing")
    async def missing_alert(principal: Supervisor) -> None:
        raise HTTPException(status_code=404, detail="alert not found")

    @app.get("/tenants/{tenant}/catalogue")
    async def catalogue(tenant: str, principal: CurrentPrincipal) -> dict[str, str]:
        ensure_tenant(principal, tenant, what="catalogue")
        return {"tenant": tenant}

    return app


@asynccontextmanager
async def client_for(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hoera.test") as client:
        yield client


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(build_app(TokenVerifier.from_settings(dev_settings()))) as client:
        yield client


def as_principal(*roles: Role, teams: tuple[str, ...] = ("team-nl-1",), tenant: str = "demo") -> Principal:
    return Principal(subject="someone", roles=frozenset(roles), teams=frozenset(teams), tenant=tenant)


# --- Valid tokens ---------------------------------------------------------------------------------


async def test_a_valid_token_yields_the_principal_it_names(client: httpx.AsyncClient) -> None:
    value = token(
        roles=("agent", "approver"),
        teams=("team-nl-1", "team-nl-2"),
        tenant="acme",
        name="Anna Peeters",
        language="nl-BE",
    )

    response = await client.get("/me", headers=bearer(value))

    assert response.status_code == 200
    assert response.json() == {
        "subject": "agent-anna",
        "roles": ["agent", "approver"],
        "teams": ["team-nl-1", "team-nl-2"],
        "tenant": "acme",
        "name": "Anna Peeters",
        "language": "nl",
    }


async def test_a_token_without_a_tenant_belongs_to_the_deployments_own_organisation() -> None:
    verifier = TokenVerifier.from_settings(dev_settings(tenant="bank-x"))
    claims = {
        "sub": "agent-anna",
        "iss": DEV_ISSUER,
        "aud": AUDIENCE,
        "iat": int(datetime.now(UTC).timestamp()),
        "exp": int((datetime.now(UTC) + timedelta(minutes=5)).timestamp()),
        "roles": ["agent"],
    }

    principal = verifier.verify(jwt.encode(claims, DEV_SIGNING_SECRET, algorithm="HS256"))

    assert principal.tenant == "bank-x"
    assert principal.teams == frozenset()


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.one_of(st.sampled_from([r.value for r in Role]), st.text(min_size=1, max_size=12)),
        max_size=8,
    )
)
def test_a_token_grants_exactly_the_known_roles_it_lists(names: list[str]) -> None:
    verifier = TokenVerifier.from_settings(dev_settings())

    principal = verifier.verify(token(roles=tuple(names)))

    assert principal.roles == {Role(n) for n in names if n in {r.value for r in Role}}


def test_an_unsupported_language_is_left_for_the_page_to_default() -> None:
    verifier = TokenVerifier.from_settings(dev_settings())

    assert verifier.verify(token(language="de")).language is None
    assert verifier.verify(token(language="FR")).language == "fr"


# --- Refusals: 401 --------------------------------------------------------------------------------


async def test_a_request_without_a_token_is_refused_with_a_bearer_challenge(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/me")

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["detail"] == "missing bearer token"


async def test_an_expired_token_is_refused(client: httpx.AsyncClient) -> None:
    value = token(ttl_seconds=60, now=datetime.now(UTC) - timedelta(hours=1))

    response = await client.get("/me", headers=bearer(value))

    assert response.status_code == 401
    assert response.json()["detail"] == "token expired"
    assert response.headers["www-authenticate"].startswith('Bearer error="invalid_token"')


async def test_a_token_expired_within_the_leeway_still_passes(client: httpx.AsyncClient) -> None:
    just_expired = token(ttl_seconds=60, now=datetime.now(UTC) - timedelta(seconds=70))
    long_expired = token(ttl_seconds=60, now=datetime.now(UTC) - timedelta(seconds=120))

    assert (await client.get("/me", headers=bearer(just_expired))).status_code == 200
    assert (await client.get("/me", headers=bearer(long_expired))).status_code == 401


async def test_a_token_signed_with_another_key_is_refused(client: httpx.AsyncClient) -> None:
    value = token(secret="someone-else-s-key-of-a-decent-length-0123456789")

    response = await client.get("/me", headers=bearer(value))

    assert response.status_code == 401
    assert response.json()["detail"] == "bad signature"


async def test_a_token_from_another_issuer_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/me", headers=bearer(token(issuer="https://evil.example")))

    assert response.status_code == 401
    assert response.json()["detail"] == "wrong issuer"


async def test_a_token_for_another_audience_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/me", headers=bearer(token(audience="payroll")))

    assert response.status_code == 401
    assert response.json()["detail"] == "wrong audience"


async def test_a_token_without_an_expiry_is_refused(client: httpx.AsyncClient) -> None:
    claims = {"sub": "agent-anna", "iss": DEV_ISSUER, "aud": AUDIENCE, "iat": 1_700_000_000}
    value = jwt.encode(claims, DEV_SIGNING_SECRET, algorithm="HS256")

    response = await client.get("/me", headers=bearer(value))

    assert response.status_code == 401
    assert response.json()["detail"] == "malformed token: the exp claim is missing"


async def test_an_unsigned_token_is_refused(client: httpx.AsyncClient) -> None:
    now = int(datetime.now(UTC).timestamp())
    claims = {"sub": "admin-ops", "iss": DEV_ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 60}
    value = jwt.encode({**claims, "roles": ["admin"]}, key="", algorithm="none")

    response = await client.get("/me", headers=bearer(value))

    assert response.status_code == 401
    assert "algorithm" in response.json()["detail"]


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        ("Bearer not-a-jwt", "malformed token: not a JWT"),
        ("Basic YWdlbnQ6c2VjcmV0", "expected an Authorization header of the form 'Bearer <token>'"),
    ],
)
async def test_a_malformed_authorization_header_is_refused(
    client: httpx.AsyncClient, header: str, detail: str
) -> None:
    response = await client.get("/me", headers={"Authorization": header})

    assert response.status_code == 401
    assert response.json()["detail"] == detail


async def test_a_roles_claim_that_is_not_a_list_is_refused(client: httpx.AsyncClient) -> None:
    now = int(datetime.now(UTC).timestamp())
    claims = {"sub": "x", "iss": DEV_ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 60}
    value = jwt.encode({**claims, "roles": "admin"}, DEV_SIGNING_SECRET, algorithm="HS256")

    response = await client.get("/me", headers=bearer(value))

    assert response.status_code == 401
    assert "roles claim must be a list" in response.json()["detail"]


# --- Roles: 403 -----------------------------------------------------------------------------------


async def test_a_caller_without_the_required_role_gets_403_naming_it(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/approvals", headers=bearer(token(roles=("agent",))))

    assert response.status_code == 403
    assert response.json()["detail"] == "requires one of the roles: approver"


async def test_admin_does_not_pass_a_role_check_that_does_not_list_admin(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/approvals", headers=bearer(token("admin-ops", ("admin",), ())))

    assert response.status_code == 403


async def test_a_caller_with_the_required_role_passes(client: httpx.AsyncClient) -> None:
    response = await client.get("/approvals", headers=bearer(token("appr-eva", ("approver",), ())))

    assert response.status_code == 200
    assert response.json() == {"approver": "appr-eva"}


def test_require_roles_refuses_a_role_that_does_not_exist_when_the_route_is_built() -> None:
    with pytest.raises(ValueError, match="superuser"):
        require_roles("superuser")


# --- Object level: 404 ----------------------------------------------------------------------------


async def test_an_agent_reads_their_own_teams_objects_but_not_another_teams(
    client: httpx.AsyncClient,
) -> None:
    anna = bearer(token("agent-anna", ("agent",), ("team-nl-1",)))

    own = await client.get("/teams/team-nl-1/dossiers", headers=anna)
    other = await client.get("/teams/team-fr-1/dossiers", headers=anna)

    assert own.status_code == 200
    assert other.status_code == 404
    assert other.json() == {"detail": "dossier not found"}


async def test_a_supervisor_reads_the_alerts_of_the_team_they_lead_and_no_other(
    client: httpx.AsyncClient,
) -> None:
    sara = bearer(token("sup-sara", ("supervisor",), ("team-nl-1",)))

    led = await client.get("/teams/team-nl-1/alerts", headers=sara)
    other = await client.get("/teams/team-fr-1/alerts", headers=sara)
    missing = await client.get("/alerts/missing", headers=sara)

    assert led.status_code == 200
    assert other.status_code == 404
    assert other.json() == missing.json()


def test_an_agent_of_a_team_does_not_see_its_supervisor_scoped_objects() -> None:
    agent = as_principal(Role.agent, teams=("team-nl-1",))

    with pytest.raises(NotFound) as refused:
        ensure_team_access(agent, "team-nl-1", supervisor_scope=True)

    assert refused.value.status == 404


async def test_an_admin_passes_every_team_check(client: httpx.AsyncClient) -> None:
    admin = bearer(token("admin-ops", ("admin",), ()))

    response = await client.get("/teams/team-fr-1/dossiers", headers=admin)

    assert response.status_code == 200


async def test_another_organisations_objects_are_not_found(client: httpx.AsyncClient) -> None:
    acme = bearer(token(tenant="acme"))

    own = await client.get("/tenants/acme/catalogue", headers=acme)
    other = await client.get("/tenants/bank-x/catalogue", headers=acme)
    other_as_admin = await client.get(
        "/tenants/bank-x/catalogue", headers=bearer(token("admin-ops", ("admin",), tenant="acme"))
    )

    assert own.status_code == 200
    assert other.status_code == 404
    assert other_as_admin.status_code == 404


def test_a_principal_leads_only_as_a_supervisor_of_the_team() -> None:
    supervisor = as_principal(Role.supervisor, teams=("team-nl-1",))
    agent = as_principal(Role.agent, teams=("team-nl-1",))

    assert supervisor.leads("team-nl-1") and not supervisor.leads("team-fr-1")
    assert agent.in_team("team-nl-1") and not agent.leads("team-nl-1")
    assert supervisor.has_role(Role.agent, Role.supervisor) and not agent.has_role(Role.admin)


# --- Never a token in a URL ------------------------------------------------------------------------


async def test_a_token_in_the_query_string_is_not_a_credential(client: httpx.AsyncClient) -> None:
    for path in ("/me", "/approvals"):
        response = await client.get(path, params={"token": token(roles=("approver",))})

        assert response.status_code == 401, path


def test_the_query_token_dependencies_are_gone_from_the_kit() -> None:
    import inspect

    from hoera_kit import auth

    assert not hasattr(auth, "current_principal_from_query_or_header")
    assert "allow_query_token" not in inspect.signature(require_roles).parameters


# --- Asymmetric keys: PEM and JWKS ----------------------------------------------------------------


def private_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.mark.parametrize(
    ("make_key", "algorithm"),
    [
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"),
        (lambda: ec.generate_private_key(ec.SECP256R1()), "ES256"),
    ],
    ids=["RS256", "ES256"],
)
async def test_tokens_signed_by_a_private_key_verify_against_its_pem_public_key(
    make_key: Any, algorithm: str
) -> None:
    key = make_key()
    verifier = TokenVerifier.from_settings(dev_settings(jwt_public_key=public_pem(key)))
    signed = token("sup-marc", ("supervisor",), secret=None, private_key=private_pem(key))
    with_dev_key = token("sup-marc", ("supervisor",))

    async with client_for(build_app(verifier)) as client:
        accepted = await client.get("/me", headers=bearer(signed))
        refused = await client.get("/me", headers=bearer(with_dev_key))

    assert jwt.get_unverified_header(signed)["alg"] == algorithm
    assert accepted.status_code == 200
    assert accepted.json()["subject"] == "sup-marc"
    assert refused.status_code == 401


@pytest.fixture
def jwks_server() -> Iterator[tuple[str, rsa.RSAPrivateKey]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": "idp-2024", "use": "sig", "alg": "RS256"}]})
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            payload = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json", key
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


async def test_tokens_verify_against_the_keys_an_identity_provider_serves_as_jwks(
    jwks_server: tuple[str, rsa.RSAPrivateKey],
) -> None:
    url, key = jwks_server
    verifier = TokenVerifier.from_settings(dev_settings(jwt_jwks_url=url))
    signed = token(secret=None, private_key=private_pem(key), key_id="idp-2024")
    unknown_kid = token(secret=None, private_key=private_pem(key), key_id="idp-1999")

    async with client_for(build_app(verifier)) as client:
        accepted = await client.get("/me", headers=bearer(signed))
        again = await client.get("/me", headers=bearer(signed))
        refused = await client.get("/me", headers=bearer(unknown_kid))

    assert accepted.status_code == 200
    assert accepted.json()["subject"] == "agent-anna"
    assert again.status_code == 200
    assert refused.status_code == 401
    assert "does not list" in refused.json()["detail"]


async def test_an_unreachable_identity_provider_is_a_503_not_a_401() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    verifier = TokenVerifier.from_settings(dev_settings(jwt_jwks_url=f"http://127.0.0.1:{port}/jwks.json"))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signed = token(secret=None, private_key=private_pem(key), key_id="idp-2024")

    async with client_for(build_app(verifier)) as client:
        response = await client.get("/me", headers=bearer(signed))

    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"


# --- Settings and development tokens --------------------------------------------------------------


def test_production_refuses_the_development_key_at_start() -> None:
    with pytest.raises(ValidationError) as refused:
        KitSettings(
            service_name="intake",
            environment=Environment.production,
            jwt_secret=DEV_SIGNING_SECRET,
            jwt_issuer="https://idp.example.com",
            database_url="postgresql://hoera:strong@db/hoera_intake",
        )

    assert "HOERA_JWT_SECRET is the development key" in str(refused.value)


def test_every_demo_user_gets_a_token_that_verifies_as_that_user() -> None:
    settings_ = dev_settings()
    verifier = TokenVerifier.from_settings(settings_)

    tokens = mint_demo_tokens(settings_)
    principals = {subject: verifier.verify(value) for subject, value in tokens.items()}

    assert set(principals) == {user.subject for user in DEMO_USERS}
    for user in DEMO_USERS:
        assert principals[user.subject].roles == frozenset(user.roles)
        assert principals[user.subject].teams == frozenset(user.teams)
    assert principals["sup-dirk"].leads("team-nl-1")
    assert principals["mgmt-lena"].leads("team-fr-1")


def test_demo_tokens_are_refused_outside_development() -> None:
    production = KitSettings(
        service_name="compensation",
        environment=Environment.production,
        jwt_secret="a-production-secret-that-is-long-enough-0123456789",
        jwt_issuer="https://idp.example.com",
        database_url="postgresql://hoera:strong@db/hoera_compensation",
    )

    with pytest.raises(RuntimeError, match="development and test"):
        mint_demo_tokens(production)


def test_the_token_command_prints_a_line_per_demo_user(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOERA_ENVIRONMENT", "development")  # the command must be told, as a service
    code = token_command(["--demo"])

    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert len(lines) == sum(len(users) for _, users in DEMO_TENANTS.values()) + 1  # and the operator
    tenant, name, role, value = lines[1].split(" ")
    assert (tenant, name, role) == ("partena", "agent-anna", "agent")
    principal = TokenVerifier.from_settings(dev_settings()).verify(value)
    assert (principal.subject, principal.tenant) == ("agent-anna", "partena")
    assert lines[-1].split(" ")[:3] == ["-", "platform-operator", "operator"]


def test_the_token_command_mints_a_token_for_the_given_subject(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOERA_ENVIRONMENT", "development")
    argv = ["--sub", "sup-x", "--role", "supervisor", "--role", "approver"]
    argv += ["--team", "team-a", "--team", "team-b", "--lang", "fr", "--tenant", "acme"]

    code = token_command(argv)

    principal = TokenVerifier.from_settings(dev_settings()).verify(capsys.readouterr().out.strip())
    assert code == 0
    assert principal == Principal(
        subject="sup-x",
        roles=frozenset({Role.supervisor, Role.approver}),
        teams=frozenset({"team-a", "team-b"}),
        tenant="acme",
        language="fr",
    )


def test_the_token_command_rejects_an_unknown_role(capsys: pytest.CaptureFixture[str]) -> None:
    code = token_command(["--sub", "x", "--role", "superuser"])

    assert code == 2
    assert "superuser" in capsys.readouterr().err


def test_the_token_command_refuses_outside_development(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOERA_ENVIRONMENT", "production")
    monkeypatch.setenv("HOERA_JWT_SECRET", "a-production-secret-that-is-long-enough-0123456789")
    monkeypatch.setenv("HOERA_JWT_ISSUER", "https://idp.example.com")
    monkeypatch.setenv("HOERA_PG_PASSWORD", "strong")

    code = token_command(["--demo"])

    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""
    assert "development and test" in captured.err


def test_an_auth_error_carries_its_reason_and_the_bearer_challenge() -> None:
    error = AuthError("token expired")

    assert error.status_code == 401
    assert error.reason == "token expired"
    assert error.headers == {
        "WWW-Authenticate": 'Bearer error="invalid_token", error_description="token expired"'
    }
