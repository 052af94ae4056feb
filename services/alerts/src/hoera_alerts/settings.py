"""The alerts service's settings (prefix HOERA_), validated at start."""

from __future__ import annotations

from hoera_kit.settings import KitSettings
from pydantic import Field


class AlertsSettings(KitSettings):
    service_name: str = "alerts"
    http_port: int = Field(default=8104, ge=1, le=65535)
    live_stream_max_s: float = Field(
        default=300.0,
        gt=0,
        description="a dashboard's live stream ends after this long and the browser reconnects, "
        "so a token that expired or lost a team stops receiving",
    )
    live_debounce_s: float = Field(
        default=0.25, ge=0, description="changes within this long become one dashboard update"
    )

    @property
    def base_url(self) -> str:
        """Where supervisors reach the dashboard (the links in alert mails)."""
        return (self.public_base_url or f"http://127.0.0.1:{self.http_port}").rstrip("/")
