"""R8: the operator's data: fatigue caps, when and how each trigger is surveyed, and every text.

Three rule sets, each one JSON document validated by a model below: ``caps``, ``triggers`` and
``texts``. They are seeded from ``services/survey/rules/<name>.json`` when the database has none, and
changed afterwards only through the admin API, which validates the whole document (a 422 naming the
bad field, nothing half-applied) and appends it, with who changed it, to the audit trail.
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Self

from hoera_events.callbacks import CallbackOutcome
from hoera_events.common import Channel as ContactChannel
from hoera_events.common import Language, MessageChannel, PreferredMoment
from hoera_events.surveys import AgentAttribute, SurveyTrigger
from hoera_kit.db import Conn
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, model_validator

from hoera_survey.domain import Cap, Question

RULES_DIR = Path(__file__).parents[2] / "rules"


class _Rules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CapsRules(_Rules):
    """R21, R30: the customer's contact budget, shared by surveys and proactive messages."""

    caps: list[Cap]

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        names = [c.name for c in self.caps]
        if len(names) != len(set(names)):
            raise ValueError("caps: every cap needs its own name")
        return self


class TriggerRule(_Rules):
    """R17: whether, when and how one trigger is surveyed, and what the survey asks (R18, R19)."""

    enabled: bool = True
    delay_minutes: Annotated[StrictInt, Field(ge=0, le=7 * 24 * 60)]
    """Minutes after the contact (0: at once). Minutes, not days: asked while it is fresh (R17)."""
    expiry_days: Annotated[StrictInt, Field(ge=1, le=90)] = 7
    channels: frozenset[ContactChannel] = frozenset(ContactChannel)
    """Contacts of these channels are surveyed; others are suppressed (channel_not_surveyed)."""
    delivery: dict[ContactChannel, MessageChannel] = Field(default_factory=dict)
    """The preferred way to send the invitation per contact channel (default e-mail; R30)."""
    questions: list[Question] = Field(min_length=1)
    attributes: list[AgentAttribute] = Field(default_factory=lambda: list(AgentAttribute))
    """The agent's qualities asked about when ``attributes`` is among the questions (R18)."""
    callback_outcomes: frozenset[CallbackOutcome] = frozenset({CallbackOutcome.closed_positively})
    """For callbacks only: the outcomes that earn a short recovery survey."""

    @model_validator(mode="after")
    def _sensible(self) -> Self:
        if len(set(self.questions)) != len(self.questions):
            raise ValueError("questions: each question at most once")
        if len(set(self.attributes)) != len(self.attributes):
            raise ValueError("attributes: each attribute at most once")
        if Question.attributes in self.questions and not self.attributes:
            raise ValueError("attributes: name at least one when the attributes question is asked")
        if MessageChannel.letter in self.delivery.values():
            raise ValueError("delivery: a letter is too slow for a survey; use email or sms")
        return self

    def preferred_delivery(self, channel: ContactChannel) -> MessageChannel:
        return self.delivery.get(channel, MessageChannel.email)


class TriggerRules(_Rules):
    contact_closed: TriggerRule
    complaint_closed: TriggerRule
    callback_completed: TriggerRule

    def for_trigger(self, trigger: SurveyTrigger) -> TriggerRule:
        rule: TriggerRule = getattr(self, trigger.value)
        return rule


Text = Annotated[str, StringConstraints(min_length=1, max_length=2000, strip_whitespace=True)]
FiveLabels = Annotated[list[Text], Field(min_length=5, max_length=5)]


def _placeholders(text: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        raise ValueError(f"not a valid template ({exc}); write a literal brace as {{{{ or }}}}") from exc


class Texts(_Rules):
    """Everything a customer reads, in one language (R22). Templates may use {link}, {expires_on}."""

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

    @model_validator(mode="after")
    def _complete(self) -> Self:
        for field, allowed, required in (
            ("mail_subject", {"expires_on"}, set()),
            ("mail_body", {"link", "expires_on"}, {"link"}),
            ("sms_body", {"link", "expires_on"}, {"link"}),
        ):
            used = _placeholders(getattr(self, field))
            if unknown := used - allowed:
                raise ValueError(f"{field}: unknown placeholder {sorted(unknown)}; allowed {sorted(allowed)}")
            if missing := required - used:
                raise ValueError(f"{field}: must contain {{{sorted(missing)[0]}}}")
        for field, keys in (
            ("attribute_names", set(AgentAttribute)),
            ("moments", set(PreferredMoment)),
            ("channels", set(ContactChannel)),
        ):
            if missing_keys := keys - set(getattr(self, field)):
                raise ValueError(f"{field}: missing {sorted(missing_keys)}")
        return self


class TextRules(_Rules):
    """R22: Dutch, French and English, each complete."""

    nl: Texts
    fr: Texts
    en: Texts

    def for_language(self, language: Language) -> Texts:
        texts: Texts = getattr(self, language.value)
        return texts


RULE_MODELS: dict[str, type[_Rules]] = {
    "caps": CapsRules,
    "triggers": TriggerRules,
    "texts": TextRules,
}


@dataclass(frozen=True)
class RuleSet:
    caps: CapsRules
    triggers: TriggerRules
    texts: TextRules
    versions: dict[str, int]


def seed_documents(rules_dir: Path = RULES_DIR) -> dict[str, _Rules]:
    """The seed files, validated: a broken seed stops the service at start, naming the file."""
    docs: dict[str, _Rules] = {}
    for name, model in RULE_MODELS.items():
        path = rules_dir / f"{name}.json"
        try:
            docs[name] = model.model_validate(json.loads(path.read_text()))
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"survey rules seed {path}: {exc}") from exc
    return docs


async def seed(conn: Conn, rules_dir: Path = RULES_DIR) -> list[str]:
    """Insert the seed of every rule set the database lacks; returns the names seeded."""
    seeded = []
    for name, doc in seed_documents(rules_dir).items():
        document = doc.model_dump(mode="json")
        inserted = await conn.fetchval(
            "insert into survey_rules (name, version, document, changed_by) values ($1, 1, $2, 'seed') "
            "on conflict (name) do nothing returning name",
            name,
            document,
        )
        if inserted:
            await conn.execute(
                "insert into survey_rules_audit (name, version, document, changed_by) "
                "values ($1, 1, $2, 'seed')",
                name,
                document,
            )
            seeded.append(name)
    return seeded


async def load(conn: Conn, rules_dir: Path = RULES_DIR) -> RuleSet:
    rows = await conn.fetch("select name, version, document from survey_rules")
    if len(rows) < len(RULE_MODELS):
        await seed(conn, rules_dir)
        rows = await conn.fetch("select name, version, document from survey_rules")
    by_name = {r["name"]: r for r in rows}
    return RuleSet(
        caps=CapsRules.model_validate(by_name["caps"]["document"]),
        triggers=TriggerRules.model_validate(by_name["triggers"]["document"]),
        texts=TextRules.model_validate(by_name["texts"]["document"]),
        versions={name: r["version"] for name, r in by_name.items()},
    )


async def change(conn: Conn, name: str, document: _Rules, changed_by: str) -> int:
    """Replace one rule set (already validated) and append it to the audit trail; the new version."""
    previous = await conn.fetchrow(
        "select version, document from survey_rules where name = $1 for update", name
    )
    version = (previous["version"] if previous else 0) + 1
    body = document.model_dump(mode="json")
    await conn.execute(
        "insert into survey_rules (name, version, document, changed_by, changed_at) "
        "values ($1, $2, $3, $4, now()) on conflict (name) do update set version = excluded.version, "
        "document = excluded.document, changed_by = excluded.changed_by, changed_at = now()",
        name,
        version,
        body,
        changed_by,
    )
    await conn.execute(
        "insert into survey_rules_audit (name, version, document, previous, changed_by) "
        "values ($1, $2, $3, $4, $5)",
        name,
        version,
        body,
        previous["document"] if previous else None,
        changed_by,
    )
    return version


async def audit_trail(conn: Conn, name: str, limit: int = 100) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "select version, document, previous, changed_by, changed_at from survey_rules_audit "
        "where name = $1 order by version desc, id desc limit $2",
        name,
        limit,
    )
    return [dict(r) for r in rows]
