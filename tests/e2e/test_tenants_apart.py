"""Two organisations on one platform, through the five processes: each tenant's figures count its own
contacts and nothing of the other's, compared by id with a ledger of what the platform sent.

The platform's operator creates two tenants in intake (a Dutch-speaking one from the nl template, a
French-speaking one from the fr template); the platform publishes closed contacts for both, signed
with its key; a contact for a tenant the platform may not publish for is refused.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from hoera_devkit.testing import TEST_PLATFORM_KID, kafka_bootstrap, platform_headers, platform_signing_key
from hoera_devkit.tokens import mint_token
from hoera_events.common import AgeBand, Channel, Language
from hoera_events.envelope import encode, event_headers, make_envelope
from hoera_events.platform import ContactClosed
from hoera_events.registry import topic_for
from hoera_kit.settings import DEV_ISSUER, DEV_SIGNING_SECRET
from hoera_kit.signing import public_key_of

from tests.conftest import invitations_at_once

from .support import PATIENCE, operator_token, wait_until

pytestmark = pytest.mark.integration

PER_TENANT = {"nl": 12, "fr": 8}
TEAMS = {"nl": ("team-nl-1", "agent-anna", Language.nl), "fr": ("team-fr-2", "agent-sophie", Language.fr)}


def _admin(tenant: str) -> dict[str, str]:
    token = mint_token(
        subject="admin-ops",
        roles=["admin"],
        tenant=tenant,
        secret=DEV_SIGNING_SECRET,
        issuer=DEV_ISSUER,
        audience="hoera",
    )
    return {"Authorization": f"Bearer {token}"}


async def _create(http: httpx.AsyncClient, urls: dict[str, str], tenant: str, template: str) -> None:
    body = {
        "id": tenant,
        "name": f"{tenant} (e2e)",
        "template": template,
        "language": template,
        "mail_from": f"{tenant} <klachten@{tenant}.hoera.test>",
        "platform_keys": [{"kid": TEST_PLATFORM_KID, "public_key": public_key_of(platform_signing_key())}],
    }
    operator = {"Authorization": f"Bearer {operator_token()}"}
    created = await http.post(f"{urls['intake']}/tenants", json=body, headers=operator, timeout=30)
    assert created.status_code == 201, created.text
    await invitations_at_once(http, urls["survey"], tenant=tenant)


def _contact(tenant_template: str, customer: str) -> ContactClosed:
    team, agent, language = TEAMS[tenant_template]
    return ContactClosed(
        contact_id=f"CNT-{uuid.uuid4().hex[:12]}",
        customer_id=customer,
        channel=Channel.phone,
        agent_id=agent,
        team_id=team,
        closed_at=datetime.now(UTC),
        language=language,
        reason_code="general",
        age_band=AgeBand.from_55_to_69,
    )


async def _counted(http: httpx.AsyncClient, survey: str, tenant: str, since: datetime) -> tuple[int, int]:
    params = {"since": since.isoformat(), "until": (datetime.now(UTC) + timedelta(minutes=5)).isoformat()}
    figures = await http.get(f"{survey}/figures", params=params, headers=_admin(tenant))
    suppressed = await http.get(f"{survey}/suppressions", params=params, headers=_admin(tenant))
    assert figures.status_code == 200, figures.text
    assert suppressed.status_code == 200, suppressed.text
    return int(figures.json()["overall"]["invited"]), int(suppressed.json()["total"])


async def test_each_tenants_figures_count_only_its_own_contacts(
    urls: dict[str, str], http: httpx.AsyncClient
) -> None:
    run = uuid.uuid4().hex[:8]
    tenants = {"nl": f"insurer-nl-{run}", "fr": f"insurer-fr-{run}"}
    for template, tenant in tenants.items():
        await _create(http, urls, tenant, template)
    since = datetime.now(UTC) - timedelta(minutes=1)

    ledger: dict[str, list[str]] = defaultdict(list)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap(), acks="all")
    await producer.start()
    try:
        for template, tenant in tenants.items():
            for n in range(PER_TENANT[template]):
                contact = _contact(template, f"cust-{run}-{template}-{n}")
                env = make_envelope(contact, producer="platform", tenant=tenant)
                value = encode(env)
                await producer.send_and_wait(
                    topic_for(contact),
                    value,
                    key=env.key.encode(),
                    headers=platform_headers(value, event_headers(env)),
                )
                ledger[tenant].append(str(env.id))
        # A contact for a tenant this platform was never given a key for: refused, counted nowhere.
        stranger = make_envelope(_contact("nl", f"cust-{run}-stranger"), producer="platform", tenant="demo-x")
        await producer.send_and_wait(topic_for(stranger.data), encode(stranger), key=b"x")
    finally:
        await producer.stop()

    seen: dict[str, Any] = {}
    for tenant, ids in ledger.items():
        seen[tenant] = await wait_until(
            lambda tenant=tenant: _counted(http, urls["survey"], tenant, since),
            lambda counts, ids=ids: sum(counts) >= len(ids),
            timeout=PATIENCE,
        )
    for tenant, ids in ledger.items():
        invited, suppressed = seen[tenant]
        assert invited + suppressed == len(ids), (
            f"{tenant}: {invited} invited + {suppressed} suppressed for {len(ids)} contacts sent"
        )
    assert seen[tenants["nl"]] != seen[tenants["fr"]] or PER_TENANT["nl"] == PER_TENANT["fr"]
