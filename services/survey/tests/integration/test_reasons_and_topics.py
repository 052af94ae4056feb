"""Closing the loop, against the real PostgreSQL and Kafka: after an unhappy smiley the customer says
why (one of the tenant's reasons, Organisation.feedback), and the comment is tagged with the tenant's
topics on lemmas. Both are stored with the answer and published in SurveyAnswered as codes (the words
stay here); a reason with a happy smiley is dropped; a reason the tenant does not offer is refused
and changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit
from uuid import UUID

import httpx
import pytest
from hoera_events.common import Language
from hoera_events.surveys import SurveyAnswered
from hoera_kit.service import Service
from hoera_survey import handlers, privacy
from hoera_survey.rules import TRIGGERS

from .support import (
    TENANT,
    auth,
    contact_closed,
    envelope,
    events_of,
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


async def _invite(svc: Service, language: Language = Language.nl) -> tuple[str, UUID, str, str]:
    """A survey invited at once: its customer, id, the link's path and its token."""
    deps = svc.api.state.deps
    customer = unique("loop")
    async with svc.pool.acquire() as conn, conn.transaction():
        await handlers.request_surveys(deps, conn, [envelope(contact_closed(customer, language=language))])
        row = await conn.fetchrow(
            "select s.survey_id, d.body_text from surveys s join kit_deliveries d "
            "on d.reference = 'survey:' || s.survey_id where s.customer_id = $1",
            customer,
        )
    assert row is not None, "no invitation was sent"
    url = urlsplit(link_in(row["body_text"]))
    return customer, row["survey_id"], url.path, parse_qs(url.query)["t"][0]


async def _stored(svc: Service, survey_id: UUID) -> dict[str, Any] | None:
    async with svc.pool.acquire() as conn:
        row = await conn.fetchrow(
            "select satisfaction, comment, reason, topics from survey_answers where survey_id = $1",
            survey_id,
        )
    return dict(row) if row is not None else None


async def _answered(customer: str) -> SurveyAnswered:
    found = await events_of(SurveyAnswered, {customer}, until=1)
    assert len(found) == 1
    event = found[0].data
    assert isinstance(event, SurveyAnswered)
    return event


async def test_an_unhappy_answer_says_why_and_its_dutch_comment_is_tagged_on_lemmas(
    service: tuple[Service, httpx.AsyncClient],
) -> None:
    svc, http = service
    customer, survey_id, path, token = await _invite(svc)
    page = await http.get(path, params={"t": token})
    assert "Als u niet tevreden was: waarom?" in page.text and "Ik moest te lang wachten" in page.text
    comment = "Ik heb een uur gewacht en toen werd ik doorverbonden."  # "gewacht": the term "wachten"
    posted = await http.post(
        path, data={"t": token, "satisfaction": "1", "reason": "waiting-time", "comment": comment}
    )
    assert posted.status_code == 303, posted.text

    event = await _answered(customer)
    assert (event.satisfaction, event.reason, event.topics) == (1, "waiting-time", ["waiting"])
    assert event.commented is True and event.comment is None  # the words never go into Kafka
    assert await _stored(svc, survey_id) == {
        "satisfaction": 1,
        "comment": comment,
        "reason": "waiting-time",
        "topics": ["waiting"],
    }
    # Alerts' drill-down reads the words with their reason and topics; the export shows both.
    asked = await http.post(
        "/internal/survey-comments",
        json={"tenant": TENANT, "survey_ids": [str(survey_id)]},
        headers=auth("service"),
    )
    assert asked.json() == {
        "comments": {str(survey_id): comment},
        "tags": {str(survey_id): {"reason": "waiting-time", "topics": ["waiting"]}},
    }
    export = await http.get(f"/privacy/customers/{customer}", headers=auth("admin"))
    assert export.status_code == 200, export.text
    [held] = [s for s in export.json()["records"]["surveys"] if s["survey_id"] == str(survey_id)]
    assert (held["reason"], held["topics"]) == ("waiting-time", ["waiting"])
    # An erasure takes the words; the reason and the topics are the tenant's codes, and stay.
    async with svc.pool.acquire() as conn, conn.transaction():
        assert (await privacy.erase(conn, TENANT, customer))["survey_comments"] == 1
    assert await _stored(svc, survey_id) == {
        "satisfaction": 1,
        "comment": None,
        "reason": "waiting-time",
        "topics": ["waiting"],
    }


async def test_a_reason_given_with_a_happy_smiley_is_dropped(
    service: tuple[Service, httpx.AsyncClient],
) -> None:
    svc, http = service
    customer, survey_id, path, token = await _invite(svc)
    comment = "Prima geholpen, ik heb de factuur meteen betaald."  # the terms "factuur", "betalen"
    posted = await http.post(
        path, data={"t": token, "satisfaction": "4", "reason": "waiting-time", "comment": comment}
    )
    assert posted.status_code == 303, posted.text
    event = await _answered(customer)
    assert (event.satisfaction, event.reason) == (4, None)
    assert event.topics == ["payment"]  # topics do not depend on the smiley
    stored = await _stored(svc, survey_id)
    assert stored is not None and (stored["reason"], stored["topics"]) == (None, ["payment"])


async def test_a_reason_the_tenant_does_not_offer_is_refused_and_nothing_is_stored_or_published(
    service: tuple[Service, httpx.AsyncClient],
) -> None:
    svc, http = service
    customer, survey_id, path, token = await _invite(svc, Language.en)
    for reason in ("made-up", "<b>why</b>"):
        refused = await http.post(
            path, data={"t": token, "satisfaction": "1", "reason": reason, "comment": "I waited."}
        )
        assert refused.status_code == 422
        assert "One answer was not valid" in refused.text or "We do not know that reason" in refused.text
    assert (
        "We do not know that reason"
        in (await http.post(path, data={"t": token, "satisfaction": "2", "reason": "made-up"})).text
    )
    assert await _stored(svc, survey_id) is None
    async with svc.pool.acquire() as conn:  # the link was not spent
        assert await conn.fetchval("select state from surveys where survey_id = $1", survey_id) == "invited"
    assert await events_of(SurveyAnswered, {customer}, until=1, timeout=3) == []
    # The link still works: the customer picks a reason from the list.
    again = await http.post(path, data={"t": token, "satisfaction": "2", "reason": "not-solved"})
    assert again.status_code == 303
    assert (await _answered(customer)).reason == "not-solved"
