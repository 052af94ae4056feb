"""R8: the rules operators change without a release: categories and their SLA, the calendar, the
texts per language, the root-cause departments, team leads with deputies, absences, and which steps
inform the customer.

Each kind is one JSON document, validated by its model below (a 422 names the bad field, nothing is
half-applied: a document is replaced whole in one transaction), versioned, and audited (who changed
what, before and after). Seeded from services/intake/rules/<kind>.json when the database has none.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Annotated, Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg
from hoera_events.common import Channel, Code, Language, TeamId
from hoera_kit.db import Conn
from jinja2 import StrictUndefined, TemplateError
from jinja2 import Template as CompiledTemplate
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from hoera_intake import domain

SEEDS = Path(__file__).parents[2] / "rules"

Text = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$", max_length=254)]
AgentId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]


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
            return domain.Sla(
                domain.SlaUnit.seconds, self.seconds, self.seconds // 2 if lead is None else lead
            )
        days = self.by_channel.get(channel, self.business_days)
        assert days is not None
        return domain.Sla(domain.SlaUnit.business_days, days, self.reminder_business_days_before)


class Category(_Doc):
    code: Code
    names: Names
    sla: SlaRule
    default_team: TeamId | None = None
    """Where a complaint of this category goes when the platform names no team."""


class Categories(_Doc):
    categories: list[Category] = Field(min_length=1)

    @field_validator("categories")
    @classmethod
    def _unique(cls, value: list[Category]) -> list[Category]:
        _refuse_duplicates([c.code for c in value], "category code")
        return value


# ---- the calendar -----------------------------------------------------------------------------------

_CLOCK = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


def _minute(value: str) -> int:
    match = _CLOCK.match(value)
    if not match or (match.group(1) == "24" and match.group(2) != "00"):
        raise ValueError(f"{value!r} is not a time of day HH:MM (00:00 to 24:00)")
    return int(match.group(1)) * 60 + int(match.group(2))


class BusinessHours(_Doc):
    opens: str = "08:00"
    closes: str = "18:00"
    """24:00 means until midnight."""

    @model_validator(mode="after")
    def _order(self) -> Self:
        if _minute(self.opens) >= _minute(self.closes):
            raise ValueError("opens must be before closes")
        return self


class Holiday(_Doc):
    date: date
    name: Text


class CalendarRules(_Doc):
    timezone: str = "Europe/Brussels"
    workdays: list[Annotated[int, Field(ge=1, le=7)]] = Field(default=[1, 2, 3, 4, 5], min_length=1)
    """ISO weekdays: 1 is Monday, 7 is Sunday."""
    business_hours: BusinessHours = BusinessHours()
    """Reminders and escalations go out only within these hours (R3)."""
    holidays: list[Holiday] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("workdays")
    @classmethod
    def _workdays(cls, value: list[int]) -> list[int]:
        _refuse_duplicates(value, "workday")
        return value

    @field_validator("holidays")
    @classmethod
    def _holidays(cls, value: list[Holiday]) -> list[Holiday]:
        _refuse_duplicates([h.date for h in value], "holiday date")
        return value

    def calendar(self) -> domain.Calendar:
        return domain.Calendar(
            timezone=self.timezone,
            holidays=frozenset(h.date for h in self.holidays),
            workdays=frozenset(self.workdays),
            opens_minute=_minute(self.business_hours.opens),
            closes_minute=_minute(self.business_hours.closes),
        )


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


# ---- root causes, teams, absences, workflow ---------------------------------------------------------


class Department(_Doc):
    code: Code
    names: Names


class RootCauses(_Doc):
    """R7: the departments and processes a complaint can be traced to."""

    departments: list[Department] = Field(min_length=1)

    @field_validator("departments")
    @classmethod
    def _unique(cls, value: list[Department]) -> list[Department]:
        _refuse_duplicates([d.code for d in value], "department code")
        return value


class Person(_Doc):
    agent_id: AgentId
    email: Email | None = None
    language: Language = Language.nl

    def person(self) -> domain.Person:
        return domain.Person(self.agent_id, self.email, self.language.value)


class Team(_Doc):
    team_id: TeamId
    lead: Person
    deputy: Person | None = None
    members: list[Person] = Field(default_factory=list)
    """The agents who can stand in for an absent colleague (R3)."""

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        if self.deputy is not None and self.deputy.agent_id == self.lead.agent_id:
            raise ValueError("the deputy must be someone else than the lead")
        _refuse_duplicates([m.agent_id for m in self.members], "member agent_id")
        return self


class Teams(_Doc):
    teams: list[Team] = Field(default_factory=list)

    @field_validator("teams")
    @classmethod
    def _unique(cls, value: list[Team]) -> list[Team]:
        _refuse_duplicates([t.team_id for t in value], "team_id")
        return value


class AbsenceRule(_Doc):
    agent_id: AgentId
    first_day: date
    last_day: date
    note: Annotated[str, StringConstraints(max_length=200)] = ""

    @model_validator(mode="after")
    def _order(self) -> Self:
        if self.last_day < self.first_day:
            raise ValueError("last_day must not be before first_day")
        return self


class Absences(_Doc):
    absences: list[AbsenceRule] = Field(default_factory=list)

    def on(self, day: date) -> frozenset[str]:
        return domain.absent_on(
            (domain.Absence(a.agent_id, a.first_day, a.last_day) for a in self.absences), day
        )


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
    default_team_by_language: dict[Language, TeamId] = Field(default_factory=dict)
    """Where a complaint goes when neither the platform nor its category names a team."""

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


def _refuse_duplicates(values: list[Any], what: str) -> None:
    seen: set[Any] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what} {value}")
        seen.add(value)


KINDS: dict[str, type[_Doc]] = {
    "categories": Categories,
    "calendar": CalendarRules,
    "templates": Templates,
    "root-causes": RootCauses,
    "teams": Teams,
    "absences": Absences,
    "workflow": Workflow,
}


# ---- the book of rules in force ---------------------------------------------------------------------


@dataclass(frozen=True)
class RuleBook:
    categories: Categories
    calendar_rules: CalendarRules
    templates: Templates
    root_causes: RootCauses
    teams: Teams
    absences: Absences
    workflow: Workflow
    versions: dict[str, int] = field(default_factory=dict)

    @cached_property
    def calendar(self) -> domain.Calendar:
        return self.calendar_rules.calendar()

    @cached_property
    def _categories(self) -> dict[str, Category]:
        return {c.code: c for c in self.categories.categories}

    @cached_property
    def _teams(self) -> dict[str, Team]:
        return {t.team_id: t for t in self.teams.teams}

    def category(self, code: str) -> Category | None:
        return self._categories.get(code)

    def team(self, team_id: str | None) -> Team | None:
        return self._teams.get(team_id) if team_id else None

    def sla_for(self, category: str, channel: Channel) -> domain.Sla | None:
        found = self.category(category)
        return found.sla.for_channel(channel) if found else None

    def default_sla(self) -> domain.Sla:
        return domain.Sla(domain.SlaUnit.business_days, self.workflow.default_sla_business_days, 1)

    def root_cause_codes(self) -> list[str]:
        return [d.code for d in self.root_causes.departments]

    def member(self, agent_id: str | None) -> domain.Person | None:
        if not agent_id:
            return None
        for team in self.teams.teams:
            for person in (team.lead, team.deputy, *team.members):
                if person is not None and person.agent_id == agent_id:
                    return person.person()
        return None


def seed_document(kind: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SEEDS / f"{kind}.json").read_text(encoding="utf-8"))
    return data


class RulesStore:
    """Reads the rules in force (parsed once per version) and replaces them with an audit trail."""

    def __init__(self) -> None:
        self._cached: RuleBook | None = None

    async def book(self, conn: Conn) -> RuleBook:
        rows = await conn.fetch("select kind, version from rules")
        versions = {r["kind"]: r["version"] for r in rows}
        if set(versions) != set(KINDS):
            await self._seed(conn, [k for k in KINDS if k not in versions])
            versions = {r["kind"]: r["version"] for r in await conn.fetch("select kind, version from rules")}
        if self._cached is not None and self._cached.versions == versions:
            return self._cached
        docs = {r["kind"]: r["document"] for r in await conn.fetch("select kind, document from rules")}
        book = RuleBook(
            categories=Categories.model_validate(docs["categories"]),
            calendar_rules=CalendarRules.model_validate(docs["calendar"]),
            templates=Templates.model_validate(docs["templates"]),
            root_causes=RootCauses.model_validate(docs["root-causes"]),
            teams=Teams.model_validate(docs["teams"]),
            absences=Absences.model_validate(docs["absences"]),
            workflow=Workflow.model_validate(docs["workflow"]),
            versions=versions,
        )
        self._cached = book
        return book

    async def _seed(self, conn: Conn, kinds: list[str]) -> None:
        for kind in kinds:
            document = KINDS[kind].model_validate(seed_document(kind)).model_dump(mode="json")
            inserted = await conn.fetchval(
                "insert into rules (kind, version, document, changed_by) values ($1, 1, $2, 'seed') "
                "on conflict (kind) do nothing returning kind",
                kind,
                document,
            )
            if inserted:
                await conn.execute(
                    "insert into rules_audit (kind, version, changed_by, reason, before, after) "
                    "values ($1, 1, 'seed', $2, null, $3)",
                    kind,
                    f"seeded from rules/{kind}.json",
                    document,
                )

    async def current(self, conn: Conn, kind: str) -> tuple[int, dict[str, Any], datetime]:
        await self.book(conn)
        row = await conn.fetchrow("select version, document, changed_at from rules where kind = $1", kind)
        if row is None:
            raise KeyError(f"unknown kind of rules {kind!r}")
        return row["version"], row["document"], row["changed_at"]

    async def replace(
        self, conn: Conn, kind: str, document: BaseModel, *, changed_by: str, reason: str
    ) -> int:
        """Replace one kind whole (validated already) and audit who changed what; returns the version."""
        await self.book(conn)
        before = await conn.fetchrow("select version, document from rules where kind = $1 for update", kind)
        if before is None:
            raise KeyError(f"unknown kind of rules {kind!r}")
        after = document.model_dump(mode="json")
        version = int(before["version"]) + 1
        await conn.execute(
            "update rules set version = $2, document = $3, changed_by = $4, changed_at = now() "
            "where kind = $1",
            kind,
            version,
            after,
            changed_by,
        )
        await conn.execute(
            "insert into rules_audit (kind, version, changed_by, reason, before, after) "
            "values ($1, $2, $3, $4, $5, $6)",
            kind,
            version,
            changed_by,
            reason,
            before["document"],
            after,
        )
        return version

    async def listing(self, conn: Conn) -> list[asyncpg.Record]:
        await self.book(conn)
        return await conn.fetch("select kind, version, changed_by, changed_at from rules order by kind")

    async def audit(self, conn: Conn, kind: str | None, limit: int) -> list[asyncpg.Record]:
        return await conn.fetch(
            "select kind, version, changed_by, changed_at, reason, before, after from rules_audit "
            "where $1::text is null or kind = $1 order by id desc limit $2",
            kind,
            limit,
        )
