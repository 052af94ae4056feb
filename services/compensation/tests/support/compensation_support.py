"""Test support for the compensation service: the service in-process (its FastAPI app over ASGI, its
Kafka broker and relay, real PostgreSQL) admitting only defined tenants, tokens of two tenants ("demo"
from the Dutch-speaking template, "acme" from the French-speaking one), intake's complaints made
known, and rule documents written as an administrator does."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from hoera_compensation import handlers
from hoera_compensation.app import create_app
from hoera_compensation.settings import CompensationSettings
from hoera_devkit.testing import create_database, drop_database, pg_dsn
from hoera_devkit.tokens import mint_token
from hoera_events.common import Channel, Language
from hoera_events.complaints import ComplaintRaised, ComplaintResolved
from hoera_events.envelope import Envelope, make_envelope
from hoera_kit.service import Service
from hoera_kit.settings import DEV_ISSUER, DEV_SIGNING_SECRET

TEAM = "team-nl-1"
ACME_TEAM = "team-fr-1"

# Every event the service writes to its outbox is copied here by a trigger, in the same transaction:
# a refused request must leave nothing behind, and the relay deletes what it publishes.
OUTBOX_LOG = """
create table test_outbox_log (event_id uuid, topic text, key text, payload bytea);
create function test_log_outbox() returns trigger language plpgsql as $$
begin
    insert into test_outbox_log values (new.event_id, new.topic, new.key, new.payload);
    return new;
end $$;
create trigger test_log_outbox after insert on kit_outbox for each row execute function test_log_outbox();
"""


def headers(
    subject: str, *roles: str, teams: tuple[str, ...] = (TEAM,), tenant: str = "demo"
) -> dict[str, str]:
    token = mint_token(
        subject=subject,
        roles=roles,
        teams=teams,
        tenant=tenant,
        secret=DEV_SIGNING_SECRET,
        issuer=DEV_ISSUER,
        audience="hoera",
    )
    return {"Authorization": f"Bearer {token}"}


def token_of(header: dict[str, str]) -> str:
    """The bearer token of a caller's headers (to sign in on a page with it)."""
    return header["Authorization"].removeprefix("Bearer ")


AGENT = headers("agent-anna", "agent")
AGENT_2 = headers("agent-bert", "agent")
SUPERVISOR = headers("sup-sara", "supervisor")
SUPERVISOR_2 = headers("sup-stijn", "supervisor")
APPROVER = headers("appr-eva", "approver", teams=())
APPROVER_2 = headers("appr-jan", "approver", teams=())
APPROVER_3 = headers("appr-kim", "approver", teams=())
ADMIN = headers("admin-ops", "admin", teams=())
PLATFORM = headers("contact-platform", "platform", teams=())

# Tenant "acme": another organisation, whose agent works in a team of the same name as demo's other
# team, and whose callers hold every role demo's do.
ACME_AGENT = headers("agent-luc", "agent", teams=(ACME_TEAM,), tenant="acme")
ACME_SUPERVISOR = headers("sup-marc", "supervisor", teams=(ACME_TEAM,), tenant="acme")
ACME_APPROVER = headers("appr-eva", "approver", teams=(), tenant="acme")
ACME_ADMIN = headers("admin-ops", "admin", teams=(), tenant="acme")
ACME = {"agent": ACME_AGENT, "supervisor": ACME_SUPERVISOR, "approver": ACME_APPROVER, "admin": ACME_ADMIN}


def raised(
    customer_id: str,
    *,
    category: str = "refund.late",
    team_id: str | None = TEAM,
    language: Language = Language.nl,
) -> ComplaintRaised:
    return ComplaintRaised(
        complaint_id=uuid.uuid4(),
        customer_id=customer_id,
        channel=Channel.phone,
        category=category,
        language=language,
        raised_at=datetime.now(UTC),
        due_date=date.today(),
        team_id=team_id,
        agent_id="agent-anna",
    )


def resolved(complaint: ComplaintRaised, root_cause: str) -> ComplaintResolved:
    return ComplaintResolved(
        complaint_id=complaint.complaint_id,
        customer_id=complaint.customer_id,
        category=complaint.category,
        root_cause_department=root_cause,
        first_contact_resolution=True,
        resolved_at=datetime.now(UTC),
        team_id=complaint.team_id,
    )


def customer() -> str:
    return f"cust-{uuid.uuid4().hex[:12]}"


@dataclass
class Running:
    svc: Service[CompensationSettings]
    http: httpx.AsyncClient
    dsn: str

    @property
    def deps(self) -> handlers.Deps:
        deps: handlers.Deps = self.svc.api.state.deps
        return deps

    async def learn(self, *events: Any, tenant: str = "demo") -> list[Envelope]:
        """Make intake's events known the way the consumer does (for tests of the HTTP edge)."""
        envs = [make_envelope(e, producer="intake", tenant=tenant) for e in events]
        async with self.svc.pool.acquire() as conn, conn.transaction():
            await handlers.learn_from_intake(self.deps, conn, envs)
        return envs

    async def complaint(
        self, customer_id: str | None = None, *, tenant: str = "demo", **kw: Any
    ) -> uuid.UUID:
        event = raised(customer_id or customer(), **kw)
        await self.learn(event, tenant=tenant)
        return event.complaint_id

    async def rule(self, name: str, *, admin: dict[str, str] = ADMIN) -> dict[str, Any]:
        """The organisation's rule document as its administrator reads it (with its version)."""
        r = await self.http.get(f"/admin/rules/{name}", headers=admin)
        assert r.status_code == 200, r.text
        found: dict[str, Any] = r.json()
        return found

    async def write_rule(
        self, name: str, document: dict[str, Any], *, admin: dict[str, str] = ADMIN, reason: str = "test"
    ) -> httpx.Response:
        """Change a rule document as an administrator does: against its current version, with a reason."""
        current = await self.rule(name, admin=admin)
        return await self.http.put(
            f"/admin/rules/{name}",
            json={"document": document, "expected_version": current["version"], "reason": reason},
            headers=admin,
        )

    async def ready_to_propose(
        self, complaint_id: uuid.UUID, *, damage_cents: int | None = None, who: dict[str, str] = AGENT
    ) -> None:
        r = await self.http.post(f"/complaints/{complaint_id}/apology", headers=who)
        assert r.status_code == 201, r.text
        if damage_cents is not None:
            r = await self.http.post(
                f"/complaints/{complaint_id}/damage",
                json={"amount": {"amount_cents": damage_cents, "currency": "EUR"}},
                headers=who,
            )
            assert r.status_code == 201, r.text

    async def propose_money(
        self,
        customer_id: str,
        cents: int = 2000,
        *,
        who: dict[str, str] = AGENT,
        category: str = "refund.late",
    ) -> dict[str, Any]:
        """A new complaint of the customer, apologised for, with a damage, and a financial proposal
        of that amount by who; returns the proposal's answer."""
        complaint = await self.complaint(customer_id, category=category)
        await self.ready_to_propose(complaint, damage_cents=cents, who=who)
        r = await self.http.post(
            f"/complaints/{complaint}/proposals",
            json={"kind": "financial", "amount": {"amount_cents": cents, "currency": "EUR"}},
            headers=who,
        )
        assert r.status_code == 201, r.text
        answer: dict[str, Any] = r.json()
        return answer

    async def flagged_customer(self) -> str:
        """A customer flagged for review (R15): two financial compensations granted by an agent."""
        who = customer()
        await self.propose_money(who)
        second = await self.propose_money(who)
        assert second["abuse_watch"]["flagged"] is True, second
        return who

    async def fetchval(self, sql: str, *args: Any) -> Any:
        async with self.svc.pool.acquire() as conn:
            return await conn.fetchval(sql, *args)

    async def events_about(self, text: str) -> list[str]:
        """Topics of the events written to the outbox whose payload mentions text (an id)."""
        async with self.svc.pool.acquire() as conn:
            rows = await conn.fetch(
                "select topic from test_outbox_log where position($1::bytea in payload) > 0 order by topic",
                text.encode(),
            )
        return [r["topic"] for r in rows]


def settings_for(dsn: str, **overrides: Any) -> CompensationSettings:
    values: dict[str, Any] = {
        "database_url": dsn,
        "environment": "test",
        "consumer_group_prefix": f"test-{uuid.uuid4().hex[:8]}",
        # The topics' history is other runs' traffic (tenants long gone): a test reads what it sends.
        "consumer_start": "end",
        "log_json": False,
        "log_level": "WARNING",
        "outbox_poll_interval_s": 0.1,
        "timer_poll_interval_s": 0.1,
        "pool_max_size": 20,
        # Only tenants defined on the tenants topic are served (test_tenants defines demo and acme).
        **overrides,
    }
    return CompensationSettings(**values)


@pytest.fixture(scope="module")
async def running(test_tenants: tuple[str, ...]) -> AsyncIterator[Running]:
    name = await create_database("compensation")
    dsn = pg_dsn(name)
    svc = create_app(settings_for(dsn))
    try:
        async with svc.api.router.lifespan_context(svc.api):
            async with svc.pool.acquire() as conn:
                await conn.execute(OUTBOX_LOG)
            transport = httpx.ASGITransport(app=svc.api)
            async with httpx.AsyncClient(transport=transport, base_url="http://compensation") as http:
                yield Running(svc, http, dsn)
    finally:
        await drop_database(name)
