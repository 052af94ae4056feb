"""R23 without the words in the event: an answer that says `commented` gets the customer's words from the
survey service, one call per tenant of the batch; an older event's words are read as they come; an
erased customer's words are not taken back."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from hoera_alerts.handlers import _with_words
from hoera_events.envelope import Envelope, make_envelope
from hoera_events.surveys import SurveyAnswered


class Comments:
    def __init__(self, words: dict[uuid.UUID, str]) -> None:
        self.words = words
        self.calls: list[tuple[str, list[uuid.UUID]]] = []

    async def resolve(self, tenant: str, survey_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        self.calls.append((tenant, list(survey_ids)))
        return {i: w for i, w in self.words.items() if i in survey_ids}


class Erasures:
    """A connection that answers hoera_kit.privacy.erased's query."""

    def __init__(self, erased: set[tuple[str, str]]) -> None:
        self.erased = erased

    async def fetchval(self, query: str, tenant: str, customer_id: str) -> Any:
        assert "kit_erasures" in query
        return 1 if (tenant, customer_id) in self.erased else None


def answered(tenant: str, **fields: Any) -> Envelope:
    answer = SurveyAnswered.example().model_copy(
        update={"survey_id": uuid.uuid4(), "customer_id": f"CUST-{uuid.uuid4().hex[:6]}", **fields}
    )
    return make_envelope(answer, producer="survey", tenant=tenant)


async def test_commented_answers_get_their_words_in_one_call_per_tenant() -> None:
    batch = [answered("demo"), answered("demo"), answered("acme"), answered("demo", commented=False)]
    data = [e.data_as(SurveyAnswered) for e in batch]
    comments = Comments({data[0].survey_id: "Traag.", data[2].survey_id: "Lent."})
    deps: Any = SimpleNamespace(survey_comments=comments)

    answers = await _with_words(deps, Erasures(set()), batch)

    assert sorted(comments.calls) == [
        ("acme", [data[2].survey_id]),
        ("demo", [data[0].survey_id, data[1].survey_id]),
    ]
    assert [answers[e.id].comment for e in batch] == ["Traag.", None, "Lent.", None]
    assert answers[batch[1].id].has_comment  # commented, its words gone: the mail says "no comment"


async def test_an_older_event_that_carries_the_words_is_read_as_it_comes_without_a_call() -> None:
    batch = [
        answered("demo", comment="Words of an older event", commented=False),
        answered("demo", comment="Words beside the flag"),  # commented and carrying them: as they come
        answered("demo", commented=False),
    ]
    comments = Comments({e.data_as(SurveyAnswered).survey_id: "from survey" for e in batch})
    deps: Any = SimpleNamespace(survey_comments=comments)

    answers = await _with_words(deps, Erasures(set()), batch)

    assert comments.calls == []
    assert [answers[e.id].comment for e in batch] == [
        "Words of an older event",
        "Words beside the flag",
        None,
    ]


async def test_an_erased_customer_gets_no_words_back_from_a_late_answer() -> None:
    late, other = answered("demo"), answered("demo")
    data = {e.id: e.data_as(SurveyAnswered) for e in (late, other)}
    comments = Comments({d.survey_id: "still on file" for d in data.values()})
    deps: Any = SimpleNamespace(survey_comments=comments)

    answers = await _with_words(deps, Erasures({("demo", data[late.id].customer_id)}), [late, other])

    assert answers[late.id].comment is None
    assert answers[other.id].comment == "still on file"
