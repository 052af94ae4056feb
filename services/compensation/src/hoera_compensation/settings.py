"""The compensation service's settings: the kit's (prefix HOERA_) and its own."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hoera_kit.settings import KitSettings
from pydantic import Field, field_validator

RULES_DIR = Path(__file__).parents[2] / "rules"


class CompensationSettings(KitSettings):
    service_name: str = "compensation"
    http_port: int = Field(default=8102, ge=1, le=65535)
    rules_dir: Path = Field(
        default=RULES_DIR, description="where the seed files of the operator data (R8) are"
    )
    timezone: str = Field(
        default="Europe/Brussels",
        description="the organisation's calendar: business days of approval deadlines, ledger periods",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
