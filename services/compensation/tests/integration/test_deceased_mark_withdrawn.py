"""R10: intake withdraws a mistaken deceased mark. The complaint's compensation file stops naming the
bereaved's owner and stops calling the complaint about a deceased customer, in whatever order the
mark and the withdrawal arrive; a withdrawal never undoes a newer mark. Once over the real Kafka."""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from hoera_devkit.testing import eventually, kafka_bootstrap
from hoera_events.complaints import CustomerDeceasedMarkWithdrawn, CustomerMarkedDeceased
from hoera_events.envelope import encode, make_envelope
from hoera_events.registry import topic_for

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from compensation_support import AGENT, Running, customer, raised

pytestmark = pytest.mark.integration

T0 = datetime.now(UTC) - timedelta(hours=1)


def marked(customer_id: str, minutes: int, owner: str = "agent-bert") -> CustomerMarkedDeceased:
    return CustomerMarkedDeceased(
        customer_id=customer_id, owner_agent_id=owner, marked_at=T0 + timedelta(minutes=minutes)
    )


def withdrawn(customer_id: str, minutes: int) -> CustomerDeceasedMarkWithdrawn:
    return CustomerDeceasedMarkWithdrawn(
        customer_id=customer_id, withdrawn_by="sup-sara", withdrawn_at=T0 + timedelta(minutes=minutes)
    )


async def file_of(running: Running, complaint_id: uuid.UUID) -> dict[str, Any]:
    r = await running.http.get(f"/complaints/{complaint_id}/compensation", headers=AGENT)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def complaint_at(
    running: Running, customer_id: str, minutes: int, *, about_deceased: bool
) -> uuid.UUID:
    event = raised(customer_id).model_copy(
        update={"raised_at": T0 + timedelta(minutes=minutes), "about_deceased": about_deceased}
    )
    await running.learn(event)
    return event.complaint_id


async def test_a_withdrawn_mark_no_longer_names_an_owner_nor_makes_the_complaint_about_a_deceased_customer(
    running: Running,
) -> None:
    who = customer()
    await running.learn(marked(who, 0))
    complaint = await complaint_at(running, who, 5, about_deceased=True)
    before = await file_of(running, complaint)
    assert (before["deceased_owner_agent_id"], before["complaint"]["about_deceased"]) == ("agent-bert", True)

    await running.learn(withdrawn(who, 10))
    after = await file_of(running, complaint)
    assert (after["deceased_owner_agent_id"], after["complaint"]["about_deceased"]) == (None, False)


async def test_a_complaint_raised_about_a_deceased_customer_after_the_withdrawal_stays_so(
    running: Running,
) -> None:
    who = customer()
    await running.learn(marked(who, 0), withdrawn(who, 10))
    later = await complaint_at(running, who, 20, about_deceased=True)
    assert (await file_of(running, later))["complaint"]["about_deceased"] is True


async def test_a_withdrawal_older_than_the_latest_mark_does_not_undo_it(running: Running) -> None:
    who = customer()
    complaint = await complaint_at(running, who, 25, about_deceased=True)
    # Marked, withdrawn, marked again (another owner); the first withdrawal arrives last.
    await running.learn(marked(who, 0), marked(who, 20, owner="agent-anna"), withdrawn(who, 10))
    now = await file_of(running, complaint)
    assert (now["deceased_owner_agent_id"], now["complaint"]["about_deceased"]) == ("agent-anna", True)


async def test_an_older_mark_arriving_late_neither_replaces_the_newer_mark_nor_its_owner(
    running: Running,
) -> None:
    who = customer()
    complaint = await complaint_at(running, who, 25, about_deceased=True)
    await running.learn(marked(who, 20, owner="agent-anna"), withdrawn(who, 10), marked(who, 0))
    now = await file_of(running, complaint)
    assert (now["deceased_owner_agent_id"], now["complaint"]["about_deceased"]) == ("agent-anna", True)


async def test_an_older_withdrawal_arriving_late_does_not_bring_back_a_mark_a_newer_one_undid(
    running: Running,
) -> None:
    who = customer()
    complaint = await complaint_at(running, who, 25, about_deceased=True)
    # Marked, withdrawn, marked again and withdrawn again; the first withdrawal arrives last.
    await running.learn(marked(who, 20), withdrawn(who, 30), withdrawn(who, 10), marked(who, 0))
    now = await file_of(running, complaint)
    assert (now["deceased_owner_agent_id"], now["complaint"]["about_deceased"]) == (None, False)


async def test_a_mark_that_arrives_after_its_withdrawal_stays_undone(running: Running) -> None:
    who = customer()
    complaint = await complaint_at(running, who, 5, about_deceased=True)
    await running.learn(withdrawn(who, 10), marked(who, 0))
    now = await file_of(running, complaint)
    assert (now["deceased_owner_agent_id"], now["complaint"]["about_deceased"]) == (None, False)


async def test_intake_s_withdrawal_is_consumed_from_kafka(running: Running) -> None:
    who = customer()
    complaint = await complaint_at(running, who, 5, about_deceased=True)

    async def owner() -> Any:
        return (await file_of(running, complaint))["deceased_owner_agent_id"]

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap())
    await producer.start()
    try:
        for event, expected in ((marked(who, 0), "agent-bert"), (withdrawn(who, 10), None)):
            env = make_envelope(event, producer="intake", tenant="demo")
            await producer.send_and_wait(topic_for(event), encode(env), key=env.key.encode())
            assert await eventually(owner, lambda o, e=expected: o == e, timeout=30) == expected
    finally:
        await producer.stop()
    assert (await file_of(running, complaint))["complaint"]["about_deceased"] is False
