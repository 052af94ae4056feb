"""Signed, single-use, expiring links: the pure part (the single use is checked in integration)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from hoera_survey.links import LinkClaims, LinkProblem, new_nonce, sign, verify
from hypothesis import given
from hypothesis import strategies as st

SECRET = "a-test-secret-of-at-least-thirty-two-characters"
NOW = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)


def _claims() -> LinkClaims:
    return LinkClaims(uuid4(), NOW + timedelta(days=7), new_nonce())


def test_a_genuine_link_opens_its_survey() -> None:
    claims = _claims()
    assert verify(sign(claims, SECRET), survey_id=claims.survey_id, secret=SECRET, now=NOW) == claims


def test_a_link_signed_with_another_secret_is_tampered() -> None:
    claims = _claims()
    token = sign(claims, "another-secret-of-at-least-thirty-two-chars")
    assert verify(token, survey_id=claims.survey_id, secret=SECRET, now=NOW) is LinkProblem.tampered


def test_a_link_with_a_changed_expiry_is_tampered() -> None:
    claims = _claims()
    payload, signature = sign(claims, SECRET).split(".")
    raw = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw[16:21] = int((NOW + timedelta(days=999)).timestamp()).to_bytes(5, "big")
    forged = base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode() + "." + signature
    assert verify(forged, survey_id=claims.survey_id, secret=SECRET, now=NOW) is LinkProblem.tampered


@given(st.integers(0, 200), st.sampled_from("ABCxyz019-_"))
def test_any_changed_character_makes_a_link_tampered(position: int, replacement: str) -> None:
    claims = _claims()
    token = sign(claims, SECRET)
    i = position % len(token)
    changed = token[:i] + replacement + token[i + 1 :]
    if changed == token:
        return
    result = verify(changed, survey_id=claims.survey_id, secret=SECRET, now=NOW)
    # Base64 padding bits can make two spellings decode alike; then the link is the same link.
    assert result is LinkProblem.tampered or result == claims


def test_a_link_for_another_survey_is_refused() -> None:
    claims = _claims()
    assert verify(sign(claims, SECRET), survey_id=uuid4(), secret=SECRET, now=NOW) is LinkProblem.other_survey


def test_a_link_expires_at_its_expiry() -> None:
    claims = _claims()
    token = sign(claims, SECRET)
    just_before = claims.expires_at - timedelta(seconds=1)
    assert verify(token, survey_id=claims.survey_id, secret=SECRET, now=just_before) == claims
    assert (
        verify(token, survey_id=claims.survey_id, secret=SECRET, now=claims.expires_at) is LinkProblem.expired
    )


def test_garbage_is_tampered_not_an_error() -> None:
    for token in ("", ".", "abc", "a.b.c", "!!!.???", "YQ.YQ"):
        assert verify(token, survey_id=uuid4(), secret=SECRET, now=NOW) is LinkProblem.tampered
