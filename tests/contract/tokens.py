"""Bearer tokens for the contract suites: one per role, team and tenant, signed with the development key.

The matrix calls as three kinds of caller: one of the fixture team and tenant (team-nl-1 of demo), one
of another team of the same tenant (team-fr-1) and one of another tenant (acme) who works in a team of
the same name, so that a check keyed on the bare team id and not on the tenant shows.
"""

from __future__ import annotations

from enum import StrEnum

from hoera_devkit.tokens import mint_token
from hoera_kit.auth import Role
from hoera_kit.settings import DEV_ISSUER, DEV_SIGNING_SECRET

TENANT = "demo"
OTHER_TENANT = "acme"
TEAM = "team-nl-1"
OTHER_TEAM = "team-fr-1"
ROLES: tuple[Role, ...] = tuple(Role)


class Scope(StrEnum):
    """Where the caller stands relative to the fixture objects (which are demo's, of team-nl-1)."""

    own = "own"
    other_team = "other-team"
    other_tenant = "other-tenant"


# The demo users' subjects (hoera_kit.auth.DEMO_USERS), so the seeded rules know the people; a service's
# subject is its name (hoera_kit.service_tokens).
_SUBJECTS = {
    Role.platform: "contact-platform",
    Role.agent: "agent-anna",
    Role.supervisor: "sup-sara",
    Role.approver: "appr-eva",
    Role.admin: "admin-ops",
    Role.operator: "platform-operator",
    Role.service: "alerts",
}
_OTHER_TEAM_SUBJECTS = {**_SUBJECTS, Role.agent: "agent-luc", Role.supervisor: "sup-marc"}


def token(
    role: Role, *, tenant: str = TENANT, teams: tuple[str, ...] = (TEAM,), subject: str | None = None
) -> str:
    return mint_token(
        subject=subject or _SUBJECTS[role],
        roles=[role],
        teams=teams,
        tenant=tenant,
        secret=DEV_SIGNING_SECRET,
        issuer=DEV_ISSUER,
        audience="hoera",
    )


def bearer(role: Role, *, subject: str | None = None) -> dict[str, str]:
    """A caller of the fixture team and tenant; `subject` names them when a test needs a trace of who."""
    return {"Authorization": f"Bearer {token(role, subject=subject)}"}


def caller_headers(role: Role | None, scope: Scope) -> dict[str, str]:
    """The Authorization header of a caller with this role standing in this scope (none: no token)."""
    if role is None:
        return {}
    if scope is Scope.other_team:
        return {
            "Authorization": f"Bearer {token(role, teams=(OTHER_TEAM,), subject=_OTHER_TEAM_SUBJECTS[role])}"
        }
    if scope is Scope.other_tenant:
        return {"Authorization": f"Bearer {token(role, tenant=OTHER_TENANT)}"}
    return {"Authorization": f"Bearer {token(role)}"}
