"""Settings fail fast, and say which setting is wrong."""

from __future__ import annotations

import pytest
from hoera_kit.settings import DEV_SIGNING_SECRET, KitSettings
from pydantic import ValidationError


def test_a_missing_service_name_is_refused_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOERA_SERVICE_NAME", raising=False)
    with pytest.raises(ValidationError, match="service_name"):
        KitSettings()


def test_production_refuses_the_development_key_issuer_and_password() -> None:
    with pytest.raises(ValidationError) as err:
        KitSettings(service_name="intake", environment="production", jwt_secret=DEV_SIGNING_SECRET)
    message = str(err.value)
    assert "HOERA_JWT_SECRET is the development key" in message
    assert "HOERA_JWT_ISSUER is the development issuer" in message
    assert "HOERA_PG_PASSWORD is the development default" in message


def test_production_with_an_identity_provider_and_real_secrets_starts() -> None:
    s = KitSettings(
        service_name="intake",
        environment="production",
        jwt_jwks_url="https://idp.example/jwks.json",
        jwt_issuer="https://idp.example/",
        pg_password="a-real-secret",
        relay_signing_key="A" * 43,
    )
    assert s.signing_secret is None
    assert s.dsn.endswith("/hoera_intake")


def test_a_bad_number_is_refused_naming_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOERA_HTTP_PORT", "eighty")
    with pytest.raises(ValidationError, match="http_port"):
        KitSettings(service_name="intake")


def test_a_pool_smaller_than_its_minimum_is_refused() -> None:
    with pytest.raises(ValidationError, match="HOERA_POOL_MAX_SIZE"):
        KitSettings(service_name="intake", pool_min_size=5, pool_max_size=2)


def test_intake_in_production_needs_its_relay_signing_key() -> None:
    with pytest.raises(ValidationError, match="HOERA_RELAY_SIGNING_KEY"):
        KitSettings(
            service_name="intake",
            environment="production",
            jwt_jwks_url="https://idp.example/jwks.json",
            jwt_issuer="https://idp.example/",
            pg_password="a-real-secret",
        )
