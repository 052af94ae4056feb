"""R18, R19, R22: the customer's side, reached by a signed link without a login. The link names its
tenant's key, so the tenant comes from the link, never from what a caller types; the survey, its
rule and every text are then read in that tenant only.

Closing the loop: after an unhappy smiley the page asks why, from the reasons the tenant's
organisation defines (Organisation.feedback.reasons); the comment is tagged with the tenant's comment
topics (hoera_survey.topics). Both travel in SurveyAnswered as codes; the words stay here."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hoera_events.common import Language
from hoera_events.organisation import FeedbackReason
from hoera_events.surveys import ContactMeRequest, SurveyAnswered
from hoera_kit.db import Conn
from hoera_kit.rules import DEFAULT_TEMPLATE

from hoera_survey import links, store, topics
from hoera_survey.domain import Answer
from hoera_survey.handlers.link_keys import link_key
from hoera_survey.handlers.standing import opt_out
from hoera_survey.handlers.tenants import organisation_of
from hoera_survey.metrics import SATISFACTION
from hoera_survey.rules import TEXTS, TRIGGERS, TextRules, TriggerRule
from hoera_survey.store import AnswerComment, SurveyRow, SurveyState

if TYPE_CHECKING:
    from hoera_survey.handlers import Deps


@dataclass(frozen=True)
class Opened:
    """A link that works: its survey, waiting for an answer."""

    survey: SurveyRow
    claims: links.LinkClaims


@dataclass(frozen=True)
class LinkCheck:
    """What a link opens, or why it does not; with what the page needs to speak the customer's
    language and the tenant's texts either way."""

    outcome: Opened | links.LinkProblem
    tenant: str | None
    """The tenant whose key signed the link; None when no key of ours did."""
    survey: SurveyRow | None
    texts: TextRules
    organisation_language: Language | None

    @property
    def customer_language(self) -> Language | None:
        """R22: the language the survey was sent in (the customer's), else the organisation's."""
        return self.survey.language if self.survey is not None else self.organisation_language


async def _texts(deps: Deps, conn: Conn, tenant: str | None) -> tuple[TextRules, Language | None]:
    if tenant is None:
        # No tenant to speak for (a link no key of ours signed): the default template's words.
        return deps.rules.template_document(TEXTS, DEFAULT_TEMPLATE), None
    texts = await deps.rules.get(conn, tenant, TEXTS)
    return texts, (await organisation_of(deps, tenant)).language


async def open_link(deps: Deps, conn: Conn, survey_id: uuid.UUID, token: str) -> LinkCheck:
    """The survey a link opens, or why it does not (checked against what was issued)."""
    key = await link_key(deps, conn, token)
    survey = await store.get_survey(conn, key.tenant, survey_id) if key is not None else None
    outcome = _check(deps, token, survey_id, key, survey)
    tenant = key.tenant if key is not None else None
    texts, language = await _texts(deps, conn, tenant)
    return LinkCheck(outcome, tenant, survey, texts, language)


def _check(
    deps: Deps, token: str, survey_id: uuid.UUID, key: links.LinkKey | None, survey: SurveyRow | None
) -> Opened | links.LinkProblem:
    checked = links.verify(token, survey_id=survey_id, key=key, now=deps.now())
    if isinstance(checked, links.LinkProblem):
        return checked
    if survey is None or survey.state in (SurveyState.scheduled, SurveyState.suppressed):
        return links.LinkProblem.unknown
    if survey.state is SurveyState.answered:
        return links.LinkProblem.used
    if survey.link_nonce != checked.nonce:
        return links.LinkProblem.tampered
    if survey.expires_at is None or survey.expires_at <= deps.now():
        return links.LinkProblem.expired
    return Opened(survey, checked)


async def open_answered(deps: Deps, conn: Conn, survey_id: uuid.UUID, token: str) -> LinkCheck:
    """The thank-you page's check: the link is ours, for this survey, and the survey was answered."""
    key = await link_key(deps, conn, token)
    survey = await store.get_survey(conn, key.tenant, survey_id) if key is not None else None
    outcome: Opened | links.LinkProblem = (
        links.LinkProblem.tampered if key is None else links.LinkProblem.unknown
    )
    if survey is not None and survey.state is SurveyState.answered and survey.answered_at is not None:
        # Checked at the moment it was used: a link answered in its last second still says thank you.
        checked = links.verify(token, survey_id=survey_id, key=key, now=survey.answered_at)
        outcome = checked if isinstance(checked, links.LinkProblem) else Opened(survey, checked)
    tenant = key.tenant if key is not None else None
    texts, language = await _texts(deps, conn, tenant)
    return LinkCheck(outcome, tenant, survey, texts, language)


async def unknown_survey(deps: Deps, conn: Conn, token: str) -> LinkCheck:
    """A link whose survey id is mangled: unknown, in the words of the tenant whose key it names."""
    key = await link_key(deps, conn, token)
    tenant = key.tenant if key is not None else None
    texts, language = await _texts(deps, conn, tenant)
    return LinkCheck(links.LinkProblem.unknown, tenant, None, texts, language)


async def trigger_rule(deps: Deps, conn: Conn, survey: SurveyRow) -> TriggerRule:
    """What the survey asks: its trigger's rule in its tenant's documents."""
    return (await asked(deps, conn, survey)).rule


@dataclass(frozen=True)
class Asked:
    """What a survey's page asks: its trigger's questions, and after an unhappy satisfaction smiley
    why, from the tenant's reasons."""

    rule: TriggerRule
    unhappy_max_smiley: int
    reasons: list[FeedbackReason]
    """The tenant's reasons (its organisation's feedback); none: the question is not asked."""


async def asked(deps: Deps, conn: Conn, survey: SurveyRow) -> Asked:
    """The survey's trigger rule and what counts as unhappy (its tenant's triggers document), and
    the tenant's reasons (the organisation's replica)."""
    triggers = await deps.rules.get(conn, survey.tenant, TRIGGERS)
    feedback = deps.tenants.organisation(survey.tenant).feedback
    return Asked(triggers.for_trigger(survey.trigger), triggers.unhappy_max_smiley, list(feedback.reasons))


MAX_TOPICS = 50
"""SurveyAnswered carries at most 50 topics (a tenant may define 200): the first in the tenant's order."""


class UnknownReason(ValueError):
    """The answer names a reason the tenant does not offer (a hand-made form, or one removed since the
    page was shown): refused, nothing changes."""


def check_reason(answer: Answer, questions: Asked) -> None:
    """Refuse a reason that is not one of the tenant's, whatever smiley came with it."""
    if answer.reason is not None and answer.reason not in {r.code for r in questions.reasons}:
        raise UnknownReason(answer.reason)


async def submit_answer(
    deps: Deps,
    conn: Conn,
    tenant: str,
    survey_id: uuid.UUID,
    nonce: str,
    answer: Answer,
    language: Language,
) -> SurveyRow | None:
    """R18, R19: store the answer and spend the link in one transaction; None if it was spent.
    UnknownReason, before anything is written, for a reason the tenant does not offer; a known reason
    is kept only with an unhappy satisfaction smiley. The comment is tagged with the tenant's topics
    in the language the customer answered in."""
    now = deps.now()
    survey = await store.get_survey(conn, tenant, survey_id)
    if survey is None:
        return None
    questions = await asked(deps, conn, survey)
    check_reason(answer, questions)
    survey = await store.consume_link(conn, tenant, survey_id, nonce, now)
    if survey is None:
        return None
    answer = answer.limited_to(
        questions.rule.questions, questions.rule.attributes, questions.unhappy_max_smiley
    )
    found = await _topics(deps, tenant, answer.comment, language)
    await store.add_answer(conn, tenant, survey_id, answer, answered_at=now, language=language, topics=found)
    if answer.satisfaction is not None:
        SATISFACTION.labels("survey", tenant, str(answer.satisfaction)).inc()
    contact_me = (
        ContactMeRequest(
            preferred_channel=answer.contact_me.channel,
            preferred_moment=answer.contact_me.moment,
        )
        if answer.contact_me
        else None
    )
    await deps.emit(
        conn,
        SurveyAnswered(
            survey_id=survey.survey_id,
            customer_id=survey.customer_id,
            trigger=survey.trigger,
            channel=survey.channel,
            language=language,
            answered_at=now,
            contact_id=survey.contact_id,
            complaint_id=survey.complaint_id,
            callback_id=survey.callback_id,
            agent_id=survey.agent_id,
            team_id=survey.team_id,
            satisfaction=answer.satisfaction,
            effort=answer.effort,
            nps=answer.nps,
            attributes=dict(answer.attributes),
            # The words stay in survey_answers (erasable); the event says only that there are some,
            # and alerts and callback ask for them (POST /internal/survey-comments).
            comment=None,
            commented=bool(answer.comment),
            reason=answer.reason,
            topics=found,
            contact_me=contact_me,
            recording_ref=survey.recording_ref,
            age_band=survey.age_band,
        ),
        tenant=survey.tenant,
        correlation_id=survey.correlation_id,
    )
    return survey


async def _topics(deps: Deps, tenant: str, comment: str | None, language: Language) -> list[str]:
    """The tenant's comment topics in the customer's words (off the event loop: the first comment
    in a language loads that language's dictionary)."""
    if not comment:
        return []
    vocabulary = deps.tenants.organisation(tenant).feedback.topics
    if not vocabulary:
        return []
    found = await asyncio.to_thread(topics.tag, comment, vocabulary, language)
    return found[:MAX_TOPICS]


async def comments(deps: Deps, tenant: str, survey_ids: list[uuid.UUID]) -> dict[uuid.UUID, AnswerComment]:
    """The customers' words of these surveys, for the services that act on them (alerts, callback):
    events say only that there are some, so the words stay here, where erasure reaches them. With
    each, the answer's reason and the topics its words were tagged with."""
    async with deps.transaction() as conn:
        return await store.comments(conn, tenant, survey_ids)


async def opt_out_by_link(deps: Deps, conn: Conn, opened: Opened) -> None:
    """R21: the customer, on their survey's page, wants no more surveys (this link keeps working)."""
    survey = opened.survey
    await opt_out(deps, conn, survey.tenant, survey.customer_id, f"customer:survey:{survey.survey_id}")
