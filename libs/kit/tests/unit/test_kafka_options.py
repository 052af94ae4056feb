"""Every Kafka client of a service connects alike: plain locally, SASL/SCRAM over TLS in a deployment."""

from __future__ import annotations

import pytest
from faststream.security import SASLScram512
from hoera_kit.kafka import broker_security, client_options
from hoera_kit.settings import KitSettings
from pydantic import ValidationError


def test_locally_the_clients_connect_plainly() -> None:
    settings = KitSettings(service_name="intake", environment="test")
    assert client_options(settings) == {
        "bootstrap_servers": "127.0.0.1:19092",
        "security_protocol": "PLAINTEXT",
    }
    assert broker_security(settings) is None


def test_a_deployment_logs_every_client_in_with_scram_over_tls() -> None:
    settings = KitSettings(
        service_name="intake",
        environment="test",
        kafka_bootstrap="kafka:9093",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="intake",
        kafka_sasl_password="s3cret",
    )
    found = client_options(settings)
    assert found["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (found["sasl_plain_username"], found["sasl_plain_password"]) == ("intake", "s3cret")
    assert found["ssl_context"] is not None
    security = broker_security(settings)
    assert isinstance(security, SASLScram512) and security.username == "intake" and security.use_ssl


def test_sasl_without_credentials_is_refused_outside_development() -> None:
    with pytest.raises(ValidationError, match="SASL needs"):
        KitSettings(
            service_name="intake",
            environment="production",
            jwt_jwks_url="https://idp/jwks",
            jwt_issuer="https://idp/",
            pg_password="strong",
            relay_signing_key="x",
            kafka_security_protocol="SASL_SSL",
        )
