"""A Kafka batch of closed contacts (the callback agents' context) costs one statement, whatever
its size: counted on the real PostgreSQL with asyncpg's query logger, the rows checked too."""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hoera_callback import handlers
from hoera_devkit.testing import counted_statements
from hoera_events.common import Channel, Language
from hoera_events.envelope import Envelope, make_envelope
from hoera_events.platform import ContactClosed

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from callback_support import Running, StartService, fetch

pytestmark = pytest.mark.integration


def _contacts(n: int) -> list[Envelope]:
    """n closed contacts; the first is reported again at the end, later and with another reason."""
    closed = datetime.now(UTC)
    events = [
        ContactClosed(
            contact_id=f"ct-{uuid.uuid4().hex[:12]}",
            customer_id=f"cust-{i}",
            channel=Channel.phone,
            agent_id="agent-anna",
            team_id="team-nl-1",
            closed_at=closed,
            language=Language.nl,
            reason_code="invoice",
        )
        for i in range(n - 1)
    ]
    again = events[0].model_copy(update={"reason_code": "refund", "closed_at": closed + timedelta(minutes=1)})
    return [make_envelope(e, producer="platform", tenant="demo") for e in [*events, again]]


async def _record(running: Running, envelopes: list[Envelope]) -> int:
    deps = running.svc.api.state.deps
    async with deps.transaction() as conn, counted_statements(conn) as seen:
        await handlers.contacts_closed(deps, conn, envelopes)
    return len(seen)


async def test_a_batch_of_500_contacts_costs_the_statements_of_a_batch_of_ten(
    start_service: StartService,
) -> None:
    running = await start_service()
    await _record(running, _contacts(3))  # asyncpg asks the server for the types once
    small = await _record(running, _contacts(10))
    batch = _contacts(500)
    large = await _record(running, batch)
    assert large == small == 1, f"{large} statements for 500 contacts, {small} for 10"
    ids = [env.data_as(ContactClosed).contact_id for env in batch]
    rows = await fetch(
        running.dsn,
        "select contact_id, reason_code from ctx_contacts where tenant = 'demo' and contact_id = any($1)",
        ids,
    )
    assert len(rows) == 499
    assert {r["reason_code"] for r in rows if r["contact_id"] == ids[0]} == {"refund"}, "the latest report"
