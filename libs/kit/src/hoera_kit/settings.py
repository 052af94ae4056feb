"""Settings from the environment, prefix HOERA_, validated at start (fail fast, say which setting).

Each service extends KitSettings with its own fields. HOERA_ENVIRONMENT has no default: a service refuses
to start until it is told which environment it runs in, so a forgotten variable can never make production
accept the public development key. Outside development and test, a service refuses to start with the
development signing key, without a token issuer, or with a default database password.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Known to everyone who reads this repository: acceptable for a laptop, refused in production.
DEV_SIGNING_SECRET = "hoera-local-development-signing-key-not-for-production"
DEV_ISSUER = "https://hoera.local/dev-issuer"


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class StaffIdentityProvider(BaseModel):
    """A tenant's identity provider, where its staff sign in to the pages (OpenID Connect, the
    authorization-code flow with PKCE). Its tokens name no tenant: the issuer says whose staff they are.
    The claim names map the provider's tokens onto Hoera's principal; `role_names` translates the
    provider's role names where they differ from Hoera's (agent, supervisor, approver, admin)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    issuer: str = Field(description="the provider's issuer URL, exactly as its tokens carry it")
    client_id: str = Field(min_length=1, max_length=200, description="a public client: PKCE, no secret")
    audience: str = Field(default="hoera", description="the audience its access tokens carry for Hoera")
    subject_claim: str = Field(default="sub", description="the claim that is the person's id in Hoera")
    roles_claim: str = "roles"
    teams_claim: str = "teams"
    language_claim: str = "locale"
    name_claim: str = "name"
    role_names: dict[str, str] = Field(default_factory=dict)
    scopes: str = "openid profile email"

    @field_validator("issuer")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("the issuer must be an http(s) URL")
        return value.rstrip("/")


class KitSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOERA_", extra="ignore", frozen=True)

    service_name: str = Field(description="the service's name, e.g. intake; also its database suffix")
    environment: Environment = Field(
        description="development, test or production; required: development mode must be asked for by name"
    )
    tenant: str = Field(default="demo", description="default organisation for events without one")

    # Kafka
    kafka_bootstrap: str = "127.0.0.1:19092"
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="SASL_SSL in a deployment whose brokers authenticate their clients"
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: str | None = Field(default=None, description="the brokers' CA certificate (PEM)")
    consumer_group_prefix: str = Field(
        default="hoera", description="consumer groups are <prefix>.<service>.<consumer>"
    )
    consumer_start: Literal["beginning", "end"] = Field(
        default="beginning",
        description="where a consumer group without committed offsets starts; a test system beside "
        "other traffic starts at the end so it does not replay the topics' history",
    )
    consumer_batch_size: int = Field(default=500, ge=1, le=10_000)
    consumer_batch_timeout_ms: int = Field(default=50, ge=1)

    # PostgreSQL: HOERA_DATABASE_URL wins; otherwise built from the parts and hoera_<service_name>.
    database_url: SecretStr | None = None
    pg_host: str = "127.0.0.1"
    pg_port: int = 15432
    pg_user: str = "hoera"
    pg_password: SecretStr = SecretStr("hoera")
    pg_database: str | None = None
    pool_min_size: int = Field(default=2, ge=1)
    pool_max_size: int = Field(default=10, ge=1)
    migrate_on_start: bool = Field(
        default=True, description="apply pending migrations at start; when false, refuse to start"
    )

    # HTTP
    http_host: str = "127.0.0.1"
    http_port: int = Field(default=8000, ge=1, le=65535)
    public_base_url: str | None = Field(
        default=None, description="the address people reach this service at (links in e-mails)"
    )

    # Outbox, timers, deliveries
    outbox_batch_size: int = Field(default=500, ge=1, le=10_000)
    outbox_poll_interval_s: float = Field(default=1.0, gt=0)
    outbox_shards: int = Field(default=16, ge=1, le=1024)
    timer_poll_interval_s: float = Field(default=0.5, gt=0)
    delivery_poll_interval_s: float = Field(default=0.5, gt=0)
    delivery_max_attempts: int = Field(default=12, ge=1)
    delivery_concurrency: int = Field(
        default=32,
        ge=1,
        le=500,
        description="sends at once per replica, and SMTP sessions kept open to the relay",
    )

    # Mail and SMS
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    mail_from: str = "Hoera <no-reply@hoera.local>"
    sms_gateway_url: str | None = Field(
        default=None, description="HTTP endpoint that accepts SMS as JSON; the local sink has one"
    )

    # Auth: tokens from the organisation's identity provider (JWKS) or the local development key.
    jwt_issuer: str = DEV_ISSUER
    jwt_audience: str = "hoera"
    jwt_jwks_url: str | None = None
    jwt_public_key: str | None = Field(default=None, description="PEM, for RS256/ES256 tokens")
    jwt_secret: SecretStr | None = Field(default=None, description="HS256 shared secret")

    oidc_providers: dict[str, StaffIdentityProvider] = Field(
        default_factory=dict,
        description="per tenant, the identity provider its staff sign in with (JSON: "
        '{"<tenant>": {"issuer": "...", "client_id": "..."}}); pages offer it instead of a pasted token',
    )

    staff_pages: dict[str, str] = Field(
        default_factory=dict,
        description="where people reach each service's staff pages, for the navigation between them "
        '(JSON: {"intake": "https://...", "compensation": "https://...", ...}); a service missing here '
        "shows only its own pages",
    )

    service_urls: dict[str, str] = Field(
        default_factory=dict,
        description="where a service reaches another service's API (JSON: "
        '{"survey": "http://...", ...}); a service missing here is looked up in HOERA_STAFF_PAGES',
    )

    # How a service proves it is one when it calls another's internal routes (hoera_kit.service_tokens):
    # an access token of the identity provider's client-credentials grant, or, where tokens are checked
    # with the HS256 secret (HOERA_JWT_SECRET; in development and test the development key), one it
    # signs itself.
    service_token_url: str | None = Field(
        default=None,
        description="the identity provider's token endpoint, for the client-credentials grant; its tokens "
        'must carry roles ["service"]',
    )
    service_client_id: str | None = Field(default=None, description="this service's client at the provider")
    service_client_secret: SecretStr | None = None

    customer_directory_url: str | None = Field(
        default=None, description="the platform's customer API, with {tenant} and {customer_id}"
    )
    customer_directory_batch_url: str | None = Field(
        default=None,
        description="where the platform answers for many customers at once, with {tenant}: POST "
        '{"customer_ids": [...]} answered {"customers": [...]}; unset: one GET per customer',
    )
    customer_directory_token: SecretStr | None = None

    # Edges: what one request or one Kafka record may weigh before it is refused unread.
    max_request_bytes: int = Field(
        default=1_048_576, ge=1024, description="largest HTTP request body; larger ones get 413 unread"
    )
    max_form_fields: int = Field(default=100, ge=1, description="most fields a page form may post")
    max_console_form_fields: int = Field(
        default=20_000,
        ge=100,
        le=100_000,
        description="most fields the operator console's form of one rule document may post (one per value)",
    )
    max_record_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="largest Kafka record value a consumer decodes; a larger one is dead-lettered unread",
    )

    session_cookie_secure: bool | None = Field(
        default=None,
        description="mark staff session cookies Secure always (a TLS-ending proxy in front); unset: "
        "always outside development and test, else only for requests that came over https",
    )

    # Shutdown and liveness of the background work
    shutdown_grace_s: float = Field(
        default=8.0,
        gt=0,
        le=60,
        description="how long SIGTERM waits for in-flight requests, batches and loops before cancelling",
    )
    consumer_stall_after_s: float = Field(
        default=120.0,
        gt=0,
        description="a consumer group with lag whose committed offsets have not moved for this long is "
        "stalled: /readyz answers 503 and hoera_consumer_stalled reads 1",
    )
    lag_poll_interval_s: float = Field(default=10.0, gt=0, description="how often lag is read off the broker")

    relay_signing_key: SecretStr | None = Field(
        default=None,
        description="base64url Ed25519 private key (32 bytes) with which a service that relays a platform's "
        "event (intake: contacts reported over HTTP) signs it; in development a fixed key stands in",
    )

    relay_signing_key_previous: SecretStr | None = Field(
        default=None,
        description="the relay key before the last rotation: tenants keep listing it, so relayed events "
        "signed with it before the rotation are still accepted (and can be replayed)",
    )

    log_level: str = "INFO"
    log_json: bool = True
    trace_sample_ratio: float = Field(
        default=1.0,
        ge=0.0,
        le=1.0,
        description="the share of traces kept (by trace id, whole across services); a complaint's trace is "
        "always kept (hoera_kit.telemetry.KeepComplaints); 1: every trace, or OTEL_TRACES_SAMPLER's choice",
    )
    trace_keep_paths: list[str] = Field(
        default_factory=list,
        description="HTTP paths whose POST starts a trace kept whatever the ratio (a new complaint)",
    )

    @property
    def is_dev(self) -> bool:
        return self.environment in (Environment.development, Environment.test)

    @property
    def secure_cookies(self) -> bool:
        if self.session_cookie_secure is not None:
            return self.session_cookie_secure
        return not self.is_dev

    def service_url(self, name: str) -> str | None:
        """Where this service reaches service `name`'s API: HOERA_SERVICE_URLS, else HOERA_STAFF_PAGES."""
        return self.service_urls.get(name) or self.staff_pages.get(name)

    @property
    def dsn(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        db = self.pg_database or f"hoera_{self.service_name}"
        pw = self.pg_password.get_secret_value()
        return f"postgresql://{self.pg_user}:{pw}@{self.pg_host}:{self.pg_port}/{db}"

    @property
    def signing_secret(self) -> str | None:
        """The HS256 key: the configured one, or the development key where that is allowed."""
        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value()
        if self.is_dev and not (self.jwt_jwks_url or self.jwt_public_key):
            return DEV_SIGNING_SECRET
        return None

    @model_validator(mode="before")
    @classmethod
    def _environment_named(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("environment") in (None, ""):
            raise ValueError(
                "HOERA_ENVIRONMENT is not set: say development, test or production "
                "(development accepts the public development key, so it is never a default)"
            )
        return data

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Self:
        if self.pool_max_size < self.pool_min_size:
            raise ValueError("HOERA_POOL_MAX_SIZE must be >= HOERA_POOL_MIN_SIZE")
        if self.service_token_url and not (self.service_client_id and self.service_client_secret):
            raise ValueError(
                "HOERA_SERVICE_TOKEN_URL needs HOERA_SERVICE_CLIENT_ID and HOERA_SERVICE_CLIENT_SECRET"
            )
        if self.is_dev:
            return self
        problems = []
        if self.jwt_secret is not None and self.jwt_secret.get_secret_value() == DEV_SIGNING_SECRET:
            problems.append("HOERA_JWT_SECRET is the development key")
        if not (self.jwt_jwks_url or self.jwt_public_key or self.jwt_secret):
            problems.append("set HOERA_JWT_JWKS_URL, HOERA_JWT_PUBLIC_KEY or HOERA_JWT_SECRET")
        if self.jwt_secret is not None and len(self.jwt_secret.get_secret_value()) < 32:
            problems.append("HOERA_JWT_SECRET must be at least 32 characters")
        if self.jwt_issuer == DEV_ISSUER:
            problems.append("HOERA_JWT_ISSUER is the development issuer")
        plain = [t for t, idp in self.oidc_providers.items() if not idp.issuer.startswith("https://")]
        if plain:
            problems.append(f"HOERA_OIDC_PROVIDERS: the issuer of {', '.join(plain)} is not https")
        if self.relay_signing_key is None and self.service_name == "intake":
            problems.append("set HOERA_RELAY_SIGNING_KEY (intake signs the platform events it relays)")
        if self.database_url is None and self.pg_password.get_secret_value() == "hoera":
            problems.append("HOERA_PG_PASSWORD is the development default")
        if self.kafka_security_protocol.startswith("SASL") and not (
            self.kafka_sasl_username and self.kafka_sasl_password
        ):
            problems.append("SASL needs HOERA_KAFKA_SASL_USERNAME and HOERA_KAFKA_SASL_PASSWORD")
        if problems:
            raise ValueError(f"unsafe settings for {self.environment}: " + "; ".join(problems))
        return self
