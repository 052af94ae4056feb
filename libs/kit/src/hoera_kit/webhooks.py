"""Webhooks signed per the Standard Webhooks specification (https://www.standardwebhooks.com/).

Every request carries three headers:

- `webhook-id`: the message's id, the same on every attempt and on a replay of the same message, so a
  receiver drops a repeat;
- `webhook-timestamp`: when this attempt was made, in whole seconds since the epoch (a receiver refuses
  one too far from its own clock, which stops a captured request being played again later);
- `webhook-signature`: space-separated `v1,<base64 HMAC-SHA256>` signatures of `{id}.{timestamp}.{body}`,
  one per valid secret. A secret is `whsec_` followed by the base64 of its random bytes, and the HMAC
  key is those bytes. Two secrets are valid while one is rotated (the new one and the one before), so
  a receiver that knows either accepts the request.

`sign`, `signature_header` and `verify` are pure; `StandardWebhookSender` is the delivery worker's
sender for the webhook channel. The delivery row never holds a secret: the sender asks the service,
at send time, where the delivery goes and with which secrets (`WebhookTargets`), so a rotation or a
new URL applies to every delivery not yet sent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as random_secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass

import httpx

from hoera_kit.deliveries import (
    DeliveryRecord,
    PermanentDeliveryError,
    Sender,
    _HttpSender,
    _post,
)

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
"""The random bytes of a new secret (the specification asks for 24 to 64)."""
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64
TOLERANCE_S = 300
"""How far a request's timestamp may be from the receiver's clock (the specification's five minutes)."""
SIGNATURE_VERSION = "v1"
CLOUDEVENTS_JSON = "application/cloudevents+json; charset=utf-8"
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"


class WebhookVerificationError(ValueError):
    """A request that must not be trusted: a header missing, a timestamp out of range, no signature
    made with a secret the receiver knows."""


def new_secret(n_bytes: int = SECRET_BYTES) -> str:
    """A fresh secret: `whsec_` and the base64 of n_bytes random bytes."""
    if not MIN_SECRET_BYTES <= n_bytes <= MAX_SECRET_BYTES:
        raise ValueError(f"a secret has {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} random bytes")
    return SECRET_PREFIX + base64.b64encode(random_secrets.token_bytes(n_bytes)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret: its base64-decoded bytes."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a webhook secret starts with {SECRET_PREFIX}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"a webhook secret is {SECRET_PREFIX} and base64: {exc}") from None
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"a webhook secret holds at least {MIN_SECRET_BYTES} bytes")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One signature, `v1,<base64 HMAC-SHA256 of "{msg_id}.{timestamp}.{body}">`."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def signature_header(secrets: Iterable[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: one signature per secret, space-separated."""
    signatures = [sign(s, msg_id, timestamp, body) for s in secrets]
    if not signatures:
        raise ValueError("a webhook is signed with at least one secret")
    return " ".join(signatures)


def headers_for(secrets: Iterable[str], msg_id: str, body: bytes, *, timestamp: int) -> dict[str, str]:
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature_header(secrets, msg_id, timestamp, body),
    }


def verify(
    secrets: Iterable[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance_s: int = TOLERANCE_S,
) -> str:
    """Check a request as a receiver does; returns its webhook-id. Any one of `secrets` may have signed
    it. Raises WebhookVerificationError otherwise."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id = lower.get(ID_HEADER)
    stamp = lower.get(TIMESTAMP_HEADER)
    given = lower.get(SIGNATURE_HEADER)
    if not (msg_id and stamp and given):
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not whole seconds") from None
    clock = time.time() if now is None else now
    if abs(clock - timestamp) > tolerance_s:
        raise WebhookVerificationError("webhook-timestamp is too far from now")
    offered = [part for part in given.split(" ") if part]
    for secret in secrets:
        expected = sign(secret, msg_id, timestamp, body)
        if any(hmac.compare_digest(expected.encode(), part.encode()) for part in offered):
            return msg_id
    raise WebhookVerificationError("no signature matches a known secret")


@dataclass(frozen=True)
class WebhookTarget:
    """Where one delivery goes and with which secrets, as the service says at send time."""

    url: str
    secrets: tuple[str, ...]
    """Newest first: the current secret, then the previous one while a rotation is under way."""
    content_type: str = "application/json"


WebhookTargets = Callable[[DeliveryRecord], Awaitable[WebhookTarget | None]]
"""The service's answer for a webhook delivery: its target, or None when the delivery is not one of
its signed webhooks (sent as before, by the fallback). It may raise a DeliveryError: Permanent for a
target that is gone, Transient for one that must not be sent to now."""


class StandardWebhookSender(_HttpSender):
    """POSTs a webhook delivery's body to its target's URL, signed per Standard Webhooks.

    The webhook-id is the delivery's `webhook-id` header when it has one (the event id, kept by a
    replay), else its idempotency key: the same on every attempt. The timestamp is the attempt's."""

    def __init__(
        self,
        targets: WebhookTargets,
        *,
        fallback: Sender | None = None,
        timeout: float = 10,
        client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(timeout=timeout, client=client)
        self.targets = targets
        self.fallback = fallback
        self.clock = clock

    async def send(self, msg: DeliveryRecord) -> str | None:
        target = await self.targets(msg)
        if target is None:
            if self.fallback is None:
                raise PermanentDeliveryError(f"no webhook target for {msg.reference}")
            return await self.fallback.send(msg)
        body = msg.body_text.encode()
        msg_id = msg.headers.get(ID_HEADER) or msg.idempotency_key
        extra = {k: v for k, v in msg.headers.items() if k.lower() != ID_HEADER}
        headers = {
            **extra,
            "User-Agent": "hoera-webhooks",
            "Content-Type": target.content_type,
            **headers_for(target.secrets, msg_id, body, timestamp=int(self.clock())),
        }
        return await _post(self.client, target.url, content=body, headers=headers)

    async def aclose(self) -> None:
        await super().aclose()
        close = getattr(self.fallback, "aclose", None)
        if close is not None:
            await close()


__all__ = [
    "CLOUDEVENTS_JSON",
    "SECRET_PREFIX",
    "StandardWebhookSender",
    "WebhookTarget",
    "WebhookTargets",
    "WebhookVerificationError",
    "headers_for",
    "new_secret",
    "secret_key",
    "sign",
    "signature_header",
    "verify",
]
