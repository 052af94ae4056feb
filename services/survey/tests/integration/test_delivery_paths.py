"""How an invitation goes out: after the rules' delay through a durable timer, by SMS where the rules
prefer it, and never where the platform's directory says the customer died or cannot be reached."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hoera_devkit.testing import eventually
from hoera_kit.directory import CustomerContact, CustomerDirectory
from hoera_kit.service import Service
from hoera_survey import handlers
from hoera_survey.rules import TRIGGERS

from .support import contact_closed, envelope, immediate_triggers, running, settings_for, unique, write_rules

pytestmark = pytest.mark.integration
SMS_SINK = "http://127.0.0.1:8025/api/sms"


@pytest.fixture
async def service(fresh_db: str) -> AsyncIterator[tuple[Service, httpx.AsyncClient]]:
    async with running(settings_for(fresh_db, sms_gateway_url=SMS_SINK)) as (svc, http):
        yield svc, http


async def _close_contact(svc: Service, customer: str) -> None:
    async with svc.pool.acquire() as conn, conn.transaction():
        await handlers.request_surveys(svc.api.state.deps, conn, [envelope(contact_closed(customer))])


async def _survey(svc: Service, customer: str) -> Any:
    async with svc.pool.acquire() as conn:
        return await conn.fetchrow("select * from surveys where customer_id = $1", customer)


async def test_the_invitation_waits_for_the_rules_delay_on_a_durable_timer(
    service: tuple[Service, httpx.AsyncClient],
) -> None:
    svc, _ = service
    at_any_hour = immediate_triggers()
    at_any_hour["contact_closed"]["delay_minutes"] = 10
    await write_rules(svc, TRIGGERS, at_any_hour)
    customer = unique("later")
    await _close_contact(svc, customer)  # 10 minutes after the contact
    survey = await _survey(svc, customer)
    assert survey["state"] == "scheduled"
    async with svc.pool.acquire() as conn:
        key = handlers.timer_key("demo", survey["survey_id"])
        timer = await conn.fetchrow("select * from kit_timers where key = $1", key)
        assert (
            timer is not None and 9 * 60 < (timer["due_at"] - survey["requested_at"]).total_seconds() <= 600
        )
        await conn.execute("update kit_timers set due_at = now() where id = $1", timer["id"])  # time passes

    async def state() -> str:
        return str((await _survey(svc, customer))["state"])

    assert await eventually(state, lambda s: s == "invited", timeout=15) == "invited"


async def test_the_rules_can_prefer_sms_and_the_text_carries_the_link(
    service: tuple[Service, httpx.AsyncClient],
) -> None:
    svc, _ = service
    doc = immediate_triggers()
    doc["contact_closed"]["delivery"]["phone"] = "sms"
    await write_rules(svc, TRIGGERS, doc)
    customer = unique("sms")
    await _close_contact(svc, customer)
    survey = await _survey(svc, customer)
    assert (survey["state"], survey["delivery_channel"]) == ("invited", "sms")

    async def texts() -> list[dict[str, Any]]:
        async with httpx.AsyncClient() as http:
            sent = (await http.get(SMS_SINK)).json()
        return [s for s in sent if s["reference"] == f"survey:{survey['survey_id']}"]

    sent = await eventually(texts, bool, timeout=15)
    assert len(sent) == 1 and sent[0]["to"].startswith("+3247")
    assert f"/s/{survey['survey_id']}?t=" in sent[0]["text"] and sent[0]["text"].startswith(
        "Hoe was uw contact"
    )


class _Directory(CustomerDirectory):
    def __init__(self, contact: CustomerContact | None) -> None:
        self.contact = contact

    async def lookup(self, tenant: str, customer_id: str) -> CustomerContact | None:
        return self.contact


@pytest.mark.parametrize(
    ("contact", "reason", "detail"),
    [
        (CustomerContact("x", email="a@b.test", phone=None, deceased=True), "deceased", "directory_deceased"),
        (CustomerContact("x", email=None, phone=None), "no_delivery_address", "no_address"),
        (None, "no_delivery_address", "no_address"),
    ],
)
async def test_the_directory_can_rule_an_invitation_out_and_says_why(
    service: tuple[Service, httpx.AsyncClient],
    contact: CustomerContact | None,
    reason: str,
    detail: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    svc, _ = service
    await write_rules(svc, TRIGGERS, immediate_triggers())
    monkeypatch.setattr(svc, "_directory", _Directory(contact))  # the platform's answer, for this test
    customer = unique("dir")
    await _close_contact(svc, customer)
    assert (await _survey(svc, customer))["state"] == "suppressed"
    async with svc.pool.acquire() as conn:
        rows = await conn.fetch("select reason, detail from suppressions where customer_id = $1", customer)
        mails = await conn.fetchval("select count(*) from kit_deliveries")
    assert [(r["reason"], r["detail"]) for r in rows] == [(reason, detail)]
    assert mails == 0
