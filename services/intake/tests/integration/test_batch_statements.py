"""A Kafka batch of the platform's closed contacts costs the same few statements whatever its size.

Counted on the real PostgreSQL with asyncpg's query logger, in the consumer's transaction; the rows
are checked too, so a handler that skipped work could not pass.
"""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hoera_devkit.testing import counted_statements
from hoera_events.common import Channel, Language
from hoera_events.envelope import Envelope, make_envelope
from hoera_events.platform import ContactClosed
from hoera_intake.handlers import complaints

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from intake_support import Running

pytestmark = pytest.mark.integration


def _contacts(n: int) -> list[Envelope]:
    """n closed contacts; the first one comes again at the end (a redelivery changes nothing)."""
    envelopes = [
        make_envelope(
            ContactClosed(
                contact_id=f"ct-{uuid.uuid4().hex[:12]}",
                customer_id=f"cust-{i}",
                channel=Channel.phone,
                agent_id="agent-anna",
                team_id="team-nl-1",
                closed_at=datetime.now(UTC),
                language=Language.nl,
            ),
            producer="platform",
            tenant="demo",
        )
        for i in range(n - 1)
    ]
    return [*envelopes, envelopes[0]]


async def _record(running: Running, envelopes: list[Envelope]) -> int:
    async with running.svc.pool.acquire() as conn, conn.transaction(), counted_statements(conn) as seen:
        contacts = [(env.tenant, env.data_as(ContactClosed), env) for env in envelopes]
        recorded = await complaints.record_contacts(running.svc.api.state.deps, conn, contacts, via="kafka")
    assert len(recorded) == len(envelopes) - 1
    return len(seen)


async def test_a_batch_of_500_contacts_costs_the_statements_of_a_batch_of_ten(running: Running) -> None:
    await _record(running, _contacts(3))  # asyncpg asks the server for the array types once
    small = await _record(running, _contacts(10))
    batch = _contacts(500)
    large = await _record(running, batch)
    assert large == small == 1, f"{large} statements for 500 contacts, {small} for 10"
    ids = [env.data_as(ContactClosed).contact_id for env in batch]
    stored = await running.fetchval(
        "select count(*) from contacts where tenant = 'demo' and contact_id = any($1::text[])", ids
    )
    assert stored == 499
