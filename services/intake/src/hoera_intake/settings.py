"""Intake's settings: the kit's (HOERA_ prefix) plus what only intake needs."""

from __future__ import annotations

from hoera_kit.settings import KitSettings
from pydantic import Field


class IntakeSettings(KitSettings):
    service_name: str = "intake"
    http_port: int = Field(default=8101, ge=1, le=65535)
    # An agent's new complaint starts its trace here: kept whatever HOERA_TRACE_SAMPLE_RATIO.
    trace_keep_paths: list[str] = Field(default_factory=lambda: ["/complaints"])
    consumers_enabled: bool = Field(
        default=True,
        description="false: serve HTTP, timers and deliveries only, without reading Kafka (API tests, "
        "a replica scaled for HTTP alone)",
    )
    webhook_disable_after_failures: int = Field(
        default=20,
        ge=1,
        description="a partner's webhook endpoint is disabled after this many failed attempts in a row "
        "(and HOERA_WEBHOOK_DISABLE_AFTER_S of failing); its deliveries wait until an admin enables it",
    )
    webhook_disable_after_s: float = Field(
        default=3600.0,
        ge=0,
        description="...and only once it has been failing this long, so a short outage under heavy "
        "traffic does not disable it",
    )
    webhook_max_attempts: int = Field(
        default=50,
        ge=1,
        description="attempts at one webhook delivery before it is given up (an endpoint that answers "
        "others but keeps refusing this one); replayable from the delivery log",
    )

    @property
    def base_url(self) -> str:
        """Where agents open a dossier (links in reminder and escalation mails)."""
        return (self.public_base_url or f"http://127.0.0.1:{self.http_port}").rstrip("/")
