"""The authorization matrix (Hardening, item 9): every operation of every service's OpenAPI document,
called by no one, by each role, from the fixture's team and tenant, from another team and from
another tenant, answers what its access table says (tests/contract/matrix.py explains the rules,
tests/contract/access/ holds the tables, tests/contract/world.py the objects the calls are about).

An operation the document has and the table lacks fails, and so does a table entry for an operation
the document no longer has: a new route cannot go live without someone deciding who may call it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import SERVICES

from .access import TABLES
from .calls import observe, send
from .matrix import Call, Case, Expect, cases, operations
from .report import LINES
from .world import World, build_world

pytestmark = pytest.mark.integration

CASES = cases(TABLES)


@pytest.fixture(scope="module", autouse=True)
def tally() -> Iterator[None]:
    started = time.monotonic()
    yield
    LINES.append(
        f"authorization matrix: {sum(len(t) for t in TABLES.values())} operations of {len(TABLES)} services, "
        f"{len({c.role for c in CASES if c.role})} roles and no token, {len(CASES)} cases, "
        f"{time.monotonic() - started:.0f} s with the system's start"
    )


@pytest.fixture(scope="module")
async def world(urls: dict[str, str], http: httpx.AsyncClient) -> World:
    return await build_world(http, urls)


@pytest.mark.parametrize("service", SERVICES)
async def test_every_documented_operation_has_an_access_rule_and_every_rule_an_operation(
    service: str, documents: dict[str, dict[str, Any]]
) -> None:
    documented = operations(documents[service])
    listed = set(TABLES[service])
    assert sorted(documented - listed) == [], f"{service}: operations without an entry in access/{service}.py"
    assert sorted(listed - documented) == [], f"{service}: entries for operations the document lacks"


def _refusal(case: Case, status: int) -> bool:
    return {
        Expect.unauthenticated: status == 401,
        Expect.forbidden: status == 403,
        Expect.refused: status in (403, 404),
        Expect.hidden: status == 404,
    }[case.expect]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_each_caller_gets_what_their_role_team_and_tenant_allow(
    case: Case, world: World, http: httpx.AsyncClient, documents: dict[str, dict[str, Any]]
) -> None:
    assert (case.method, case.path) in operations(documents[case.service]), "no longer in the document"
    access = TABLES[case.service][(case.method, case.path)]
    call = Call(world, http, case.role, case.scope)
    probe = access.state if case.expect is not Expect.allowed else None
    before = await observe(http, world, probe, call) if probe else None

    answer = await send(http, case.service, case.method, case.path, access, call)

    if case.expect in (Expect.unauthenticated, Expect.forbidden, Expect.refused, Expect.hidden):
        assert _refusal(case, answer.status), f"{answer.status} instead of {case.expect.value}: {answer}"
    elif case.expect is Expect.isolated:
        assert answer.status not in (401, 403) and answer.status < 500, f"refused or failed: {answer}"
        seen = [s for s in (access.secrets(world, case.scope) if access.secrets else []) if s in answer.text]
        assert not seen, f"the fixture side's {seen} in the answer to {case.scope.value}: {answer}"
    elif case.expect is Expect.allowed:
        assert answer.status not in (401, 403, 404) and answer.status < 500, f"not served: {answer}"
    else:
        assert answer.status != 401 and answer.status < 500, f"not reachable: {answer}"

    if probe and before:
        after = await observe(http, world, probe, call)
        assert after == before, f"the object changed ({answer.status} was answered): {before} -> {after}"
