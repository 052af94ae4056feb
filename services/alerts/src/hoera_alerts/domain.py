"""The alerts service's rules, pure: which answer is unhappy (R23), who is told (R23, R3, R4, R15),
when a team's rolling satisfaction raises an alert and when it has recovered (R24), the dashboard's
figures and days (R25), when management's digest goes out (R4), what a supervisor may record on an
alert (R23, R7) and the text of each mail.

Operator data (R8) arrives here as the validated models below (rules.py declares them as the
tenant's rule documents); the organisation and the business calendar are the tenant's, from the kit.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from email.errors import HeaderParseError
from email.headerregistry import Address
from enum import StrEnum
from typing import Annotated
from urllib.parse import quote

import hoera_kit.organisation as organisation
from hoera_events.alerts import AlertAction, AlertKind, RecipientRole
from hoera_events.common import Channel, Code, Language, Money, NpsScore, Smiley
from hoera_events.organisation import Organisation, Person
from hoera_events.surveys import AgentAttribute, SurveyAnswered
from hoera_kit.calendar import BusinessCalendar, Span
from hoera_kit.refusals import Conflict, Invalid
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Problems = list[tuple[str, str]]
"""What a rule document's check finds wrong: (field, problem) pairs; any refuses the write (422)."""


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


# --- who is told: the tenant's organisation (R23, R3, R4, R15) ------------------------------------
# The organisation (people, teams, ordered deputies, management, back office, absences) is the
# tenant's, owned by intake and replicated by the kit; hoera_kit.organisation answers who stands in,
# the same way in every service.


class Recipient(Rule):
    person: Person
    role: RecipientRole
    deputy_for: Person | None = None
    """The absent supervisor, when someone stands in for them (R3)."""


def team_recipient(org: Organisation, team_id: str | None, day: date) -> Recipient | None:
    """R23, R3: whoever acts for the team's supervisor on `day`, as hoera_kit.organisation.stand_in
    decides it for every service: the supervisor, else the first deputy who is present, else the
    first of management who is.

    When everyone is away the supervisor still gets it (it waits in their inbox, and the alert stays
    open on the dashboard for whoever leads the team); an answer of a team the organisation does not
    know goes to the back office, so it is never lost. None: the organisation names nobody at all.
    """
    team = organisation.team(org, team_id) if team_id is not None else None
    supervisor = organisation.person(org, team.supervisor) if team is not None else None
    if team is None or supervisor is None:
        return back_office(org)
    chosen = organisation.stand_in(org, team.id, day)
    if chosen is None or chosen.id == supervisor.id:
        return Recipient(person=supervisor, role=RecipientRole.supervisor)
    role = RecipientRole.deputy if chosen.id in team.deputies else RecipientRole.management
    return Recipient(person=chosen, role=role, deputy_for=supervisor)


def case_recipient(org: Organisation, team_id: str | None, day: date) -> Recipient | None:
    """R3, R29: who hears of an overdue recovery case: whoever acts for the team's supervisor on `day`
    (as team_recipient: the supervisor, the first deputy present, the first of management present).
    A case of no team, or of a team the organisation does not know, goes to management (the first
    present, else the first), the last resort; the back office reviews abuse flags, not cases."""
    team = organisation.team(org, team_id) if team_id is not None else None
    if team is not None and organisation.person(org, team.supervisor) is not None:
        return team_recipient(org, team_id, day)
    managers = management(org)
    present = [m for m in managers if not organisation.is_absent(org, m.person.id, day)]
    chosen = present or managers
    return chosen[0] if chosen else None


def back_office(org: Organisation) -> Recipient | None:
    """R15: the tenant's back office, who reviews customers flagged by the abuse watch."""
    person = organisation.person(org, org.back_office) if org.back_office is not None else None
    return Recipient(person=person, role=RecipientRole.back_office) if person is not None else None


def management(org: Organisation) -> list[Recipient]:
    """R4: the tenant's management, informed of new complaints and SLA breaches."""
    found = (organisation.person(org, who) for who in org.management)
    return [Recipient(person=p, role=RecipientRole.management) for p in found if p is not None]


def team_name(org: Organisation, team_id: str | None) -> str:
    team = organisation.team(org, team_id) if team_id is not None else None
    return team.name if team is not None else (team_id or "-")


def mailbox(person: Person) -> str:
    """The To: of a mail, "Name <address>"; the name is quoted as a header needs, and an address
    the mail library cannot read is sent to bare."""
    name = " ".join(person.name.split())
    try:
        return str(Address(display_name=name, addr_spec=person.email))
    except (ValueError, IndexError, HeaderParseError):
        return person.email


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


def threshold_problems(rule: ThresholdRule) -> Problems:
    """R24: recovery lies at or above the alert level, or the alert would never re-arm."""
    if rule.recovered_at < rule.alert_below:
        return [("recovered_at", f"must be at least alert_below ({rule.alert_below:g})")]
    return []


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


class WeeklyDigest(Rule):
    """R25: every team's supervisor gets the week's figures, worst answers and open alerts by mail."""

    enabled: bool = True
    weekday: Annotated[int, Field(ge=1, le=7)] = 1
    """1 is Monday, 7 Sunday, in the tenant's calendar."""
    hour: Annotated[int, Field(ge=0, le=23)] = 8
    """The hour it goes out, in the tenant's time zone."""
    worst_answers: Annotated[int, Field(ge=0, le=20)] = 5
    """How many of the week's lowest satisfaction answers it quotes."""


class DashboardRule(Rule):
    period_days: Annotated[int, Field(ge=1, le=366)] = 30
    """The figures cover this many days up to now."""
    trend_days: Annotated[int, Field(ge=2, le=120)] = 14
    """The trend shows this many days of the tenant's calendar, today included."""
    weekly_digest: WeeklyDigest = WeeklyDigest()


def next_weekly_digest(calendar: BusinessCalendar, now: datetime, rule: WeeklyDigest) -> datetime:
    """The next moment after `now` that is `rule.weekday` at `rule.hour`:00 in the tenant's zone."""
    local = now.astimezone(calendar.zone)
    days = (rule.weekday - local.isoweekday()) % 7
    candidate = datetime.combine(local.date() + timedelta(days=days), time(rule.hour), calendar.zone)
    if candidate <= now:
        candidate = datetime.combine(local.date() + timedelta(days=days + 7), time(rule.hour), calendar.zone)
    return candidate


class DashboardWindow(Rule):
    since: datetime
    """The figures count from here."""
    days: tuple[date, ...]
    """The trend's days, oldest first, in the tenant's time zone."""
    trend_since: datetime
    """The first moment of the trend's first day."""


def dashboard_window(calendar: BusinessCalendar, start: datetime, rule: DashboardRule) -> DashboardWindow:
    """R25: the figures cover the `period_days` before `start`; the trend the last `trend_days`
    days of the tenant's calendar up to the day of `start`, each a whole day in its time zone (an
    answer given at 00:30 in Brussels counts for that day, not for the day before in UTC)."""
    today = calendar.local_date(start)
    days = tuple(today - timedelta(days=n) for n in reversed(range(rule.trend_days)))
    return DashboardWindow(
        since=start - timedelta(days=rule.period_days),
        days=days,
        trend_since=datetime.combine(days[0], time(0), calendar.zone),
    )


class NoticeMode(StrEnum):
    immediate = "immediate"
    """One mail per notice, at once."""
    digest = "digest"
    """One mail per period listing the notices."""


class NoticeRule(Rule):
    """R4: how management hears of new complaints and SLA breaches (informed, not asked to act)."""

    management: NoticeMode = NoticeMode.immediate
    digest_every: Span = Span(seconds=3600)
    """How long after the first notice it carries a digest goes out: seconds, or business days."""


def notice_problems(rule: NoticeRule) -> Problems:
    if not (rule.digest_every.seconds or rule.digest_every.business_days):
        return [("digest_every", "give at least one second or one business day")]
    return []


def digest_due(calendar: BusinessCalendar, start: datetime, rule: NoticeRule) -> datetime:
    """R4: when management's digest of the notices since `start` (its first) goes out: `digest_every`
    later, and then at the tenant's next business moment, because management reads it at work (the
    notices of a night or a weekend wait for the morning, in one digest)."""
    return calendar.next_business_moment(calendar.after(start, rule.digest_every))


# --- R23, R7: closing the loop ----------------------------------------------------------------------


class AlertStatus(StrEnum):
    open = "open"
    """Waits for the supervisor (unhappy smiley, threshold, overdue recovery case)."""
    acknowledged = "acknowledged"
    info = "info"
    """For information only (R4, R15): nothing to acknowledge."""


ACTIONABLE = frozenset({AlertKind.unhappy_smiley, AlertKind.threshold, AlertKind.recovery_overdue})


def status_of_new(kind: AlertKind) -> AlertStatus:
    return AlertStatus.open if kind in ACTIONABLE else AlertStatus.info


def check_acknowledgement(
    status: AlertStatus,
    action: AlertAction,
    root_cause_department: Code | None,
) -> None:
    """R23, R7: only an open alert is acknowledged, once; blaming another department names it."""
    if status is AlertStatus.info:
        raise Conflict("this alert is for information only")
    if status is AlertStatus.acknowledged:
        raise Conflict("this alert is acknowledged already")
    if action is AlertAction.other_department_at_fault and root_cause_department is None:
        raise Invalid("name the department at fault", field="root_cause_department")
    if action is not AlertAction.other_department_at_fault and root_cause_department is not None:
        raise Invalid(
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
        "reason",
        "topics",
    },
    AlertKind.threshold.value: _COMMON | {"value", "alert_below", "recovered_at", "sample_size", "window"},
    AlertKind.complaint_new.value: _COMMON
    | {"complaint_id", "customer_id", "category", "channel", "raised_at", "due_date"},
    AlertKind.sla_breach.value: _COMMON
    | {"complaint_id", "customer_id", "category", "due_date", "breached_at"},
    AlertKind.abuse_flag.value: _COMMON
    | {"customer_id", "financial_compensations", "total", "window_days", "latest_complaint_id"},
    AlertKind.recovery_overdue.value: _COMMON
    | {"case_id", "customer_id", "agent_id", "due_at", "escalated_at", "case_link"},
    "digest": frozenset({"recipient_name", "count", "items"}),
    "weekly_digest": frozenset(
        {
            "recipient_name",
            "team_name",
            "period",
            "answers",
            "csat",
            "ces",
            "nps",
            "worst",
            "open_alerts",
            "alerts",
            "dashboard_link",
        }
    ),
}
RECORDING_PLACEHOLDERS = frozenset({"recording_ref", "contact_id", "tenant"})


def placeholders_in(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def fill(template: str, values: Mapping[str, str]) -> str:
    """Replace {name} by its value; the names were checked when the operator saved the texts.

    Deliberately not str.format: an operator's text must not reach attributes ({x.__class__})."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


Subject = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\r\n]+$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=120, pattern=r"^[^\r\n<>\"]+$")]


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
    weekly_digest: InLanguages | None = None
    """None in documents written before the weekly digest: the template's text is used."""
    recovery_overdue: InLanguages | None = None
    """None in documents written before overdue recovery cases: the template's text is used."""

    def of(self, kind: str) -> InLanguages | None:
        texts: InLanguages | None = getattr(self, kind)
        return texts


class Labels(Rule):
    """The words around the customer's answers, in one language."""

    satisfaction: Name
    effort: Name
    nps: Name
    attributes: dict[AgentAttribute, Name]
    """One for every attribute (checked with the document: text_problems)."""
    channels: dict[Channel, Name] = Field(default_factory=dict)
    """The contact's channel in words; a missing one is shown as its code."""
    no_comment: Name
    no_recording: Name
    deputy_note: Annotated[str, StringConstraints(max_length=300)]
    """Shown to whoever stands in for an absent supervisor; may use {supervisor_name}."""
    window_answers: Name
    """e.g. "the last {n} answers"."""
    window_hours: Name
    reason: Name | None = None
    """Names the customer's reason for being unhappy among their answers ("Why unhappy"); None in
    documents written before reasons: the built-in word of the language (FEEDBACK_WORDS)."""
    topics: Name | None = None
    """Names the topics of the customer's comment among their answers; None: the built-in word."""


class Texts(Rule):
    """Mail texts and labels (R8: texts are data; R22: nl, fr, en)."""

    mails: MailTexts
    labels: dict[Language, Labels]


LABEL_PLACEHOLDERS: Mapping[str, frozenset[str]] = {
    "deputy_note": frozenset({"supervisor_name"}),
    "window_answers": frozenset({"n"}),
    "window_hours": frozenset({"n"}),
}


def _unknown(text: str, allowed: frozenset[str]) -> str | None:
    unknown = placeholders_in(text) - allowed
    if not unknown:
        return None
    known = ", ".join("{" + a + "}" for a in sorted(allowed)) or "none"
    return f"unknown placeholder {', '.join('{' + u + '}' for u in sorted(unknown))}; known: {known}"


def text_problems(texts: Texts) -> Problems:
    """R8, R22: every mail and label exists in nl, fr and en, and uses only the placeholders its
    mail fills in (a typo would reach the supervisor as "{custmer_id}")."""
    problems: Problems = []
    for kind, allowed in PLACEHOLDERS.items():
        mails = texts.mails.of(kind)
        if mails is None:
            continue
        for language in Language:
            template = mails.get(language)
            for part in ("subject", "body"):
                problem = _unknown(getattr(template, part), allowed)
                if problem:
                    problems.append((f"mails.{kind}.{language.value}.{part}", problem))
    for language in Language:
        labels = texts.labels.get(language)
        if labels is None:
            problems.append((f"labels.{language.value}", "missing: every label exists in nl, fr and en"))
            continue
        missing = [a.value for a in AgentAttribute if a not in labels.attributes]
        if missing:
            problems.append((f"labels.{language.value}.attributes", f"no label for {', '.join(missing)}"))
        for name, allowed in LABEL_PLACEHOLDERS.items():
            problem = _unknown(getattr(labels, name), allowed)
            if problem:
                problems.append((f"labels.{language.value}.{name}", problem))
    return problems


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
    mails = texts.mails.of(kind)
    if mails is None:
        raise ValueError(f"no {kind} mail in these texts")
    template = mails.get(language)
    # A value never spans lines in a subject (a header): the sender would refuse it.
    subject_values = {k: " ".join(v.split()) for k, v in values.items()}
    return MailText(subject=fill(template.subject, subject_values), body=fill(template.body, values))


def channel_text(labels: Labels, channel: Channel) -> str:
    return labels.channels.get(channel, channel.value)


def deputy_note(labels: Labels, recipient: Recipient) -> str:
    if recipient.deputy_for is None:
        return ""
    return fill(labels.deputy_note, {"supervisor_name": recipient.deputy_for.name})


FEEDBACK_WORDS: Mapping[Language, tuple[str, str]] = {
    Language.nl: ("Reden", "Onderwerpen"),
    Language.fr: ("Raison", "Sujets"),
    Language.en: ("Reason", "Topics"),
}
"""The words for the reason and the topics lines where a texts document has none (Labels)."""


def feedback_words(labels: Labels, language: Language) -> tuple[str, str]:
    reason, topics = FEEDBACK_WORDS[language]
    return labels.reason or reason, labels.topics or topics


def reason_text(org: Organisation, code: str | None, language: Language) -> str | None:
    """The customer's reason in the reader's words (the organisation's feedback vocabulary); the code
    itself for a reason since removed; None without a reason."""
    return org.feedback.reason_label(code, language.value)


def topics_text(org: Organisation, codes: list[str], language: Language) -> str:
    """The comment's topics in the reader's words, in the order they came."""
    return ", ".join(org.feedback.topic_label(code, language.value) for code in dict.fromkeys(codes))


def answers_block(
    answer: SurveyAnswered,
    labels: Labels,
    findings: tuple[Finding, ...],
    *,
    reason: tuple[str, str] | None = None,
    topics: tuple[str, str] | None = None,
) -> str:
    """R23: what the customer answered, one line per question, the unhappy ones marked; then the
    reason they gave and the topics of their comment, each a (word, text) pair, when there are any."""
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
    for extra in (reason, topics):
        if extra is not None and extra[1]:
            lines.append(f"- {extra[0]}: {extra[1]}")
    return "\n".join(lines)


def window_text(labels: Labels, rule: ThresholdRule) -> str:
    template = labels.window_answers if rule.window_kind is WindowKind.answers else labels.window_hours
    return fill(template, {"n": str(rule.window_size)})


def money_text(money: Money) -> str:
    """EUR 610.00: integer cents, never through a float."""
    return f"{money.currency.value} {money.amount_cents // 100}.{money.amount_cents % 100:02d}"


def local_time(moment: datetime, calendar: BusinessCalendar) -> str:
    """A moment as the tenant reads it: in its time zone."""
    return moment.astimezone(calendar.zone).strftime("%Y-%m-%d %H:%M")
