"""The compensation service's settings: the kit's (prefix HOERA_) and its own. Its rules are per
tenant (rules.py) and its calendar is the tenant's (hoera_kit.tenants), so neither is a setting."""

from __future__ import annotations

from hoera_kit.settings import KitSettings
from pydantic import Field


class CompensationSettings(KitSettings):
    service_name: str = "compensation"
    http_port: int = Field(default=8102, ge=1, le=65535)
