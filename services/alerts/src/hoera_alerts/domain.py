"""The alerts service's rules, pure: which answer is unhappy (R23), who is told (R23, R3), when a
team's rolling satisfaction raises an alert and when it has recovered (R24), the dashboard's
figures (R25), what a supervisor may record on an alert (R23, R7) and the text of each mail.

Operator data (R8) arrives here as the validated models below; rules.py loads and stores them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Self
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hoera_events.alerts import AlertAction, AlertKind, RecipientRole
from hoera_events.common import (
    AgentId,
    Channel,
    Code,
    Language,
    Money,
    NpsScore,
    Smiley,
    TeamId,
)
from hoera_events.surveys import AgentAttribute, SurveyAnswered
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)


class Rule(BaseModel):
    """Operator data: frozen, and a typo in a field name is refused rather than ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid")


# --- R23: the unhappy smiley ------------------------------------------------------------------------


class UnhappyRule(Rule):
    """R23: an answer is unhappy when any answered question is at or below its limit.

    A limit of null switches that question off. Smileys run 1 (unhappiest) to 5; NPS 0 to 10.
    """

    satisfaction_at_most: Smiley | None = 2
    effort_at_most: Smiley | None = 2
    """Effort as a smiley: 1 was very hard, so low is bad here too."""
    nps_at_most: NpsScore | None = 6
    attribute_at_most: Smiley | None = 2
    attributes: frozenset[AgentAttribute] | None = None
    """The agent attributes that count; null means every one."""


class Finding(Rule):
    """One answer that made the survey unhappy: the question and the customer's score."""

    question: str
    score: int


def unhappy_findings(answer: SurveyAnswered, rule: UnhappyRule) -> tuple[Finding, ...]:
    """R23: the answers at or below the rule's limits; empty when the customer was not unhappy.

    A skipped question never makes an answer unhappy.
    """
    found: list[Finding] = []
    for question, score, limit in (
        ("satisfaction", answer.satisfaction, rule.satisfaction_at_most),
        ("effort", answer.effort, rule.effort_at_most),
        ("nps", answer.nps, rule.nps_at_most),
    ):
        if score is not None and limit is not None and score <= limit:
            found.append(Finding(question=question, score=score))
    if rule.attribute_at_most is not None:
        for attribute in AgentAttribute:  # a fixed order, so a mail reads the same every time
            score = answer.attributes.get(attribute)
            counted = rule.attributes is None or attribute in rule.attributes
            if score is not None and counted and score <= rule.attribute_at_most:
                found.append(Finding(question=attribute.value, score=score))
    return tuple(found)


def unhappy_alert_id(tenant: str, survey_id: uuid.UUID) -> uuid.UUID:
    """One alert per answered survey: the same answer published twice (even under another event id)
    finds its alert and mails nobody again."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"hoera:alerts:{tenant}:unhappy:{survey_id}")


def notice_alert_id(tenant: str, kind: AlertKind, *parts: object) -> uuid.UUID:
    """R4, R15: a notice is identified by what it is about, so a repeated event adds none."""
    tail = ":".join(str(p) for p in parts)
    return uuid.uuid5(uuid.NAMESPACE_URL, f"hoera:alerts:{tenant}:{kind.value}:{tail}")


# --- the organisation: teams, supervisors, deputies, absences (R23, R3) -------------------------------

EmailAddress = Annotated[
    str, StringConstraints(pattern=r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$", max_length=254)
]
Name = Annotated[str, StringConstraints(min_length=1, max_length=120, pattern=r"^[^\r\n<>\"]+$")]


class Person(Rule):
    """An employee who receives alerts: a supervisor, deputy, manager or the back office."""

    id: AgentId
    name: Name
    email: EmailAddress
    language: Language

    @property
    def address(self) -> str:
        return f"{self.name} <{self.email}>"


class Team(Rule):
    id: TeamId
    name: Name
    supervisor: AgentId
    deputies: tuple[AgentId, ...] = ()
    """Who stands in, in this order, when the supervisor is absent (R3)."""


class Organisation(Rule):
    """Who leads which team and who is told what. Operator data (R8)."""

    timezone: str = "Europe/Brussels"
    """The organisation's calendar: absences are whole days in it."""
    people: tuple[Person, ...]
    teams: tuple[Team, ...]
    management: tuple[AgentId, ...] = ()
    """Informed of new complaints and SLA breaches (R4)."""
    back_office: Person
    """Told of customers flagged by the abuse watch (R15), and of unhappy answers of unknown teams."""

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _references_resolve(self) -> Self:
        ids = [p.id for p in self.people]
        if len(ids) != len(set(ids)):
            raise ValueError("people: every person id must be unique")
        teams = [t.id for t in self.teams]
        if len(teams) != len(set(teams)):
            raise ValueError("teams: every team id must be unique")
        known = set(ids)
        for i, team in enumerate(self.teams):
            for j, who in enumerate((team.supervisor, *team.deputies)):
                if who not in known:
                    where = "supervisor" if j == 0 else f"deputies.{j - 1}"
                    raise ValueError(f"teams.{i}.{where}: {who!r} is not one of the people")
        for i, who in enumerate(self.management):
            if who not in known:
                raise ValueError(f"management.{i}: {who!r} is not one of the people")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def person(self, person_id: str) -> Person | None:
        return next((p for p in self.people if p.id == person_id), None)

    def team(self, team_id: str | None) -> Team | None:
        return next((t for t in self.teams if t.id == team_id), None)

    def local_day(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()


class Absence(Rule):
    person: AgentId
    first_day: date
    last_day: date
    """Inclusive."""
    note: Annotated[str, Field(max_length=200)] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.last_day < self.first_day:
            raise ValueError("last_day: must not be before first_day")
        return self


class AbsenceCalendar(Rule):
    """R3: who is away when, so work goes to a deputy instead of getting stuck."""

    absences: tuple[Absence, ...] = ()

    def is_absent(self, person_id: str, day: date) -> bool:
        return any(a.person == person_id and a.first_day <= day <= a.last_day for a in self.absences)

    def unknown_people(self, organisation: Organisation) -> list[tuple[int, str]]:
        known = {p.id for p in organisation.people}
        return [(i, a.person) for i, a in enumerate(self.absences) if a.person not in known]


class Recipient(Rule):
    person: Person
    role: RecipientRole
    deputy_for: Person | None = None
    """The absent supervisor, when a deputy stands in (R3)."""


def team_lead_on(
    team: Team | None, organisation: Organisation, calendar: AbsenceCalendar, day: date
) -> Recipient:
    """R23, R3: the team's supervisor, or the first deputy who is present when they are absent.

    When everyone who leads the team is away the supervisor still gets it (it waits in their
    inbox, and the alert stays open on the dashboard for whoever leads the team); an answer of a
    team nobody configured goes to the back office, so it is never lost.
    """
    supervisor = organisation.person(team.supervisor) if team else None
    if team is None or supervisor is None:
        return Recipient(person=organisation.back_office, role=RecipientRole.back_office)
    if not calendar.is_absent(supervisor.id, day):
        return Recipient(person=supervisor, role=RecipientRole.supervisor)
    for deputy_id in team.deputies:
        deputy = organisation.person(deputy_id)
        if deputy is not None and not calendar.is_absent(deputy.id, day):
            return Recipient(person=deputy, role=RecipientRole.deputy, deputy_for=supervisor)
    return Recipient(person=supervisor, role=RecipientRole.supervisor)


# --- R24: threshold alerts with hysteresis ---------------------------------------------------------


class WindowKind(StrEnum):
    answers = "answers"
    """The team's last N answers."""
    hours = "hours"
    """The team's answers of the last N hours."""


class ThresholdRule(Rule):
    """R24: a team's rolling CSAT below `alert_below` raises one alert; the next one only after the
    figure came back to `recovered_at` or above (hysteresis, so a figure hovering around the level
    does not flood the supervisor)."""

    window_kind: WindowKind = WindowKind.answers
    window_size: Annotated[int, Field(ge=1, le=100_000)] = 20
    alert_below: Annotated[float, Field(ge=0, le=10)] = 6.0
    recovered_at: Annotated[float, Field(ge=0, le=10)] = 7.0
    min_answers: Annotated[int, Field(ge=1, le=100_000)] = 5
    """Fewer answers than this say nothing yet: no alert, no recovery."""

    @model_validator(mode="after")
    def _recovery_above_alert(self) -> Self:
        if self.recovered_at < self.alert_below:
            raise ValueError("recovered_at: must be at least alert_below")
        return self


class ThresholdState(Rule):
    alerting: bool = False
    """An alert was raised and the figure has not recovered since."""


class Assessment(Rule):
    state: ThresholdState
    fire: bool = False
    recovered: bool = False


def assess_threshold(
    state: ThresholdState, csat: float | None, sample_size: int, rule: ThresholdRule
) -> Assessment:
    """R24: fire once when the rolling CSAT drops below the level; re-arm only on recovery."""
    if csat is None or sample_size < rule.min_answers:
        return Assessment(state=state)
    if not state.alerting and csat < rule.alert_below:
        return Assessment(state=ThresholdState(alerting=True), fire=True)
    if state.alerting and csat >= rule.recovered_at:
        return Assessment(state=ThresholdState(alerting=False), recovered=True)
    return Assessment(state=state)


# --- R25: the dashboard's figures ---------------------------------------------------------------------


def csat(satisfaction_sum: int, answers: int) -> float | None:
    """CSAT on 0-10 (the seeds' "8.2/10"): the mean smiley, the unhappiest face 0, the happiest 10."""
    if answers <= 0:
        return None
    return round((satisfaction_sum / answers - 1) * 2.5, 2)


def nps(promoters: int, detractors: int, answers: int) -> float | None:
    """NPS: % promoters (9-10) minus % detractors (0-6), from -100 to 100."""
    if answers <= 0:
        return None
    return round(100 * (promoters - detractors) / answers, 1)


def ces(effort_sum: int, answers: int) -> float | None:
    """CES as the mean effort smiley, 1 (very hard) to 5 (very easy)."""
    if answers <= 0:
        return None
    return round(effort_sum / answers, 2)


def percentage(part: int, whole: int) -> float | None:
    if whole <= 0:
        return None
    return round(100 * part / whole, 1)


class Counts(Rule):
    """What the store counts over a period; the figures follow from it."""

    satisfaction_n: int = 0
    satisfaction_sum: int = 0
    effort_n: int = 0
    effort_sum: int = 0
    nps_n: int = 0
    promoters: int = 0
    detractors: int = 0
    invited: int = 0
    invited_answered: int = 0
    contacts_with_fcr: int = 0
    contacts_resolved_first_time: int = 0
    complaints_resolved: int = 0
    complaints_resolved_first_time: int = 0


class Figures(Rule):
    csat: float | None
    nps: float | None
    ces: float | None
    response_rate: float | None
    """% of the period's invitations that were answered (R20)."""
    fcr: float | None
    """% of contacts resolved at first contact, where the platform records it (R9)."""
    complaint_fcr: float | None
    """% of the period's resolved complaints resolved at first contact (R9)."""
    answers: int


def figures(c: Counts) -> Figures:
    return Figures(
        csat=csat(c.satisfaction_sum, c.satisfaction_n),
        nps=nps(c.promoters, c.detractors, c.nps_n),
        ces=ces(c.effort_sum, c.effort_n),
        response_rate=percentage(c.invited_answered, c.invited),
        fcr=percentage(c.contacts_resolved_first_time, c.contacts_with_fcr),
        complaint_fcr=percentage(c.complaints_resolved_first_time, c.complaints_resolved),
        answers=c.satisfaction_n,
    )


class DashboardRule(Rule):
    period_days: Annotated[int, Field(ge=1, le=366)] = 30
    """The figures cover this many days up to now."""
    trend_days: Annotated[int, Field(ge=2, le=120)] = 14


class NoticeMode(StrEnum):
    immediate = "immediate"
    """One mail per notice, at once."""
    digest = "digest"
    """One mail per period listing the notices."""


class NoticeRule(Rule):
    """R4: how management hears of new complaints and SLA breaches (informed, not asked to act)."""

    management: NoticeMode = NoticeMode.immediate
    digest_every_seconds: Annotated[int, Field(ge=1, le=7 * 86_400)] = 3600


# --- R23, R7: closing the loop ----------------------------------------------------------------------


class AlertStatus(StrEnum):
    open = "open"
    """Waits for the supervisor (unhappy smiley, threshold)."""
    acknowledged = "acknowledged"
    info = "info"
    """For information only (R4, R15): nothing to acknowledge."""


ACTIONABLE = frozenset({AlertKind.unhappy_smiley, AlertKind.threshold})


def status_of_new(kind: AlertKind) -> AlertStatus:
    return AlertStatus.open if kind in ACTIONABLE else AlertStatus.info


class AcknowledgementRefused(ValueError):
    def __init__(self, message: str, *, field: str | None = None, conflict: bool = False) -> None:
        super().__init__(message)
        self.field = field
        self.conflict = conflict


def check_acknowledgement(
    status: AlertStatus,
    action: AlertAction,
    root_cause_department: Code | None,
) -> None:
    """R23, R7: only an open alert is acknowledged, once; blaming another department names it."""
    if status is AlertStatus.info:
        raise AcknowledgementRefused("this alert is for information only", conflict=True)
    if status is AlertStatus.acknowledged:
        raise AcknowledgementRefused("this alert is acknowledged already", conflict=True)
    if action is AlertAction.other_department_at_fault and root_cause_department is None:
        raise AcknowledgementRefused("name the department at fault", field="root_cause_department")
    if action is not AlertAction.other_department_at_fault and root_cause_department is not None:
        raise AcknowledgementRefused(
            "a department at fault goes with the action other_department_at_fault",
            field="root_cause_department",
        )


# --- the texts of the mails (R23, R4, R15, R22) -----------------------------------------------------

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_COMMON = frozenset({"recipient_name", "team_id", "team_name", "act_link", "deputy_note"})
PLACEHOLDERS: Mapping[str, frozenset[str]] = {
    AlertKind.unhappy_smiley.value: _COMMON
    | {
        "agent_id",
        "contact_id",
        "customer_id",
        "survey_id",
        "channel",
        "answered_at",
        "answers",
        "comment",
        "recording_link",
    },
    AlertKind.threshold.value: _COMMON | {"value", "alert_below", "recovered_at", "sample_size", "window"},
    AlertKind.complaint_new.value: _COMMON
    | {"complaint_id", "customer_id", "category", "channel", "raised_at", "due_date"},
    AlertKind.sla_breach.value: _COMMON
    | {"complaint_id", "customer_id", "category", "due_date", "breached_at"},
    AlertKind.abuse_flag.value: _COMMON
    | {"customer_id", "financial_compensations", "total", "window_days", "latest_complaint_id"},
    "digest": frozenset({"recipient_name", "count", "items"}),
}
RECORDING_PLACEHOLDERS = frozenset({"recording_ref", "contact_id", "tenant"})


def placeholders_in(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def fill(template: str, values: Mapping[str, str]) -> str:
    """Replace {name} by its value; the names were checked when the operator saved the texts.

    Deliberately not str.format: an operator's text must not reach attributes ({x.__class__})."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


Subject = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\r\n]+$")]


class MailTemplate(Rule):
    subject: Subject
    body: Annotated[str, StringConstraints(min_length=1, max_length=10_000)]


class InLanguages(Rule):
    """Every text exists in Dutch, French and English (R22)."""

    nl: MailTemplate
    fr: MailTemplate
    en: MailTemplate

    def get(self, language: Language) -> MailTemplate:
        template: MailTemplate = getattr(self, language.value)
        return template


class MailTexts(Rule):
    unhappy_smiley: InLanguages
    threshold: InLanguages
    complaint_new: InLanguages
    sla_breach: InLanguages
    abuse_flag: InLanguages
    digest: InLanguages

    @field_validator("*")
    @classmethod
    def _known_placeholders(cls, value: InLanguages, info: ValidationInfo) -> InLanguages:
        allowed = PLACEHOLDERS[str(info.field_name)]
        for language in Language:
            template = value.get(language)
            for part in ("subject", "body"):
                unknown = placeholders_in(getattr(template, part)) - allowed
                if unknown:
                    raise ValueError(
                        f"{language.value}.{part}: unknown placeholder "
                        f"{', '.join('{' + u + '}' for u in sorted(unknown))}; "
                        f"known: {', '.join(sorted(allowed))}"
                    )
        return value

    def of(self, kind: str) -> InLanguages:
        texts: InLanguages = getattr(self, kind)
        return texts


class Labels(Rule):
    """The words around the customer's answers, in one language."""

    satisfaction: Name
    effort: Name
    nps: Name
    attributes: dict[AgentAttribute, Name]
    channels: dict[Channel, Name] = Field(default_factory=dict)
    """The contact's channel in words; a missing one is shown as its code."""
    no_comment: Name
    no_recording: Name
    deputy_note: Annotated[str, StringConstraints(max_length=300)]
    """Shown to a deputy; may use {supervisor_name}."""
    window_answers: Name
    """e.g. "the last {n} answers"."""
    window_hours: Name

    @model_validator(mode="after")
    def _every_attribute(self) -> Self:
        missing = [a.value for a in AgentAttribute if a not in self.attributes]
        if missing:
            raise ValueError(f"attributes: no label for {', '.join(missing)}")
        return self


class Texts(Rule):
    """Mail texts and labels (R8: texts are data; R22: nl, fr, en)."""

    mails: MailTexts
    labels: dict[Language, Labels]

    @field_validator("labels")
    @classmethod
    def _every_language(cls, value: dict[Language, Labels]) -> dict[Language, Labels]:
        missing = [lang.value for lang in Language if lang not in value]
        if missing:
            raise ValueError(f"no labels for {', '.join(missing)}")
        return value


class Links(Rule):
    recording_url_template: Annotated[str, StringConstraints(pattern=r"^https?://\S+$")]
    """Where the platform plays a call, e.g. https://platform.example/recordings/{recording_ref}."""

    @field_validator("recording_url_template")
    @classmethod
    def _known(cls, value: str) -> str:
        unknown = placeholders_in(value) - RECORDING_PLACEHOLDERS
        if unknown:
            raise ValueError(
                f"unknown placeholder {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(RECORDING_PLACEHOLDERS))}"
            )
        return value

    def recording(self, tenant: str, recording_ref: str | None, contact_id: str | None) -> str | None:
        """R23: the link to listen to the call; values are URL-quoted into the operator's template."""
        if recording_ref is None:
            return None
        return fill(
            self.recording_url_template,
            {
                "recording_ref": quote(recording_ref, safe="/:"),
                "contact_id": quote(contact_id or "", safe=""),
                "tenant": quote(tenant, safe=""),
            },
        )


class MailText(Rule):
    subject: str
    body: str


def compose(texts: Texts, kind: str, language: Language, values: Mapping[str, str]) -> MailText:
    template = texts.mails.of(kind).get(language)
    # A value never spans lines in a subject (a header): the sender would refuse it.
    subject_values = {k: " ".join(v.split()) for k, v in values.items()}
    return MailText(subject=fill(template.subject, subject_values), body=fill(template.body, values))


def channel_text(labels: Labels, channel: Channel) -> str:
    return labels.channels.get(channel, channel.value)


def deputy_note(labels: Labels, recipient: Recipient) -> str:
    if recipient.deputy_for is None:
        return ""
    return fill(labels.deputy_note, {"supervisor_name": recipient.deputy_for.name})


def answers_block(answer: SurveyAnswered, labels: Labels, findings: tuple[Finding, ...]) -> str:
    """R23: what the customer answered, one line per question, the unhappy ones marked."""
    unhappy = {f.question for f in findings}
    lines: list[str] = []

    def line(question: str, label: str, score: int | None, scale: int) -> None:
        if score is not None:
            mark = "  <<" if question in unhappy else ""
            lines.append(f"- {label}: {score}/{scale}{mark}")

    line("satisfaction", labels.satisfaction, answer.satisfaction, 5)
    line("effort", labels.effort, answer.effort, 5)
    line("nps", labels.nps, answer.nps, 10)
    for attribute in AgentAttribute:
        line(attribute.value, labels.attributes[attribute], answer.attributes.get(attribute), 5)
    return "\n".join(lines)


def window_text(labels: Labels, rule: ThresholdRule) -> str:
    template = labels.window_answers if rule.window_kind is WindowKind.answers else labels.window_hours
    return fill(template, {"n": str(rule.window_size)})


def money_text(money: Money) -> str:
    """EUR 610.00: integer cents, never through a float."""
    return f"{money.currency.value} {money.amount_cents // 100}.{money.amount_cents % 100:02d}"


def local_time(moment: datetime, organisation: Organisation) -> str:
    return moment.astimezone(organisation.zone).strftime("%Y-%m-%d %H:%M")
