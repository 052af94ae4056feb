"""R30 with R10 and R21: a proactive message's reference names one message to one customer. Asked
again for that customer it repeats the grant without spending twice, unless the customer has died or
opted out since; asked for another customer it is refused (409) and changes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from hoera_events.complaints import CustomerMarkedDeceased
from hoera_kit.service import Service
from hoera_survey import handlers
from hoera_survey.settings import SurveySettings

from .support import auth, envelope, running, settings_for, unique

pytestmark = pytest.mark.integration

PLATFORM = auth("platform")
Survey = Service[SurveySettings]


@pytest.fixture
async def service(fresh_db: str) -> AsyncIterator[tuple[Survey, httpx.AsyncClient]]:
    async with running(settings_for(fresh_db)) as (svc, http):
        yield svc, http


async def _ask(http: httpx.AsyncClient, customer: str, reference: str) -> httpx.Response:
    return await http.post(
        f"/customers/{customer}/proactive-contacts", json={"reference": reference}, headers=PLATFORM
    )


async def _mark_deceased(svc: Survey, customer: str) -> None:
    deps = svc.api.state.deps
    event = CustomerMarkedDeceased(customer_id=customer, owner_agent_id="AGT-7", marked_at=datetime.now(UTC))
    async with svc.pool.acquire() as conn, conn.transaction():
        await handlers.deceased_marks(deps, conn, [envelope(event)])


async def _counts(svc: Survey, *customers: str) -> dict[str, tuple[int, int]]:
    """(spends, suppressions) per customer."""
    async with svc.pool.acquire() as conn:
        return {
            c: (
                await conn.fetchval("select count(*) from budget_spends where customer_id = $1", c),
                await conn.fetchval("select count(*) from suppressions where customer_id = $1", c),
            )
            for c in customers
        }


async def test_a_true_replay_repeats_the_grant_even_with_the_budget_full_and_spends_once(
    service: tuple[Survey, httpx.AsyncClient],
) -> None:
    svc, http = service
    customer = unique("replay")
    # The seed budget: 4 contacts a year; the fourth grant fills it.
    grants = [(await _ask(http, customer, f"msg-{i}")).json()["granted"] for i in range(4)]
    assert grants == [True] * 4
    again = await _ask(http, customer, "msg-0")
    assert (again.status_code, again.json()) == (200, {"granted": True, "reason": None, "detail": None})
    assert (await _ask(http, customer, "msg-4")).json()["reason"] == "fatigue_cap"
    assert await _counts(svc, customer) == {customer: (4, 1)}


async def test_a_reference_granted_for_one_customer_is_refused_for_any_other_and_changes_nothing(
    service: tuple[Survey, httpx.AsyncClient],
) -> None:
    svc, http = service
    first, quiet, gone, fresh = (unique(p) for p in ("first", "quiet", "gone", "fresh"))
    reference = unique("notice")
    assert (await _ask(http, first, reference)).json()["granted"] is True
    assert (await http.put(f"/customers/{quiet}/opt-out", headers=PLATFORM)).status_code == 200
    await _mark_deceased(svc, gone)

    for other in (quiet, gone, fresh):
        refused = await _ask(http, other, reference)
        assert refused.status_code == 409, (other, refused.text)
        assert refused.json()["field"] == "reference"
    assert await _counts(svc, first, quiet, gone, fresh) == {
        first: (1, 0),
        quiet: (0, 0),
        gone: (0, 0),
        fresh: (0, 0),
    }
    assert (await http.get(f"/customers/{fresh}", headers=PLATFORM)).json()["deceased_at"] is None
    async with svc.pool.acquire() as conn:
        assert await conn.fetchval("select count(*) from customers where customer_id = $1", fresh) == 0


async def test_a_replay_for_a_customer_who_opted_out_since_is_not_granted(
    service: tuple[Survey, httpx.AsyncClient],
) -> None:
    svc, http = service
    customer, reference = unique("changed-mind"), unique("notice")
    assert (await _ask(http, customer, reference)).json()["granted"] is True
    assert (await http.put(f"/customers/{customer}/opt-out", headers=PLATFORM)).status_code == 200
    replay = await _ask(http, customer, reference)
    assert replay.json() == {"granted": False, "reason": "opted_out", "detail": "opted_out"}
    assert await _counts(svc, customer) == {customer: (1, 1)}, "the refusal is counted, never silent"


async def test_a_replay_for_a_customer_marked_deceased_since_is_not_granted(
    service: tuple[Survey, httpx.AsyncClient],
) -> None:
    svc, http = service
    customer, reference = unique("late"), unique("notice")
    assert (await _ask(http, customer, reference)).json()["granted"] is True
    await _mark_deceased(svc, customer)
    replay = await _ask(http, customer, reference)
    assert replay.json() == {"granted": False, "reason": "deceased", "detail": "customer_deceased"}
    assert await _counts(svc, customer) == {customer: (1, 1)}


async def test_one_reference_asked_for_many_customers_at_once_is_granted_to_one_only(
    service: tuple[Survey, httpx.AsyncClient],
) -> None:
    svc, http = service
    customers = [unique("race") for _ in range(6)]
    reference = unique("notice")
    answers = await asyncio.gather(*(_ask(http, c, reference) for c in customers))
    assert sorted(a.status_code for a in answers) == [200] + [409] * 5
    assert [a.json()["granted"] for a in answers if a.status_code == 200] == [True]
    spends = await _counts(svc, *customers)
    assert sorted(spends.values()) == [(0, 0)] * 5 + [(1, 0)]
