"""The survey service's settings (prefix HOERA_), validated at start."""

from __future__ import annotations

from pathlib import Path
from typing import Self

from hoera_kit.settings import KitSettings
from pydantic import Field, SecretStr, model_validator

from hoera_survey.rules import RULES_DIR

# Known to everyone who reads this repository: fine on a laptop, refused in production.
DEV_LINK_SECRET = "hoera-survey-links-development-secret-not-for-production"


class SurveySettings(KitSettings):
    service_name: str = "survey"
    http_port: int = Field(default=8103, ge=1, le=65535)
    survey_link_secret: SecretStr = Field(
        default=SecretStr(DEV_LINK_SECRET),
        description="HMAC-SHA256 key of the survey links (at least 32 characters outside development)",
    )
    survey_run_consumers: bool = Field(
        default=True,
        description="subscribe to the trigger events; false for a replica that only serves the survey "
        "page and the API (scaled apart from the consumers)",
    )
    survey_rules_dir: Path = Field(
        default=RULES_DIR, description="where the rule seeds are read from when the database has none"
    )

    @property
    def base_url(self) -> str:
        """Where customers reach the survey page (the links in e-mails and SMS)."""
        return (self.public_base_url or f"http://127.0.0.1:{self.http_port}").rstrip("/")

    @property
    def link_secret(self) -> str:
        return self.survey_link_secret.get_secret_value()

    @model_validator(mode="after")
    def _refuse_dev_link_secret(self) -> Self:
        if self.is_dev:
            return self
        if self.link_secret == DEV_LINK_SECRET:
            raise ValueError(
                f"unsafe settings for {self.environment}: HOERA_SURVEY_LINK_SECRET is the development key"
            )
        if len(self.link_secret) < 32:
            raise ValueError("HOERA_SURVEY_LINK_SECRET must be at least 32 characters")
        return self
