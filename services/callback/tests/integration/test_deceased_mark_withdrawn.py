"""R10 against the real Kafka: a deceased mark takes the customer's callbacks out of the queue and
refuses new ones; its withdrawal accepts new requests again, while the callbacks withdrawn because of
the mark stay withdrawn, with their reason, among the customer's earlier callbacks. The events' own
times decide, whichever arrives first."""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from hoera_devkit.testing import eventually
from hoera_events.complaints import CustomerDeceasedMarkWithdrawn, CustomerMarkedDeceased
from hoera_events.envelope import Envelope

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from callback_support import Running, StartService, bearer, envelope, fetch, publish

pytestmark = pytest.mark.integration


def marked(customer: str, at: datetime) -> Envelope:
    env: Envelope = envelope(
        CustomerMarkedDeceased(customer_id=customer, owner_agent_id="AGT-0042", marked_at=at),
        producer="intake",
    )
    return env


def withdrawn(customer: str, at: datetime) -> Envelope:
    env: Envelope = envelope(
        CustomerDeceasedMarkWithdrawn(customer_id=customer, withdrawn_by="SUP-0007", withdrawn_at=at),
        producer="intake",
    )
    return env


async def consumed(running: Running, env: Envelope) -> None:
    """Wait until the service has handled the event (its inbox row commits with the effect)."""
    rows = await eventually(
        lambda: fetch(running.dsn, "select 1 from kit_inbox where event_id = $1", str(env.id)),
        lambda found: len(found) == 1,
    )
    assert rows, f"{env.type} was not consumed"


async def request(running: Running, customer: str, team: str) -> httpx.Response:
    answer: httpx.Response = await running.http.post(
        "/callbacks",
        json={"customer_id": customer, "team_id": team, "language": "nl"},
        headers=bearer("sup-sara", "supervisor", teams=[team]),
    )
    return answer


async def callback(running: Running, team: str, callback_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (
        await running.http.get(
            f"/callbacks/{callback_id}", headers=bearer("sup-sara", "supervisor", teams=[team])
        )
    ).json()
    return body


async def test_after_a_withdrawn_mark_new_callbacks_are_accepted_and_the_withdrawn_ones_are_shown(
    start_service: StartService,
) -> None:
    running = await start_service()
    team, customer = f"team-{uuid.uuid4().hex[:8]}", f"CUST-{uuid.uuid4().hex[:10]}"
    first = await request(running, customer, team)
    assert first.status_code == 201, first.text
    cid = first.json()["callback_id"]

    mark_at = datetime.now(UTC) - timedelta(minutes=5)
    mark = marked(customer, mark_at)
    await publish(mark)
    await consumed(running, mark)
    taken_out = (await callback(running, team, cid))["callback"]
    assert (taken_out["status"], taken_out["withdrawn_reason"]) == ("withdrawn", "customer_deceased")
    assert datetime.fromisoformat(taken_out["withdrawn_at"]) == mark_at
    refused = await request(running, customer, team)
    assert (refused.status_code, refused.json()["field"]) == (409, "customer_id")

    withdrawal = withdrawn(customer, datetime.now(UTC))
    await publish(withdrawal)
    await consumed(running, withdrawal)
    again = await request(running, customer, team)
    assert again.status_code == 201, again.text

    still = (await callback(running, team, cid))["callback"]
    assert (still["status"], still["withdrawn_reason"]) == ("withdrawn", "customer_deceased")
    context = (await callback(running, team, again.json()["callback_id"]))["context"]
    assert [
        (e["callback"]["callback_id"], e["callback"]["withdrawn_reason"])
        for e in context["earlier_callbacks"]
    ] == [(cid, "customer_deceased")]
    queue = (
        await running.http.get("/callbacks", headers=bearer("sup-sara", "supervisor", teams=[team]))
    ).json()
    assert [i["callback"]["callback_id"] for i in queue] == [again.json()["callback_id"]]


async def test_a_withdrawal_older_than_the_latest_mark_keeps_new_callbacks_refused(
    start_service: StartService,
) -> None:
    running = await start_service()
    team, customer = f"team-{uuid.uuid4().hex[:8]}", f"CUST-{uuid.uuid4().hex[:10]}"
    mark_at = datetime.now(UTC)
    mark = marked(customer, mark_at)
    await publish(mark)
    await consumed(running, mark)
    stale = withdrawn(customer, mark_at - timedelta(hours=1))
    await publish(stale)
    await consumed(running, stale)

    refused = await request(running, customer, team)
    assert (refused.status_code, refused.json()["field"]) == (409, "customer_id")
    rows = await fetch(
        running.dsn,
        "select deceased_at, deceased_mark_withdrawn_at from ctx_customers where customer_id = $1",
        customer,
    )
    assert [tuple(r) for r in rows] == [(mark_at, mark_at - timedelta(hours=1))]


async def test_a_mark_that_arrives_after_its_withdrawal_leaves_the_queue_alone(
    start_service: StartService,
) -> None:
    running = await start_service()
    team, customer = f"team-{uuid.uuid4().hex[:8]}", f"CUST-{uuid.uuid4().hex[:10]}"
    withdraw_at = datetime.now(UTC)
    withdrawal = withdrawn(customer, withdraw_at)
    await publish(withdrawal)
    await consumed(running, withdrawal)
    queued = await request(running, customer, team)
    assert queued.status_code == 201, queued.text

    late = marked(customer, withdraw_at - timedelta(hours=1))
    await publish(late)
    await consumed(running, late)
    assert (await callback(running, team, queued.json()["callback_id"]))["callback"]["status"] == "queued"
    assert (await request(running, customer, team)).status_code == 201
