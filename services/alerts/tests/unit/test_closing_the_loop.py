"""Closing the loop, pure: the unhappy mail names the customer's reason and their comment's topics in
the reader's language; an overdue recovery case goes to whoever acts for the team's supervisor, with
management as the last resort; a tenant's texts written before the overdue case's mail still validate;
the topic × reason table is read off the counts."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from hoera_alerts.domain import (
    FEEDBACK_WORDS,
    PLACEHOLDERS,
    Texts,
    UnhappyRule,
    answers_block,
    case_recipient,
    compose,
    feedback_words,
    reason_text,
    status_of_new,
    topics_text,
    unhappy_findings,
)
from hoera_alerts.rules import TEMPLATES, TEXTS
from hoera_alerts.store import CodeCount, FeedbackCounts, PairCount
from hoera_devkit.testing import demo_organisation
from hoera_events.alerts import AlertKind, RecipientRole
from hoera_events.common import Language
from hoera_events.organisation import Absence, Organisation
from hoera_events.surveys import SurveyAnswered

DAY = date(2026, 7, 8)


def template(name: str, kind: str = "nl") -> Any:
    return json.loads((TEMPLATES / kind / f"{name}.json").read_text())


def org(**changes: Any) -> Organisation:
    base: Organisation = demo_organisation("acme")
    return Organisation.model_validate({**base.model_dump(), **changes})


def test_the_reason_and_topics_are_named_in_the_readers_language() -> None:
    o = org()
    assert reason_text(o, "waiting-time", Language.fr) == "J'ai dû attendre trop longtemps"
    assert reason_text(o, "waiting-time", Language.nl) == "Ik moest te lang wachten"
    assert reason_text(o, "since-removed", Language.en) == "since-removed"
    assert reason_text(o, None, Language.en) is None
    assert topics_text(o, ["payment", "waiting", "payment"], Language.en) == "Payment, Waiting"


def test_the_unhappy_mail_lists_the_reason_and_topics_with_the_answers() -> None:
    answer = SurveyAnswered.example()  # reason waiting-time, topics waiting and payment
    texts = Texts.model_validate(template("texts"))
    labels = texts.labels[Language.fr]
    reason_word, topics_word = feedback_words(labels, Language.fr)
    block = answers_block(
        answer,
        labels,
        unhappy_findings(answer, UnhappyRule()),
        reason=(reason_word, reason_text(org(), answer.reason, Language.fr) or ""),
        topics=(topics_word, topics_text(org(), answer.topics, Language.fr)),
    )
    assert "- Satisfaction: 2/5  <<" in block
    assert "- Raison du mécontentement: J'ai dû attendre trop longtemps" in block
    assert "- Sujets du commentaire: Temps d'attente, Remboursement" in block
    without = answers_block(answer, labels, (), reason=(reason_word, ""), topics=(topics_word, ""))
    assert reason_word not in without and topics_word not in without


def test_a_texts_document_without_the_words_uses_the_built_in_ones() -> None:
    body = template("texts")
    for labels in body["labels"].values():
        del labels["reason"], labels["topics"]
    texts = TEXTS.validate(body)
    assert feedback_words(texts.labels[Language.nl], Language.nl) == FEEDBACK_WORDS[Language.nl]


def test_texts_written_before_the_overdue_case_mail_are_still_valid() -> None:
    body = template("texts", "fr")
    del body["mails"]["recovery_overdue"]
    assert TEXTS.validate(body).mails.recovery_overdue is None


def test_the_overdue_case_mail_fills_every_placeholder_in_every_language() -> None:
    for kind in ("nl", "fr"):
        texts = Texts.model_validate(template("texts", kind))
        for language in Language:
            values = {name: f"<{name}>" for name in PLACEHOLDERS[AlertKind.recovery_overdue.value]}
            mail = compose(texts, AlertKind.recovery_overdue.value, language, values)
            assert "<case_link>" in mail.body and "<act_link>" in mail.body and "{" not in mail.body


def test_an_overdue_case_waits_for_the_supervisor_on_the_dashboard() -> None:
    assert status_of_new(AlertKind.recovery_overdue).value == "open"


def test_an_overdue_case_goes_to_whoever_acts_for_the_teams_supervisor() -> None:
    def told(o: Organisation, team: str | None) -> tuple[str, RecipientRole] | None:
        r = case_recipient(o, team, DAY)
        return (r.person.id, r.role) if r is not None else None

    away = [Absence(person=p, starts_on=DAY, ends_on=DAY) for p in ("sup-sara", "sup-dirk")]
    assert told(org(), "team-nl-1") == ("sup-sara", RecipientRole.supervisor)
    assert told(org(absences=away[:1]), "team-nl-1") == ("sup-dirk", RecipientRole.deputy)
    assert told(org(absences=away), "team-nl-1") == ("mgmt-lena", RecipientRole.management)
    # No team, or one the organisation does not know: management, not the back office.
    assert told(org(), None) == ("mgmt-lena", RecipientRole.management)
    assert told(org(), "team-gone") == ("mgmt-lena", RecipientRole.management)
    assert told(org(management=[]), None) is None


def test_the_topic_by_reason_table_is_read_off_the_counts() -> None:
    counts = FeedbackCounts(
        topics=[CodeCount("waiting", 5), CodeCount("payment", 3), CodeCount("staff", 1)],
        reasons=[CodeCount("not-solved", 4), CodeCount("waiting-time", 2)],
        pairs=[PairCount("waiting", "waiting-time", 2), PairCount("payment", "not-solved", 3)],
    )
    assert counts.pair_topics == ["waiting", "payment"]
    assert counts.pair_reasons == ["not-solved", "waiting-time"]
    assert counts.pair("payment", "not-solved") == 3
    assert counts.pair("waiting", "not-solved") == 0
