"""Signed, single-use, expiring links and the survey page, against the real PostgreSQL (and Kafka,
which the in-process service joins): refused links change nothing, one link gives one answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import httpx
import pytest
from hoera_events.common import Language
from hoera_kit.service import Service
from hoera_survey import handlers, links, store
from hoera_survey.rules import TRIGGERS

from .support import (
    contact_closed,
    envelope,
    immediate_triggers,
    link_in,
    running,
    settings_for,
    unique,
    write_rules,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def service(fresh_db: str) -> AsyncIterator[tuple[Service, httpx.AsyncClient]]:
    async with running(settings_for(fresh_db)) as (svc, http):
        await write_rules(svc, TRIGGERS, immediate_triggers())
        yield svc, http


async def _invite(svc: Service, language: Language = Language.nl) -> tuple[UUID, str]:
    """A survey invited at once; its id and the link's path and query, as the mail carries it."""
    deps = svc.api.state.deps
    customer = unique("cust")
    async with svc.pool.acquire() as conn, conn.transaction():
        await handlers.request_surveys(deps, conn, [envelope(contact_closed(customer, language=language))])
        row = await conn.fetchrow(
            "select s.survey_id, d.body_text from surveys s join kit_deliveries d "
            "on d.reference = 'survey:' || s.survey_id where s.customer_id = $1",
            customer,
        )
    assert row is not None, "no invitation was sent"
    url = urlsplit(link_in(row["body_text"]))
    return row["survey_id"], f"{url.path}?{url.query}"


def _token(path: str) -> str:
    return parse_qs(urlsplit(path).query)["t"][0]


async def _written(svc: Service) -> dict[str, Any]:
    """Everything a link could change: surveys, answers, opt-outs."""
    async with svc.pool.acquire() as conn:
        return {
            "surveys": [
                tuple(r)
                for r in await conn.fetch(
                    "select survey_id, state, link_nonce, answered_at from surveys order by survey_id"
                )
            ],
            "answers": await conn.fetchval("select count(*) from survey_answers"),
            "opt_outs": await conn.fetchval("select count(*) from customers where opted_out_at is not null"),
        }


ANSWER = {"satisfaction": "4", "effort": "5", "nps": "9", "attr_friendly": "5", "comment": "Top!"}


async def test_a_genuine_link_shows_the_survey_in_the_customers_language(
    service: tuple[Service, httpx.AsyncClient],
) -> None:
    svc, http = service
    _, path = await _invite(svc, Language.fr)
    page = await http.get(path)
    assert page.status_code == 200
    assert '<html lang="fr">' in page.text and "Envoyer ma réponse" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    dutch = await http.get(path + "&lang=nl")
    assert '<html lang="nl">' in dutch.text and "Verstuur mijn antwoord" in dutch.text


async def test_a_tampered_signature_is_refused_with_a_friendly_page_and_nothing_written(
    service: tuple[Service, httpx.AsyncClient],
) -> None:
    svc, http = service
    survey_id, path = await _invite(svc, Language.fr)
    key_id, payload, signature = _token(path).split(".")
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    forged = f"{key_id}.{payload}.{flipped}"
    before = await _written(svc)
    page = await http.get(f"/s/{survey_id}", params={"t": forged})
    post = await http.post(f"/s/{survey_id}", data={**ANSWER, "t": forged})
    opt_out = await http.post(f"/s/{survey_id}/opt-out", data={"t": forged})
    assert (page.status_code, post.status_code, opt_out.status_code) == (403, 403, 403)
    assert "Utilisez le lien de notre message" in page.text  # the customer's language, not a stack trace
    assert await _written(svc) == before


async def test_a_replayed_link_is_refused_after_its_one_answer(
    service: tuple[Service, httpx.AsyncClient],
) -> None:
    svc, http = service
    survey_id, path = await _invite(svc)
    first = await http.post(f"/s/{survey_id}", data={**ANSWER, "t": _token(path)})
    assert first.status_code == 303 and first.headers["location"].startswith(f"/s/{survey_id}/thanks")
    after_first = await _written(svc)
    assert after_first["answers"] == 1
    again = await http.post(f"/s/{survey_id}", data={**ANSWER, "nps": "0", "t": _token(path)})
    reopened = await http.get(path)
    assert (again.status_code, reopened.status_code) == (409, 409)
    assert "al ingevuld" in reopened.text
    assert await _written(svc) == after_first
    async with svc.pool.acquire() as conn:
        assert await conn.fetchval("select nps from survey_answers where survey_id = $1", survey_id) == 9


async def test_a_double_submit_at_the_same_instant_records_one_answer(
    service: tuple[Service, httpx.AsyncClient],
) -> None:
    svc, http = service
    survey_id, path = await _invite(svc)
    responses = await asyncio.gather(
        *(http.post(f"/s/{survey_id}", data={**ANSWER, "t": _token(path)}) for _ in range(5))
    )
    assert sorted(r.status_code for r in responses) == [303, 409, 409, 409, 409]
    assert (await _written(svc))["answers"] == 1


async def test_an_expired_link_is_refused_and_changes_nothing(
    service: tuple[Service, httpx.AsyncClient],
) -> None:
    svc, http = service
    survey_id, path = await _invite(svc)
    deps = svc.api.state.deps
    real_clock = deps.clock
    deps.clock = lambda: real_clock() + timedelta(days=15)  # the template: 5 business days
    try:
        before = await _written(svc)
        page = await http.get(path)
        post = await http.post(f"/s/{survey_id}", data={**ANSWER, "t": _token(path)})
        assert (page.status_code, post.status_code) == (410, 410)
        assert "verlopen" in page.text
        assert await _written(svc) == before
    finally:
        deps.clock = real_clock


async def test_a_link_for_another_survey_is_refused_and_changes_neither(
    service: tuple[Service, httpx.AsyncClient],
) -> None:
    svc, http = service
    _, path_a = await _invite(svc)
    survey_b, _ = await _invite(svc)
    before = await _written(svc)
    page = await http.get(f"/s/{survey_b}", params={"t": _token(path_a)})
    post = await http.post(f"/s/{survey_b}", data={**ANSWER, "t": _token(path_a)})
    assert (page.status_code, post.status_code) == (403, 403)
    assert await _written(svc) == before


async def test_a_link_signed_with_the_tenants_key_but_not_issued_is_refused(
    service: tuple[Service, httpx.AsyncClient],
) -> None:
    svc, http = service
    survey_id, path = await _invite(svc)
    deps = svc.api.state.deps
    async with svc.pool.acquire() as conn:
        key = await store.link_key(conn, links.key_id(_token(path)) or "")
    claims = links.verify(_token(path), survey_id=survey_id, key=key, now=deps.now())
    assert key is not None and isinstance(claims, links.LinkClaims)
    other_nonce = links.LinkClaims(survey_id, claims.expires_at, links.new_nonce())
    before = await _written(svc)
    post = await http.post(f"/s/{survey_id}", data={**ANSWER, "t": links.sign(other_nonce, key)})
    assert post.status_code == 403
    assert await _written(svc) == before


async def test_an_answer_out_of_range_shows_the_form_again_and_writes_nothing(
    service: tuple[Service, httpx.AsyncClient],
) -> None:
    svc, http = service
    survey_id, path = await _invite(svc, Language.en)
    before = await _written(svc)
    for bad in ({"satisfaction": "6"}, {"nps": "eleven"}, {"contact_me": "yes", "moment": "midnight"}):
        response = await http.post(f"/s/{survey_id}", data={**bad, "t": _token(path)})
        assert response.status_code == 422
        assert "One answer was not valid" in response.text
    assert await _written(svc) == before
    ok = await http.post(f"/s/{survey_id}", data={"satisfaction": "5", "t": _token(path)})
    assert ok.status_code == 303


async def test_the_thank_you_page_speaks_the_chosen_language(
    service: tuple[Service, httpx.AsyncClient],
) -> None:
    svc, http = service
    survey_id, path = await _invite(svc, Language.nl)
    done = await http.post(f"/s/{survey_id}", data={"satisfaction": "5", "lang": "fr", "t": _token(path)})
    thanks = await http.get(done.headers["location"])
    assert thanks.status_code == 200 and "Merci beaucoup" in thanks.text
    async with svc.pool.acquire() as conn:
        assert (
            await conn.fetchval("select language from survey_answers where survey_id = $1", survey_id) == "fr"
        )


async def test_opting_out_on_the_page_suppresses_the_next_survey(
    service: tuple[Service, httpx.AsyncClient],
) -> None:
    svc, http = service
    survey_id, path = await _invite(svc)
    response = await http.post(f"/s/{survey_id}/opt-out", data={"t": _token(path)})
    assert response.status_code == 200 and "geen vragenlijsten meer" in response.text
    async with svc.pool.acquire() as conn:
        customer = await conn.fetchval("select customer_id from surveys where survey_id = $1", survey_id)
        await conn.execute("delete from budget_spends")  # so that only the opt-out can stop it
    deps = svc.api.state.deps
    async with svc.pool.acquire() as conn, conn.transaction():
        await handlers.request_surveys(deps, conn, [envelope(contact_closed(customer))])
    async with svc.pool.acquire() as conn:
        reasons = await conn.fetch("select reason from suppressions where customer_id = $1", customer)
    assert [r["reason"] for r in reasons] == ["opted_out"]


async def test_a_mangled_link_and_a_thank_you_page_without_its_link_show_nothing_of_the_survey(
    service: tuple[Service, httpx.AsyncClient],
) -> None:
    svc, http = service
    survey_id, path = await _invite(svc, Language.fr)
    cut_short = await http.get(f"/s/{str(survey_id)[:20]}", params={"t": _token(path)})
    assert cut_short.status_code == 404
    assert "We vinden deze vragenlijst niet" in cut_short.text  # the organisation's language: demo's
    done = await http.post(f"/s/{survey_id}", data={"satisfaction": "5", "t": _token(path)})
    assert done.status_code == 303
    for guess in ({"lang": "fr"}, {"lang": "fr", "t": "AAAAAAAA.x.y"}):
        refused = await http.get(f"/s/{survey_id}/thanks", params=guess)
        assert refused.status_code == 403 and "Merci beaucoup" not in refused.text
    assert "Merci beaucoup" in (await http.get(done.headers["location"])).text
