"""How every Kafka client of a service connects: the bootstrap servers and, in a deployment, TLS and SASL.

The local stack's broker takes plain connections; a deployment's brokers (Strimzi) take SASL/SCRAM over
TLS with a user per service whose ACLs allow exactly its topics and groups. Every client the kit makes —
the subscribers (FastStream), the outbox producer, the lag monitor, the tenant replica, the dead-letter
tools — gets its options here, so none connects differently from the others.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from hoera_kit.settings import KitSettings

Client = str | Mapping[str, Any]
"""The bootstrap servers alone (tests, the local stack), or a service's full client options."""


def options(client: Client) -> dict[str, Any]:
    """aiokafka keyword arguments for a client."""
    if isinstance(client, str):
        return {"bootstrap_servers": client}
    return dict(client)


def _ssl_context(settings: KitSettings) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=settings.kafka_ssl_cafile)


def client_options(settings: KitSettings) -> dict[str, Any]:
    """The aiokafka options of a service's clients, from HOERA_KAFKA_*."""
    found: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        found["ssl_context"] = _ssl_context(settings)
    if settings.kafka_security_protocol.startswith("SASL"):
        found["sasl_mechanism"] = settings.kafka_sasl_mechanism
        found["sasl_plain_username"] = settings.kafka_sasl_username
        found["sasl_plain_password"] = (
            settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else None
        )
    return found


def broker_security(settings: KitSettings) -> BaseSecurity | None:
    """The same, as FastStream's broker takes it."""
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return None
    context = _ssl_context(settings) if protocol in ("SSL", "SASL_SSL") else None
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context, use_ssl=True)
    username = settings.kafka_sasl_username or ""
    password = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
    kinds: dict[str, type[SASLPlaintext] | type[SASLScram256] | type[SASLScram512]] = {
        "PLAIN": SASLPlaintext,
        "SCRAM-SHA-256": SASLScram256,
        "SCRAM-SHA-512": SASLScram512,
    }
    kind = kinds[settings.kafka_sasl_mechanism or "SCRAM-SHA-512"]
    return kind(username, password, ssl_context=context, use_ssl=protocol == "SASL_SSL")
