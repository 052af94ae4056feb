"""The fixture objects the matrix calls about, all of tenant demo and team team-nl-1, made through the
services' public edges (HTTP, and the survey topic for an unhappy answer) as their users would.

Operator data is changed by a set-up administrator with a subject of this run (`admin-<run>`), and
the platform's set-up calls carry `platform-<run>`: those names then show up in audit trails and
standings, and an answer to another tenant that contains them has leaked the fixture tenant's data.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from hoera_devkit.testing import eventually, kafka_bootstrap
from hoera_events.common import Channel, Language
from hoera_events.envelope import encode, event_headers, make_envelope
from hoera_events.registry import topic_for
from hoera_events.surveys import SurveyAnswered, SurveyTrigger
from hoera_kit.auth import Role

from .tokens import TEAM, TENANT, bearer

PATIENCE = 60.0
"""Seconds set-up waits for an event to travel from one service to another (seconds when quiet)."""


@dataclass
class World:
    urls: dict[str, str]
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:10])
    complaint_id: str = ""
    """team-nl-1's complaint that every complaint route acts on (intake and compensation)."""
    platform_ref: str = ""
    contact_id: str = ""
    deceased_customer: str = ""
    """A customer with an open complaint of team-nl-1, kept for marking deceased."""
    deceased_complaint_id: str = ""
    flagged: dict[Role, str] = field(default_factory=dict)
    """A customer flagged for review (R15) per role that reviews, so each review ends its own flag."""
    approval_id: str = ""
    """A compensation awaiting an approver's decision."""
    approval_complaint_id: str = ""
    opted_out_customer: str = ""
    customer: str = ""
    """A customer of demo with nothing recorded in survey (to opt out)."""
    alert_id: str = ""
    alert_comment: str = ""
    callback_id: str = ""
    callback_ref: str = ""
    erasure_id: str = ""
    """An erasure request of demo, for a customer of its own (nothing else of the world is erased)."""
    recovery_case_id: str = ""
    """The recovery case the unhappy answer opened in callback (team-nl-1)."""
    action_id: str = ""
    """An improvement action of demo's root-cause department `matrix-<run>`."""

    @property
    def admin(self) -> str:
        return f"admin-{self.run}"

    @property
    def platform(self) -> str:
        return f"platform-{self.run}"

    @property
    def category(self) -> str:
        return f"matrix-{self.run}"

    @property
    def catalogue_entry(self) -> str:
        return f"matrix-{self.run}"

    @property
    def retired_entry(self) -> str:
        return f"matrix-{self.run}-retired"

    def url(self, service: str, path: str) -> str:
        return f"{self.urls[service]}{path}"


def _ok(resp: httpx.Response, *codes: int) -> Any:
    assert resp.status_code in (codes or (200, 201)), (
        f"set-up {resp.request.method} {resp.request.url.path}: {resp.status_code} {resp.text[:500]}"
    )
    return resp.json() if resp.content else None


async def build_world(http: httpx.AsyncClient, urls: dict[str, str]) -> World:
    w = World(urls)
    admin = bearer(Role.admin, subject=w.admin)
    await asyncio.gather(
        _intake_rules(http, w, admin),
        _compensation_rules(http, w, admin),
        _survey(http, w, admin),
        _alerts_rules(http, w, admin),
        _callback(http, w, admin),
    )
    await asyncio.gather(_complaints(http, w), _unhappy_answer(http, w), _erasure(http, w))
    await _recovery(http, w)
    return w


# ---- intake -----------------------------------------------------------------------------------------


async def _intake_rules(http: httpx.AsyncClient, w: World, admin: dict[str, str]) -> None:
    """The run's category, and its mark in the root causes: another tenant reading them shows it.
    Not in the organisation: a write there publishes demo's organisation to every service."""
    mark = w.category
    category = {
        "code": mark,
        "names": {"nl": "Matrix", "fr": "Matrice", "en": "Matrix"},
        "sla": {"business_days": 5},
    }
    department = {"code": mark, "names": {"nl": mark, "fr": mark, "en": mark}}
    edits: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
        "categories": lambda d: {**d, "categories": [*d["categories"], category]},
        "root-causes": lambda d: {**d, "departments": [*d["departments"], department]},
    }
    for name, edit in edits.items():
        url = w.url("intake", f"/admin/rules/{name}")
        current = _ok(await http.get(url, headers=admin), 200)
        change = {
            "document": edit(current["document"]),
            "expected_version": current["version"],
            "reason": "matrix",
        }
        _ok(await http.put(url, json=change, headers=admin))


async def _submit(http: httpx.AsyncClient, w: World, customer: str, ref: str) -> str:
    body = {
        "customer_id": customer,
        "channel": "phone",
        "category": w.category,
        "language": "nl",
        "summary": "Terugbetaling nog altijd niet ontvangen.",
        "received_at": datetime.now(UTC).isoformat(),
        "platform_ref": ref,
        "agent_id": "agent-anna",
        "team_id": TEAM,
        "complainant": {"email": f"{customer.lower()}@customers.hoera.test"},
    }
    headers = {**bearer(Role.platform, subject=w.platform), "Idempotency-Key": str(uuid.uuid4())}
    accepted = _ok(await http.post(w.url("intake", "/complaints"), json=body, headers=headers), 201)
    return str(accepted["complaint_id"])


async def _acknowledged(http: httpx.AsyncClient, w: World, complaint_id: str) -> None:
    """R2: the acknowledgement was delivered (the sink took it) and the dossier says so."""
    resp = await eventually(
        lambda: http.get(w.url("intake", f"/complaints/{complaint_id}"), headers=bearer(Role.agent)),
        lambda r: r.status_code == 200 and r.json().get("acknowledged_at") is not None,
        timeout=PATIENCE,
    )
    assert resp.json().get("acknowledged_at"), f"complaint {complaint_id} not acknowledged: {resp.text[:300]}"


async def _known_to_compensation(http: httpx.AsyncClient, w: World, complaint_id: str) -> None:
    """Compensation learns a complaint from intake's ComplaintRaised on Kafka."""
    resp = await eventually(
        lambda: http.get(
            w.url("compensation", f"/complaints/{complaint_id}/compensation"), headers=bearer(Role.approver)
        ),
        lambda r: r.status_code == 200,
        timeout=PATIENCE,
    )
    _ok(resp, 200)


async def _granted_financially(http: httpx.AsyncClient, w: World, complaint_id: str) -> dict[str, Any]:
    """Apology, damage and a EUR 10 proposal by agent-anna: granted within her mandate, or sent to an
    approver when the customer is flagged (R11, R12, R14, R15)."""
    await _known_to_compensation(http, w, complaint_id)
    agent = bearer(Role.agent)
    base = w.url("compensation", f"/complaints/{complaint_id}")
    amount = {"amount_cents": 1000, "currency": "EUR"}
    _ok(await http.post(f"{base}/apology", json={}, headers=agent), 201)
    _ok(await http.post(f"{base}/damage", json={"amount": amount}, headers=agent), 201)
    proposal = {"kind": "financial", "amount": amount}
    result: dict[str, Any] = _ok(await http.post(f"{base}/proposals", json=proposal, headers=agent), 201)
    return result


async def _complaints(http: httpx.AsyncClient, w: World) -> None:
    w.platform_ref = f"PLT-{w.run}"
    w.deceased_customer = f"CUST-{w.run}-D"
    reviewers = (Role.approver, Role.supervisor)
    w.flagged = {role: f"CUST-{w.run}-F{role.value}" for role in reviewers}
    approval_customer = f"CUST-{w.run}-A"
    ids = await asyncio.gather(
        _submit(http, w, f"CUST-{w.run}", w.platform_ref),
        _submit(http, w, w.deceased_customer, f"PLT-{w.run}-D"),
        *(_submit(http, w, w.flagged[role], f"PLT-{w.run}-F{role.value}") for role in reviewers),
        _submit(http, w, approval_customer, f"PLT-{w.run}-A1"),
        _submit(http, w, approval_customer, f"PLT-{w.run}-A2"),
    )
    w.complaint_id, w.deceased_complaint_id = ids[0], ids[1]
    flag_first, w.approval_complaint_id = ids[-2], ids[-1]
    # The acknowledgement's delivery lands on the timeline: wait for it, so that it cannot pass
    # for a change made by a caller the matrix expects to be refused.
    await asyncio.gather(
        _acknowledged(http, w, w.complaint_id), _acknowledged(http, w, w.deceased_complaint_id)
    )
    # A period that ended (R6) and a reported contact (R9): the figures then have a team-nl-1 row.
    _ok(
        await http.post(
            w.url("intake", f"/complaints/{w.complaint_id}/steps"),
            json={"status": "in_progress"},
            headers=bearer(Role.agent),
        )
    )
    w.contact_id = f"CNT-{w.run}"
    contact = {
        "contact_id": w.contact_id,
        "customer_id": f"CUST-{w.run}",
        "channel": "phone",
        "agent_id": "agent-anna",
        "team_id": TEAM,
        "closed_at": datetime.now(UTC).isoformat(),
        "language": "nl",
        "first_contact_resolved": True,
    }
    headers = {**bearer(Role.platform, subject=w.platform), "Idempotency-Key": str(uuid.uuid4())}
    _ok(await http.post(w.url("intake", "/contacts"), json=contact, headers=headers), 201)
    # With the abuse watch's threshold at one (set above), one grant flags a customer; the
    # approval customer's second proposal then waits for an approver.
    flagging = (*ids[2 : 2 + len(reviewers)], flag_first)
    granted, _ = await asyncio.gather(
        asyncio.gather(*(_granted_financially(http, w, c) for c in flagging)),
        _known_to_compensation(http, w, w.complaint_id),
    )
    assert all(g["compensation"]["status"] == "granted" for g in granted), granted
    waiting = await _granted_financially(http, w, w.approval_complaint_id)
    assert waiting["compensation"]["status"] == "awaiting_approval", waiting
    w.approval_id = str(waiting["compensation"]["compensation_id"])


# ---- compensation -------------------------------------------------------------------------------------


async def _compensation_rules(http: httpx.AsyncClient, w: World, admin: dict[str, str]) -> None:
    url = w.urls["compensation"]

    async def change(name: str, edit: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        current = _ok(await http.get(f"{url}/admin/rules/{name}", headers=admin), 200)
        body = {
            "document": edit(current["document"]),
            "expected_version": current["version"],
            "reason": "contract matrix",
        }
        _ok(await http.put(f"{url}/admin/rules/{name}", json=body, headers=admin))

    def planted(catalogue: dict[str, Any]) -> dict[str, Any]:
        late = next(e for e in catalogue["entries"] if e["code"] == "refund-late")
        mine = {**late, "code": w.catalogue_entry, "categories": [w.category]}
        return {"entries": [*catalogue["entries"], mine]}

    await change("abuse-watch", lambda _: {"threshold": 1, "window_days": 365})
    await change("approval-deadline", lambda _: {"business_days": 3})
    await change("mandates", lambda d: {**d, "supervisor": {"amount_cents": 51234, "currency": "EUR"}})
    await change("catalogue", planted)


# ---- survey ---------------------------------------------------------------------------------------------


async def _survey(http: httpx.AsyncClient, w: World, admin: dict[str, str]) -> None:
    url = w.urls["survey"]
    w.opted_out_customer = f"CUST-{w.run}-O"
    w.customer = f"CUST-{w.run}-P"
    platform = bearer(Role.platform, subject=w.platform)
    _ok(await http.put(f"{url}/customers/{w.opted_out_customer}/opt-out", headers=platform))
    current = _ok(await http.get(f"{url}/admin/rules/caps", headers=admin), 200)
    change = {
        "document": current["document"],
        "expected_version": current["version"],
        "reason": "contract matrix",
    }
    _ok(await http.put(f"{url}/admin/rules/caps", json=change, headers=admin))


# ---- alerts ---------------------------------------------------------------------------------------------


async def _alerts_rules(http: httpx.AsyncClient, w: World, admin: dict[str, str]) -> None:
    url = f"{w.urls['alerts']}/admin/rules/links"
    current = _ok(await http.get(url, headers=admin), 200)
    document = {"recording_url_template": f"https://platform.hoera.test/{w.category}/{{recording_ref}}"}
    change = {"document": document, "expected_version": current["version"], "reason": "contract matrix"}
    _ok(await http.put(url, json=change, headers=admin))


async def _unhappy_answer(http: httpx.AsyncClient, w: World) -> None:
    """R23: an unhappy smiley of a team-nl-1 contact, as the survey service publishes it."""
    w.alert_comment = f"matrix {w.run}: nobody called me back"
    survey_id = uuid.uuid4()
    answer = SurveyAnswered(
        survey_id=survey_id,
        customer_id=f"CUST-{w.run}",
        trigger=SurveyTrigger.contact_closed,
        channel=Channel.phone,
        language=Language.nl,
        answered_at=datetime.now(UTC),
        contact_id=f"CNT-{w.run}-S",
        agent_id="agent-anna",
        team_id=TEAM,
        satisfaction=1,
        effort=2,
        nps=3,
        comment=w.alert_comment,
    )
    envelope = make_envelope(answer, producer="survey", tenant=TENANT)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap(), acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            topic_for(answer), encode(envelope), key=envelope.key.encode(), headers=event_headers(envelope)
        )
    finally:
        await producer.stop()

    async def mine() -> list[dict[str, Any]]:
        resp = await http.get(w.url("alerts", "/alerts"), headers=bearer(Role.supervisor))
        return [a for a in _ok(resp, 200) if a.get("survey_id") == str(survey_id)]

    found = await eventually(mine, bool, timeout=PATIENCE)
    assert found, f"no alert about survey {survey_id} within {PATIENCE:.0f}s"
    w.alert_id = str(found[0]["alert_id"])
    # The supervisor's mail is delivered in the background and shows on the alert: wait for it.
    told = await eventually(
        lambda: http.get(w.url("alerts", f"/alerts/{w.alert_id}"), headers=bearer(Role.supervisor)),
        lambda r: (
            r.status_code == 200
            and bool(r.json()["recipients"])
            and all(p["delivered_at"] or p["given_up"] for p in r.json()["recipients"])
        ),
        timeout=PATIENCE,
    )
    assert told.json()["recipients"], f"alert {w.alert_id} told nobody: {told.text[:300]}"


async def _erasure(http: httpx.AsyncClient, w: World) -> None:
    """A customer's erasure (GDPR art. 17), asked by the platform for a customer nobody else uses."""
    asked = {"customer_id": f"CUST-{w.run}-E"}
    made = _ok(await http.post(w.url("intake", "/erasures"), json=asked, headers=bearer(Role.platform)), 202)
    w.erasure_id = str(made["erasure_id"])


# ---- callback -------------------------------------------------------------------------------------------


async def _callback(http: httpx.AsyncClient, w: World, admin: dict[str, str]) -> None:
    url = w.urls["callback"]
    w.callback_ref = f"matrix-{w.run}"
    # A customer of its own: events about the other fixtures' customers change no callback context.
    manual = {"customer_id": f"CUST-{w.run}-C", "team_id": TEAM, "language": "nl"}
    made = _ok(
        await http.post(
            f"{url}/callbacks", json={**manual, "request_ref": w.callback_ref}, headers=bearer(Role.agent)
        ),
        201,
    )
    w.callback_id = str(made["callback_id"])
    # One callback worked to the end by agent-bram: the week's figures then have team-nl-1's row.
    bram = bearer(Role.agent, subject="agent-bram")
    worked = _ok(
        await http.post(
            f"{url}/callbacks",
            json={**manual, "customer_id": f"CUST-{w.run}-W", "request_ref": f"matrix-{w.run}-w"},
            headers=bram,
        ),
        201,
    )
    _ok(await http.post(f"{url}/callbacks/{worked['callback_id']}/claim", headers=bram), 200)
    outcome = {"outcome": "closed_positively", "note": "contract matrix"}
    _ok(await http.post(f"{url}/callbacks/{worked['callback_id']}/outcome", json=outcome, headers=bram), 200)
    current = _ok(await http.get(f"{url}/admin/rules/queue", headers=admin), 200)
    change = {"document": current["document"], "expected_version": current["version"], "reason": "matrix"}
    _ok(await http.put(f"{url}/admin/rules/queue", json=change, headers=admin))


async def _recovery(http: httpx.AsyncClient, w: World) -> None:
    """The case the unhappy answer opened, and an improvement action for a department of the run's own."""

    async def mine() -> list[dict[str, Any]]:
        resp = await http.get(w.url("callback", "/recovery-cases"), headers=bearer(Role.supervisor))
        return [c for c in _ok(resp, 200) if c["customer_id"] == f"CUST-{w.run}"]

    found = await eventually(mine, bool, timeout=PATIENCE)
    assert found, f"no recovery case for CUST-{w.run} within {PATIENCE:.0f}s"
    w.recovery_case_id = str(found[0]["case_id"])
    action = {
        "department": f"matrix-{w.run}",
        "title": f"matrix {w.run}: rewrite the letter",
        "owner": "sup-sara",
        "due_on": "2030-01-31",
    }
    made = _ok(
        await http.post(
            w.url("callback", "/improvement-actions"), json=action, headers=bearer(Role.supervisor)
        ),
        201,
    )
    w.action_id = str(made["action_id"])


def compact(body: Any) -> str:
    """A JSON body as one line without spaces, so a secret like '"flagged":true' reads the same
    whatever the service's formatting; other bodies (HTML, CSV) as they are."""
    if isinstance(body, str):
        return body
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)
