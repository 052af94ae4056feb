"""The authorization matrix's vocabulary: who may call an operation, how far they reach, and what each
caller must get back.

A service's table (tests/contract/access/<service>.py) maps every operation of its OpenAPI document,
(method, path), to an `Access`. From it `cases()` derives one case per operation × caller (no token,
or each role) × scope (own team and tenant, another team, another tenant), each with its expected
answer:

    no token                                  401
    a role not allowed                        403 (403 or 404 about an object across the line)
    allowed, another team's object            404, and the object is unchanged
    allowed, another tenant's object          404, and the object is unchanged
    allowed, a route over the caller's own    not 401/403, no 5xx, none of the fixture side's secrets
      data (a list, figures, rule documents)    in the answer, and the fixture side's state unchanged
    allowed and in scope                      not 401, 403 or 404, no 5xx (409/422 may still refuse)
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import httpx
from hoera_kit.auth import Role

from .tokens import ROLES, Scope

if TYPE_CHECKING:
    from .world import World


class Reach(StrEnum):
    """How far an allowed role reaches inside its tenant."""

    team = "team"
    """Only the objects of the teams in the token (works in them, or leads them)."""
    all = "all"
    """Every team's objects (the back office, administrators, the platform)."""


class Isolation(StrEnum):
    """What the line between two teams or two tenants looks like for an operation."""

    object = "object"
    """The path (or body) names an object on one side of the line: the other side gets 404."""
    data = "data"
    """The route works on the caller's own side (a list, figures, a rule document, a customer's
    standing): the other side answers, but shows none of this side's data and changes none of it."""
    none = "none"
    """The operation has nothing on either side of the line."""


class Expect(StrEnum):
    unauthenticated = "401"
    forbidden = "403"
    refused = "403 or 404"
    """A role not allowed, asking about an object across the line: either refusal reveals nothing."""
    hidden = "404"
    isolated = "own side only"
    allowed = "allowed"
    reachable = "reachable without a token"


@dataclass(frozen=True)
class Call:
    """What a builder of a path, query, body or header knows about the request it builds."""

    world: World
    http: httpx.AsyncClient
    role: Role | None
    scope: Scope


Builder = Callable[[Call], Any]
"""Returns the value, or an awaitable of it (a body read from the service first)."""


async def build(builder: Builder | None, call: Call) -> Any:
    if builder is None:
        return None
    value = builder(call)
    return await value if inspect.isawaitable(value) else value


@dataclass(frozen=True)
class Probe:
    """A GET, as a reader of the fixture team and tenant, whose answer must not move when a caller
    who may not touch the object tried to change it."""

    service: str
    path: Callable[[Call], str]
    role: Role


@dataclass(frozen=True)
class Access:
    roles: Mapping[Role, Reach] = field(default_factory=dict)
    """The roles allowed; every other role gets 403."""
    tenant: Isolation = Isolation.none
    team: Isolation = Isolation.none
    """Applies to the roles whose reach is `team`."""
    path: Builder | None = None
    query: Builder | None = None
    body: Builder | None = None
    form: Builder | None = None
    headers: Builder | None = None
    secrets: Callable[[World, Scope], list[str]] | None = None
    """Strings of the fixture side that must not appear in an answer to a caller of this scope
    (the JSON compacted first, so '"flagged":true' matches however the service formats it)."""
    state: Probe | None = None
    public: bool = False
    """No bearer token: health probes and the survey page, which a signed link opens."""
    why: str = ""
    """The requirement or decision behind the entry, for the reader of a failure."""


def anyone(roles: tuple[Role, ...], reach: Reach = Reach.all) -> dict[Role, Reach]:
    return dict.fromkeys(roles, reach)


Table = Mapping[tuple[str, str], Access]


@dataclass(frozen=True)
class Case:
    service: str
    method: str
    path: str
    role: Role | None
    scope: Scope
    expect: Expect

    @property
    def id(self) -> str:
        who = self.role.value if self.role else "no-token"
        return f"{self.service}-{self.method}-{self.path}-{who}-{self.scope.value}"


def expectation(access: Access, role: Role | None, scope: Scope) -> Expect | None:
    """What this caller must get, or None when the case says nothing new (no such line to cross)."""
    if access.public:
        return Expect.reachable if role is None and scope is Scope.own else None
    if role is None:
        return Expect.unauthenticated if scope is Scope.own else None
    if scope is Scope.other_team and access.team is Isolation.none:
        return None
    if scope is Scope.other_tenant and access.tenant is Isolation.none:
        return None
    if role not in access.roles:
        across = {Scope.other_team: access.team, Scope.other_tenant: access.tenant}.get(scope)
        return Expect.refused if across is Isolation.object else Expect.forbidden
    if scope is Scope.own:
        return Expect.allowed
    if scope is Scope.other_team:
        if access.roles[role] is Reach.all:
            return Expect.allowed
        return Expect.hidden if access.team is Isolation.object else Expect.isolated
    return Expect.hidden if access.tenant is Isolation.object else Expect.isolated


_DENIALS = (Expect.unauthenticated, Expect.forbidden, Expect.refused, Expect.hidden, Expect.isolated)


def cases(tables: Mapping[str, Table]) -> list[Case]:
    """Every case of every table; the refusals first, so that a one-time change an allowed caller
    makes (a complaint closed, a flag reviewed) cannot hide a refusal that should have happened."""

    def all_cases() -> Iterator[Case]:
        for service, table in tables.items():
            for (method, path), access in table.items():
                for role in (None, *ROLES):
                    for scope in Scope:
                        expect = expectation(access, role, scope)
                        if expect is not None:
                            yield Case(service, method, path, role, scope, expect)

    found = list(all_cases())
    return [c for c in found if c.expect in _DENIALS] + [c for c in found if c.expect not in _DENIALS]


def operations(document: Mapping[str, Any]) -> set[tuple[str, str]]:
    """(METHOD, path) of every operation an OpenAPI document describes."""
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    return {
        (method.upper(), path)
        for path, item in document.get("paths", {}).items()
        for method in item
        if method in methods
    }
