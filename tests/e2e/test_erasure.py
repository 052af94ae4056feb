"""A customer's right to erasure and access (GDPR art. 15 and 17) through the five services as processes.

One customer leaves a trace everywhere: a complaint with a note and their e-mail address (intake), an
apology, a described damage and a compensation with a note (compensation), an unhappy answer with a
comment and "please contact me" (survey), the supervisor's alert and its note (alerts), a callback
worked with a note (callback). Subject access shows all of it; the erasure request completes with
every service's confirmation; afterwards no table of any service and no record on any topic (read as
stored, dead-letter topics too) holds the customer's words, notes or address, and the tenant's
figures are what they were.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from hoera_devkit.testing import kafka_bootstrap
from hoera_events.alerts import AlertKind, AlertRaised
from hoera_events.callbacks import CallbackCompleted, CallbackRequested
from hoera_events.privacy import ErasureCompleted, ErasureConfirmed
from hoera_events.surveys import SurveyAnswered

from tests.conftest import SERVICES, System

from .support import (
    Mailbox,
    Publisher,
    Tap,
    as_user,
    customer_address,
    platform_headers,
    submit_complaint,
    survey_link,
    unique,
    wait_until,
)
from .test_journeys import contact_closed

pytestmark = pytest.mark.integration

SCAN_DEADLINE_S = 120.0


async def _tables_holding(dsn: str, secrets: list[str]) -> dict[str, list[str]]:
    """{table: [secret, ...]} for every table of the database whose rows (as text, and every bytea
    column as stored bytes) contain one of the secrets."""
    conn = await asyncpg.connect(dsn)
    try:
        tables = [
            r["table_name"]
            for r in await conn.fetch(
                "select table_name from information_schema.tables "
                "where table_schema = 'public' and table_type = 'BASE TABLE'"
            )
        ]
        found: dict[str, list[str]] = {}
        for table in tables:
            binary = [
                r["column_name"]
                for r in await conn.fetch(
                    "select column_name from information_schema.columns "
                    "where table_schema = 'public' and table_name = $1 and data_type = 'bytea'",
                    table,
                )
            ]
            for secret in secrets:
                checks = ["position($1 in x::text) > 0"] + [
                    f"position(convert_to($1, 'UTF8') in x.\"{col}\") > 0" for col in binary
                ]
                hits = await conn.fetchval(
                    f'select count(*) from "{table}" x where ' + " or ".join(checks), secret
                )
                if hits:
                    found.setdefault(table, []).append(secret)
        return found
    finally:
        await conn.close()


async def _topics_holding(secrets: list[str]) -> dict[str, list[str]]:
    """{topic: [secret, ...]}: every record of every Hoera topic (dead-letter topics too), value and
    headers as stored on the broker, read from the beginning to the end offsets of now."""
    wanted = [s.encode() for s in secrets]
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap(),
        enable_auto_commit=False,
        group_id=None,
        max_partition_fetch_bytes=4 << 20,
    )
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap())
    await admin.start()
    try:
        topics = sorted(t for t in await admin.list_topics() if t.startswith("hoera."))
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    partitions = [TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]]
    assert partitions, "no Hoera topic on the broker"
    await consumer.start()
    try:
        consumer.assign(partitions)
        begins = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.seek_to_beginning(*partitions)
        remaining = {tp for tp in partitions if ends[tp] > begins[tp]}
        found: dict[str, list[str]] = {}
        deadline = time.monotonic() + SCAN_DEADLINE_S
        while remaining:
            assert time.monotonic() < deadline, (
                f"topics not read to their end: {sorted(map(str, remaining))[:5]}"
            )
            batch = await consumer.getmany(*remaining, timeout_ms=500, max_records=5000)
            for tp, records in batch.items():
                for record in records:
                    stored = (record.value or b"") + b"".join(v or b"" for _, v in record.headers)
                    for secret, raw in zip(secrets, wanted, strict=True):
                        if raw in stored and secret not in found.get(tp.topic, []):
                            found.setdefault(tp.topic, []).append(secret)
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return found
    finally:
        await consumer.stop()


async def _figures(http: httpx.AsyncClient, urls: dict[str, str]) -> dict[str, Any]:
    """The tenant's figures the customer counts in: the compensation ledger, the team's dashboard
    figures, the callback work per agent and team."""
    ledger = await http.get(
        f"{urls['compensation']}/ledger", params={"group_by": "category"}, headers=as_user("appr-eva")
    )
    dashboard = await http.get(f"{urls['alerts']}/teams/team-nl-1/dashboard", headers=as_user("sup-sara"))
    work = await http.get(f"{urls['callback']}/figures", headers=as_user("sup-sara"))
    for resp in (ledger, dashboard, work):
        assert resp.status_code == 200, resp.text
    return {"ledger": ledger.json()["lines"], "dashboard": dashboard.json()["figures"], "work": work.json()}


async def _settled_figures(http: httpx.AsyncClient, urls: dict[str, str]) -> dict[str, Any]:
    """The figures once two reads a second apart agree (nothing of the journey still on its way)."""
    previous = await _figures(http, urls)
    for _ in range(30):
        await asyncio.sleep(1.0)
        current = await _figures(http, urls)
        if current == previous:
            return current
        previous = current
    raise AssertionError("the figures kept moving")


async def test_an_erased_customer_leaves_no_words_notes_or_address_in_any_table_or_topic(
    system: System,
    urls: dict[str, str],
    http: httpx.AsyncClient,
    tap: Tap,
    mailbox: Mailbox,
    publisher: Publisher,
) -> None:
    run = uuid.uuid4().hex[:8]
    customer = unique("CUST-E2E-GDPR")
    address = customer_address(customer)
    summary = f"Summary {run}: my neighbour heard the whole call"
    note = f"Note {run}: customer lives at Kerkstraat 12"
    damage = f"Damage {run}: reminder fees and interest"
    gesture = f"Gesture {run}: flowers for Mrs Peeters"
    comment = f"Comment {run}: nobody called me back about my hospital bill"
    alert_note = f"Alert note {run}: listened to the call, agent was rude"
    call_note = f"Call note {run}: daughter answered, call back after 18h"
    secrets = [summary, note, damage, gesture, comment, alert_note, call_note, address]
    anna, sara = as_user("agent-anna"), as_user("sup-sara")

    # intake: a complaint with the customer's address and an agent's note on the dossier
    accepted = await submit_complaint(http, urls, customer, summary=summary, complainant={"email": address})
    complaint_id = accepted["complaint_id"]
    noted = await http.post(
        f"{urls['intake']}/complaints/{complaint_id}/notes", json={"text": note}, headers=anna
    )
    assert noted.status_code in (200, 201), noted.text
    await mailbox.wait_to(address, lambda m: accepted["ref"] in m.subject)

    # compensation: apology first, the damage in the customer's words, a gesture in words with a note
    base = f"{urls['compensation']}/complaints/{complaint_id}"
    await wait_until(lambda: http.get(f"{base}/compensation", headers=anna), lambda r: r.status_code == 200)
    assert (await http.post(f"{base}/apology", json={}, headers=anna)).status_code == 201
    recorded = await http.post(
        f"{base}/damage",
        json={"amount": {"amount_cents": 4000, "currency": "EUR"}, "description": damage},
        headers=anna,
    )
    assert recorded.status_code == 201, recorded.text
    proposed = await http.post(
        f"{base}/proposals",
        json={"kind": "emotional", "gesture_text": gesture, "note": note},
        headers=anna,
    )
    assert proposed.status_code in (200, 201), proposed.text

    # survey -> alerts -> callback: an unhappy answer with a comment and "please contact me"
    contact = contact_closed(customer)
    await publisher.publish(contact)
    invitation = await mailbox.wait_to(address, contains=f"{urls['survey']}/s/")
    _, survey_id, link_token = survey_link(invitation.text)
    posted = await http.post(
        f"{urls['survey']}/s/{survey_id}",
        data={
            "t": link_token,
            "lang": "nl",
            "satisfaction": "1",
            "effort": "1",
            "nps": "2",
            "comment": comment,
            "contact_me": "yes",
            "moment": "morning",
            "contact_channel": "phone",
        },
    )
    assert posted.status_code == 303, posted.text[:300]
    answered = await tap.wait(SurveyAnswered, lambda e: str(e.survey_id) == survey_id)
    alert = await tap.wait(
        AlertRaised, lambda a: a.survey_id == answered.survey_id and a.kind is AlertKind.unhappy_smiley
    )
    acknowledged = await wait_until(
        lambda: http.post(
            f"{urls['alerts']}/alerts/{alert.alert_id}/acknowledgement",
            json={"action": "coached", "note": alert_note},
            headers=sara,
        ),
        lambda r: r.status_code == 200,
    )
    assert acknowledged.status_code == 200, acknowledged.text
    requested = await tap.wait(CallbackRequested, lambda e: e.survey_id == answered.survey_id)
    callback = f"{urls['callback']}/callbacks/{requested.callback_id}"
    await wait_until(lambda: http.get(callback, headers=anna), lambda r: r.status_code == 200)
    assert (await http.post(f"{callback}/claim", headers=anna)).status_code == 200
    outcome = await http.post(
        f"{callback}/outcome", json={"outcome": "closed_positively", "note": call_note}, headers=anna
    )
    assert outcome.status_code == 200, outcome.text
    await tap.wait(CallbackCompleted, lambda e: e.callback_id == requested.callback_id)

    # Subject access: one request, every service, everything above.
    platform = {"Authorization": platform_headers()["Authorization"]}
    access_url = f"{urls['intake']}/customers/{customer}/personal-data"
    before = await http.get(access_url, headers=platform)
    assert before.status_code == 200, before.text
    held = before.json()
    assert held["complete"] is True and held["unavailable"] == []
    assert sorted(s["service"] for s in held["services"]) == sorted(SERVICES)
    for secret in secrets:
        assert secret in before.text, f"subject access lacks {secret!r}"
    figures = await _settled_figures(http, urls)
    in_tables = {s: await _tables_holding(system.dsn(s), secrets) for s in SERVICES}
    assert all(in_tables.values()), f"the trace was not laid everywhere: {in_tables}"

    # The platform asks; every service confirms; the request completes once.
    asked = await http.post(f"{urls['intake']}/erasures", json={"customer_id": customer}, headers=platform)
    assert asked.status_code == 202, asked.text
    erasure_id = asked.json()["erasure_id"]
    done = await wait_until(
        lambda: http.get(f"{urls['intake']}/erasures/{erasure_id}", headers=platform),
        lambda r: r.status_code == 200 and r.json()["complete"],
    )
    assert done.json()["complete"] is True, done.text
    progress = done.json()
    assert progress["waiting_for"] == []
    erased = {c["service"]: c["records"] for c in progress["confirmations"]}
    assert sorted(erased) == sorted(SERVICES)
    assert erased["intake"]["complaint_summaries"] == 1 and erased["intake"]["timeline_notes"] >= 1
    assert erased["survey"]["survey_comments"] == 1
    assert erased["alerts"]["answer_comments"] == 1 and erased["alerts"]["alert_details"] == 1
    assert erased["callback"]["call_notes"] == 1
    assert erased["compensation"]["damage_descriptions"] == 1
    await tap.wait(ErasureCompleted, lambda e: str(e.erasure_id) == erasure_id)
    # (A service of another system on the shared broker, e.g. a test's survey process, may confirm too.)
    confirmations = tap.events(ErasureConfirmed, lambda e: str(e.erasure_id) == erasure_id)
    assert {c.service.value for c in confirmations} == set(SERVICES)

    # Nothing left: no table of any service, no record on any topic.
    for service in SERVICES:
        assert await _tables_holding(system.dsn(service), secrets) == {}, service
    assert await _topics_holding(secrets) == {}
    # The figures count the customer as before; subject access now shows ids, counts and the erasure.
    assert await _figures(http, urls) == figures
    after = await http.get(access_url, headers=platform)
    assert after.status_code == 200 and after.json()["complete"] is True, after.text
    for secret in secrets:
        assert secret not in after.text
    assert [e["erasure_id"] for e in after.json()["erasures"]] == [erasure_id]

    # Asked again: the same request is answered complete, nothing is erased twice.
    again = await http.post(f"{urls['intake']}/erasures", json={"customer_id": customer}, headers=platform)
    assert again.status_code == 202, again.text
    assert again.json()["erasure_id"] != erasure_id
    second = await wait_until(
        lambda: http.get(f"{urls['intake']}/erasures/{again.json()['erasure_id']}", headers=platform),
        lambda r: r.status_code == 200 and r.json()["complete"],
    )
    assert all(c["records"] == {} for c in second.json()["confirmations"]), second.text


async def test_a_service_killed_midway_through_an_erasure_completes_it_after_restart_once(
    system: System, urls: dict[str, str], http: httpx.AsyncClient, tap: Tap, publisher: Publisher
) -> None:
    """alerts is SIGKILLed while its erasure transaction waits on a row this test holds locked (so the
    kill lands midway, every time); after the restart the request is read again and erased once."""
    customer = unique("CUST-E2E-KILL")
    comment = f"Comment {uuid.uuid4().hex[:8]}: my bank details are in the letter"
    answer = SurveyAnswered.example().model_copy(
        update={
            "survey_id": uuid.uuid4(),
            "customer_id": customer,
            "contact_id": unique("CNT-E2E"),
            "team_id": "team-nl-1",
            "satisfaction": 1,
            "comment": comment,
            "contact_me": None,
        }
    )
    await publisher.publish(answer, producer="survey")
    alerts_db = await asyncpg.connect(system.dsn("alerts"))
    try:
        stored = await wait_until(
            lambda: alerts_db.fetchval(
                "select comment from answers where tenant = 'demo' and survey_id = $1", answer.survey_id
            ),
            lambda words: words == comment,
        )
        assert stored == comment
        blocker = await asyncpg.connect(system.dsn("alerts"))
        lock = blocker.transaction()
        await lock.start()
        await blocker.execute(
            "select 1 from answers where tenant = 'demo' and survey_id = $1 for update", answer.survey_id
        )
        platform = {"Authorization": platform_headers()["Authorization"]}
        asked = await http.post(
            f"{urls['intake']}/erasures", json={"customer_id": customer}, headers=platform
        )
        assert asked.status_code == 202, asked.text
        erasure_id = asked.json()["erasure_id"]

        async def erasing_waits() -> int:
            return int(
                await alerts_db.fetchval(
                    "select count(*) from pg_stat_activity where wait_event_type = 'Lock' "
                    "and query like 'with hit as (update answers set comment = null%'"
                )
            )

        assert await wait_until(erasing_waits, lambda n: n >= 1) >= 1, "alerts never reached the erasure"
        alerts = system.processes["alerts"]
        alerts.kill()
        await lock.rollback()  # the orphaned transaction goes on, then finds its client gone: rolled back
        await blocker.close()
        # Nothing of the killed transaction stays: the words are there, no erasure is recorded.
        assert (
            await alerts_db.fetchval(
                "select comment from answers where tenant = 'demo' and survey_id = $1", answer.survey_id
            )
            == comment
        )
        alerts.start()
        await alerts.wait_ready(timeout=120)

        done = await wait_until(
            lambda: http.get(f"{urls['intake']}/erasures/{erasure_id}", headers=platform),
            lambda r: r.status_code == 200 and r.json()["complete"],
        )
        assert done.json()["complete"] is True, done.text
        assert (
            await alerts_db.fetchval(
                "select comment from answers where tenant = 'demo' and survey_id = $1", answer.survey_id
            )
            is None
        )
        assert (
            await alerts_db.fetchval(
                "select count(*) from kit_erasures where erasure_id = $1", uuid.UUID(erasure_id)
            )
            == 1
        )
        await tap.wait(ErasureCompleted, lambda e: str(e.erasure_id) == erasure_id)
        # This system's alerts confirmed with what it erased, once (its erasure is recorded once above;
        # an alerts process of another system on the shared broker may confirm for its own database).
        intake_db = await asyncpg.connect(system.dsn("intake"))
        try:
            confirmed = await intake_db.fetchval(
                "select records::text from erasure_confirmations "
                "where erasure_id = $1 and service = 'alerts'",
                uuid.UUID(erasure_id),
            )
        finally:
            await intake_db.close()
        assert json.loads(confirmed) == {
            "answer_comments": 1,
            "alert_details": 1,
            "deliveries": 1,  # the supervisor's mail about the answer
        }
    finally:
        await alerts_db.close()
