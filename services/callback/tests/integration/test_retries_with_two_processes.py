"""R28 with two callback processes sharing one database and one consumer group: the lead-time target
escalates once, an unreachable customer is retried on the schedule, each retry fires once, and after the
last planned attempt the callback closes as unreachable."""

from __future__ import annotations

import asyncio
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hoera_devkit.testing import ServiceProcess, eventually, read_topic
from hoera_events.callbacks import CallbackCompleted, CallbackEscalated
from hoera_events.common import Channel, Language
from hoera_events.registry import topic_for
from hoera_events.surveys import ContactMeRequest, SurveyAnswered, SurveyTrigger

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from callback_support import bearer, change_rules, decoded, envelope, fetch, process_env, publish

pytestmark = pytest.mark.integration


async def test_retries_are_scheduled_and_fire_once_with_two_processes(
    fresh_db: str, test_tenants: tuple[str, ...]
) -> None:
    group = f"test-{uuid.uuid4().hex[:8]}"
    one = ServiceProcess("hoera_callback", env=process_env(fresh_db), group_prefix=group, name="cb-one")
    two = ServiceProcess("hoera_callback", env=process_env(fresh_db), group_prefix=group, name="cb-two")
    team, customer = f"team-{uuid.uuid4().hex[:8]}", f"CUST-{uuid.uuid4().hex[:10]}"
    agent = bearer("agent-anna", "agent", teams=[team])
    try:
        one.start()
        two.start()
        await asyncio.gather(one.wait_ready(), two.wait_ready())
        async with httpx.AsyncClient(base_url=one.url, timeout=10) as admin:
            await change_rules(
                admin, "queue", lead_time={"seconds": 2}, retries=[{"seconds": 1}, {"seconds": 1}]
            )
        await publish(
            envelope(
                SurveyAnswered(
                    survey_id=uuid.uuid4(),
                    customer_id=customer,
                    trigger=SurveyTrigger.contact_closed,
                    channel=Channel.phone,
                    language=Language.fr,
                    answered_at=datetime.now(UTC),
                    team_id=team,
                    satisfaction=4,
                    contact_me=ContactMeRequest(),
                ),
                producer="survey",
            )
        )

        async def row() -> list[Any]:
            return await fetch(
                fresh_db,
                "select callback_id, status, attempt, escalated_at, priority_reasons, outcome "
                "from callbacks where customer_id = $1",
                customer,
            )

        [escalated] = await eventually(row, lambda rows: bool(rows) and rows[0]["escalated_at"] is not None)
        cid = escalated["callback_id"]
        assert escalated["priority_reasons"] == ["lead_time_missed"]

        async with httpx.AsyncClient(timeout=10) as http:
            for attempt, process in [(1, one), (2, two), (3, one)]:
                [current] = await eventually(
                    row, lambda rows, n=attempt: rows[0]["status"] == "queued" and rows[0]["attempt"] == n
                )
                assert (current["status"], current["attempt"]) == ("queued", attempt)
                taken = await http.post(f"{process.url}/callbacks/next", headers=agent)
                assert taken.status_code == 200 and taken.json()["callback"]["attempt"] == attempt
                recorded = await http.post(
                    f"{process.url}/callbacks/{cid}/outcome", json={"outcome": "not_reachable"}, headers=agent
                )
                assert recorded.status_code == 200, recorded.text
                expected = "not_reachable" if attempt < 3 else "unreachable_final"
                assert recorded.json()["outcome"] == expected

        [closed] = await row()
        assert (closed["status"], closed["attempt"], closed["outcome"]) == ("done", 3, "unreachable_final")

        fired = await fetch(
            fresh_db,
            "select kind, due_at, fired_by from kit_timers_fired where key = $1 order by fired_at",
            f"demo/{cid}",
        )
        assert [f["kind"] for f in fired] == ["callback.lead_time", "callback.retry", "callback.retry"]
        assert len({f["due_at"] for f in fired if f["kind"] == "callback.retry"}) == 2, (
            "each retry fired once"
        )
        assert await fetch(fresh_db, "select 1 from kit_timers where key = $1", f"demo/{cid}") == []

        completed = await read_topic(
            topic_for(CallbackCompleted),
            until=lambda records: len(decoded(records, CallbackCompleted, {str(cid)})) >= 3,
        )
        attempts = [
            (e.attempt, e.outcome.value, e.retry_at is not None)
            for e in decoded(completed, CallbackCompleted, {str(cid)})
        ]
        assert attempts == [
            (1, "not_reachable", True),
            (2, "not_reachable", True),
            (3, "unreachable_final", False),
        ]
        escalations = await read_topic(
            topic_for(CallbackEscalated),
            until=lambda records: bool(decoded(records, CallbackEscalated, {str(cid)})),
        )
        assert len(decoded(escalations, CallbackEscalated, {str(cid)})) == 1
    finally:
        one.stop()
        two.stop()
