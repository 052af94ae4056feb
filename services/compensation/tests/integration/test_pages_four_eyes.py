"""R14's four eyes on the approval page, as on the API: a person who is both agent and approver sees
that their own proposal waits for someone else, and a decision they post anyway (as a hand-made form
would) is refused and changes nothing; another approver decides it on the same page."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest
from hoera_devkit.testing import page_session

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from compensation_support import APPROVER, Running, customer, headers, token_of

pytestmark = pytest.mark.integration

HOSPITAL = "hospitalisation.cover_refused"  # catalogue maximum EUR 750.00


async def test_four_eyes_hold_on_the_approval_page(running: Running) -> None:
    both = headers("anna-backoffice", "agent", "approver")
    complaint = await running.complaint(customer(), category=HOSPITAL)
    await running.ready_to_propose(complaint, damage_cents=80000, who=both)
    r = await running.http.post(
        f"/complaints/{complaint}/proposals",
        json={"kind": "financial", "amount": {"amount_cents": 45000, "currency": "EUR"}},
        headers=both,
    )
    assert r.status_code == 201, r.text
    cid = r.json()["compensation"]["compensation_id"]
    page = f"/approval-queue/{cid}"

    async with page_session(running.svc.api, "/approval-queue", token_of(both)) as (http, csrf):
        own = await http.get(page, params={"lang": "en"})
        assert own.status_code == 200
        assert 'id="four-eyes"' in own.text and 'id="decision-form"' not in own.text
        forged = await http.post(
            f"{page}/decision", data={"csrf": csrf, "verdict": "approve", "reason": "Looks right to me"}
        )
        assert forged.status_code == 403
        assert 'id="four-eyes"' in forged.text
    row = await running.fetchval(
        "select (status, decided_by) from compensations where compensation_id = $1", uuid.UUID(cid)
    )
    assert tuple(row) == ("awaiting_approval", None)

    async with page_session(running.svc.api, "/approval-queue", token_of(APPROVER)) as (http, csrf):
        shown = await http.get(page, params={"lang": "nl"})
        assert 'id="decision-form"' in shown.text
        decided = await http.post(
            f"{page}/decision",
            data={"csrf": csrf, "verdict": "approve", "reason": "Ziekenhuisfactuur gezien"},
        )
        assert decided.status_code == 303
    row = await running.fetchval(
        "select (status, decided_by) from compensations where compensation_id = $1", uuid.UUID(cid)
    )
    assert tuple(row) == ("approved", "appr-eva")
