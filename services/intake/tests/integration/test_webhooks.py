"""Webhooks to partners, against the real Kafka and PostgreSQL of deploy/local: intake runs in this
process and reads the events the test publishes as the survey service would; a partner's receiver runs
here too, on a port of its own, and verifies every request with an independent implementation of
Standard Webhooks (the `standardwebhooks` package), refusing what does not verify.

What must hold: every event an endpoint subscribes to (its types and filter) arrives exactly once (by
webhook-id), signed, and a filtered one or another tenant's never; a tampered signature is refused by
the receiver; an endpoint down for a while gets everything once after it returns; one disabled (after
repeated failure, or by an administrator) gets nothing until it is enabled, then its backlog once;
during a secret rotation each request verifies with the old secret and with the new one; an ordered
endpoint gets the events of each key in order though the first keeps failing; a replay sends again."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import standardwebhooks
import uvicorn
from aiokafka import AIOKafkaProducer
from hoera_devkit.testing import create_database, drop_database, free_port, kafka_bootstrap, pg_dsn
from hoera_events.envelope import Envelope, encode, event_headers, make_envelope
from hoera_events.registry import topic_for
from hoera_events.surveys import SurveyAnswered
from hoera_intake.app import create_app
from hoera_kit.privacy import erase_deliveries
from hoera_kit.service import Service
from starlette.requests import Request
from starlette.responses import Response

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from intake_support import ACME_ADMIN, ADMIN, keep_outbox, settings_for

pytestmark = pytest.mark.integration

FAILURES_TO_DISABLE = 3
FAILING_SECONDS_TO_DISABLE = 8.0
"""An outage shorter than this never disables an endpoint, however many attempts failed."""


# ---- the partner's receiver ---------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    webhook_id: str
    headers: dict[str, str]
    body: bytes
    verified_by: list[str]
    """The known secrets that verify it, each on its own (the reference implementation's verdict)."""

    @property
    def event(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.body)
        return loaded


@dataclass
class Receiver:
    """A partner's webhook receiver: answers 2xx to what verifies with a secret it knows, 401 to what
    does not, 503 while told to be busy (all of it, or the first n attempts of a webhook-id)."""

    port: int = field(default_factory=free_port)
    secrets: list[str] = field(default_factory=list)
    busy: bool = False
    busy_for: dict[str, int] = field(default_factory=dict)
    accepted: list[Received] = field(default_factory=list)
    refused: list[Received] = field(default_factory=list)
    attempts: list[Received] = field(default_factory=list)
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        body = await request.body()
        headers = dict(request.headers)
        verified = []
        for secret in self.secrets:
            try:
                standardwebhooks.Webhook(secret).verify(body, headers)
            except standardwebhooks.WebhookVerificationError:
                continue
            verified.append(secret)
        got = Received(request.url.path.strip("/"), headers.get("webhook-id", ""), headers, body, verified)
        self.attempts.append(got)
        if not verified:
            self.refused.append(got)
            response = Response("signature refused", status_code=401)
        elif self.busy or self.busy_for.get(got.webhook_id, 0) > 0:
            if got.webhook_id in self.busy_for:
                self.busy_for[got.webhook_id] -= 1
            response = Response("busy", status_code=503)
        else:
            self.accepted.append(got)
            response = Response(status_code=204)
        await response(scope, receive, send)

    async def up(self) -> None:
        config = uvicorn.Config(self, host="127.0.0.1", port=self.port, lifespan="off", log_level="warning")
        self._server = uvicorn.Server(config)
        self._task = asyncio.ensure_future(self._server.serve())
        async with asyncio.timeout(10):
            while not self._server.started:  # noqa: ASYNC110 - uvicorn offers a flag, not an event
                await asyncio.sleep(0.02)

    async def down(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        self._server = self._task = None

    def at(self, path: str) -> list[Received]:
        return [r for r in self.accepted if r.path == path]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    partner = Receiver()
    await partner.up()
    try:
        yield partner
    finally:
        await partner.down()


# ---- intake, in this process --------------------------------------------------------------------------


@dataclass
class Intake:
    svc: Service[Any]
    http: httpx.AsyncClient
    dsn: str


@pytest.fixture(scope="module")
async def intake(test_tenants: tuple[str, ...]) -> AsyncIterator[Intake]:
    name = await create_database()
    dsn = pg_dsn(name)
    settings = settings_for(
        dsn,
        consumers_enabled=True,
        consumer_start="end",
        pool_max_size=20,
        webhook_disable_after_failures=FAILURES_TO_DISABLE,
        webhook_disable_after_s=FAILING_SECONDS_TO_DISABLE,
    )
    svc = create_app(settings)
    try:
        async with svc.api.router.lifespan_context(svc.api):
            await keep_outbox(dsn)
            worker = svc.delivery_worker
            assert worker is not None
            # Retries within a test's patience: the kit's backoff, faster (full jitter up to 0.8 s).
            worker.base_delay_s, worker.max_delay_s = 0.1, 0.8
            transport = httpx.ASGITransport(app=svc.api)
            async with httpx.AsyncClient(transport=transport, base_url="http://intake") as http:
                yield Intake(svc, http, dsn)
    finally:
        await drop_database(name)


async def subscribe(intake: Intake, url: str, *, who: dict[str, str] = ADMIN, **body: Any) -> dict[str, Any]:
    payload = {"url": url, "event_types": ["survey.answered"], **body}
    resp = await intake.http.post("/webhooks/endpoints", json=payload, headers=who)
    assert resp.status_code == 201, resp.text
    created: dict[str, Any] = resp.json()
    assert created["secret"].startswith("whsec_") and created["enabled"]
    return created


def answer(
    team: str, satisfaction: int | None, *, survey: uuid.UUID | None = None, tenant: str = "demo"
) -> Envelope:
    data = SurveyAnswered.example().model_copy(
        update={
            "survey_id": survey or uuid.uuid4(),
            "team_id": team,
            "satisfaction": satisfaction,
            "answered_at": datetime.now(UTC),
        }
    )
    return make_envelope(data, producer="survey", tenant=tenant)


async def publish(*envelopes: Envelope) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap(), acks="all")
    await producer.start()
    try:
        for env in envelopes:
            await producer.send_and_wait(
                topic_for(type(env.data)), encode(env), key=env.key.encode(), headers=event_headers(env)
            )
    finally:
        await producer.stop()


async def until(check: Callable[[], Any], *, within: float = 45.0, what: str = "") -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not within {within}s: {what}")


async def endpoint(intake: Intake, endpoint_id: str) -> dict[str, Any]:
    resp = await intake.http.get(f"/webhooks/endpoints/{endpoint_id}", headers=ADMIN)
    assert resp.status_code == 200, resp.text
    found: dict[str, Any] = resp.json()
    return found


async def deliveries_of(intake: Intake, endpoint_id: str) -> dict[str, Any]:
    resp = await intake.http.get(f"/webhooks/endpoints/{endpoint_id}/deliveries?limit=200", headers=ADMIN)
    assert resp.status_code == 200, resp.text
    log: dict[str, Any] = resp.json()
    return log


def ids(received: list[Received]) -> list[str]:
    return [r.webhook_id for r in received]


def team() -> str:
    return f"team-wh-{uuid.uuid4().hex[:8]}"


# ---- the checks -------------------------------------------------------------------------------------


async def test_every_matching_event_arrives_once_signed_and_a_filtered_or_other_tenants_one_never(
    intake: Intake, receiver: Receiver
) -> None:
    ours = team()
    unhappy = await subscribe(
        intake,
        receiver.url("unhappy"),
        description="the CRM: unhappy answers of one team",
        filters={"equals": {"team_id": ours}, "at_most": {"satisfaction": 2}},
    )
    everything = await subscribe(
        intake, receiver.url("everything"), event_types=["*"], filters={"equals": {"team_id": ours}}
    )
    acme = await subscribe(
        intake, receiver.url("acme"), who=ACME_ADMIN, filters={"equals": {"team_id": ours}}
    )
    receiver.secrets = [unhappy["secret"], everything["secret"], acme["secret"]]

    wanted = [answer(ours, s) for s in (1, 2, 1, 2, 1, 1, 2, 1)]
    happy = [answer(ours, s) for s in (3, 4, 5, None)]
    others = [answer(team(), 1) for _ in range(3)]
    # The same event twice on Kafka (a producer's retry): delivered once all the same.
    await publish(*wanted, *happy, *others, wanted[0], wanted[3])

    await until(lambda: len(receiver.at("unhappy")) >= len(wanted) and len(receiver.at("everything")) >= 12)
    await asyncio.sleep(1.5)  # time for anything extra to arrive (nothing may)
    assert sorted(ids(receiver.at("unhappy"))) == sorted(str(e.id) for e in wanted)
    assert sorted(ids(receiver.at("everything"))) == sorted(str(e.id) for e in [*wanted, *happy])
    assert receiver.at("acme") == [], "another tenant's endpoint got demo's events"
    assert receiver.refused == []
    for got in receiver.at("unhappy"):
        assert got.verified_by == [unhappy["secret"]]
        assert got.headers["content-type"].startswith("application/cloudevents+json")
        assert got.event["specversion"] == "1.0" and got.event["type"] == "hoera.survey.answered"
        assert got.event["id"] == got.webhook_id and got.event["tenant"] == "demo"
        assert got.event["data"]["team_id"] == ours and got.event["data"]["satisfaction"] <= 2
        assert abs(int(got.headers["webhook-timestamp"]) - time.time()) < 60

    # A tampered signature (or body) is refused by the receiver.
    sample = receiver.at("unhappy")[0]
    signed = {k: v for k, v in sample.headers.items() if k.startswith("webhook-") or k == "content-type"}
    signature = sample.headers["webhook-signature"]
    forged = signature[:-6] + ("AAAA" if not signature[:-6].endswith("AAAA") else "BBBB") + signature[-2:]
    async with httpx.AsyncClient() as http:
        for headers, body in (
            ({**signed, "webhook-signature": forged}, sample.body),
            (signed, sample.body.replace(b'"satisfaction":', b'"satisfaction":4,"x":')),
        ):
            resp = await http.post(receiver.url("unhappy"), content=body, headers=headers)
            assert resp.status_code == 401
    assert len(receiver.refused) == 2 and len(receiver.at("unhappy")) == len(wanted)

    log = await deliveries_of(intake, unhappy["endpoint_id"])
    assert len(log["deliveries"]) == len(wanted) and not log["held"]
    assert {(d["state"], d["attempts"], d["event_type"]) for d in log["deliveries"]} == {
        ("sent", 1, "survey.answered")
    }
    # Tenants apart: acme's administrator finds none of demo's endpoints or deliveries.
    for path in (
        f"/webhooks/endpoints/{unhappy['endpoint_id']}",
        f"/webhooks/endpoints/{unhappy['endpoint_id']}/deliveries",
    ):
        assert (await intake.http.get(path, headers=ACME_ADMIN)).status_code == 404
    delivery = log["deliveries"][0]["delivery_id"]
    replayed = await intake.http.post(f"/webhooks/deliveries/{delivery}/replay", headers=ACME_ADMIN)
    assert replayed.status_code == 404
    listed = await intake.http.get("/webhooks/endpoints", headers=ACME_ADMIN)
    assert [e["endpoint_id"] for e in listed.json()] == [acme["endpoint_id"]]

    # The customer erased: the deliveries about them are blanked, and there is nothing left to replay.
    async with intake.svc.pool.acquire() as conn:
        assert await erase_deliveries(conn, "demo", wanted[0].data_as(SurveyAnswered).customer_id) >= len(
            wanted
        )
    gone = await intake.http.post(f"/webhooks/deliveries/{delivery}/replay", headers=ADMIN)
    assert gone.status_code == 409 and gone.json()["field"] == "delivery_id"


async def test_an_endpoint_down_for_a_while_receives_everything_once_after_it_returns(
    intake: Intake, receiver: Receiver
) -> None:
    ours = team()
    hook = await subscribe(intake, receiver.url("outage"), filters={"equals": {"team_id": ours}})
    receiver.secrets = [hook["secret"]]
    await receiver.down()  # connections refused
    events = [answer(ours, s) for s in (1, 2, 3, 4, 5, 1, 2, 3)]
    await publish(*events)

    async def retried() -> bool:
        log = await deliveries_of(intake, hook["endpoint_id"])
        return len(log["deliveries"]) == len(events) and all(d["attempts"] >= 2 for d in log["deliveries"])

    await until(retried, what="every delivery tried at least twice while the partner was down")
    failed = await deliveries_of(intake, hook["endpoint_id"])
    assert {d["state"] for d in failed["deliveries"]} <= {"failed", "pending"}
    assert all(d["last_error"] for d in failed["deliveries"] if d["state"] == "failed")

    await receiver.up()
    await until(lambda: len(receiver.at("outage")) >= len(events))
    await asyncio.sleep(1.5)
    assert sorted(ids(receiver.at("outage"))) == sorted(str(e.id) for e in events)
    assert receiver.refused == []
    after = await endpoint(intake, hook["endpoint_id"])
    # Short of HOERA_WEBHOOK_DISABLE_AFTER_S of failing: still enabled, and healthy again.
    assert after["enabled"] and after["consecutive_failures"] == 0


async def test_a_disabled_endpoint_receives_nothing_until_it_is_enabled_then_its_backlog_once(
    intake: Intake, receiver: Receiver
) -> None:
    ours = team()
    hook = await subscribe(
        intake, receiver.url("failing"), ordered=True, filters={"equals": {"team_id": ours}}
    )
    receiver.secrets = [hook["secret"]]
    receiver.busy = True  # 503 to everything
    survey = uuid.uuid4()
    before = [answer(ours, s, survey=survey) for s in (1, 2)]
    await publish(*before)

    async def disabled() -> bool:
        return not (await endpoint(intake, hook["endpoint_id"]))["enabled"]

    await until(disabled, within=60, what="the failing endpoint disabled")
    state = await endpoint(intake, hook["endpoint_id"])
    assert state["consecutive_failures"] >= FAILURES_TO_DISABLE
    assert "503" in state["disabled_reason"] and state["disabled_at"]
    failing_since = datetime.fromisoformat(state["failing_since"])
    assert datetime.fromisoformat(state["disabled_at"]) - failing_since >= timedelta(
        seconds=FAILING_SECONDS_TO_DISABLE
    )

    # The partner is back, but the endpoint stays disabled: nothing is sent, new events wait too.
    receiver.busy = False
    await asyncio.sleep(1.0)  # an attempt under way when it was disabled has finished by now
    tried = len(receiver.attempts)
    later = [answer(ours, s, survey=survey) for s in (3, 4, 5)]
    await publish(*later)

    async def recorded() -> bool:
        return len((await deliveries_of(intake, hook["endpoint_id"]))["deliveries"]) == 5

    await until(recorded, what="the new events recorded for the disabled endpoint")
    await asyncio.sleep(3.0)
    assert len(receiver.attempts) == tried, "a disabled endpoint was sent to"
    log = await deliveries_of(intake, hook["endpoint_id"])
    assert log["held"] and all(d["held"] and d["next_attempt_at"] is None for d in log["deliveries"])

    enabled = await intake.http.post(f"/webhooks/endpoints/{hook['endpoint_id']}/enable", headers=ADMIN)
    assert enabled.status_code == 200 and enabled.json()["enabled"]
    assert enabled.json()["consecutive_failures"] == 0
    await until(lambda: len(receiver.at("failing")) >= 5)
    await asyncio.sleep(1.5)
    # Once each, and in order: the endpoint is ordered and all five are of one survey.
    assert ids(receiver.at("failing")) == [str(e.id) for e in [*before, *later]]

    # Disabled by an administrator: the same.
    off = await intake.http.post(
        f"/webhooks/endpoints/{hook['endpoint_id']}/disable",
        json={"reason": "partner maintenance"},
        headers=ADMIN,
    )
    assert off.status_code == 200 and off.json()["disabled_reason"] == "partner maintenance"
    paused = [answer(ours, 1, survey=survey) for _ in range(2)]
    await publish(*paused)
    await until(recorded_count(intake, hook["endpoint_id"], 7), what="recorded while disabled")
    await asyncio.sleep(2.0)
    assert len(receiver.at("failing")) == 5
    await intake.http.post(f"/webhooks/endpoints/{hook['endpoint_id']}/enable", headers=ADMIN)
    await until(lambda: len(receiver.at("failing")) >= 7)
    assert ids(receiver.at("failing"))[5:] == [str(e.id) for e in paused]


def recorded_count(intake: Intake, endpoint_id: str, n: int) -> Callable[[], Any]:
    async def check() -> bool:
        return len((await deliveries_of(intake, endpoint_id))["deliveries"]) >= n

    return check


async def test_during_a_rotation_both_secrets_verify_and_a_dropped_one_no_longer_does(
    intake: Intake, receiver: Receiver
) -> None:
    ours = team()
    hook = await subscribe(intake, receiver.url("rotating"), filters={"equals": {"team_id": ours}})
    first = hook["secret"]
    receiver.secrets = [first]
    await publish(answer(ours, 1))
    await until(lambda: len(receiver.at("rotating")) >= 1)
    assert receiver.at("rotating")[0].verified_by == [first]

    rotated = await intake.http.post(
        f"/webhooks/endpoints/{hook['endpoint_id']}/rotate-secret", headers=ADMIN
    )
    assert rotated.status_code == 200, rotated.text
    second = rotated.json()["secret"]
    assert second != first and rotated.json()["two_secrets"]
    assert "secret" not in (await endpoint(intake, hook["endpoint_id"]))
    receiver.secrets = [first, second]
    await publish(answer(ours, 2))
    await until(lambda: len(receiver.at("rotating")) >= 2)
    during = receiver.at("rotating")[1]
    # The partner may still know only the old secret, or already the new one: both verify.
    assert during.verified_by == [first, second]
    assert len(during.headers["webhook-signature"].split(" ")) == 2

    dropped = await intake.http.post(
        f"/webhooks/endpoints/{hook['endpoint_id']}/rotate-secret",
        json={"keep_previous": False},
        headers=ADMIN,
    )
    third = dropped.json()["secret"]
    assert not dropped.json()["two_secrets"]
    receiver.secrets = [first, second, third]
    await publish(answer(ours, 1))
    await until(lambda: len(receiver.at("rotating")) >= 3)
    assert receiver.at("rotating")[2].verified_by == [third]
    # A receiver that knows only the old secrets refuses it.
    receiver.secrets = [first, second]
    await publish(answer(ours, 1))
    await until(lambda: len(receiver.refused) >= 1)
    assert len(receiver.at("rotating")) == 3


async def test_an_ordered_endpoint_gets_each_keys_events_in_order_and_a_replay_sends_again(
    intake: Intake, receiver: Receiver
) -> None:
    ours = team()
    ordered = await subscribe(
        intake, receiver.url("ordered"), ordered=True, filters={"equals": {"team_id": ours}}
    )
    receiver.secrets = [ordered["secret"]]
    surveys = [uuid.uuid4() for _ in range(3)]
    events = [answer(ours, 1 + i, survey=s) for i in range(4) for s in surveys]
    slow = events[0]  # the first of the first survey fails three times
    receiver.busy_for[str(slow.id)] = 3
    await publish(*events)
    await until(lambda: len(receiver.at("ordered")) >= len(events))
    await asyncio.sleep(1.0)
    got = receiver.at("ordered")
    assert sorted(ids(got)) == sorted(str(e.id) for e in events)
    for survey in surveys:
        mine = [str(e.id) for e in events if e.key == str(survey)]
        assert [r.webhook_id for r in got if r.event["subject"] == str(survey)] == mine
    # The other surveys did not wait for the first one's trouble.
    assert got[0].event["subject"] != str(surveys[0])
    assert sum(1 for r in receiver.attempts if r.webhook_id == str(slow.id)) == 4

    log = await deliveries_of(intake, ordered["endpoint_id"])
    first = next(d for d in log["deliveries"] if d["event_id"] == str(slow.id))
    assert first["attempts"] == 4 and first["state"] == "sent"
    replay = await intake.http.post(f"/webhooks/deliveries/{first['delivery_id']}/replay", headers=ADMIN)
    assert replay.status_code == 202, replay.text
    assert replay.json()["replay"] and replay.json()["event_id"] == str(slow.id)
    await until(lambda: len(receiver.at("ordered")) > len(events))
    again = receiver.at("ordered")[-1]
    assert again.webhook_id == str(slow.id) and again.verified_by == [ordered["secret"]]
    assert again.body == next(r.body for r in got if r.webhook_id == str(slow.id))
    assert int(again.headers["webhook-timestamp"]) >= int(got[0].headers["webhook-timestamp"])


async def test_the_admin_api_refuses_bad_endpoints_naming_the_field_and_writes_nothing(
    intake: Intake, receiver: Receiver
) -> None:
    def count() -> Any:
        return intake.svc.pool.fetchval("select count(*) from webhook_endpoints")

    before = await count()
    cases = [
        ({"url": "ftp://x.example/", "event_types": ["survey.answered"]}, "url"),
        ({"url": receiver.url("x"), "event_types": ["survey.answerd"]}, "event_types.0"),
        (
            {
                "url": receiver.url("x"),
                "event_types": ["complaint.raised"],
                "filters": {"at_most": {"satisfaction": 2}},
            },
            "filters.at_most.satisfaction",
        ),
        ({"url": receiver.url("x"), "event_types": ["tenant.defined"]}, "event_types.0"),
    ]
    for body, where in cases:
        resp = await intake.http.post("/webhooks/endpoints", json=body, headers=ADMIN)
        assert resp.status_code == 422, resp.text
        assert resp.json()["field"] == where
    resp = await intake.http.post("/webhooks/endpoints", json={"url": receiver.url("x")}, headers=ADMIN)
    assert resp.status_code == 422 and "event_types" in resp.text
    assert await count() == before

    hook = await subscribe(intake, receiver.url("patched"))
    bad = await intake.http.patch(
        f"/webhooks/endpoints/{hook['endpoint_id']}",
        json={"description": "changed", "filters": {"at_least": {"team_id": 1}}},
        headers=ADMIN,
    )
    assert bad.status_code == 422 and bad.json()["field"] == "filters.at_least.team_id"
    assert (await endpoint(intake, hook["endpoint_id"]))["description"] == ""
    gone = await intake.http.delete(f"/webhooks/endpoints/{hook['endpoint_id']}", headers=ADMIN)
    assert gone.status_code == 204
    assert (
        await intake.http.get(f"/webhooks/endpoints/{hook['endpoint_id']}", headers=ADMIN)
    ).status_code == 404
