"""Webhooks' pure rules: which events an endpoint takes (types and filter), what a subscription may name,
which URLs are accepted, and the body a partner receives."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hoera_events.complaints import ComplaintRaised
from hoera_events.envelope import decode, make_envelope
from hoera_events.privacy import ErasureRequested
from hoera_events.surveys import SurveyAnswered
from hoera_intake.webhooks import (
    EndpointFilter,
    body,
    check_subscription,
    check_url,
    customer_of,
    subscribable_types,
    takes,
)
from hoera_kit.refusals import Invalid
from pydantic import ValidationError


def _answer(**changes: Any) -> Any:
    data = SurveyAnswered.example().model_copy(update=changes)
    return make_envelope(data, producer="survey", tenant="demo")


UNHAPPY_NL1 = EndpointFilter(equals={"team_id": "team-nl-1"}, at_most={"satisfaction": 2})


@pytest.mark.parametrize(
    ("changes", "taken"),
    [
        ({"team_id": "team-nl-1", "satisfaction": 1}, True),
        ({"team_id": "team-nl-1", "satisfaction": 2}, True),
        ({"team_id": "team-nl-1", "satisfaction": 3}, False),
        ({"team_id": "team-fr-1", "satisfaction": 1}, False),
        ({"team_id": "team-nl-1", "satisfaction": None}, False),
        ({"team_id": None, "satisfaction": 1}, False),
    ],
)
def test_unhappy_answers_of_one_team_are_taken_and_no_others(changes: dict[str, Any], taken: bool) -> None:
    env = _answer(**changes)
    data = env.data.model_dump(mode="json")
    assert takes(["survey.answered"], UNHAPPY_NL1, env, data) is taken
    assert takes(["*"], UNHAPPY_NL1, env, data) is taken
    assert takes(["complaint.raised"], EndpointFilter(), env, data) is False


def test_bounds_and_equality_compare_like_with_like() -> None:
    data = {"nps": 9, "commented": True, "channel": "phone", "satisfaction": 1}
    assert EndpointFilter(at_least={"nps": 9}, at_most={"nps": 10}).matches(data)
    assert not EndpointFilter(at_least={"nps": 9.5}).matches(data)
    assert EndpointFilter(equals={"commented": True}).matches(data)
    assert not EndpointFilter(equals={"satisfaction": True}).matches(data)
    assert not EndpointFilter(equals={"commented": 1}).matches(data)
    assert not EndpointFilter(at_most={"channel": 3}).matches(data)
    assert EndpointFilter().matches({})


def test_a_filter_is_refused_for_a_field_no_subscribed_type_has_or_a_bound_on_text() -> None:
    assert check_subscription(["survey.answered", "survey.answered"], UNHAPPY_NL1) == ["survey.answered"]
    assert check_subscription(["survey.answered", "*"], EndpointFilter()) == ["*"]
    with pytest.raises(Invalid) as unknown:
        check_subscription(["survey.answered", "survey.answerd"], EndpointFilter())
    assert unknown.value.field == "event_types.1"
    with pytest.raises(Invalid) as missing:
        check_subscription(["complaint.raised"], EndpointFilter(at_most={"satisfaction": 2}))
    assert missing.value.field == "filters.at_most.satisfaction"
    with pytest.raises(Invalid) as text:
        check_subscription(["survey.answered"], EndpointFilter(at_least={"team_id": 1}))
    assert text.value.field == "filters.at_least.team_id"
    with pytest.raises(Invalid):
        check_subscription([], EndpointFilter())
    with pytest.raises(ValidationError):
        EndpointFilter.model_validate({"equals": {"Team Id": "x"}})
    with pytest.raises(ValidationError):
        EndpointFilter.model_validate({"greater": {"nps": 1}})


def test_the_snapshots_of_tenants_and_organisations_are_not_for_partners() -> None:
    types = subscribable_types()
    assert "survey.answered" in types and "customer.erasure_requested" in types
    assert "tenant.defined" not in types and "organisation.changed" not in types


@pytest.mark.parametrize(
    "url",
    [
        "http://crm.example.com/hook",
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://[::1]/hook",
        "https://169.254.169.254/latest",
        "https://localhost:8443/x",
        "https://user:pw@crm.example.com/hook",
        "https://crm.example.com/hook#frag",
        "https://crm.example.com:99999/hook",
        "https:///nohost",
        "ftp://crm.example.com/",
        "https://crm.example.com/a b",
    ],
)
def test_outside_development_only_public_https_urls_without_credentials_are_taken(url: str) -> None:
    with pytest.raises(Invalid) as refused:
        check_url(url, allow_plain_http=False)
    assert refused.value.field == "url"


def test_in_development_plain_http_to_this_machine_is_taken() -> None:
    assert check_url("https://crm.example.com/hoera?x=1", allow_plain_http=False)
    assert check_url("http://127.0.0.1:8999/hook", allow_plain_http=True)
    with pytest.raises(Invalid):
        check_url("ftp://127.0.0.1/", allow_plain_http=True)


def test_the_body_is_the_cloudevent_as_on_kafka_without_words_an_old_answer_may_carry() -> None:
    env = _answer(comment="Mijn adres is Kerkstraat 1")
    sent = body(env)
    assert "Kerkstraat" not in sent
    message = json.loads(sent)
    assert message["specversion"] == "1.0" and message["type"] == "hoera.survey.answered"
    assert message["id"] == str(env.id)
    assert decode(sent.encode()).data.model_dump(exclude={"comment"}) == env.data.model_dump(
        exclude={"comment"}
    )


def test_a_delivery_is_about_the_events_customer_except_the_erasure_events_themselves() -> None:
    raised = make_envelope(ComplaintRaised.example(), producer="intake", tenant="demo")
    assert customer_of(raised) == ComplaintRaised.example().customer_id
    erasure = ErasureRequested(
        erasure_id=uuid.uuid4(),
        customer_id="CUST-1",
        requested_by="admin",
        requested_at=datetime.now(UTC),
    )
    assert customer_of(make_envelope(erasure, producer="intake", tenant="demo")) is None
