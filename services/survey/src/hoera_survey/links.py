"""Signed survey links: the customer needs no login, so the link itself is the key
(docs/architecture.md, Edges).

A token names one survey, its expiry and a random nonce, and is signed with HMAC-SHA256 under one of
its tenant's keys. The signature makes it unforgeable; the survey id in it makes it useless for any
other survey; the expiry ends it; and the nonce, kept on the survey row and cleared in the
transaction that stores the answer, makes it single-use.

Every tenant has keys of its own (kept in the survey database, never leaving it), and the token
names the one that signed it, so a key can be rotated while the links signed with the previous one
keep working. The tenant is part of what is signed: a link of one tenant never verifies with
another's key, whatever the key. Pure: the caller finds the key by its id, and checks the nonce and
the state against the database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from uuid import UUID


class LinkProblem(StrEnum):
    """Why a link is refused; each has its own friendly page."""

    tampered = "tampered"
    """Not signed by a key of ours, malformed, or not matching what we issued."""
    other_survey = "other_survey"
    """Signed by us, but for another survey than the page it was used on."""
    expired = "expired"
    used = "used"
    """The survey was answered already: the link was single-use."""
    unknown = "unknown"
    """No such survey (or it was never sent)."""


@dataclass(frozen=True)
class LinkKey:
    """One of a tenant's signing keys."""

    tenant: str
    key_id: str
    secret: bytes


@dataclass(frozen=True)
class LinkClaims:
    survey_id: UUID
    expires_at: datetime
    nonce: str


_NONCE_BYTES = 12
_SECRET_BYTES = 32
_EXPIRY_BYTES = 5
"""Seconds since 1970 in 40 bits: enough until the year 36812."""
_PAYLOAD_BYTES = 16 + _EXPIRY_BYTES + _NONCE_BYTES
KEY_ID = re.compile(r"^[A-Za-z0-9_-]{8}$")


def new_nonce() -> str:
    return _b64(secrets.token_bytes(_NONCE_BYTES))


def new_key(tenant: str) -> LinkKey:
    """A fresh key: 256 random bits, and an id that shows in links (and says nothing about them)."""
    return LinkKey(tenant, secrets.token_urlsafe(6), secrets.token_bytes(_SECRET_BYTES))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(key: LinkKey, payload: bytes) -> bytes:
    # NUL between the parts: neither a tenant nor a key id can hold one, so no two differ in the split.
    message = b"\x00".join((b"hoera-survey-link.v2", key.tenant.encode(), key.key_id.encode(), payload))
    return hmac.new(key.secret, message, hashlib.sha256).digest()


def sign(claims: LinkClaims, key: LinkKey) -> str:
    # Binary, not JSON: the link must stay short enough for an SMS.
    payload = (
        claims.survey_id.bytes
        + int(claims.expires_at.timestamp()).to_bytes(_EXPIRY_BYTES, "big")
        + _unb64(claims.nonce)
    )
    return f"{key.key_id}.{_b64(payload)}.{_b64(_signature(key, payload))}"


def key_id(token: str) -> str | None:
    """The id of the key a token says signed it; None when the token cannot be one of ours."""
    kid, _, _ = token.partition(".")
    return kid if KEY_ID.match(kid) else None


def verify(token: str, *, survey_id: UUID, key: LinkKey | None, now: datetime) -> LinkClaims | LinkProblem:
    """The claims of a genuine, unexpired token for this survey, or what is wrong with it.

    `key`: the tenant's key with the token's key id, or None when it has none (never had, or retired).
    """
    try:
        kid, payload_part, signature_part = token.split(".")
        payload = _unb64(payload_part)
        signature = _unb64(signature_part)
    except ValueError:
        return LinkProblem.tampered
    if key is None or kid != key.key_id or len(payload) != _PAYLOAD_BYTES:
        return LinkProblem.tampered
    if not hmac.compare_digest(signature, _signature(key, payload)):
        return LinkProblem.tampered
    claims = LinkClaims(
        UUID(bytes=payload[:16]),
        datetime.fromtimestamp(int.from_bytes(payload[16 : 16 + _EXPIRY_BYTES], "big"), UTC),
        _b64(payload[16 + _EXPIRY_BYTES :]),
    )
    if claims.survey_id != survey_id:
        return LinkProblem.other_survey
    if now >= claims.expires_at:
        return LinkProblem.expired
    return claims
