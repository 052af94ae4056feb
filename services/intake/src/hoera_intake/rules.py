"""R8: the rules operators change without a release, per tenant, as the kit's rule documents
(hoera_kit.rules): each validated whole by its model below, versioned, with history and rollback,
written only through the kit's /admin/rules routes by the tenant's own administrators.

- `categories`   the complaint categories, their names and SLA (business days per channel, or seconds
                 for test and demo categories) and default team (R2, R3, R13)
- `root-causes`  the departments and processes a complaint can be traced to (R7)
- `templates`    the messages to customers and staff in Dutch, French and English (R2, R5, R22)
- `workflow`     which statuses stop the clock, which steps the customer hears of, the default SLA
- `organisation` people, teams with their supervisor and ordered deputies, management, the back
                 office, absences and the business calendar: intake owns it for every service, and
                 every write is published to them (OrganisationChanged)

A tenant reads its template's documents (rules/templates/<nl|fr>/<name>.json) until an administrator
writes its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Annotated, Any, Self

from hoera_events.common import Channel, Code, TeamId
from hoera_events.organisation import Organisation
from hoera_kit import organisation as kit_organisation
from hoera_kit.calendar import BusinessCalendar, Span
from hoera_kit.rules import Committed, OnChange, RuleBook, RuleDocument
from jinja2 import StrictUndefined, TemplateError
from jinja2 import Template as CompiledTemplate
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from hoera_intake import domain

TEMPLATES = Path(__file__).resolve().parents[2] / "rules" / "templates"

Text = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Names(_Doc):
    """A label in the three languages (R22)."""

    nl: Text
    fr: Text
    en: Text

    def get(self, language: str) -> str:
        return str(getattr(self, language, self.en))


# ---- categories and SLA -----------------------------------------------------------------------------


class SlaRule(_Doc):
    """How long a category may take: business days (by channel if they differ), or for test and
    demo categories only, a number of seconds (`seconds`) so a complaint goes overdue at once."""

    business_days: int | None = Field(default=None, ge=0, le=365)
    by_channel: dict[Channel, Annotated[int, Field(ge=0, le=365)]] = Field(default_factory=dict)
    """Overrides per channel, e.g. {"email": 3}."""
    reminder_business_days_before: int = Field(default=1, ge=0, le=60)
    seconds: int | None = Field(default=None, ge=1, le=30 * 24 * 3600)
    """Test/demo only: the promised moment is this many seconds after receipt."""
    reminder_seconds_before: int | None = Field(default=None, ge=0, le=30 * 24 * 3600)
    """With `seconds`: how early the reminder comes (default: half of `seconds`)."""

    @model_validator(mode="after")
    def _one_unit(self) -> Self:
        if (self.business_days is None) == (self.seconds is None):
            raise ValueError("give exactly one of business_days and seconds")
        if self.seconds is not None and self.by_channel:
            raise ValueError("by_channel goes with business_days, not with seconds")
        return self

    def for_channel(self, channel: Channel) -> domain.Sla:
        if self.seconds is not None:
            lead = self.reminder_seconds_before
            reminder = self.seconds // 2 if lead is None else lead
            return domain.Sla(Span(seconds=self.seconds), Span(seconds=reminder))
        days = self.by_channel.get(channel, self.business_days)
        assert days is not None
        return domain.Sla(Span.days(days), Span.days(self.reminder_business_days_before))


class Category(_Doc):
    code: Code
    names: Names
    sla: SlaRule
    default_team: TeamId | None = None
    """Where a complaint of this category goes when the platform names no team."""


class Categories(_Doc):
    categories: list[Category] = Field(min_length=1, max_length=500)

    @field_validator("categories")
    @classmethod
    def _unique(cls, value: list[Category]) -> list[Category]:
        _refuse_duplicates([c.code for c in value], "category code")
        return value


# ---- texts ------------------------------------------------------------------------------------------

_JINJA = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)

SAMPLE_CONTEXT: dict[str, Any] = {
    "complaint_ref": "0B8C6A52",
    "category": "Late refund",
    "promised_date": "14 May 2026",
    "previous_date": "12 May 2026",
    "status": "in progress",
    "to_next_of_kin": False,
    "customer_id": "CUST-0012345",
    "agent_id": "AGT-0042",
    "team_id": "TEAM-REFUNDS-NL",
    "link": "http://127.0.0.1:8101/complaints/0b8c6a52-4b9e-4b0c-9d5e-3f6a1d2c7e01",
    "note": "",
}
"""What a template may use; a template that names anything else is refused when saved."""


@lru_cache(maxsize=512)
def _compiled(text: str) -> CompiledTemplate:
    return _JINJA.from_string(text)


def render(text: str, context: dict[str, Any]) -> str:
    """Templates are compiled once per text: rendering is on every complaint's path."""
    return _compiled(text).render(**context)


def _renders(value: str) -> str:
    try:
        render(value, SAMPLE_CONTEXT)
    except TemplateError as exc:
        known = ", ".join(sorted(SAMPLE_CONTEXT))
        raise ValueError(f"template does not render: {exc} (variables: {known})") from None
    return value


TemplateText = Annotated[str, StringConstraints(min_length=1, max_length=10_000)]


class Template(_Doc):
    subject: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    body: TemplateText
    sms: Annotated[str, StringConstraints(min_length=1, max_length=480)] | None = None
    """The SMS text; without it an SMS carries the subject."""

    @field_validator("subject", "body", "sms")
    @classmethod
    def _check_renders(cls, value: str | None) -> str | None:
        return None if value is None else _renders(value)

    @field_validator("subject")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if "\n" in value or "\r" in value:
            raise ValueError("a subject is one line")
        return value


class Localised(_Doc):
    nl: Template
    fr: Template
    en: Template

    def get(self, language: str) -> Template:
        template: Template = getattr(self, language, self.en)
        return template


class Templates(_Doc):
    """The texts per language. Customers: acknowledgement (R2), due_date_changed, status_update,
    resolved, closed, reopened (R5). Staff: reminder (the owner) and escalation (the team lead)."""

    acknowledgement: Localised
    due_date_changed: Localised
    status_update: Localised
    resolved: Localised
    closed: Localised
    reopened: Localised
    reminder: Localised
    escalation: Localised


# ---- root causes, workflow --------------------------------------------------------------------------


class Department(_Doc):
    code: Code
    names: Names


class RootCauses(_Doc):
    """R7: the departments and processes a complaint can be traced to."""

    departments: list[Department] = Field(min_length=1, max_length=200)

    @field_validator("departments")
    @classmethod
    def _unique(cls, value: list[Department]) -> list[Department]:
        _refuse_duplicates([d.code for d in value], "department code")
        return value


INFORMABLE = (
    domain.Status.in_progress,
    domain.Status.waiting_on_customer,
    domain.Status.waiting_on_department,
    domain.Status.resolved,
    domain.Status.closed,
)


class Workflow(_Doc):
    waiting_statuses: list[domain.Status] = Field(default=[domain.Status.waiting_on_customer])
    """The SLA clock stands still in these (R3): the complaint waits on the customer."""
    inform_customer_on: list[domain.Status] = Field(
        default=[domain.Status.waiting_on_customer, domain.Status.resolved]
    )
    """The steps at which the customer gets a message (R5); a change of the promised date is
    always told."""
    default_sla_business_days: int = Field(default=5, ge=0, le=365)
    """For a platform complaint whose category the rules do not know (accepted, never lost)."""

    @field_validator("waiting_statuses")
    @classmethod
    def _waiting(cls, value: list[domain.Status]) -> list[domain.Status]:
        allowed = {domain.Status.waiting_on_customer, domain.Status.waiting_on_department}
        for status in value:
            if status not in allowed:
                raise ValueError(f"{status} is not a waiting status (allowed: {sorted(allowed)})")
        _refuse_duplicates(value, "status")
        return value

    @field_validator("inform_customer_on")
    @classmethod
    def _informable(cls, value: list[domain.Status]) -> list[domain.Status]:
        for status in value:
            if status not in INFORMABLE:
                raise ValueError(f"{status} is not a step the customer can be told of")
        _refuse_duplicates(value, "status")
        return value

    def default_sla(self) -> domain.Sla:
        return domain.Sla(Span.days(self.default_sla_business_days), Span.days(1))


def _refuse_duplicates(values: list[Any], what: str) -> None:
    seen: set[Any] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what} {value}")
        seen.add(value)


# ---- the organisation (owned here for every service) -----------------------------------------------


def organisation_problems(org: Organisation) -> list[tuple[str, str]]:
    """What the model alone does not refuse: a supervisor standing in for themselves, a deputy or
    member who is nobody, the same person twice in a team's deputies."""
    problems = []
    known = {p.id for p in org.people}
    for i, team in enumerate(org.teams):
        if team.supervisor in team.deputies:
            problems.append((f"teams.{i}.deputies", "the supervisor cannot be their own deputy"))
        if len(set(team.deputies)) != len(team.deputies):
            problems.append((f"teams.{i}.deputies", "a deputy appears twice"))
        strangers = [m for m in team.members if m not in known]
        if strangers:
            problems.append((f"teams.{i}.members", f"not among the people: {', '.join(strangers[:5])}"))
    absent = [a.person for a in org.absences if a.person not in known]
    if absent:
        problems.append(("absences", f"not among the people: {', '.join(sorted(set(absent))[:5])}"))
    return problems


# ---- the documents ----------------------------------------------------------------------------------

CATEGORIES = RuleDocument(
    "categories",
    Categories,
    "The complaint categories: names in nl/fr/en, the SLA in business days (per channel) or seconds "
    "for test and demo categories, the reminder's lead and the default team (R2, R3, R13)",
)
ROOT_CAUSES = RuleDocument(
    "root-causes", RootCauses, "The departments and processes a complaint can be traced to (R7)"
)
TEMPLATES_DOCUMENT = RuleDocument(
    "templates",
    Templates,
    "The messages to customers (acknowledgement, promised date moved, steps, resolved, closed, "
    "reopened) and to staff (reminder, escalation) in Dutch, French and English (R2, R5, R22)",
)
WORKFLOW = RuleDocument(
    "workflow",
    Workflow,
    "Which statuses stop the SLA clock, which steps the customer hears of, the default SLA (R3, R5)",
)
ORGANISATION = RuleDocument(
    "organisation",
    Organisation,
    "People, teams with their supervisor and ordered deputies, management, the back office, absences "
    "and the business calendar (R3): every service reads them from here",
    check=organisation_problems,
)
DOCUMENTS: tuple[RuleDocument[Any], ...] = (CATEGORIES, ROOT_CAUSES, TEMPLATES_DOCUMENT, WORKFLOW)


def declare(
    book: RuleBook, *, on_organisation_change: OnChange, on_organisation_committed: Committed
) -> None:
    """Register intake's documents with the service's rule book (the kit's admin routes serve them);
    every write of the organisation runs `on_organisation_change` in its transaction and
    `on_organisation_committed` once it has committed."""
    for doc in DOCUMENTS:
        book.document(doc.name, doc.model, description=doc.description, check=doc.check)
    book.document(
        ORGANISATION.name,
        ORGANISATION.model,
        description=ORGANISATION.description,
        check=ORGANISATION.check,
        on_change=on_organisation_change,
        on_committed=on_organisation_committed,
    )


def promised_dates(
    calendar: BusinessCalendar, received_at: datetime, categories: Categories, language: str
) -> list[tuple[str, str]]:
    """The operator console's preview of a categories document (R2, R8): per category, the date a
    complaint received at `received_at` would be promised, per channel where they differ."""
    lines = []
    for category in categories.categories:
        dates = {}
        for channel in Channel:
            plan = domain.plan_sla(calendar, received_at, category.sla.for_channel(channel))
            seconds = plan.unit is domain.SlaUnit.seconds
            dates[channel.value] = (
                plan.breach_at.astimezone(calendar.zone).strftime("%Y-%m-%d %H:%M")
                if seconds
                else plan.due_date.isoformat()
            )
        distinct = set(dates.values())
        shown = distinct.pop() if len(distinct) == 1 else ", ".join(f"{ch}: {d}" for ch, d in dates.items())
        lines.append((f"{category.names.get(language)} ({category.code})", shown))
    return lines


INSTEAD_OF = {"nl": "in plaats van", "fr": "à la place de", "en": "instead of"}


def stand_ins_today(organisation: Organisation, now: datetime, language: str) -> list[tuple[str, str]]:
    """The operator console's preview of an organisation document (R3, R23): per team, who would be
    mailed about an unhappy customer today (the supervisor, or who stands in while they are away)."""
    today = kit_organisation.calendar(organisation).local_date(now)
    lines = []
    for team in organisation.teams:
        who = kit_organisation.stand_in(organisation, team.id, today)
        shown = f"{who.name} <{who.email}>" if who is not None else "-"
        if who is not None and who.id != team.supervisor:
            shown += f" ({INSTEAD_OF.get(language, INSTEAD_OF['en'])} {team.supervisor})"
        lines.append((f"{team.name} ({team.id}), {today.isoformat()}", shown))
    return lines


@dataclass(frozen=True)
class TenantRules:
    """A tenant's documents in force, as one use case reads them."""

    categories: Categories
    templates: Templates
    root_causes: RootCauses
    workflow: Workflow

    @cached_property
    def _categories(self) -> dict[str, Category]:
        return {c.code: c for c in self.categories.categories}

    def category(self, code: str) -> Category | None:
        return self._categories.get(code)

    def sla_for(self, category: str, channel: Channel) -> domain.Sla:
        """The category's SLA for the channel; the workflow's default for a category it does not know."""
        found = self.category(category)
        return found.sla.for_channel(channel) if found else self.workflow.default_sla()

    def root_cause_codes(self) -> list[str]:
        return [d.code for d in self.root_causes.departments]
