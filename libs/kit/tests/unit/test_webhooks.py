"""Standard Webhooks signing without I/O, checked against an independent implementation (the
`standardwebhooks` package): what we sign it verifies, what it signs we verify, and neither accepts a
request that was tampered with."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import standardwebhooks
from hoera_kit.deliveries import (
    Channel,
    DeliveryRecord,
    DeliveryState,
    OutgoingMessage,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from hoera_kit.webhooks import (
    CLOUDEVENTS_JSON,
    StandardWebhookSender,
    WebhookTarget,
    WebhookVerificationError,
    headers_for,
    new_secret,
    secret_key,
    sign,
    signature_header,
    verify,
)
from hypothesis import given
from hypothesis import strategies as st

BODY = b'{"specversion":"1.0","id":"3f1c","type":"hoera.survey.answered","data":{"satisfaction":1}}'


def _theirs(secret: str) -> standardwebhooks.Webhook:
    return standardwebhooks.Webhook(secret)


def test_a_new_secret_is_whsec_and_the_base64_of_32_random_bytes() -> None:
    one, two = new_secret(), new_secret()
    assert one.startswith("whsec_") and one != two
    assert len(base64.b64decode(one.removeprefix("whsec_"))) == 32
    assert secret_key(one) == base64.b64decode(one.removeprefix("whsec_"))
    with pytest.raises(ValueError):
        new_secret(16)


@pytest.mark.parametrize(
    "bad", ["no-prefix", "whsec_", "whsec_not base64!", "whsec_" + base64.b64encode(b"short").decode()]
)
def test_a_secret_that_is_not_whsec_base64_of_enough_bytes_is_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        secret_key(bad)


@given(body=st.binary(max_size=2000), msg_id=st.from_regex(r"^[A-Za-z0-9_:-]{1,80}$", fullmatch=True))
def test_our_signature_is_the_specifications_as_the_reference_implementation_computes_it(
    body: bytes, msg_id: str
) -> None:
    secret = new_secret()
    stamp = int(time.time())
    expected = _theirs(secret).sign(msg_id, datetime.fromtimestamp(stamp, UTC), body)
    assert sign(secret, msg_id, stamp, body) == expected


def test_the_reference_implementation_verifies_what_we_send_with_either_secret_during_a_rotation() -> None:
    current, previous = new_secret(), new_secret()
    headers = headers_for((current, previous), "evt-1", BODY, timestamp=int(time.time()))
    signatures = headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    for secret in (current, previous):
        assert _theirs(secret).verify(BODY, headers) == json.loads(BODY)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        _theirs(new_secret()).verify(BODY, headers)


def test_we_verify_what_the_reference_implementation_signs() -> None:
    secret = new_secret()
    now = datetime.now(UTC)
    headers = {
        "webhook-id": "msg_2x",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": _theirs(secret).sign("msg_2x", now, BODY),
    }
    assert verify([new_secret(), secret], headers, BODY) == "msg_2x"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: (h, b.replace(b'"satisfaction":1', b'"satisfaction":5')),
        lambda h, b: ({**h, "webhook-id": "evt-2"}, b),
        lambda h, b: ({**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) + 1)}, b),
        lambda h, b: ({**h, "webhook-signature": "v1," + base64.b64encode(b"x" * 32).decode()}, b),
        lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b),
    ],
    ids=["body", "id", "timestamp", "signature", "no-signature"],
)
def test_a_tampered_request_is_refused_by_us_and_by_the_reference_implementation(tamper: Any) -> None:
    secret = new_secret()
    headers, body = tamper(headers_for([secret], "evt-1", BODY, timestamp=int(time.time())), BODY)
    with pytest.raises(WebhookVerificationError):
        verify([secret], headers, body)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        _theirs(secret).verify(body, headers)


def test_a_request_too_far_from_now_is_refused_though_its_signature_is_right() -> None:
    secret = new_secret()
    old = int(time.time()) - 600
    headers = headers_for([secret], "evt-1", BODY, timestamp=old)
    with pytest.raises(WebhookVerificationError, match="too far"):
        verify([secret], headers, BODY)
    assert verify([secret], headers, BODY, now=old + 10) == "evt-1"
    with pytest.raises(ValueError):
        signature_header([], "evt-1", 1, BODY)


# --- the sender ------------------------------------------------------------------------------------


def _record(**overrides: Any) -> DeliveryRecord:
    msg = OutgoingMessage(
        channel=Channel.webhook,
        recipient="https://old.example.org/hook",
        subject="survey.answered",
        body_text=BODY.decode(),
        idempotency_key="webhook:e1:evt-9",
        reference="webhook:e1",
        headers={"webhook-id": "evt-9"},
        tenant="demo",
    )
    now = datetime.now(UTC)
    fields: dict[str, Any] = {
        "id": uuid.uuid4(),
        "idempotency_key": msg.idempotency_key,
        "channel": msg.channel,
        "recipient": msg.recipient,
        "subject": msg.subject,
        "body_text": msg.body_text,
        "body_html": None,
        "language": None,
        "reference": msg.reference,
        "headers": dict(msg.headers),
        "tenant": msg.tenant,
        "state": DeliveryState.pending,
        "attempts": 1,
        "max_attempts": None,
        "next_attempt_at": now,
        "last_attempt_at": now,
        "last_error": None,
        "provider_id": None,
        "created_at": now,
        "updated_at": now,
        "sent_at": None,
    }
    fields.update(overrides)
    return DeliveryRecord(**fields)


def _client(status: int) -> tuple[httpx.AsyncClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status)

    return httpx.AsyncClient(transport=httpx.MockTransport(handle)), seen


async def test_the_sender_posts_to_the_targets_current_url_signed_with_its_secrets_at_send_time() -> None:
    current, previous = new_secret(), new_secret()
    client, seen = _client(204)

    async def target(record: DeliveryRecord) -> WebhookTarget | None:
        return WebhookTarget("https://new.example.org/hook", (current, previous), CLOUDEVENTS_JSON)

    sender = StandardWebhookSender(target, client=client, clock=lambda: 1_700_000_000.7)
    assert await sender.send(_record()) is None
    (request,) = seen
    assert str(request.url) == "https://new.example.org/hook"
    assert request.headers["content-type"] == CLOUDEVENTS_JSON
    assert request.headers["webhook-id"] == "evt-9"
    assert request.headers["webhook-timestamp"] == "1700000000"
    headers = dict(request.headers)
    for secret in (current, previous):
        assert verify([secret], headers, request.content, now=1_700_000_000) == "evt-9"
    # Without a webhook-id of its own, the delivery's idempotency key is the stable id.
    await sender.send(_record(headers={}))
    assert seen[1].headers["webhook-id"] == "webhook:e1:evt-9"


async def test_the_sender_hands_what_is_not_its_own_to_the_fallback_and_sorts_the_answers() -> None:
    class Fallback:
        def __init__(self) -> None:
            self.sent: list[str] = []

        async def send(self, record: DeliveryRecord) -> str | None:
            self.sent.append(record.reference)
            return "plain"

    async def nobody(record: DeliveryRecord) -> WebhookTarget | None:
        return None

    fallback = Fallback()
    assert await StandardWebhookSender(nobody, fallback=fallback).send(_record()) == "plain"
    with pytest.raises(PermanentDeliveryError):
        await StandardWebhookSender(nobody).send(_record())

    async def somewhere(record: DeliveryRecord) -> WebhookTarget | None:
        return WebhookTarget("https://p.example.org/", (new_secret(),))

    for status, fault in ((503, TransientDeliveryError), (400, PermanentDeliveryError)):
        client, _ = _client(status)
        with pytest.raises(fault):
            await StandardWebhookSender(somewhere, client=client).send(_record())
