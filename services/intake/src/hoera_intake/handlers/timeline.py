"""R1: what happens around a dossier is on its timeline: every message's delivery state (a delivered
acknowledgement is ComplaintAcknowledged, R2) and other services' events about it (compensation
proposals and decisions, callbacks done)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from hoera_events.common import Language, MessageChannel
from hoera_events.complaints import ComplaintAcknowledged
from hoera_events.envelope import Envelope
from hoera_kit import deliveries
from hoera_kit.db import Conn

from hoera_intake import store

if TYPE_CHECKING:
    from hoera_intake.handlers import Deps


async def on_delivery(deps: Deps, conn: Conn, record: deliveries.DeliveryRecord) -> None:
    kind, _, rest = record.reference.partition(":")
    if kind != "complaint":
        return
    c = await store.get_complaint(conn, record.tenant, uuid.UUID(rest), lock=True)
    if c is None:
        return
    await store.add_timeline(
        conn,
        c,
        f"delivery_{record.state.value}",
        "deliveries",
        record.last_error,
        {
            "message": record.idempotency_key.split(":", 1)[0],
            "channel": record.channel.value,
            "attempts": record.attempts,
            "delivery_id": str(record.id),
        },
    )
    if (
        record.idempotency_key == f"acknowledgement:{c.id}"
        and record.state is deliveries.DeliveryState.sent
        and c.acknowledged_at is None
    ):
        c.acknowledged_at = record.sent_at or deps.now()
        await deps.emit_about(
            conn,
            c,
            ComplaintAcknowledged(
                complaint_id=c.id,
                customer_id=c.customer_id,
                acknowledged_at=c.acknowledged_at,
                promised_date=c.due_date,
                language=Language(c.language),
                delivery_channel=MessageChannel(record.channel.value),
            ),
        )
        await store.save_complaint(conn, c)


async def on_related_event(deps: Deps, conn: Conn, env: Envelope) -> None:
    """Compensation proposals and decisions, callbacks done: on the dossier of the event's tenant."""
    await on_related_events(deps, conn, [env])


async def on_related_events(deps: Deps, conn: Conn, envelopes: Sequence[Envelope]) -> None:
    """`on_related_event` for a Kafka batch in one statement: each event's line on its dossier (in
    the event's tenant; one about a dossier unknown there is skipped), in the batch's order."""
    lines = []
    for env in envelopes:
        complaint_id = getattr(env.data, "complaint_id", None)
        if complaint_id is None:
            continue
        detail = env.data.model_dump(mode="json", exclude={"complaint_id", "customer_id"})
        lines.append(store.TimelineEntry(env.tenant, complaint_id, env.type, env.producer, None, detail))
    await store.add_timelines(conn, lines, known_only=True)
