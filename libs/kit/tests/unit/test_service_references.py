"""A service calling another as a service: its token (signed here, or the identity provider's
client-credentials grant), the survey comments it asks for, and the faults a consumer retries."""

from __future__ import annotations

import json
import time
import uuid
from typing import Annotated, Any
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
from fastapi import Depends, FastAPI
from hoera_kit.auth import Principal, Role, TokenVerifier, require_roles
from hoera_kit.errors import install_error_handlers
from hoera_kit.references import MAX_IDS_PER_CALL, ReferenceUnavailable, SurveyComments
from hoera_kit.retry import Fault, PoisonError, classify
from hoera_kit.service_tokens import MINTED_TTL_S, ServiceTokens, ServiceTokenUnavailable
from hoera_kit.settings import DEV_ISSUER, Environment, KitSettings
from pydantic import ValidationError

SURVEY_URL = "http://survey.test"
TOKEN_URL = "https://idp.example/oauth2/token"
LONG_SECRET = "a-shared-secret-of-this-deployment-0123456789"


@pytest.fixture(autouse=True)
def _no_outside_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("HOERA_"):
            monkeypatch.delenv(name)


def settings(**overrides: Any) -> KitSettings:
    values: dict[str, Any] = {"service_name": "alerts", "environment": Environment.test}
    values.update(overrides)
    return KitSettings(**values)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


# ---- tokens signed here ---------------------------------------------------------------------------


async def test_a_signed_service_token_verifies_with_the_same_settings_and_holds_only_the_service_role() -> (
    None
):
    s = settings()
    header = await ServiceTokens(s).header()
    scheme, _, token = header["Authorization"].partition(" ")
    assert scheme == "Bearer"

    principal = TokenVerifier.from_settings(s).verify(token)
    assert principal.roles == {Role.service}
    assert (principal.subject, principal.tenant, principal.teams) == ("alerts", s.tenant, frozenset())
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["iss"] == DEV_ISSUER and claims["aud"] == "hoera"
    assert claims["exp"] - claims["iat"] == MINTED_TTL_S


async def test_a_signed_token_is_kept_and_replaced_before_it_runs_out() -> None:
    clock = Clock()
    tokens = ServiceTokens(settings(), clock=clock)
    first = await tokens.token()
    clock.now += 60
    assert await tokens.token() == first
    clock.now += MINTED_TTL_S - 60 - 29  # 29 s left: inside the margin
    renewed = await tokens.token()
    assert renewed != first
    assert jwt.decode(renewed, options={"verify_signature": False})["exp"] == int(clock.now) + MINTED_TTL_S


async def test_a_deployment_with_a_shared_secret_signs_service_tokens_in_production() -> None:
    s = settings(
        environment=Environment.production,
        jwt_secret=LONG_SECRET,
        jwt_issuer="https://idp.example/",
        pg_password="a-real-secret",
    )
    token = await ServiceTokens(s).token()
    assert TokenVerifier.from_settings(s).verify(token).roles == {Role.service}


async def test_without_a_token_endpoint_or_a_shared_secret_the_error_names_the_settings() -> None:
    s = settings(
        environment=Environment.production,
        jwt_jwks_url="https://idp.example/jwks.json",
        jwt_issuer="https://idp.example/",
        pg_password="a-real-secret",
    )
    with pytest.raises(RuntimeError, match=r"HOERA_SERVICE_TOKEN_URL.*HOERA_JWT_SECRET"):
        await ServiceTokens(s).header()


def test_a_token_endpoint_without_its_client_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="HOERA_SERVICE_CLIENT_ID"):
        settings(service_token_url=TOKEN_URL)


# ---- the identity provider's client-credentials grant ----------------------------------------------


def provider(
    asked: list[dict[str, list[str]]], *, expires_in: int = 300, status: int = 200
) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        assert str(request.url) == TOKEN_URL and request.method == "POST"
        asked.append(parse_qs(request.content.decode()))
        if status != 200:
            return httpx.Response(status, json={"error": "invalid_client"})
        body = {"access_token": f"idp-token-{len(asked)}", "token_type": "Bearer", "expires_in": expires_in}
        return httpx.Response(200, json=body)

    return httpx.MockTransport(answer)


def client_credentials() -> KitSettings:
    return settings(
        service_token_url=TOKEN_URL, service_client_id="hoera-alerts", service_client_secret="s3cret"
    )


async def test_client_credentials_are_asked_once_and_the_token_kept_until_30_s_before_it_expires() -> None:
    asked: list[dict[str, list[str]]] = []
    clock = Clock()
    async with httpx.AsyncClient(transport=provider(asked, expires_in=300)) as http:
        tokens = ServiceTokens(client_credentials(), client=http, clock=clock)
        assert await tokens.header() == {"Authorization": "Bearer idp-token-1"}
        clock.now += 269
        assert await tokens.header() == {"Authorization": "Bearer idp-token-1"}
        assert asked == [
            {"grant_type": ["client_credentials"], "client_id": ["hoera-alerts"], "client_secret": ["s3cret"]}
        ]
        clock.now += 2  # 29 s before it expires
        assert await tokens.header() == {"Authorization": "Bearer idp-token-2"}
        assert len(asked) == 2


async def test_a_token_endpoint_that_refuses_or_cannot_be_reached_is_a_fault_to_retry() -> None:
    async with httpx.AsyncClient(transport=provider([], status=401)) as http:
        with pytest.raises(ServiceTokenUnavailable) as refused:
            await ServiceTokens(client_credentials(), client=http).header()
    assert classify(refused.value) is Fault.transient

    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(down)) as http:
        with pytest.raises(ServiceTokenUnavailable) as away:
            await ServiceTokens(client_credentials(), client=http).header()
    assert classify(away.value) is Fault.transient


# ---- survey comments ----------------------------------------------------------------------------------


class Survey:
    """A stand-in for the survey service's POST /internal/survey-comments."""

    def __init__(self, comments: dict[uuid.UUID, str], *, status: int = 200) -> None:
        self.comments = comments
        self.status = status
        self.calls: list[dict[str, Any]] = []
        self.authorizations: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.method == "POST" and str(request.url) == f"{SURVEY_URL}/internal/survey-comments"
        body = json.loads(request.content)
        self.calls.append(body)
        self.authorizations.append(request.headers.get("authorization", ""))
        if self.status != 200:
            return httpx.Response(self.status, json={"detail": "unavailable"})
        found = {str(k): v for k, v in self.comments.items() if str(k) in body["survey_ids"]}
        return httpx.Response(200, json={"comments": found})


def comments_client(survey: Survey, s: KitSettings | None = None) -> SurveyComments:
    s = s or settings(service_urls={"survey": SURVEY_URL})
    http = httpx.AsyncClient(transport=httpx.MockTransport(survey))
    return SurveyComments(s, ServiceTokens(s), client=http)


async def test_the_comments_of_many_surveys_come_in_one_call_as_a_service() -> None:
    ids = [uuid.uuid4() for _ in range(40)]
    survey = Survey(
        {ids[0]: "Vriendelijk, maar traag.", ids[7]: "Niemand belde terug.", uuid.uuid4(): "other"}
    )
    client = comments_client(survey)
    try:
        found = await client.resolve("demo", ids)
    finally:
        await client.client.aclose()
    assert found == {ids[0]: "Vriendelijk, maar traag.", ids[7]: "Niemand belde terug."}
    assert len(survey.calls) == 1
    assert survey.calls[0] == {"tenant": "demo", "survey_ids": [str(i) for i in ids]}
    token = survey.authorizations[0].removeprefix("Bearer ")
    assert TokenVerifier.from_settings(settings()).verify(token).roles == {Role.service}


async def test_more_surveys_than_one_call_takes_are_asked_for_in_parts() -> None:
    ids = [uuid.uuid4() for _ in range(MAX_IDS_PER_CALL + 5)]
    survey = Survey({ids[-1]: "last"})
    client = comments_client(survey)
    try:
        assert await client.resolve("demo", ids) == {ids[-1]: "last"}
    finally:
        await client.client.aclose()
    assert [len(c["survey_ids"]) for c in survey.calls] == [MAX_IDS_PER_CALL, 5]


async def test_no_surveys_no_call_even_without_a_survey_address() -> None:
    survey = Survey({})
    client = comments_client(survey, settings())
    assert await client.resolve("demo", []) == {}
    assert survey.calls == []


async def test_a_survey_service_nobody_configured_is_said_at_the_first_call_that_needs_it() -> None:
    client = comments_client(Survey({}), settings())
    with pytest.raises(RuntimeError, match="HOERA_SERVICE_URLS"):
        await client.resolve("demo", [uuid.uuid4()])


async def test_the_staff_pages_address_stands_in_for_a_missing_service_url() -> None:
    survey = Survey({})
    client = comments_client(survey, settings(staff_pages={"survey": SURVEY_URL}))
    assert await client.resolve("demo", [uuid.uuid4()]) == {}
    assert len(survey.calls) == 1


@pytest.mark.parametrize("status", [503, 500, 401, 429])
async def test_a_survey_service_that_cannot_answer_now_is_a_fault_to_retry_never_poison(status: int) -> None:
    client = comments_client(Survey({}, status=status))
    with pytest.raises(ReferenceUnavailable) as caught:
        await client.resolve("demo", [uuid.uuid4()])
    assert not isinstance(caught.value, PoisonError | ValidationError)
    assert classify(caught.value) is Fault.transient


async def test_a_survey_service_that_cannot_be_reached_or_times_out_is_a_fault_to_retry() -> None:
    for fault in (httpx.ConnectError("refused"), httpx.ReadTimeout("slow")):

        def fail(request: httpx.Request, fault: Exception = fault) -> httpx.Response:
            raise fault

        s = settings(service_urls={"survey": SURVEY_URL})
        client = SurveyComments(
            s, ServiceTokens(s), client=httpx.AsyncClient(transport=httpx.MockTransport(fail))
        )
        with pytest.raises(ReferenceUnavailable) as caught:
            await client.resolve("demo", [uuid.uuid4()])
        assert classify(caught.value) is Fault.transient


async def test_an_answer_that_is_not_a_map_of_comments_is_retried_not_dead_lettered() -> None:
    def odd(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"comments": ["not", "a", "map"]})

    s = settings(service_urls={"survey": SURVEY_URL})
    client = SurveyComments(s, ServiceTokens(s), client=httpx.AsyncClient(transport=httpx.MockTransport(odd)))
    with pytest.raises(ReferenceUnavailable) as caught:
        await client.resolve("demo", [uuid.uuid4()])
    assert classify(caught.value) is Fault.transient


# ---- the role at the edge -------------------------------------------------------------------------------


async def test_a_service_token_opens_a_service_route_and_no_route_of_a_person() -> None:
    s = settings()
    app = FastAPI()
    app.state.token_verifier = TokenVerifier.from_settings(s)
    install_error_handlers(app)

    @app.post("/internal/thing")
    async def internal(
        principal: Annotated[Principal, Depends(require_roles(Role.service))],
    ) -> dict[str, str]:
        return {"caller": principal.subject}

    @app.get("/admin/thing")
    async def admin(
        principal: Annotated[Principal, Depends(require_roles(Role.admin, Role.operator))],
    ) -> None:
        return None

    headers = await ServiceTokens(s).header()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        assert (await http.post("/internal/thing", headers=headers)).json() == {"caller": "alerts"}
        assert (await http.get("/admin/thing", headers=headers)).status_code == 403


class _NoTenants:
    async def known(self, tenant: str) -> None:
        return None


class _Deployment:
    tenants = _NoTenants()


async def test_a_service_token_needs_no_served_tenant_but_a_person_role_beside_it_does() -> None:
    s = settings()
    app = FastAPI()
    app.state.token_verifier = TokenVerifier.from_settings(s)
    app.state.service = _Deployment()  # serves no tenant at all
    install_error_handlers(app)

    @app.post("/internal/thing")
    async def internal(principal: Annotated[Principal, Depends(require_roles(Role.service))]) -> None:
        return None

    service = await ServiceTokens(s).token()
    claims = jwt.decode(service, options={"verify_signature": False})
    mixed = jwt.encode({**claims, "roles": ["service", "admin"]}, s.signing_secret or "", algorithm="HS256")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        assert (
            await http.post("/internal/thing", headers={"Authorization": f"Bearer {service}"})
        ).status_code == 200
        assert (
            await http.post("/internal/thing", headers={"Authorization": f"Bearer {mixed}"})
        ).status_code == 401
