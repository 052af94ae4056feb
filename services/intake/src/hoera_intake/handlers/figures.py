"""R6/R9: management's figures, of the teams a supervisor leads (an administrator's: every team of
their organisation), in the tenant's time zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import asyncpg
from hoera_kit.auth import Principal, Role
from hoera_kit.refusals import Invalid, NotFound

from hoera_intake import store

if TYPE_CHECKING:
    from hoera_intake.handlers import Deps

LONGEST = timedelta(days=3 * 366)


def period(now: datetime, since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    end = until or now
    start = since or end - timedelta(days=30)
    if start >= end:
        raise Invalid("since must be before until", field="since")
    if end - start > LONGEST:
        raise Invalid("a period is at most three years", field="since")
    return start, end


def visible_teams(principal: Principal, team_id: str | None) -> list[str] | None:
    """The teams whose figures the caller may read (None: all). A team filter naming a team the
    supervisor does not lead answers 404, as alerts and callback do: figures of another team are
    not theirs to know of."""
    if principal.has_role(Role.admin):
        return [team_id] if team_id else None
    if team_id is not None:
        if not principal.leads(team_id):
            raise NotFound("team")
        return [team_id]
    return sorted(t for t in principal.teams if principal.leads(t))


async def step_durations(
    deps: Deps,
    principal: Principal,
    start: datetime,
    end: datetime,
    *,
    team_id: str | None,
    category: str | None,
) -> list[asyncpg.Record]:
    teams = visible_teams(principal, team_id)
    async with deps.svc.pool.acquire() as conn:
        return await store.step_durations(conn, principal.tenant, start, end, teams=teams, category=category)


async def first_contact_resolution(
    deps: Deps, principal: Principal, start: datetime, end: datetime, *, bucket: str, team_id: str | None
) -> tuple[list[asyncpg.Record], list[asyncpg.Record]]:
    teams = visible_teams(principal, team_id)
    zone = deps.calendar(principal.tenant).rules.timezone
    async with deps.svc.pool.acquire() as conn:
        return await store.fcr(conn, principal.tenant, start, end, bucket=bucket, teams=teams, zone=zone)
