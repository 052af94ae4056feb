"""Every service's table of who may call which operation of its OpenAPI document (one module each)."""

from __future__ import annotations

from ..matrix import Table
from . import alerts, callback, compensation, intake, survey

TABLES: dict[str, Table] = {
    "intake": intake.TABLE,
    "compensation": compensation.TABLE,
    "survey": survey.TABLE,
    "alerts": alerts.TABLE,
    "callback": callback.TABLE,
}
