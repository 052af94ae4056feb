"""What every use case shares: the timers' names and keys, and team scope (another team's callback is
answered exactly like one that does not exist)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, overload
from uuid import UUID

from hoera_events.common import Language
from hoera_kit.auth import Principal, Role
from hoera_kit.refusals import NotFound
from pydantic import Field

from hoera_callback.store import Callback

if TYPE_CHECKING:
    from hoera_callback.handlers import Deps

LEAD_TIME_TIMER = "callback.lead_time"
"""Fires at a callback's lead-time target; escalates it when nobody tried yet (R28)."""
RETRY_TIMER = "callback.retry"
"""Fires when an unreachable customer is to be tried again (R28)."""

Note = Annotated[str, Field(max_length=2000)]


@overload
def utc(at: datetime) -> datetime: ...
@overload
def utc(at: None) -> None: ...
def utc(at: datetime | None) -> datetime | None:
    """A moment as the database gives it back (UTC), for what a batch holds before it writes."""
    return at.astimezone(UTC) if at is not None else None


def timer_key(tenant: str, callback_id: UUID) -> str:
    """A callback's timers carry its tenant, so the handler that fires reads it in that tenant only."""
    return f"{tenant}/{callback_id}"


def from_timer_key(key: str) -> tuple[str, UUID]:
    tenant, _, callback_id = key.partition("/")
    return tenant, UUID(callback_id)


def sees_team(principal: Principal, team_id: str) -> bool:
    """Admins see every team of their organisation; agents and supervisors the teams they work in."""
    return principal.has_role(Role.admin) or principal.in_team(team_id)


def ensure_sees_team(principal: Principal, team_id: str, *, what: str = "team") -> None:
    """404, as for a team that does not exist: a 403 would confirm to the caller that it does."""
    if not sees_team(principal, team_id):
        raise NotFound(what)


def visible(principal: Principal, callback: Callback | None) -> Callback:
    """404 for a callback of another organisation or team, exactly as for one that does not exist."""
    if callback is None or callback.tenant != principal.tenant or not sees_team(principal, callback.team_id):
        raise NotFound("callback")
    return callback


def tenant_language(deps: Deps, tenant: str) -> Language:
    """The organisation's main language (R22); Dutch for a tenant this replica has not been told of."""
    defined = deps.tenants.tenant(tenant)
    return defined.language if defined is not None else Language.nl
