"""One lock order for the whole service (store.lock_customer): the customer first, then their
callbacks. A deceased mark takes the customer and then every open callback; an outcome of
"considering leaving" moves the customer's other callbacks up. Were the outcome to lock its callback
first and the customer second, the two would each hold what the other waits for."""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
from hoera_devkit.testing import eventually

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from callback_support import StartService, bearer

pytestmark = pytest.mark.integration


async def test_an_outcome_waits_for_the_customer_before_it_locks_its_callback(
    start_service: StartService,
) -> None:
    running = await start_service()
    team, customer = f"team-{uuid.uuid4().hex[:8]}", f"CUST-{uuid.uuid4().hex[:10]}"
    agent = bearer("agent-anna", "agent", teams=[team])
    for ref in ("first", "second"):
        made = await running.http.post(
            "/callbacks",
            json={"customer_id": customer, "team_id": team, "language": "nl", "request_ref": f"{team}-{ref}"},
            headers=agent,
        )
        assert made.status_code == 201, made.text
    taken = (await running.http.post("/callbacks/next", headers=agent)).json()["callback"]

    # Another transaction takes the customer first, as a deceased mark does ...
    marker = await asyncpg.connect(running.dsn)
    try:
        mark = marker.transaction()
        await mark.start()
        await marker.execute(
            "select 1 from ctx_customers where tenant = 'demo' and customer_id = $1 for update", customer
        )
        outcome = asyncio.create_task(
            running.http.post(
                f"/callbacks/{taken['callback_id']}/outcome",
                json={"outcome": "considering_leaving", "note": "Has an offer elsewhere."},
                headers=agent,
            )
        )
        waiting = await eventually(
            lambda: marker.fetchval(
                "select count(*) from pg_stat_activity "
                "where datname = current_database() and wait_event_type = 'Lock'"
            ),
            lambda n: n >= 1,
        )
        assert waiting >= 1 and not outcome.done(), "the outcome is under way and waits for a lock"
        # ... and then every open callback of the customer: the outcome must hold none of them yet.
        await marker.execute("set local lock_timeout = '3s'")
        locked = await marker.fetch(
            "select callback_id from callbacks where tenant = 'demo' and customer_id = $1 "
            "and status in ('queued', 'claimed', 'waiting_retry') order by callback_id for update",
            customer,
        )
        assert len(locked) == 2
        await mark.commit()
    finally:
        await marker.close()
    recorded = await outcome
    assert recorded.status_code == 200, recorded.text
    queue = (await running.http.get("/callbacks", headers=agent)).json()
    assert [i["callback"]["priority_reasons"] for i in queue] == [["considering_leaving"]]
