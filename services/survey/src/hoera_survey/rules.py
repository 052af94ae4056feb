"""R8: the operator's data, per tenant: fatigue caps, when and how each trigger is surveyed, and every
text a customer reads.

Three rule documents, each validated whole by its model below: ``caps``, ``triggers`` and ``texts``.
A tenant reads its template's documents (rules/templates/<nl|fr>/<name>.json: a Dutch-speaking and a
French-speaking health insurer) until an administrator changes one through the kit's /admin/rules
routes, which keep every version with who, when and why (hoera_kit.rules). Dates are computed on the
tenant's business calendar and the sender of the mail is the tenant's own: both come from the tenant
registry (intake owns them), so neither is a rule of this service.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Annotated, Any

from hoera_events.callbacks import CallbackOutcome
from hoera_events.common import Channel as ContactChannel
from hoera_events.common import Language, MessageChannel, PreferredMoment
from hoera_events.surveys import AgentAttribute, SurveyTrigger
from hoera_kit.calendar import Span
from hoera_kit.rules import RuleBook, RuleDocument
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, field_serializer

from hoera_survey.domain import UNHAPPY_MAX_SMILEY, Cap, Question, SendWindow

TEMPLATES = Path(__file__).resolve().parents[2] / "rules" / "templates"


class _Rules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CapsRules(_Rules):
    """R21, R30: the customer's contact budget, shared by surveys and proactive messages."""

    caps: list[Cap] = Field(max_length=20)


class TriggerRule(_Rules):
    """R17: whether, when and how one trigger is surveyed, and what the survey asks (R18, R19)."""

    enabled: bool = True
    delay_minutes: Annotated[StrictInt, Field(ge=0, le=7 * 24 * 60)]
    """Minutes after the contact (0: at once). Minutes, not days: asked while it is fresh (R17)."""
    send_window: SendWindow | None = None
    """The hours invitations go out, on the tenant's calendar; none: at any hour."""
    link_valid_for: Span
    """How long the link works after the invitation, on the tenant's calendar (to that day's end)."""
    channels: frozenset[ContactChannel] = frozenset(ContactChannel)
    """Contacts of these channels are surveyed; others are suppressed (channel_not_surveyed)."""
    delivery: dict[ContactChannel, MessageChannel] = Field(default_factory=dict)
    """The preferred way to send the invitation per contact channel (default e-mail; R30)."""
    questions: list[Question] = Field(min_length=1)
    attributes: list[AgentAttribute] = Field(default_factory=lambda: list(AgentAttribute))
    """The agent's qualities asked about when ``attributes`` is among the questions (R18)."""
    callback_outcomes: frozenset[CallbackOutcome] = frozenset({CallbackOutcome.closed_positively})
    """For callbacks only: the outcomes that earn a short recovery survey."""

    # Sets are written out in their enum's order: a set's own order varies with the hash seed, and a
    # document read back (the console's form, a stored version) must compare equal to itself.
    @field_serializer("channels")
    def _channels_in_order(self, values: frozenset[ContactChannel]) -> list[ContactChannel]:
        return [c for c in ContactChannel if c in values]

    @field_serializer("callback_outcomes")
    def _outcomes_in_order(self, values: frozenset[CallbackOutcome]) -> list[CallbackOutcome]:
        return [o for o in CallbackOutcome if o in values]

    def preferred_delivery(self, channel: ContactChannel) -> MessageChannel:
        return self.delivery.get(channel, MessageChannel.email)


class TriggerRules(_Rules):
    contact_closed: TriggerRule
    complaint_closed: TriggerRule
    callback_completed: TriggerRule
    unhappy_max_smiley: Annotated[StrictInt, Field(ge=1, le=4)] = UNHAPPY_MAX_SMILEY
    """A satisfaction smiley at or below this one is unhappy: the page then asks why (the tenant's
    reasons, Organisation.feedback), and only then is a reason kept. At most 4: the happiest smiley
    is never unhappy."""

    def for_trigger(self, trigger: SurveyTrigger) -> TriggerRule:
        rule: TriggerRule = getattr(self, trigger.value)
        return rule


Text = Annotated[str, StringConstraints(min_length=1, max_length=2000, strip_whitespace=True)]
FiveLabels = Annotated[list[Text], Field(min_length=5, max_length=5)]
PLACEHOLDERS = {
    "link": "the survey's signed link",
    "expires_on": "the last day the link works (dd/mm/yyyy)",
    "organisation": "the organisation's name, as the tenant is defined",
}


def _placeholders(text: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise ValueError(f"not a valid template ({exc}); write a literal brace as {{{{ or }}}}") from exc


class Texts(_Rules):
    """Everything a customer reads, in one language (R22). The mail and SMS may use the
    placeholders {link}, {expires_on} and {organisation}; the body must carry {link}."""

    mail_subject: Text
    mail_body: Text
    sms_body: Annotated[str, StringConstraints(min_length=1, max_length=320)]
    page_title: Text
    intro_contact_closed: Text
    intro_complaint_closed: Text
    intro_callback_completed: Text
    optional_hint: Text
    satisfaction_question: Text
    smiley_labels: FiveLabels
    """From the unhappiest to the happiest face."""
    effort_question: Text
    effort_labels: FiveLabels
    """From very hard to very easy: 5 is the easiest, so higher is better everywhere."""
    nps_question: Text
    nps_low: Text
    nps_high: Text
    attributes_question: Text
    attribute_names: dict[AgentAttribute, Text]
    comment_question: Text
    comment_hint: Text
    contact_me_label: Text
    moment_question: Text
    moments: dict[PreferredMoment, Text]
    channel_question: Text
    channels: dict[ContactChannel, Text]
    submit: Text
    language_label: Text
    thanks_title: Text
    thanks_body: Text
    problem_title: Text
    problem_tampered: Text
    problem_expired: Text
    problem_used: Text
    problem_unknown: Text
    invalid_answer: Text
    opt_out_label: Text
    opt_out_done: Text


class TextRules(_Rules):
    """R22: Dutch, French and English, each complete."""

    nl: Texts
    fr: Texts
    en: Texts

    def for_language(self, language: Language) -> Texts:
        texts: Texts = getattr(self, language.value)
        return texts


# --- cross-field rules: each problem named by its field, all of them at once (a 422) ---------------

Problems = list[tuple[str, str]]


def caps_problems(doc: CapsRules) -> Problems:
    """R21: each cap has its own name (the suppression reports count by it)."""
    seen: set[str] = set()
    problems: Problems = []
    for i, cap in enumerate(doc.caps):
        if cap.name in seen:
            problems.append((f"caps.{i}.name", f"{cap.name!r} is already the name of another cap"))
        seen.add(cap.name)
    return problems


def trigger_problems(doc: TriggerRules) -> Problems:
    """R17, R18: what one trigger's rule must agree with itself on."""
    problems: Problems = []
    for trigger in SurveyTrigger:
        rule, at = doc.for_trigger(trigger), trigger.value
        if len(set(rule.questions)) != len(rule.questions):
            problems.append((f"{at}.questions", "each question at most once"))
        if len(set(rule.attributes)) != len(rule.attributes):
            problems.append((f"{at}.attributes", "each attribute at most once"))
        if Question.attributes in rule.questions and not rule.attributes:
            problems.append((f"{at}.attributes", "name at least one when the attributes question is asked"))
        for channel, way in sorted(rule.delivery.items()):
            if way is MessageChannel.letter:
                problems.append(
                    (f"{at}.delivery.{channel.value}", "a letter is too slow for a survey; use email or sms")
                )
        if not (rule.link_valid_for.business_days or rule.link_valid_for.seconds):
            problems.append((f"{at}.link_valid_for", "a link must work for some time"))
    return problems


def text_problems(doc: TextRules) -> Problems:
    """R22: every language complete, and the invitation's templates fill in."""
    problems: Problems = []
    for language in Language:
        texts, at = doc.for_language(language), language.value
        for field, required in (("mail_subject", set()), ("mail_body", {"link"}), ("sms_body", {"link"})):
            try:
                used = _placeholders(getattr(texts, field))
            except ValueError as exc:
                problems.append((f"{at}.{field}", str(exc)))
                continue
            if unknown := used - set(PLACEHOLDERS):
                problems.append(
                    (
                        f"{at}.{field}",
                        f"unknown placeholder {sorted(unknown)}; allowed {sorted(PLACEHOLDERS)}",
                    )
                )
            if missing := required - used:
                problems.append((f"{at}.{field}", f"must contain {{{sorted(missing)[0]}}}"))
        for field, keys in (
            ("attribute_names", set(AgentAttribute)),
            ("moments", set(PreferredMoment)),
            ("channels", set(ContactChannel)),
        ):
            if missing_keys := keys - set(getattr(texts, field)):
                problems.append((f"{at}.{field}", f"missing {sorted(missing_keys)}"))
    return problems


CAPS = RuleDocument(
    "caps",
    CapsRules,
    "R21, R30: how many surveys and proactive messages one customer may get per period (rolling days)",
    check=caps_problems,
)
TRIGGERS = RuleDocument(
    "triggers",
    TriggerRules,
    "R17: per trigger (a closed contact, a closed complaint, a completed callback): whether it is "
    "surveyed, the delay, the hours invitations go out, how long the link works, the channels and "
    "the questions",
    check=trigger_problems,
)
TEXTS = RuleDocument(
    "texts",
    TextRules,
    "R22: every text of the invitation and the survey page, in Dutch, French and English",
    check=text_problems,
)
DOCUMENTS: tuple[RuleDocument[Any], ...] = (CAPS, TRIGGERS, TEXTS)


def declare(book: RuleBook) -> None:
    """Register the documents with the service's rule book (its admin routes then serve them)."""
    for doc in DOCUMENTS:
        book.document(doc.name, doc.model, description=doc.description, check=doc.check)
