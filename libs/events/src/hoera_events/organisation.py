"""Tenants and their organisation: who they are, who leads which team, when they are open.

One deployment serves many organisations (tenants). Intake owns both documents and publishes each
change as a whole snapshot on a compacted topic keyed by tenant, so every service keeps a replica of
the latest one and computes dates, deputies and addressees from the same data (docs/architecture.md,
"Tenants"):

- ``TenantDefined``: the organisation's identity, the template its rules started from, the sender
  address of its mail, and the public keys of the contact-centre platforms that may publish events
  for it (a platform event for a tenant is accepted only with a signature one of these keys verifies).
- ``OrganisationChanged``: people, teams with their supervisor and ordered deputies, management, the
  back office, absences and the business calendar.

Staff work addresses travel here, unlike customers' contact details (which never leave the platform's
directory): they are the organisation's configuration, replaced by every snapshot and gone from the
compacted topic once a newer one is written.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Annotated, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, StringConstraints, field_validator, model_validator

from hoera_events.base import Event, Value
from hoera_events.common import AgentId, Code, Language, TeamId, UtcDateTime

TenantId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
EmailAddress = Annotated[str, StringConstraints(pattern=r"^[^@\s<>]{1,64}@[^@\s<>]{1,255}$", max_length=320)]
MailFrom = Annotated[str, StringConstraints(min_length=3, max_length=400, pattern=r"^[^\r\n]*@[^\r\n]*$")]
"""An RFC 5322 mailbox, e.g. ``Partena <klachten@partena.test>``."""
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


class Template(StrEnum):
    """What a new tenant's rules start from: a Dutch-speaking or a French-speaking organisation."""

    nl = "nl"
    fr = "fr"


class PlatformKey(Value):
    """A contact-centre platform's Ed25519 public key: it signs the events it publishes for the tenant."""

    kid: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
    public_key: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{43}=?$")]
    """The 32-byte raw public key, base64url."""


class TenantDefined(Event):
    """A tenant was created or changed (its latest definition; compacted by tenant)."""

    event_type = "tenant.defined"

    tenant_id: TenantId
    name: Name
    template: Template
    language: Language
    """The organisation's main language: pages and mail default to it."""
    mail_from: MailFrom
    """The sender of the mail sent on the tenant's behalf."""
    platform_keys: list[PlatformKey] = Field(default_factory=list, max_length=20)
    active: bool = True
    defined_at: UtcDateTime

    @classmethod
    def example(cls) -> Self:
        return cls(
            tenant_id="partena",
            name="Partena Ziekenfonds",
            template=Template.nl,
            language=Language.nl,
            mail_from="Partena <klachten@partena.hoera.test>",
            platform_keys=[PlatformKey(kid="platform-1", public_key="A" * 43)],
            defined_at=datetime(2026, 12, 1, 8, 0, tzinfo=UTC),
        )


class Person(Value):
    id: AgentId
    name: Name
    email: EmailAddress
    language: Language


class Team(Value):
    id: TeamId
    name: Name
    language: Language
    supervisor: AgentId
    deputies: list[AgentId] = Field(default_factory=list, max_length=20)
    """Who stands in for the supervisor, in this order, when the supervisor is absent (R3)."""
    members: list[AgentId] = Field(default_factory=list, max_length=2000)


class Absence(Value):
    person: AgentId
    starts_on: date
    ends_on: date
    """Inclusive."""

    @model_validator(mode="after")
    def _ordered(self) -> Absence:
        if self.ends_on < self.starts_on:
            raise ValueError("ends_on is before starts_on")
        return self


class CalendarRules(Value):
    """The business calendar: time zone, opening hours, public holidays and the operator's own days."""

    timezone: str = "Europe/Brussels"
    workdays: list[Annotated[int, Field(ge=1, le=7)]] = Field(default_factory=lambda: [1, 2, 3, 4, 5])
    """ISO weekdays: 1 is Monday."""
    opens: time = time(8, 0)
    closes: time = time(18, 0)
    open_all_day: bool = False
    """Open day and night on workdays (tests and demos that must not wait for office hours)."""
    holidays_country: CountryCode | None = "BE"
    """Public holidays of this country, from the `holidays` library (None: no public holidays)."""
    holidays_subdivision: Annotated[str, StringConstraints(max_length=10)] | None = None
    closed_days: list[date] = Field(default_factory=list, max_length=500)
    """Days the operator closes besides public holidays (a bridge day)."""
    open_days: list[date] = Field(default_factory=list, max_length=500)
    """Public holidays the organisation works anyway."""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _sane(self) -> CalendarRules:
        if not self.workdays:
            raise ValueError("workdays: at least one")
        if not self.open_all_day and self.closes <= self.opens:
            raise ValueError("closes must be after opens")
        return self


Days = Annotated[int, Field(ge=1, le=3650)]


class Retention(Value):
    """How long records are kept before every service's purge timer removes them (days; GDPR art. 5's
    storage limitation). Rows that figures count stay; what is purged is personal text and contact
    details, and records that only guard against doing something twice."""

    survey_comments_days: Days = 365
    """The customer's words in survey answers (survey, and the copies in alerts and callback)."""
    delivery_contents_days: Days = 90
    """Recipients, subjects and bodies of mails, texts and webhook calls once sent or given up."""
    inbox_days: Annotated[int, Field(ge=8, le=3650)] = 30
    """Which events a service already handled. Longer than the topics keep events (7 days), so an event
    still on a topic is never handled twice."""
    idempotency_days: Days = 30
    """The answers kept for retried platform calls (an Idempotency-Key older than this is new again)."""
    parked_days: Days = 30
    """Events a service could not publish and parked for an operator."""


Label = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Term = Annotated[str, StringConstraints(min_length=1, max_length=100)]


class Labels(Value):
    """A label in the three languages customers and staff read (R22)."""

    nl: Label
    fr: Label
    en: Label


class FeedbackReason(Value):
    """A reason a customer can give for an unhappy answer (R8: the operator defines them)."""

    code: Code
    labels: Labels


class TopicTerms(Value):
    """The words and phrases of a comment topic per language. Each is matched on its lemmas, so
    "wachten" also finds "wachtte" and "gewacht", and "attendre" finds "attendu"."""

    nl: list[Term] = Field(default_factory=list, max_length=100)
    fr: list[Term] = Field(default_factory=list, max_length=100)
    en: list[Term] = Field(default_factory=list, max_length=100)


class CommentTopic(Value):
    """A theme in customers' comments, counted per team, department and reason."""

    code: Code
    labels: Labels
    terms: TopicTerms


class Feedback(Value):
    """What the survey asks after an unhappy smiley, and the themes its comments are tagged with."""

    reasons: list[FeedbackReason] = Field(default_factory=list, max_length=30)
    topics: list[CommentTopic] = Field(default_factory=list, max_length=200)

    @model_validator(mode="after")
    def _unique_codes(self) -> Feedback:
        for kind, codes in (
            ("reason", [r.code for r in self.reasons]),
            ("topic", [t.code for t in self.topics]),
        ):
            if len(set(codes)) != len(codes):
                raise ValueError(f"a {kind} code appears twice")
        return self

    def reason_label(self, code: str | None, language: str) -> str | None:
        """The reason's words in a language; the code itself for a reason since removed."""
        if code is None:
            return None
        for reason in self.reasons:
            if reason.code == code:
                return str(getattr(reason.labels, language, reason.labels.en))
        return code

    def topic_label(self, code: str, language: str) -> str:
        for topic in self.topics:
            if topic.code == code:
                return str(getattr(topic.labels, language, topic.labels.en))
        return code


class Organisation(Value):
    people: list[Person] = Field(default_factory=list, max_length=5000)
    teams: list[Team] = Field(default_factory=list, max_length=500)
    management: list[AgentId] = Field(default_factory=list, max_length=50)
    """Told of new complaints and SLA breaches (R4); the last resort when a team's leads are all away."""
    back_office: AgentId | None = None
    """Reads abuse-watch flags (R15)."""
    absences: list[Absence] = Field(default_factory=list, max_length=5000)
    calendar: CalendarRules = Field(default_factory=CalendarRules)
    retention: Retention = Field(default_factory=Retention)
    feedback: Feedback = Field(default_factory=Feedback)
    """Reasons for an unhappy answer and comment topics (every service shows them by name)."""

    @model_validator(mode="after")
    def _references_exist(self) -> Organisation:
        known = {p.id for p in self.people}
        for team in self.teams:
            for who in (team.supervisor, *team.deputies):
                if who not in known:
                    raise ValueError(f"team {team.id}: {who} is not among the people")
        for who in (*self.management, *([self.back_office] if self.back_office else [])):
            if who not in known:
                raise ValueError(f"{who} is not among the people")
        if len({t.id for t in self.teams}) != len(self.teams):
            raise ValueError("a team id appears twice")
        if len(known) != len(self.people):
            raise ValueError("a person id appears twice")
        return self


class OrganisationChanged(Event):
    """The tenant's organisation as it is now (the whole document; compacted by tenant)."""

    event_type = "organisation.changed"

    tenant_id: TenantId
    version: Annotated[int, Field(ge=1)]
    organisation: Organisation
    changed_at: UtcDateTime

    @classmethod
    def example(cls) -> Self:
        return cls(
            tenant_id="partena",
            version=3,
            organisation=Organisation(
                people=[
                    Person(
                        id="sup-sara",
                        name="Sara Janssens",
                        email="sara@partena.hoera.test",
                        language=Language.nl,
                    ),
                    Person(
                        id="sup-dirk",
                        name="Dirk Claes",
                        email="dirk@partena.hoera.test",
                        language=Language.nl,
                    ),
                ],
                teams=[
                    Team(
                        id="team-nl-1",
                        name="Klantendienst NL 1",
                        language=Language.nl,
                        supervisor="sup-sara",
                        deputies=["sup-dirk"],
                        members=["agent-anna"],
                    )
                ],
                management=["sup-dirk"],
                absences=[
                    Absence(person="sup-sara", starts_on=date(2026, 12, 7), ends_on=date(2026, 12, 11))
                ],
            ),
            changed_at=datetime(2026, 12, 1, 8, 0, tzinfo=UTC),
        )
