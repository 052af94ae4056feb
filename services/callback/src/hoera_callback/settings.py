"""The callback service's settings: the kit's (prefix HOERA_) and its own port."""

from __future__ import annotations

from typing import Any

from hoera_kit.settings import KitSettings
from pydantic import Field, model_validator

DEFAULT_PORT = 8105


class CallbackSettings(KitSettings):
    service_name: str = "callback"
    http_port: int = Field(default=DEFAULT_PORT, ge=1, le=65535)

    @model_validator(mode="before")
    @classmethod
    def _public_base_url(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("public_base_url"):
            port = data.get("http_port", DEFAULT_PORT)
            data = {**data, "public_base_url": f"http://127.0.0.1:{port}"}
        return data
