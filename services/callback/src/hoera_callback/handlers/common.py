"""What every use case shares: the service's parts, refusals as clear 4xx answers, team scope."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Annotated

import asyncpg
from hoera_kit.auth import Principal, ensure_team_access
from hoera_kit.directory import CustomerDirectory
from hoera_kit.errors import DomainError, NotFound
from hoera_kit.service import Service
from pydantic import Field

from hoera_callback.domain import InvalidInput, Refusal
from hoera_callback.rules import RuleStore
from hoera_callback.settings import CallbackSettings
from hoera_callback.store import Callback

LEAD_TIME_TIMER = "callback.lead_time"
"""Fires at a callback's lead-time target; escalates it when nobody tried yet (R28)."""
RETRY_TIMER = "callback.retry"
"""Fires when an unreachable customer is to be tried again (R28)."""

Note = Annotated[str, Field(max_length=2000)]


@dataclass(frozen=True)
class CallbackApp:
    """The parts of the running service that the use cases need."""

    svc: Service[CallbackSettings]
    rules: RuleStore
    directory: CustomerDirectory
    """The platform's customer directory: phone numbers are asked for at the moment of need."""

    @property
    def pool(self) -> asyncpg.Pool:
        return self.svc.pool


@contextmanager
def rules_say_no() -> Iterator[None]:
    """The domain's refusals become the kit's clear 4xx answers (the transaction rolls back)."""
    try:
        yield
    except Refusal as exc:
        raise DomainError(exc.message, status=409) from exc
    except InvalidInput as exc:
        raise DomainError(exc.message, status=422, field=exc.field) from exc


def visible(principal: Principal, callback: Callback | None) -> Callback:
    """404 for a callback of another organisation or team, exactly as for one that does not exist."""
    if callback is None or callback.tenant != principal.tenant:
        raise NotFound("callback")
    ensure_team_access(principal, callback.team_id, what="callback")
    return callback
