"""Use cases: each takes `deps` first, runs in the caller's transaction (a consumer's inbox, a timer,
a delivery's outcome) or opens its own (an HTTP request), decides with the domain, and saves state,
mails (the kit's deliveries) and events (the outbox) together. Every decision is the event's or the
caller's tenant's: its rule documents, its organisation, its calendar.

    feedback answered/invited/contact closed   → record_feedback   (R23 unhappy smiley, R24, R25)
    complaint raised/breached/resolved/closed  → record_complaints (R4 notices, R7 root cause)
    customer flagged for review                → record_complaints (R15 back office)
    recovery case escalated                    → record_recoveries (R29 overdue case, R3)
    timer notices.digest                       → send_digest       (R4 as a digest)
    delivery sent / given up                   → delivery_changed  (AlertDelivered)
    GET /alerts, GET /alerts/{id}              → list_alerts, read_alert
    POST /alerts/{id}/acknowledgement, its page → acknowledge      (closing the loop, R23, R7)
    a team's dashboard, its page and stream    → team_dashboard    (R25)
"""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from hoera_events.alerts import (
    AlertAcknowledged,
    AlertAction,
    AlertChannel,
    AlertDelivered,
    AlertKind,
    AlertRaised,
    Metric,
    RecipientRole,
    Severity,
    ThresholdReading,
)
from hoera_events.common import Channel as ContactChannel
from hoera_events.common import Language
from hoera_events.compensation import CustomerFlaggedForReview
from hoera_events.complaints import (
    ComplaintClosed,
    ComplaintRaised,
    ComplaintResolved,
    ComplaintSlaBreached,
)
from hoera_events.envelope import Envelope, make_envelope
from hoera_events.organisation import Organisation, Person
from hoera_events.platform import ContactClosed
from hoera_events.recovery import RecoveryCaseEscalated
from hoera_events.surveys import SurveyAnswered, SurveyInvited
from hoera_kit import deliveries, timers
from hoera_kit.auth import Principal, Role
from hoera_kit.calendar import BusinessCalendar
from hoera_kit.db import Conn
from hoera_kit.deliveries import Channel, DeliveryRecord, DeliveryState, OutgoingMessage
from hoera_kit.deps import ServiceDeps
from hoera_kit.privacy import erased
from hoera_kit.refusals import Forbidden, NotFound

from hoera_alerts import domain, rules, store
from hoera_alerts.domain import AlertStatus, Figures, Finding, NoticeMode, Recipient, status_of_new
from hoera_alerts.rules import TenantRules
from hoera_alerts.settings import AlertsSettings

log = logging.getLogger(__name__)

DIGEST_TIMER = "notices.digest"
WEEKLY_TIMER = "dashboard.weekly_digest"
WEEK = timedelta(days=7)


class Deps(ServiceDeps[AlertsSettings]):
    """The kit's container (transaction, clock, tenants, rules, emit) and the alerts' own links."""

    def act_link(self, alert_id: uuid.UUID, language: Language) -> str:
        return f"{self.settings.base_url}/dashboard/alerts/{alert_id}?lang={language.value}"

    def dashboard_link(self, team_id: str, language: Language) -> str:
        return f"{self.settings.base_url}/dashboard/teams/{quote(team_id, safe='')}?lang={language.value}"

    def elsewhere(self, service: str, path: str, language: Language) -> str | None:
        """A page of another service where its pages are reached (HOERA_STAFF_PAGES, as the pages'
        links to them: hoera_kit.pages.PageView.elsewhere), in a language; None where not configured."""
        base = self.settings.staff_pages.get(service)
        return f"{base.rstrip('/')}{path}?{urlencode({'lang': language.value})}" if base else None

    def case_link(self, case_id: uuid.UUID, language: Language) -> str | None:
        """R29: the recovery case's page, which the callback service serves."""
        return self.elsewhere("callback", f"/recovery/cases/{case_id}", language)

    async def emit_many(self, conn: Conn, envelopes: list[Envelope]) -> None:
        await self.svc.emit_many(conn, envelopes)


@dataclass(frozen=True)
class Tenant:
    """One tenant's rules, organisation and calendar, read once for a use case."""

    id: str
    rules: TenantRules
    org: Organisation
    calendar: BusinessCalendar


async def _tenant(deps: Deps, conn: Conn, tenant: str) -> Tenant:
    return Tenant(
        id=tenant,
        rules=await rules.read(deps.rules, conn, tenant),
        org=deps.tenants.organisation(tenant),
        calendar=deps.tenants.calendar(tenant),
    )


# --- mails ----------------------------------------------------------------------------------------------


def texts_for(deps: Deps, t: Tenant, kind: str) -> domain.Texts:
    """The tenant's texts, or, for a mail its document was written without (one added since: the
    weekly digest, the overdue recovery case), its template's, so that mail goes out all the same."""
    if t.rules.texts.mails.of(kind) is not None:
        return t.rules.texts
    template: domain.Texts = deps.rules.template_document(
        deps.rules.named(rules.TEXTS.name), deps.tenants.template_of(t.id) or "nl"
    )
    return template


def _mail(
    tenant: str,
    person: Person,
    mail: domain.MailText,
    *,
    key: str,
    reference: str,
    customer_id: str | None = None,
) -> OutgoingMessage:
    """One mail to one person in their language; the kit's deliveries send it, retry it and keep
    its state, and `key` makes a second enqueue of the same mail a no-op."""
    return OutgoingMessage(
        channel=Channel.email,
        recipient=domain.mailbox(person),
        subject=mail.subject,
        body_text=mail.body,
        language=person.language.value,
        idempotency_key=key,
        reference=reference,
        tenant=tenant,
        customer_id=customer_id,
    )


async def _tell(
    deps: Deps, conn: Conn, t: Tenant, alert: store.NewAlert, recipient: Recipient | None
) -> list[store.RecipientRow]:
    """The alert's mail to one person (see _tell_all)."""
    return await _tell_all(deps, conn, [(t, alert, recipient)])


async def _tell_all(
    deps: Deps, conn: Conn, told: list[tuple[Tenant, store.NewAlert, Recipient | None]]
) -> list[store.RecipientRow]:
    """Each alert's mail to its person, recorded with the alerts (the kit's deliveries send them,
    retry them and keep their state): two statements however many. Nobody to tell: the alert waits
    on the dashboard alone."""
    mails: list[OutgoingMessage] = []
    recipients: list[tuple[store.NewAlert, Recipient]] = []
    for t, alert, recipient in told:
        if recipient is None:
            log.warning("alert %s of tenant %s: the organisation names nobody to tell", alert.alert_id, t.id)
            continue
        person = recipient.person
        text = domain.compose(
            texts_for(deps, t, alert.kind.value),
            alert.kind.value,
            person.language,
            _values(deps, t, alert, recipient),
        )
        mails.append(
            _mail(
                alert.tenant,
                person,
                text,
                key=f"alert:{alert.alert_id}:{person.id}",
                reference=f"alert:{alert.alert_id}",
                customer_id=alert.customer_id,
            )
        )
        recipients.append((alert, recipient))
    if not mails:
        return []
    await deliveries.enqueue_many(conn, mails)
    ids = await deliveries.ids_of(conn, [m.idempotency_key for m in mails])
    return [
        store.RecipientRow(
            tenant=alert.tenant,
            alert_id=alert.alert_id,
            recipient_id=recipient.person.id,
            role=recipient.role,
            deputy_for=recipient.deputy_for.id if recipient.deputy_for else None,
            delivery_id=ids[mail.idempotency_key],
        )
        for (alert, recipient), mail in zip(recipients, mails, strict=True)
    ]


def _values(deps: Deps, t: Tenant, alert: store.NewAlert, recipient: Recipient) -> dict[str, str]:
    """A mail's placeholders: the alert's own facts (kept in details) in the recipient's language."""
    language = recipient.person.language
    labels = t.rules.texts.labels[language]
    values = {
        "recipient_name": recipient.person.name,
        "team_id": alert.team_id or "-",
        "team_name": domain.team_name(t.org, alert.team_id),
        "act_link": deps.act_link(alert.alert_id, recipient.person.language),
        "deputy_note": domain.deputy_note(labels, recipient),
    }
    facts: dict[str, str] = dict(alert.details.get("values", {}))
    values.update(facts)
    if "channel" in facts:
        values["channel"] = domain.channel_text(labels, ContactChannel(facts["channel"]))
    for moment in ("answered_at", "raised_at", "breached_at", "due_at", "escalated_at"):
        at = datetime.fromisoformat(facts[moment]) if moment in facts else None
        if at is not None and at.tzinfo is not None:  # kept in UTC, read in the tenant's time zone
            values[moment] = domain.local_time(at, t.calendar)
    if alert.kind is AlertKind.unhappy_smiley:
        answer = SurveyAnswered.model_validate(alert.details["answer"])
        findings = tuple(Finding.model_validate(f) for f in alert.details.get("findings", []))
        reason = domain.reason_text(t.org, alert.reason or answer.reason, language) or ""
        topics = domain.topics_text(t.org, answer.topics, language)
        reason_word, topics_word = domain.feedback_words(labels, language)
        values["answers"] = domain.answers_block(
            answer, labels, findings, reason=(reason_word, reason), topics=(topics_word, topics)
        )
        values["reason"] = reason or "-"
        values["topics"] = topics or "-"
        comment = alert.details.get("comment")
        values["comment"] = comment if comment else labels.no_comment
        values["recording_link"] = alert.details.get("recording_link") or labels.no_recording
    elif alert.kind is AlertKind.threshold:
        values["window"] = domain.window_text(labels, t.rules.threshold)
    elif alert.kind is AlertKind.recovery_overdue and alert.recovery_case_id is not None:
        # Without the callback's address the alert's own page, which links the case where it can.
        values["case_link"] = deps.case_link(alert.recovery_case_id, language) or values["act_link"]
    return values


def _raised(
    deps: Deps, alert: store.NewAlert, cause: Envelope | None, reading: ThresholdReading | None = None
) -> Envelope:
    """The AlertRaised envelope, as Service.emit would make it, for writing a batch at once."""
    return make_envelope(
        AlertRaised(
            alert_id=alert.alert_id,
            kind=alert.kind,
            severity=alert.severity,
            raised_at=alert.raised_at,
            # R15: notices for the back office are about no team (the event's contract says so).
            team_id=None if alert.kind is AlertKind.abuse_flag else alert.team_id,
            agent_id=alert.agent_id,
            customer_id=alert.customer_id,
            complaint_id=alert.complaint_id,
            survey_id=alert.survey_id,
            contact_id=alert.contact_id,
            satisfaction=alert.satisfaction,
            reading=reading,
            recording_ref=alert.recording_ref,
            reason=alert.reason,
            recovery_case_id=alert.recovery_case_id,
        ),
        producer=deps.svc.name,
        tenant=alert.tenant,
        correlation_id=(cause.correlation_id or cause.id) if cause else None,
        causation_id=cause.id if cause else None,
    )


# --- R23, R24, R25: survey answers, invitations, contacts -----------------------------------------------


async def record_feedback(deps: Deps, conn: Conn, envelopes: list[Envelope]) -> None:
    """Count what the dashboard shows; an unhappy answer mails the team's lead at once (R23) and
    the team's rolling CSAT is assessed (R24). A Kafka batch is written in a few statements."""
    touched: set[tuple[str, str | None]] = set()
    invited = [(e.tenant, e.data) for e in envelopes if isinstance(e.data, SurveyInvited)]
    if invited:
        await store.insert_invitations(conn, invited)
        touched |= {(t, i.team_id) for t, i in invited}
    contacts = [(e.tenant, e.data) for e in envelopes if isinstance(e.data, ContactClosed)]
    if contacts:
        await store.insert_contacts(conn, contacts)
        touched |= {(t, c.team_id) for t, c in contacts}
    answered = [e for e in envelopes if isinstance(e.data, SurveyAnswered)]
    if answered:
        touched |= await _record_answers(deps, conn, answered)
    await store.touch_many(conn, touched)
    # A tenant defined after the start has its weekly digest planned with its first feedback (one
    # indexed read per tenant of the batch; a cache here could outlive a batch rolled back).
    for tenant in sorted({t for t, _ in touched}):
        await plan_weekly_digest(deps, conn, tenant)


async def _with_words(deps: Deps, conn: Conn, answered: list[Envelope]) -> dict[uuid.UUID, SurveyAnswered]:
    """Each answer (by event id) with the customer's words in `comment`. An event says only that the
    customer commented; the words are asked of the survey service, one call per tenant of the batch.
    An older event that still carries them is read as it comes. A customer this service has erased
    gets no words back from a late answer."""
    answers = {e.id: e.data_as(SurveyAnswered) for e in answered}
    asked: dict[str, list[uuid.UUID]] = {}
    for env in answered:
        answer = answers[env.id]
        if answer.commented and answer.comment is None:
            asked.setdefault(env.tenant, []).append(answer.survey_id)
    if not asked:
        return answers
    words = {
        (tenant, survey_id): text
        for tenant in sorted(asked)
        for survey_id, text in (await deps.survey_comments.resolve(tenant, asked[tenant])).items()
    }
    customers = {
        (e.tenant, answers[e.id].customer_id)
        for e in answered
        if (e.tenant, answers[e.id].survey_id) in words
    }
    gone = {
        (tenant, customer) for tenant, customer in sorted(customers) if await erased(conn, tenant, customer)
    }
    for env in answered:
        answer = answers[env.id]
        text = words.get((env.tenant, answer.survey_id))
        if text is not None and answer.comment is None and (env.tenant, answer.customer_id) not in gone:
            answers[env.id] = answer.model_copy(update={"comment": text})
    return answers


async def _record_answers(deps: Deps, conn: Conn, answered: list[Envelope]) -> set[tuple[str, str | None]]:
    tenants = {name: await _tenant(deps, conn, name) for name in sorted({e.tenant for e in answered})}
    answers = await _with_words(deps, conn, answered)
    findings = {
        e.id: domain.unhappy_findings(answers[e.id], tenants[e.tenant].rules.unhappy) for e in answered
    }
    fresh = await store.insert_answers(
        conn, [(e.tenant, answers[e.id], bool(findings[e.id])) for e in answered]
    )
    touched: set[tuple[str, str | None]] = set()
    unhappy: list[tuple[Envelope, store.NewAlert, Recipient | None]] = []
    assessed: dict[tuple[str, str], Envelope] = {}
    for env in answered:
        answer = answers[env.id]
        if (env.tenant, answer.survey_id) not in fresh:
            continue  # the survey was answered before: counted and alerted then
        fresh.discard((env.tenant, answer.survey_id))  # the same answer twice in one batch counts once
        touched.add((env.tenant, answer.team_id))
        if findings[env.id]:
            unhappy.append(_unhappy_alert(deps, tenants[env.tenant], env, answer, findings[env.id]))
        if answer.team_id is not None and answer.satisfaction is not None:
            assessed[(env.tenant, answer.team_id)] = env
    await _raise_unhappy(deps, conn, tenants, unhappy)
    for (tenant, team_id), cause in sorted(assessed.items(), key=lambda item: item[0]):
        await _assess_threshold(deps, conn, tenants[tenant], team_id, cause)
    return touched


def _unhappy_alert(
    deps: Deps, t: Tenant, env: Envelope, answer: SurveyAnswered, findings: tuple[Finding, ...]
) -> tuple[Envelope, store.NewAlert, Recipient | None]:
    """R23: the alert of an unhappy answer, for whoever acts for the supervisor of the agent's team
    today (R3), with what the customer answered and wrote."""
    now = deps.now()
    recipient = domain.team_recipient(t.org, answer.team_id, t.calendar.local_date(now))
    alert = store.NewAlert(
        alert_id=domain.unhappy_alert_id(env.tenant, answer.survey_id),
        tenant=env.tenant,
        kind=AlertKind.unhappy_smiley,
        severity=Severity.warning,
        status=status_of_new(AlertKind.unhappy_smiley),
        raised_at=now,
        team_id=answer.team_id,
        agent_id=answer.agent_id,
        customer_id=answer.customer_id,
        complaint_id=answer.complaint_id,
        survey_id=answer.survey_id,
        contact_id=answer.contact_id,
        satisfaction=answer.satisfaction,
        recording_ref=answer.recording_ref,
        reason=answer.reason,
        details={
            "answer": answer.model_dump(mode="json"),
            "findings": [f.model_dump() for f in findings],
            "comment": answer.comment.strip() if answer.has_comment and answer.comment else None,
            "recording_link": t.rules.links.recording(env.tenant, answer.recording_ref, answer.contact_id),
            "values": {
                "agent_id": answer.agent_id or "-",
                "contact_id": answer.contact_id or "-",
                "customer_id": answer.customer_id,
                "survey_id": str(answer.survey_id),
                "channel": answer.channel.value,
                "answered_at": answer.answered_at.isoformat(),
            },
        },
    )
    return env, alert, recipient


async def _raise_unhappy(
    deps: Deps,
    conn: Conn,
    tenants: dict[str, Tenant],
    unhappy: list[tuple[Envelope, store.NewAlert, Recipient | None]],
) -> None:
    """R23 at once: the alerts, their mails and their events, in the consumer's transaction."""
    if not unhappy:
        return
    new = await store.insert_alerts(conn, [alert for _, alert, _ in unhappy])
    telling: list[tuple[Tenant, store.NewAlert, Recipient | None]] = []
    events: list[Envelope] = []
    for env, alert, recipient in unhappy:
        if alert.alert_id not in new:
            continue  # raised before, for the same answer under another event id
        telling.append((tenants[alert.tenant], alert, recipient))
        events.append(_raised(deps, alert, env))
    await store.add_recipients(conn, await _tell_all(deps, conn, telling))
    await deps.emit_many(conn, events)


async def _assess_threshold(deps: Deps, conn: Conn, t: Tenant, team_id: str, cause: Envelope) -> None:
    """R24: one alert when the team's rolling CSAT drops below the level, none again until it
    recovered (the state is locked per team, so replicas decide one after another)."""
    rule = t.rules.threshold
    state = await store.lock_threshold_state(conn, t.id, team_id)
    now = deps.now()
    rolling = await store.rolling_satisfaction(conn, t.id, team_id, rule, now)
    value = domain.csat(rolling.satisfaction_sum, rolling.answers)
    assessment = domain.assess_threshold(state, value, rolling.answers, rule)
    await store.save_threshold_state(conn, t.id, team_id, assessment.state, value, rolling.answers)
    if not assessment.fire or value is None:
        return
    if rule.window_kind is domain.WindowKind.hours:
        window_days = math.ceil(rule.window_size / 24)
    else:  # the days the last N answers span
        span = now - (rolling.oldest or now)
        window_days = max(1, math.ceil(span / timedelta(days=1)))
    reading = ThresholdReading(
        metric=Metric.csat,
        value=value,
        threshold=rule.alert_below,
        window_days=window_days,
        sample_size=rolling.answers,
    )
    alert = store.NewAlert(
        alert_id=uuid.uuid4(),
        tenant=t.id,
        kind=AlertKind.threshold,
        severity=Severity.critical,
        status=status_of_new(AlertKind.threshold),
        raised_at=now,
        team_id=team_id,
        details={
            "reading": reading.model_dump(mode="json"),
            "values": {
                "value": f"{value:.1f}",
                "alert_below": f"{rule.alert_below:.1f}",
                "recovered_at": f"{rule.recovered_at:.1f}",
                "sample_size": str(rolling.answers),
            },
        },
    )
    await store.insert_alerts(conn, [alert])
    recipient = domain.team_recipient(t.org, team_id, t.calendar.local_date(now))
    await store.add_recipients(conn, await _tell(deps, conn, t, alert, recipient))
    await deps.emit_many(conn, [_raised(deps, alert, cause, reading)])


# --- R4, R7, R15: complaints and abuse flags --------------------------------------------------------------


async def record_complaints(deps: Deps, conn: Conn, envelopes: list[Envelope]) -> None:
    """R4, R7, R15: a Kafka batch of complaint events and abuse flags in a few statements, whatever
    its size. Each complaint's facts are the batch's events applied in their order (raised, then
    resolved, stays so), written at once; new complaints and missed promises inform management,
    a flag the back office."""
    now = deps.now()
    facts: list[tuple[str, store.ComplaintEvent]] = []
    raising: list[tuple[Envelope, store.NewAlert]] = []
    touched: set[tuple[str, str | None]] = set()
    for env in envelopes:
        data = env.data
        if isinstance(data, ComplaintRaised):
            facts.append((env.tenant, data))
            raising.append((env, _complaint_new(env.tenant, data, now)))
        elif isinstance(data, ComplaintSlaBreached):
            raising.append((env, _sla_breach(env.tenant, data, now)))
        elif isinstance(data, ComplaintResolved | ComplaintClosed):
            facts.append((env.tenant, data))
            touched.add((env.tenant, data.team_id))
        elif isinstance(data, CustomerFlaggedForReview):
            raising.append((env, _abuse_flag(env.tenant, data, now)))
    await _record_complaint_facts(conn, facts)
    await _raise_all(deps, conn, raising, touched)


async def _record_complaint_facts(conn: Conn, events: list[tuple[str, store.ComplaintEvent]]) -> None:
    """The complaints' rows locked (in a fixed order: replicas reading other partitions of the same
    complaints wait, never deadlock), each event applied in the batch's order, then written."""
    if not events:
        return
    keys = sorted({(tenant, event.complaint_id) for tenant, event in events})
    complaints = await store.lock_complaints(conn, keys)
    for tenant, event in events:
        key = (tenant, event.complaint_id)
        complaints[key] = store.complaint_after(complaints[key], event)
    await store.save_complaints(conn, [complaints[key] for key in keys])


def _complaint_new(tenant: str, data: ComplaintRaised, now: datetime) -> store.NewAlert:
    """R4: a new complaint, for management's information."""
    return store.NewAlert(
        alert_id=domain.notice_alert_id(tenant, AlertKind.complaint_new, data.complaint_id),
        tenant=tenant,
        kind=AlertKind.complaint_new,
        severity=Severity.info,
        status=status_of_new(AlertKind.complaint_new),
        raised_at=now,
        team_id=data.team_id,
        agent_id=data.agent_id,
        customer_id=data.customer_id,
        complaint_id=data.complaint_id,
        contact_id=data.contact_id,
        details={
            "values": {
                "complaint_id": str(data.complaint_id),
                "customer_id": data.customer_id,
                "category": data.category,
                "channel": data.channel.value,
                "raised_at": data.raised_at.isoformat(),
                "due_date": data.due_date.isoformat(),
            }
        },
    )


def _sla_breach(tenant: str, data: ComplaintSlaBreached, now: datetime) -> store.NewAlert:
    """R4: a complaint past its promised date, for management's information (once per date)."""
    return store.NewAlert(
        alert_id=domain.notice_alert_id(tenant, AlertKind.sla_breach, data.complaint_id, data.due_date),
        tenant=tenant,
        kind=AlertKind.sla_breach,
        severity=Severity.info,
        status=status_of_new(AlertKind.sla_breach),
        raised_at=now,
        team_id=data.team_id,
        agent_id=data.agent_id,
        customer_id=data.customer_id,
        complaint_id=data.complaint_id,
        details={
            "values": {
                "complaint_id": str(data.complaint_id),
                "customer_id": data.customer_id,
                "category": data.category,
                "due_date": data.due_date.isoformat(),
                "breached_at": data.breached_at.isoformat(),
            }
        },
    )


def _abuse_flag(tenant: str, flag: CustomerFlaggedForReview, now: datetime) -> store.NewAlert:
    """R15: the abuse watch's flag goes to the tenant's back office, who reviews the customer."""
    return store.NewAlert(
        alert_id=domain.notice_alert_id(
            tenant, AlertKind.abuse_flag, flag.customer_id, flag.flagged_at.isoformat()
        ),
        tenant=tenant,
        kind=AlertKind.abuse_flag,
        severity=Severity.warning,
        status=status_of_new(AlertKind.abuse_flag),
        raised_at=now,
        # Kept out of team dashboards: the back office reviews it, not the team's supervisor.
        team_id=None,
        customer_id=flag.customer_id,
        complaint_id=flag.latest_complaint_id,
        details={
            "team_of_latest_complaint": flag.team_id,
            "values": {
                "customer_id": flag.customer_id,
                "financial_compensations": str(flag.financial_compensations),
                "total": domain.money_text(flag.total),
                "window_days": str(flag.window_days),
                "latest_complaint_id": str(flag.latest_complaint_id or "-"),
            },
        },
    )


async def _raise_all(
    deps: Deps,
    conn: Conn,
    raising: list[tuple[Envelope, store.NewAlert]],
    touched: set[tuple[str, str | None]],
) -> None:
    """Notices, flags and overdue cases raised together: the alerts, whom they tell (R4: management
    at once or in its next digest; R15: the back office; R29: whoever acts for the team's
    supervisor), their events and the dashboards, in a few statements per batch (and a digest's
    plan per tenant that queued one). An alert raised before (its id says what it is about) raises
    nothing again, neither does the same one twice in a batch."""
    new = await store.insert_alerts(conn, [alert for _, alert in raising])
    fresh: list[tuple[Envelope, store.NewAlert]] = []
    for env, alert in raising:
        if alert.alert_id in new:
            new.discard(alert.alert_id)
            fresh.append((env, alert))
    tenants = {name: await _tenant(deps, conn, name) for name in sorted({a.tenant for _, a in fresh})}
    telling: list[tuple[Tenant, store.NewAlert, Recipient | None]] = []
    queued: list[store.NewAlert] = []
    for _, alert in fresh:
        t = tenants[alert.tenant]
        if alert.kind is AlertKind.abuse_flag:
            telling.append((t, alert, domain.back_office(t.org)))
        elif alert.kind is AlertKind.recovery_overdue:
            day = t.calendar.local_date(alert.raised_at)
            telling.append((t, alert, domain.case_recipient(t.org, alert.team_id, day)))
        elif t.rules.notices.management is NoticeMode.immediate:
            telling.extend((t, alert, recipient) for recipient in domain.management(t.org))
        else:
            queued.append(alert)
        touched.add((alert.tenant, alert.team_id))
    await store.add_recipients(conn, await _tell_all(deps, conn, telling))
    await store.queue_notices(conn, [(alert.tenant, alert.alert_id) for alert in queued])
    for tenant in sorted({alert.tenant for alert in queued}):
        await _plan_digest(deps, conn, tenants[tenant])
    await deps.emit_many(conn, [_raised(deps, alert, env) for env, alert in fresh])
    await store.touch_many(conn, touched)


async def _plan_digest(deps: Deps, conn: Conn, t: Tenant) -> None:
    """R4 as a digest: it goes out a period after its first notice (scheduling again would move it)."""
    key = f"digest:{t.id}"
    if await timers.pending(conn, DIGEST_TIMER, key) is None:
        due = domain.digest_due(t.calendar, deps.now(), t.rules.notices)
        await timers.schedule(conn, DIGEST_TIMER, key, due, {"tenant": t.id})


# --- R29, R3: overdue recovery cases ---------------------------------------------------------------------


async def record_recoveries(deps: Deps, conn: Conn, envelopes: list[Envelope]) -> None:
    """A recovery case passed its target time still open: one alert for whoever acts for the team's
    supervisor today (R3; management as the last resort), mailed in their language with a link to
    the case's page. The kit's inbox drops a redelivered event; the alert's id (the case and its
    target time) drops the same escalation published again under another event id. A Kafka batch
    in a few statements, whatever its size."""
    now = deps.now()
    raising: list[tuple[Envelope, store.NewAlert]] = []
    for env in envelopes:
        data = env.data
        if isinstance(data, RecoveryCaseEscalated):
            raising.append((env, _recovery_overdue(env.tenant, data, now)))
    await _raise_all(deps, conn, raising, set())


def _recovery_overdue(tenant: str, data: RecoveryCaseEscalated, now: datetime) -> store.NewAlert:
    return store.NewAlert(
        alert_id=domain.notice_alert_id(
            tenant, AlertKind.recovery_overdue, data.case_id, data.due_at.isoformat()
        ),
        tenant=tenant,
        kind=AlertKind.recovery_overdue,
        severity=Severity.warning,
        status=status_of_new(AlertKind.recovery_overdue),
        raised_at=now,
        team_id=data.team_id,
        agent_id=data.agent_id,
        customer_id=data.customer_id,
        recovery_case_id=data.case_id,
        details={
            "values": {
                "case_id": str(data.case_id),
                "customer_id": data.customer_id,
                "agent_id": data.agent_id or "-",
                "due_at": data.due_at.isoformat(),
                "escalated_at": data.escalated_at.isoformat(),
            }
        },
    )


async def send_digest(deps: Deps, conn: Conn, tenant: str) -> None:
    """R4 as a digest: one mail per manager listing the notices queued since the last one."""
    notices = await store.take_pending_notices(conn, tenant)
    if not notices:
        return
    t = await _tenant(deps, conn, tenant)
    digest_id = uuid.uuid4()
    for recipient in domain.management(t.org):
        person = recipient.person
        lines = [
            "- "
            + domain.compose(
                texts_for(deps, t, n.kind.value),
                n.kind.value,
                person.language,
                _values(deps, t, n, recipient),
            ).subject
            for n in notices
        ]
        mail = domain.compose(
            t.rules.texts,
            "digest",
            person.language,
            {"recipient_name": person.name, "count": str(len(notices)), "items": "\n".join(lines)},
        )
        delivery = await deliveries.enqueue(
            conn,
            _mail(
                tenant, person, mail, key=f"digest:{digest_id}:{person.id}", reference=f"digest:{digest_id}"
            ),
        )
        await store.add_recipients(
            conn,
            [
                store.RecipientRow(tenant, n.alert_id, person.id, RecipientRole.management, None, delivery.id)
                for n in notices
            ],
        )


# --- the weekly digest (R25) ------------------------------------------------------------------------


async def plan_weekly_digest(deps: Deps, conn: Conn, tenant: str) -> None:
    """The tenant's next weekly digest, unless one is planned already (a durable timer: a restart
    or a second replica neither loses nor doubles it)."""
    key = f"weekly:{tenant}"
    if await timers.pending(conn, WEEKLY_TIMER, key) is not None:
        return
    rule = (await deps.rules.get(conn, tenant, rules.DASHBOARD)).weekly_digest
    due = domain.next_weekly_digest(deps.tenants.calendar(tenant), deps.now(), rule)
    await timers.schedule(conn, WEEKLY_TIMER, key, due, {"tenant": tenant})


async def plan_weekly_digests(deps: Deps) -> None:
    """At start: every tenant known so far has its next digest planned."""
    for tenant in deps.tenants.tenant_ids:
        async with deps.transaction() as conn:
            await plan_weekly_digest(deps, conn, tenant)


async def send_weekly_digest(deps: Deps, conn: Conn, tenant: str, due_at: datetime) -> None:
    """R25: one mail per team to whoever acts for its supervisor, in their language: the week's
    figures, its least satisfied answers and the open alerts; then the next week's is planned."""
    t = await _tenant(deps, conn, tenant)
    rule = t.rules.dashboard.weekly_digest
    await timers.schedule(
        conn,
        WEEKLY_TIMER,
        f"weekly:{tenant}",
        domain.next_weekly_digest(t.calendar, max(deps.now(), due_at), rule),
        {"tenant": tenant},
    )
    if not rule.enabled:
        return
    texts = texts_for(deps, t, "weekly_digest")
    since = due_at - WEEK
    week = due_at.astimezone(t.calendar.zone).strftime("%G-W%V")
    for team in t.org.teams:
        recipient = domain.team_recipient(t.org, team.id, t.calendar.local_date(due_at))
        if recipient is None:
            continue
        person = recipient.person
        counts = await store.counts(conn, tenant, team.id, since)
        figures = domain.figures(counts)
        worst = await store.answers_behind(
            conn,
            tenant,
            store.AnswerQuery(team_id=team.id, since=since, until=due_at, figure="csat"),
            limit=rule.worst_answers,
            worst_first=True,
        )
        open_alerts = await store.list_alerts(conn, tenant, [team.id], [AlertStatus.open], limit=10)
        labels = texts.labels.get(person.language) or texts.labels[Language.en]
        mail = domain.compose(
            texts,
            "weekly_digest",
            person.language,
            {
                "recipient_name": person.name,
                "team_name": domain.team_name(t.org, team.id),
                "period": f"{t.calendar.local_date(since)} – {t.calendar.local_date(due_at)}",
                "answers": str(figures.answers),
                "csat": _figure(figures.csat, 1),
                "ces": _figure(figures.ces, 1),
                "nps": _figure(figures.nps, 0),
                "worst": "\n".join(_worst_line(labels, t.calendar.zone, r) for r in worst) or "-",
                "open_alerts": str(await store.count_open(conn, tenant, team.id)),
                "alerts": "\n".join(
                    f"- {a.raised_at.astimezone(t.calendar.zone):%Y-%m-%d %H:%M} {a.kind.value}: "
                    f"{deps.act_link(a.alert_id, person.language)}"
                    for a in open_alerts
                ),
                "dashboard_link": deps.dashboard_link(team.id, person.language),
            },
        )
        await deliveries.enqueue(
            conn,
            _mail(
                tenant,
                person,
                mail,
                key=f"weekly:{tenant}:{team.id}:{week}:{person.id}",
                reference=f"weekly:{team.id}:{week}",
            ),
        )


def _worst_line(labels: domain.Labels, zone: ZoneInfo, r: store.AnswerRow) -> str:
    """Score, moment, channel and agent; not the customer's words: a digest quotes many customers and
    a sent mail is beyond erasure's reach (the answers page shows the words while they are kept)."""
    channel = domain.channel_text(labels, ContactChannel(r.channel)) if r.channel else "-"
    at = r.answered_at.astimezone(zone)
    return f"- {r.satisfaction}/5 · {at:%Y-%m-%d %H:%M} · {channel} · {r.agent_id or '-'}"


def _figure(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


# --- deliveries -----------------------------------------------------------------------------------------


async def delivery_changed(deps: Deps, conn: Conn, record: DeliveryRecord) -> None:
    """AlertDelivered once the mail server accepted the mail (for each alert a digest carried)."""
    if record.state is DeliveryState.given_up:
        await store.mark_given_up(conn, record.tenant, record.id)
        return
    if record.state is not DeliveryState.sent:
        return
    at = record.sent_at or deps.now()
    delivered = await store.mark_delivered(conn, record.tenant, record.id, at)
    await deps.emit_many(
        conn,
        [
            make_envelope(
                AlertDelivered(
                    alert_id=d.alert_id,
                    recipient_id=d.recipient_id,
                    recipient_role=d.role,
                    channel=AlertChannel.email,
                    delivered_at=at,
                    team_id=d.team_id,
                    deputy_for=d.deputy_for,
                ),
                producer=deps.svc.name,
                tenant=d.tenant,
            )
            for d in delivered
        ],
    )


# --- what a supervisor may see (R23, R25) ------------------------------------------------------------------


def led_teams(principal: Principal, team_id: str | None) -> list[str]:
    """The teams a request may read: the one asked for if the principal leads it (else 404, as for
    a team that does not exist), or every team they lead. The tenant is the token's."""
    if team_id is not None:
        if not principal.leads(team_id):
            raise NotFound("team")
        return [team_id]
    return sorted(team for team in principal.teams if principal.leads(team))


def visible_alert(principal: Principal, alert: store.StoredAlert | None) -> store.StoredAlert:
    """404 for an alert of a team the principal does not lead, exactly as for one that does not
    exist (another tenant's alert is not even read: every query names the principal's tenant)."""
    if alert is None or alert.tenant != principal.tenant:
        raise NotFound("alert")
    if alert.team_id is None:
        # Abuse flags and other notices without a team are the back office's (approvers) and admins'.
        if not principal.has_role(Role.approver, Role.admin):
            raise NotFound("alert")
        return alert
    if not principal.has_role(Role.supervisor):
        raise Forbidden("requires one of the roles: supervisor")
    if not principal.leads(alert.team_id):
        raise NotFound("alert")
    return alert


@dataclass(frozen=True)
class AlertView:
    alert: store.StoredAlert
    recipients: list[store.RecipientView]


async def list_alerts(
    deps: Deps, principal: Principal, team_id: str | None, statuses: list[AlertStatus], limit: int
) -> list[store.StoredAlert]:
    teams = led_teams(principal, team_id)
    async with deps.transaction() as conn:
        return await store.list_alerts(conn, principal.tenant, teams, statuses, limit=limit)


async def read_alert(deps: Deps, principal: Principal, alert_id: uuid.UUID) -> AlertView:
    async with deps.transaction() as conn:
        alert = visible_alert(principal, await store.get_alert(conn, principal.tenant, alert_id))
        return AlertView(alert, await store.recipients_of(conn, principal.tenant, alert_id))


# --- closing the loop (R23, R7) -------------------------------------------------------------------------


async def acknowledge(
    deps: Deps,
    principal: Principal,
    alert_id: uuid.UUID,
    action: AlertAction,
    note: str | None,
    root_cause_department: str | None,
) -> AlertView:
    tenant = principal.tenant
    async with deps.transaction() as conn:
        alert = visible_alert(principal, await store.get_alert(conn, tenant, alert_id, for_update=True))
        if (
            alert.status is AlertStatus.acknowledged
            and alert.acknowledged_by == principal.subject
            and alert.action == action.value
            and alert.root_cause_department == root_cause_department
        ):
            # The same acknowledgement sent again (a double click, a retry).
            return AlertView(alert, await store.recipients_of(conn, tenant, alert_id))
        domain.check_acknowledgement(alert.status, action, root_cause_department)
        now = deps.now()
        updated = await store.acknowledge(
            conn,
            tenant,
            alert_id,
            by=principal.subject,
            at=now,
            action=action.value,
            note=note,
            root_cause_department=root_cause_department,
        )
        await deps.emit(
            conn,
            AlertAcknowledged(
                alert_id=alert_id,
                acknowledged_by=principal.subject,
                action=action,
                acknowledged_at=now,
                team_id=alert.team_id,
                root_cause_department=root_cause_department,
            ),
            tenant=tenant,
        )
        await store.touch(conn, tenant, alert.team_id)
        return AlertView(updated, await store.recipients_of(conn, tenant, alert_id))


# --- R25: what a team's dashboard shows ------------------------------------------------------------------


@dataclass(frozen=True)
class TrendPoint:
    day: str
    csat: float | None
    nps: float | None
    answers: int


@dataclass(frozen=True)
class RootCauseFigure:
    department: str | None
    csat: float | None
    answers: int


@dataclass(frozen=True)
class TeamDashboard:
    tenant: str
    team_id: str
    team_name: str
    period_days: int
    figures: Figures
    trend: list[TrendPoint]
    root_causes: list[RootCauseFigure]
    open_alerts: list[store.StoredAlert]
    acknowledged: list[store.StoredAlert]
    open_count: int
    generated_at: datetime
    feedback: store.FeedbackCounts
    """The period's topics and reasons, counted as the drill-down filtered on each would count them."""


@dataclass(frozen=True)
class AnswersBehind:
    """R25's drill-down: the answers behind a figure, how many in all, and their figures."""

    query: store.AnswerQuery
    rows: list[store.AnswerRow]
    total: int
    figures: Figures


async def answers_behind(
    deps: Deps,
    tenant: str,
    team_id: str,
    *,
    first_day: date | None = None,
    last_day: date | None = None,
    agent_id: str | None = None,
    channel: str | None = None,
    figure: str | None = None,
    score: int | None = None,
    reason: str | None = None,
    topic: str | None = None,
    limit: int,
) -> AnswersBehind:
    """The team's answers behind a dashboard figure. Without days, the dashboard's own period (so
    the figures here are the card's); days are whole days of the tenant's calendar, both included."""
    calendar = deps.tenants.calendar(tenant)
    async with deps.transaction() as conn:
        if first_day is None:
            rule = await deps.rules.get(conn, tenant, rules.DASHBOARD)
            since = domain.dashboard_window(calendar, deps.now(), rule).since
        else:
            since = datetime.combine(first_day, time(0), calendar.zone)
        until = datetime.combine(last_day + timedelta(days=1), time(0), calendar.zone) if last_day else None
        query = store.AnswerQuery(
            team_id=team_id,
            since=since,
            until=until,
            agent_id=agent_id,
            channel=channel,
            figure=figure,
            score=score,
            reason=reason,
            topic=topic,
        )
        total, counts = await store.answers_counts(conn, tenant, query)
        rows = await store.answers_behind(conn, tenant, query, limit=limit)
    return AnswersBehind(query=query, rows=rows, total=total, figures=domain.figures(counts))


async def team_dashboard(deps: Deps, tenant: str, team_id: str) -> TeamDashboard:
    """R25: the team's figures, trend, root-cause split and alerts, in the tenant's calendar."""
    calendar = deps.tenants.calendar(tenant)
    now = deps.now()
    async with deps.transaction() as conn:
        rule = await deps.rules.get(conn, tenant, rules.DASHBOARD)
        window = domain.dashboard_window(calendar, now, rule)
        counts = await store.counts(conn, tenant, team_id, window.since)
        daily = await store.daily(conn, tenant, team_id, window.trend_since, calendar.rules.timezone)
        by_root_cause = await store.by_root_cause(conn, tenant, team_id, window.since)
        # The drill-down's own query over the same period: each count is its total filtered on it.
        feedback = await store.feedback_counts(
            conn, tenant, store.AnswerQuery(team_id=team_id, since=window.since)
        )
        open_alerts = await store.list_alerts(conn, tenant, [team_id], [AlertStatus.open], limit=50)
        acknowledged = await store.list_alerts(conn, tenant, [team_id], [AlertStatus.acknowledged], limit=20)
        open_count = await store.count_open(conn, tenant, team_id)
    by_day = {d.day: d for d in daily}
    trend = []
    for day in window.days:
        d = by_day.get(day)
        trend.append(
            TrendPoint(
                day=day.isoformat(),
                csat=domain.csat(d.satisfaction_sum, d.satisfaction_n) if d else None,
                nps=domain.nps(d.promoters, d.detractors, d.nps_n) if d else None,
                answers=d.satisfaction_n if d else 0,
            )
        )
    return TeamDashboard(
        tenant=tenant,
        team_id=team_id,
        team_name=domain.team_name(deps.tenants.organisation(tenant), team_id),
        period_days=rule.period_days,
        figures=domain.figures(counts),
        trend=trend,
        root_causes=[
            RootCauseFigure(
                department=r.department,
                csat=domain.csat(r.satisfaction_sum, r.satisfaction_n),
                answers=r.satisfaction_n,
            )
            for r in by_root_cause
        ],
        open_alerts=open_alerts,
        acknowledged=acknowledged,
        open_count=open_count,
        generated_at=now,
        feedback=feedback,
    )
