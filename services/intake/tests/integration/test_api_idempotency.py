"""A retried POST with the same Idempotency-Key returns the first result and creates nothing twice;
the same key with another body is refused; the same platform_ref is one dossier."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from intake_support import PLATFORM, Running, key, submission

pytestmark = pytest.mark.integration


async def test_a_repeated_submission_with_the_same_key_returns_the_first_result(running: Running) -> None:
    body, same = submission(), key()
    first = await running.http.post("/complaints", json=body, headers={**PLATFORM, **same})
    again = await running.http.post("/complaints", json=body, headers={**PLATFORM, **same})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert (first.headers["Idempotent-Replayed"], again.headers["Idempotent-Replayed"]) == ("false", "true")
    assert await running.fetchval("select count(*) from complaints") == 1
    cid = first.json()["complaint_id"]
    assert (await running.event_types(cid)).count("complaint.raised") == 1
    assert await running.fetchval("select count(*) from kit_deliveries") == 1


async def test_concurrent_retries_with_one_key_make_one_dossier(running: Running) -> None:
    body, same = submission(platform_ref=None), key()
    answers = await asyncio.gather(
        *(running.http.post("/complaints", json=body, headers={**PLATFORM, **same}) for _ in range(5))
    )
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["complaint_id"] for a in answers}) == 1
    assert await running.fetchval("select count(*) from complaints") == 1


async def test_the_same_key_with_another_body_is_refused_naming_the_key(running: Running) -> None:
    same = key()
    first = await running.http.post("/complaints", json=submission(), headers={**PLATFORM, **same})
    other = await running.http.post("/complaints", json=submission(), headers={**PLATFORM, **same})
    assert first.status_code == 201
    assert other.status_code == 422
    assert other.json()["field"] == "Idempotency-Key"
    assert await running.fetchval("select count(*) from complaints") == 1


async def test_the_same_platform_ref_under_another_key_answers_the_existing_dossier(running: Running) -> None:
    body = submission()
    first = await running.http.post("/complaints", json=body, headers={**PLATFORM, **key()})
    second = await running.http.post("/complaints", json=body, headers={**PLATFORM, **key()})
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["complaint_id"] == first.json()["complaint_id"]
    assert await running.fetchval("select count(*) from complaints") == 1


async def test_a_contact_reported_twice_is_recorded_once_and_passed_on_once(running: Running) -> None:
    contact = {
        "contact_id": "CNT-20260303-000981",
        "customer_id": "CUST-0012345",
        "channel": "phone",
        "agent_id": "agent-anna",
        "team_id": "team-nl-1",
        "closed_at": "2026-03-03T09:30:00Z",
        "language": "nl",
        "first_contact_resolved": True,
    }
    same = key()
    first = await running.http.post("/contacts", json=contact, headers={**PLATFORM, **same})
    replay = await running.http.post("/contacts", json=contact, headers={**PLATFORM, **same})
    other_key = await running.http.post("/contacts", json=contact, headers={**PLATFORM, **key()})
    assert (first.status_code, replay.status_code, other_key.status_code) == (201, 201, 200)
    assert replay.json() == first.json() == {"contact_id": contact["contact_id"], "recorded": True}
    assert other_key.json()["recorded"] is False
    assert await running.fetchval("select count(*) from contacts") == 1
    passed_on = await running.events()
    assert [(e.type, e.producer) for e in passed_on] == [("contact.closed", "intake")]
