"""Who the survey speaks for: the tenant as intake defines it (hoera_kit.tenants keeps the replica)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hoera_events.common import Language
from hoera_kit.tenants import UnknownTenant

if TYPE_CHECKING:
    from hoera_survey.handlers import Deps


@dataclass(frozen=True)
class Organisation:
    name: str
    """Signs the invitation ({organisation} in the texts)."""
    language: Language
    """What the mail and the page speak when the customer's language is not known (R22)."""


async def organisation_of(deps: Deps, tenant: str) -> Organisation:
    """The tenant's name and language (the kit admits only events of tenants intake defined; should
    the replica still lack the definition, invitations go out with the tenant's id and in Dutch rather
    than stall)."""
    try:
        found = await deps.tenants.require(tenant)
    except UnknownTenant:
        return Organisation(tenant, Language.nl)
    return Organisation(found.name, found.language)
