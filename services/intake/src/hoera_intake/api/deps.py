"""Who may call what (roles from the kit's auth) and how a route reaches the use cases."""

from typing import Annotated

from fastapi import Depends, Request
from hoera_kit.auth import Principal, Role, require_roles

from hoera_intake.handlers import Deps


def _deps(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


Uses = Annotated[Deps, Depends(_deps)]
Platform = Annotated[Principal, Depends(require_roles(Role.platform))]
"""The contact-centre platform: hands over complaints and closed contacts."""
Staff = Annotated[Principal, Depends(require_roles(Role.agent, Role.supervisor, Role.approver))]
"""R1: every employee of the organisation reads every dossier."""
Worker = Annotated[Principal, Depends(require_roles(Role.agent, Role.supervisor))]
"""Agents and supervisors work on their own teams' dossiers."""
Supervisor = Annotated[Principal, Depends(require_roles(Role.supervisor))]
"""Supervisors (and deputies) of the teams in their token: they undo what agents may not."""
Management = Annotated[Principal, Depends(require_roles(Role.supervisor, Role.admin))]
Operator = Annotated[Principal, Depends(require_roles(Role.operator))]
"""Runs the platform: creates and changes tenants, never reads their data."""
