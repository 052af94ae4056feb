"""Signed survey links: the customer needs no login, so the link itself is the key (DESIGN.md, Edges).

A token names one survey, its expiry and a random nonce, and is signed with HMAC-SHA256 under a
secret from the settings. The signature makes it unforgeable; the survey id in it makes it useless
for any other survey; the expiry ends it; and the nonce, kept on the survey row and cleared in the
transaction that stores the answer, makes it single-use. Pure: the caller checks the nonce and state
against the database.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from uuid import UUID


class LinkProblem(StrEnum):
    """Why a link is refused; each has its own friendly page."""

    tampered = "tampered"
    """Not signed by us, malformed, or not matching what we issued."""
    other_survey = "other_survey"
    """Signed by us, but for another survey than the page it was used on."""
    expired = "expired"
    used = "used"
    """The survey was answered already: the link was single-use."""
    unknown = "unknown"
    """No such survey (or it was never sent)."""


_NONCE_BYTES = 12
_EXPIRY_BYTES = 5
"""Seconds since 1970 in 40 bits: enough until the year 36812."""
_PAYLOAD_BYTES = 16 + _EXPIRY_BYTES + _NONCE_BYTES


@dataclass(frozen=True)
class LinkClaims:
    survey_id: UUID
    expires_at: datetime
    nonce: str


def new_nonce() -> str:
    return _b64(secrets.token_bytes(_NONCE_BYTES))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, payload: bytes) -> bytes:
    return hmac.new(secret.encode(), b"hoera-survey-link.v1." + payload, hashlib.sha256).digest()


def sign(claims: LinkClaims, secret: str) -> str:
    # Binary, not JSON: the link must stay short enough for an SMS.
    payload = (
        claims.survey_id.bytes
        + int(claims.expires_at.timestamp()).to_bytes(_EXPIRY_BYTES, "big")
        + _unb64(claims.nonce)
    )
    return f"{_b64(payload)}.{_b64(_signature(secret, payload))}"


def verify(token: str, *, survey_id: UUID, secret: str, now: datetime) -> LinkClaims | LinkProblem:
    """The claims of a genuine, unexpired token for this survey, or what is wrong with it."""
    try:
        payload_part, signature_part = token.split(".")
        payload = _unb64(payload_part)
        signature = _unb64(signature_part)
    except ValueError:
        return LinkProblem.tampered
    if len(payload) != _PAYLOAD_BYTES or not hmac.compare_digest(signature, _signature(secret, payload)):
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
