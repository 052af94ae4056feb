"""R20, R21: what the surveys add up to, for the caller's own organisation and the teams they see."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from hoera_survey import store
from hoera_survey.domain import Tally
from hoera_survey.store import Segment

if TYPE_CHECKING:
    from hoera_survey.handlers import Deps


async def figures(
    deps: Deps,
    tenant: str,
    *,
    since: datetime,
    until: datetime,
    segment: Segment | None,
    teams: list[str] | None,
) -> tuple[Tally, list[tuple[str | None, Tally]]]:
    """The tally of the surveys invited in [since, until), overall and per segment value."""
    async with deps.transaction() as conn:
        overall = await store.tallies(
            conn, tenant=tenant, since=since, until=until, segment=None, teams=teams
        )
        parts = (
            await store.tallies(conn, tenant=tenant, since=since, until=until, segment=segment, teams=teams)
            if segment
            else []
        )
    return (overall[0][1] if overall else Tally()), parts


async def suppressions(
    deps: Deps, tenant: str, *, since: datetime, until: datetime, teams: list[str] | None
) -> list[dict[str, Any]]:
    async with deps.transaction() as conn:
        return await store.suppression_counts(conn, tenant=tenant, since=since, until=until, teams=teams)
