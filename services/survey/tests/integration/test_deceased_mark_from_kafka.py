"""R10 against the real Kafka and PostgreSQL: a deceased mark stops surveys and proactive messages;
its withdrawal lets the customer be asked again; the events' own times decide, whichever arrives
first, and every mark and withdrawal stays in the history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from hoera_devkit.testing import ServiceProcess, eventually
from hoera_events.complaints import CustomerDeceasedMarkWithdrawn, CustomerMarkedDeceased
from hoera_events.surveys import SurveyInvited

from .support import auth, contact_closed, envelope, events_of, publish, unique

pytestmark = pytest.mark.integration

PLATFORM = auth("platform")


def marked(customer: str, at: datetime) -> CustomerMarkedDeceased:
    return CustomerMarkedDeceased(customer_id=customer, owner_agent_id="AGT-0042", marked_at=at)


def withdrawn(customer: str, at: datetime) -> CustomerDeceasedMarkWithdrawn:
    return CustomerDeceasedMarkWithdrawn(customer_id=customer, withdrawn_by="SUP-0007", withdrawn_at=at)


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


async def standing(process: ServiceProcess, customer: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=process.url) as http:
        body: dict[str, Any] = (await http.get(f"/customers/{customer}", headers=PLATFORM)).json()
    return body


async def history(process: ServiceProcess, customer: str) -> list[tuple[str, datetime, bool]]:
    conn = await asyncpg.connect(process.env["HOERA_DATABASE_URL"])
    try:
        rows = await conn.fetch(
            "select change, occurred_at, deceased_after from deceased_mark_history "
            "where customer_id = $1 order by id",
            customer,
        )
    finally:
        await conn.close()
    return [(r["change"], r["occurred_at"], r["deceased_after"]) for r in rows]


async def until_history(process: ServiceProcess, customer: str, n: int) -> list[tuple[str, datetime, bool]]:
    return await eventually(lambda: history(process, customer), lambda h: len(h) >= n)


async def proactive(process: ServiceProcess, customer: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=process.url) as http:
        answer = await http.post(
            f"/customers/{customer}/proactive-contacts",
            json={"reference": unique("notice")},
            headers=PLATFORM,
        )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def test_a_withdrawn_mark_lets_the_customer_be_surveyed_again_and_both_stay_in_the_history(
    survey_process: ServiceProcess,
) -> None:
    customer = unique("mistaken")
    mark_at = datetime.now(UTC) - timedelta(minutes=5)
    await publish(envelope(marked(customer, mark_at)))
    await until_history(survey_process, customer, 1)
    assert _time((await standing(survey_process, customer))["deceased_at"]) == mark_at
    assert (await proactive(survey_process, customer))["reason"] == "deceased"

    withdraw_at = datetime.now(UTC)
    await publish(envelope(withdrawn(customer, withdraw_at)))
    assert await until_history(survey_process, customer, 2) == [
        ("marked", mark_at, True),
        ("withdrawn", withdraw_at, False),
    ]
    now = await standing(survey_process, customer)
    assert now["deceased_at"] is None
    assert _time(now["deceased_mark_withdrawn_at"]) == withdraw_at
    assert (await proactive(survey_process, customer))["granted"] is True

    await publish(envelope(contact_closed(customer)))
    invited = await events_of(SurveyInvited, {customer}, until=1)
    assert len(invited) == 1


async def test_a_withdrawal_older_than_the_latest_mark_leaves_the_customer_deceased(
    survey_process: ServiceProcess,
) -> None:
    customer = unique("twice")
    mark_at = datetime.now(UTC)
    await publish(envelope(marked(customer, mark_at)))
    await until_history(survey_process, customer, 1)
    stale_at = mark_at - timedelta(hours=1)
    await publish(envelope(withdrawn(customer, stale_at)))
    assert await until_history(survey_process, customer, 2) == [
        ("marked", mark_at, True),
        ("withdrawn", stale_at, True),
    ]
    now = await standing(survey_process, customer)
    assert _time(now["deceased_at"]) == mark_at
    assert (await proactive(survey_process, customer))["reason"] == "deceased"


async def test_a_mark_that_arrives_after_its_withdrawal_does_not_bring_the_mark_back(
    survey_process: ServiceProcess,
) -> None:
    customer = unique("reordered")
    mark_at = datetime.now(UTC) - timedelta(hours=1)
    withdraw_at = datetime.now(UTC)
    await publish(envelope(withdrawn(customer, withdraw_at)))
    await until_history(survey_process, customer, 1)
    await publish(envelope(marked(customer, mark_at)))
    assert await until_history(survey_process, customer, 2) == [
        ("withdrawn", withdraw_at, False),
        ("marked", mark_at, False),
    ]
    assert (await standing(survey_process, customer))["deceased_at"] is None
    assert (await proactive(survey_process, customer))["granted"] is True
