"""Signed, single-use, expiring links under per-tenant keys: the pure part (the key table, the single
use and the rotation are checked in integration)."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from hoera_survey.links import LinkClaims, LinkKey, LinkProblem, key_id, new_key, new_nonce, sign, verify
from hypothesis import given
from hypothesis import strategies as st

KEY = new_key("demo")
NOW = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)


def _claims() -> LinkClaims:
    return LinkClaims(uuid4(), NOW + timedelta(days=7), new_nonce())


def test_a_genuine_link_opens_its_survey_and_names_its_key() -> None:
    claims = _claims()
    token = sign(claims, KEY)
    assert key_id(token) == KEY.key_id
    assert verify(token, survey_id=claims.survey_id, key=KEY, now=NOW) == claims


def test_a_key_is_random_and_its_id_fits_in_a_link() -> None:
    keys = [new_key("demo") for _ in range(50)]
    assert len({k.key_id for k in keys}) == len({k.secret for k in keys}) == 50
    assert all(len(k.secret) == 32 and key_id(f"{k.key_id}.x.y") == k.key_id for k in keys)


def test_a_link_signed_with_another_key_of_the_tenant_is_tampered() -> None:
    claims = _claims()
    token = sign(claims, new_key("demo"))
    assert verify(token, survey_id=claims.survey_id, key=KEY, now=NOW) is LinkProblem.tampered


def test_without_a_key_every_link_is_tampered() -> None:
    claims = _claims()
    assert verify(sign(claims, KEY), survey_id=claims.survey_id, key=None, now=NOW) is LinkProblem.tampered


@given(st.sampled_from(["acme", "demo.x", "demox", "dem", "a"]))
def test_a_link_of_one_tenant_never_verifies_as_another_tenants_even_with_the_same_secret(other: str) -> None:
    claims = _claims()
    token = sign(claims, KEY)
    impostor = replace(KEY, tenant=other)
    assert verify(token, survey_id=claims.survey_id, key=impostor, now=NOW) is LinkProblem.tampered


def test_a_link_with_a_changed_expiry_is_tampered() -> None:
    claims = _claims()
    kid, payload, signature = sign(claims, KEY).split(".")
    raw = bytearray(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    raw[16:21] = int((NOW + timedelta(days=999)).timestamp()).to_bytes(5, "big")
    forged = f"{kid}.{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}.{signature}"
    assert verify(forged, survey_id=claims.survey_id, key=KEY, now=NOW) is LinkProblem.tampered


def test_a_link_naming_another_key_id_is_tampered() -> None:
    claims = _claims()
    _, payload, signature = sign(claims, KEY).split(".")
    other = LinkKey("demo", "AAAAAAAA", KEY.secret)
    forged = f"{other.key_id}.{payload}.{signature}"
    assert verify(forged, survey_id=claims.survey_id, key=other, now=NOW) is LinkProblem.tampered


@given(st.integers(0, 200), st.sampled_from("ABCxyz019-_."))
def test_any_changed_character_makes_a_link_tampered(position: int, replacement: str) -> None:
    claims = _claims()
    token = sign(claims, KEY)
    i = position % len(token)
    changed = token[:i] + replacement + token[i + 1 :]
    if changed == token:
        return
    result = verify(changed, survey_id=claims.survey_id, key=KEY, now=NOW)
    # Base64 padding bits can make two spellings decode alike; then the link is the same link.
    assert result is LinkProblem.tampered or result == claims


def test_a_link_for_another_survey_is_refused() -> None:
    claims = _claims()
    assert verify(sign(claims, KEY), survey_id=uuid4(), key=KEY, now=NOW) is LinkProblem.other_survey


def test_a_link_expires_at_its_expiry() -> None:
    claims = _claims()
    token = sign(claims, KEY)
    just_before = claims.expires_at - timedelta(seconds=1)
    assert verify(token, survey_id=claims.survey_id, key=KEY, now=just_before) == claims
    assert verify(token, survey_id=claims.survey_id, key=KEY, now=claims.expires_at) is LinkProblem.expired


def test_garbage_is_tampered_not_an_error() -> None:
    for token in ("", ".", "abc", "a.b.c", "!!!.???.!!!", "YQ.YQ", "AAAAAAAA.YQ.YQ", "a.b.c.d"):
        assert verify(token, survey_id=uuid4(), key=KEY, now=NOW) is LinkProblem.tampered
    assert key_id("not a key id.x.y") is None and key_id("") is None
