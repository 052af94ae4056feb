"""The survey service's settings (prefix HOERA_), validated at start.

Nothing here is per tenant: the rules are the tenants' documents (rules.py), and the survey links'
signing keys are the tenants' own, kept in the database (handlers/link_keys.py).
"""

from __future__ import annotations

from hoera_kit.settings import KitSettings
from pydantic import Field


class SurveySettings(KitSettings):
    service_name: str = "survey"
    http_port: int = Field(default=8103, ge=1, le=65535)
    survey_run_consumers: bool = Field(
        default=True,
        description="subscribe to the trigger events; false for a replica that only serves the survey "
        "page and the API (scaled apart from the consumers)",
    )

    @property
    def base_url(self) -> str:
        """Where customers reach the survey page (the links in e-mails and SMS)."""
        return (self.public_base_url or f"http://127.0.0.1:{self.http_port}").rstrip("/")
