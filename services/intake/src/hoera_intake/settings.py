"""Intake's settings: the kit's (HOERA_ prefix) plus what only intake needs."""

from __future__ import annotations

from hoera_kit.settings import KitSettings
from pydantic import Field


class IntakeSettings(KitSettings):
    service_name: str = "intake"
    http_port: int = Field(default=8101, ge=1, le=65535)
    consumers_enabled: bool = Field(
        default=True,
        description="false: serve HTTP, timers and deliveries only, without reading Kafka (API tests, "
        "a replica scaled for HTTP alone)",
    )
    service_urls: dict[str, str] = Field(
        default_factory=dict,
        description="where intake reaches the other services' APIs to gather a customer's data for a "
        'subject access request (JSON: {"survey": "https://...", ...}); a service missing here is '
        "looked up in HOERA_STAFF_PAGES",
    )

    @property
    def base_url(self) -> str:
        """Where agents open a dossier (links in reminder and escalation mails)."""
        return (self.public_base_url or f"http://127.0.0.1:{self.http_port}").rstrip("/")
