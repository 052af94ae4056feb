"""R27 without the words in the event: the context's survey comment comes from the survey service when
the answer says `commented` (asked once per tenant of a batch); an older event's words are read as they
come; an erased customer's are not taken back."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from hoera_callback.handlers.read_model import _comments
from hoera_events.surveys import SurveyAnswered


class Comments:
    def __init__(self, words: dict[uuid.UUID, str]) -> None:
        self.words = words
        self.calls: list[tuple[str, list[uuid.UUID]]] = []

    async def resolve(self, tenant: str, survey_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
        self.calls.append((tenant, list(survey_ids)))
        return {i: w for i, w in self.words.items() if i in survey_ids}


class Erasures:
    def __init__(self, *erased: str) -> None:
        self.erased = set(erased)

    async def fetch(self, query: str, tenants: list[str], customers: list[str]) -> list[dict[str, str]]:
        assert "kit_erasures" in query
        return [
            {"tenant": t, "customer_id": c}
            for t, c in zip(tenants, customers, strict=True)
            if c in self.erased
        ]


async def _comment(deps: Any, conn: Any, tenant: str, event: SurveyAnswered) -> str | None:
    [words] = await _comments(deps, conn, [(tenant, event)])
    return words


def answer(**fields: Any) -> SurveyAnswered:
    return SurveyAnswered.example().model_copy(update={"survey_id": uuid.uuid4(), **fields})


async def test_a_commented_answer_gets_its_words_from_the_survey_service() -> None:
    event = answer()
    comments = Comments({event.survey_id: "Niemand belde terug."})
    deps: Any = SimpleNamespace(survey_comments=comments)
    assert await _comment(deps, Erasures(), "demo", event) == "Niemand belde terug."
    assert comments.calls == [("demo", [event.survey_id])]


async def test_an_older_event_or_an_answer_without_a_comment_makes_no_call() -> None:
    comments = Comments({})
    deps: Any = SimpleNamespace(survey_comments=comments)
    assert (
        await _comment(deps, Erasures(), "demo", answer(comment="old words", commented=False)) == "old words"
    )
    assert await _comment(deps, Erasures(), "demo", answer(comment="beside the flag")) == "beside the flag"
    assert await _comment(deps, Erasures(), "demo", answer(commented=False)) is None
    assert comments.calls == []


async def test_an_erased_customer_gets_no_words_back_from_a_late_answer() -> None:
    event = answer()
    deps: Any = SimpleNamespace(survey_comments=Comments({event.survey_id: "still on file"}))
    assert await _comment(deps, Erasures(event.customer_id), "demo", event) is None


async def test_a_batch_asks_the_survey_service_once_per_tenant() -> None:
    first, second, other = answer(), answer(comment="old words", commented=False), answer()
    comments = Comments({first.survey_id: "Te lang gewacht.", other.survey_id: "Trop attendu."})
    deps: Any = SimpleNamespace(survey_comments=comments)
    words = await _comments(deps, Erasures(), [("demo", first), ("demo", second), ("acme", other)])
    assert words == ["Te lang gewacht.", "old words", "Trop attendu."]
    assert comments.calls == [("demo", [first.survey_id]), ("acme", [other.survey_id])]
