"""Against the real Kafka: intake's events are consumed (and a redelivery changes nothing), a proposal
above the mandate round-trips through an approver to CompensationDecided, a second financial
compensation within the window publishes CustomerFlaggedForReview, an overdue approval is escalated."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from hoera_devkit.testing import eventually, kafka_bootstrap, read_topic
from hoera_events.common import Language
from hoera_events.compensation import (
    CompensationApprovalEscalated,
    CompensationDecided,
    CustomerFlaggedForReview,
)
from hoera_events.envelope import Envelope, EventDecodeError, decode, encode, make_envelope
from hoera_events.registry import topic_for

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from compensation_support import AGENT, APPROVER, Running, customer, raised, resolved

pytestmark = pytest.mark.integration

HOSPITAL = "hospitalisation.cover_refused"


async def publish(*events: Any, same_id_as: Envelope | None = None) -> list[tuple[Envelope, int, int]]:
    """Publish as intake would; returns each envelope with its partition and offset."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap())
    await producer.start()
    sent = []
    try:
        for event in events:
            env = make_envelope(
                event, producer="intake", tenant="demo", id=same_id_as.id if same_id_as else None
            )
            meta = await producer.send_and_wait(topic_for(event), encode(env), key=env.key.encode())
            sent.append((env, meta.partition, meta.offset))
    finally:
        await producer.stop()
    return sent


async def known(running: Running, complaint_id: uuid.UUID, ok: Any = None) -> dict[str, Any]:
    async def view() -> Any:
        r = await running.http.get(f"/complaints/{complaint_id}/compensation", headers=AGENT)
        return r.json() if r.status_code == 200 else None

    found = await eventually(view, ok or (lambda v: v is not None), timeout=30)
    assert found is not None, f"complaint {complaint_id} never arrived from Kafka"
    return dict(found)


async def records_of(model: type[Any], match: Any, *, count: int = 1) -> list[Envelope]:
    def matching(records: list[Any]) -> list[Envelope]:
        envs = []
        for r in records:
            try:
                env = decode(r.value or b"")
            except (EventDecodeError, RecursionError):
                continue  # other suites' poison on the shared topic
            if isinstance(env.data, model) and match(env.data):
                envs.append(env)
        return envs

    raw = await read_topic(topic_for(model), until=lambda recs: len(matching(recs)) >= count, timeout=30)
    return matching(raw)


async def committed(running: Running, partition: TopicPartition) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap())
    await admin.start()
    try:
        group = f"{running.svc.settings.consumer_group_prefix}.compensation.complaints"
        offsets = await admin.list_consumer_group_offsets(group)
        meta = offsets.get(partition)
        return meta.offset if meta is not None else -1
    finally:
        await admin.close()


async def test_a_complaint_raised_in_intake_round_trips_through_approval_to_a_decision(
    running: Running,
) -> None:
    complaint = raised(customer(), category=HOSPITAL)
    [(raised_env, _, _)] = await publish(complaint)
    view = await known(running, complaint.complaint_id)
    assert (view["complaint"]["category"], view["catalogue"]["code"]) == (HOSPITAL, "hospital-cover-refused")

    await publish(resolved(complaint, "hospitalisation-claims"))
    await known(running, complaint.complaint_id, lambda v: v and v["complaint"]["root_cause_department"])

    await running.ready_to_propose(complaint.complaint_id, damage_cents=80000)
    r = await running.http.post(
        f"/complaints/{complaint.complaint_id}/proposals",
        json={"kind": "financial", "amount": {"amount_cents": 45000, "currency": "EUR"}},
        headers=AGENT,
    )
    cid = uuid.UUID(r.json()["compensation"]["compensation_id"])
    assert r.json()["compensation"]["status"] == "awaiting_approval"
    r = await running.http.post(
        f"/approvals/{cid}/approve", json={"reason": "Invoice checked"}, headers=APPROVER
    )
    assert r.status_code == 200, r.text

    [decided] = await records_of(CompensationDecided, lambda d: d.compensation_id == cid)
    data = decided.data_as(CompensationDecided)
    assert (data.outcome.value, data.decided_by, data.amount and data.amount.amount_cents) == (
        "approved",
        "appr-eva",
        45000,
    )
    assert data.root_cause_department == "hospitalisation-claims"
    assert decided.correlation_id == raised_env.id, (
        "the compensation's events follow the complaint's correlation"
    )


async def test_a_redelivered_event_changes_nothing(running: Running) -> None:
    complaint = raised(customer())
    [(first, _, _)] = await publish(complaint)
    await known(running, complaint.complaint_id)

    # The same event id again, even with other data (a replay from an old producer): ignored.
    altered = complaint.model_copy(update={"language": Language.fr, "about_deceased": True})
    [(_, partition, offset)] = await publish(altered, same_id_as=first)
    tp = TopicPartition(topic_for(complaint), partition)
    assert await eventually(lambda: committed(running, tp), lambda o: o > offset, timeout=30) > offset

    view = await known(running, complaint.complaint_id)
    assert (view["complaint"]["language"], view["complaint"]["about_deceased"]) == ("nl", False)
    assert await running.fetchval("select count(*) from kit_inbox where event_id = $1", str(first.id)) == 1

    # The same data under a new event id is a new fact, and is applied: the check above can fail.
    await publish(altered)
    changed = await known(running, complaint.complaint_id, lambda v: v and v["complaint"]["language"] == "fr")
    assert changed["complaint"]["about_deceased"] is True


async def test_a_second_financial_compensation_within_the_window_flags_the_customer(running: Running) -> None:
    who = customer()
    complaints = [raised(who), raised(who)]
    await publish(*complaints)
    for c in complaints:
        await known(running, c.complaint_id)
        await running.ready_to_propose(c.complaint_id, damage_cents=4000)
        r = await running.http.post(
            f"/complaints/{c.complaint_id}/proposals",
            json={"kind": "financial", "amount": {"amount_cents": 4000, "currency": "EUR"}},
            headers=AGENT,
        )
        assert r.json()["compensation"]["status"] == "granted", r.text

    flags = await records_of(CustomerFlaggedForReview, lambda d: d.customer_id == who)
    assert len(flags) == 1
    flag = flags[0].data_as(CustomerFlaggedForReview)
    assert (flag.financial_compensations, flag.total.amount_cents, flag.window_days) == (2, 8000, 365)
    assert flag.latest_complaint_id == complaints[1].complaint_id


async def test_an_approval_left_undecided_past_its_deadline_is_escalated(running: Running) -> None:
    r = await running.write_rule("approval-deadline", {"seconds": 1})
    assert r.status_code == 200, r.text
    try:
        complaint = await running.complaint(category=HOSPITAL)
        await running.ready_to_propose(complaint, damage_cents=80000)
        r = await running.http.post(
            f"/complaints/{complaint}/proposals",
            json={"kind": "financial", "amount": {"amount_cents": 40000, "currency": "EUR"}},
            headers=AGENT,
        )
        cid = uuid.UUID(r.json()["compensation"]["compensation_id"])
    finally:
        await running.write_rule("approval-deadline", {"business_days": 2})

    [escalated] = await records_of(CompensationApprovalEscalated, lambda d: d.compensation_id == cid)
    data = escalated.data_as(CompensationApprovalEscalated)
    assert (data.requested_by, data.amount.amount_cents) == ("agent-anna", 40000)
    row = await running.fetchval(
        "select (status, escalated_at is not null) from compensations where compensation_id = $1", cid
    )
    assert tuple(row) == ("awaiting_approval", True), "escalated, and still open for any approver"
