"""Use cases: each runs in the caller's transaction (a consumer's inbox, a timer, a delivery's
outcome or an HTTP request), decides with the domain, and saves state, mails (the kit's deliveries)
and events (the outbox) together.

    feedback answered/invited/contact closed   → record_feedback   (R23 unhappy smiley, R24, R25)
    complaint raised/breached/resolved/closed  → record_complaint  (R4 notices, R7 root cause)
    customer flagged for review                → record_complaint  (R15 back office)
    timer notices.digest                       → send_digest       (R4 as a digest)
    delivery sent / given up                   → delivery_changed  (AlertDelivered)
    POST /alerts/{id}/acknowledgement          → acknowledge       (closing the loop, R23, R7)
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fastapi import HTTPException
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
from hoera_events.compensation import CustomerFlaggedForReview
from hoera_events.complaints import (
    ComplaintClosed,
    ComplaintRaised,
    ComplaintResolved,
    ComplaintSlaBreached,
)
from hoera_events.envelope import Envelope, make_envelope
from hoera_events.platform import ContactClosed
from hoera_events.surveys import SurveyAnswered, SurveyInvited
from hoera_kit import deliveries, timers
from hoera_kit.auth import Principal, Role, ensure_team_access, ensure_tenant
from hoera_kit.db import Conn
from hoera_kit.deliveries import Channel, DeliveryRecord, DeliveryState, OutgoingMessage
from hoera_kit.errors import DomainError, NotFound
from hoera_kit.service import Service

from hoera_alerts import domain, store
from hoera_alerts.domain import (
    AcknowledgementRefused,
    AlertStatus,
    Figures,
    Finding,
    NoticeMode,
    Person,
    Recipient,
    status_of_new,
)
from hoera_alerts.rules import RuleBook, RuleStore
from hoera_alerts.settings import AlertsSettings

DIGEST_TIMER = "notices.digest"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Alerts:
    """What every use case needs: the service (outbox, pool, settings) and the operator data."""

    svc: Service[AlertsSettings]
    rules: RuleStore

    @property
    def settings(self) -> AlertsSettings:
        settings = self.svc.settings
        assert isinstance(settings, AlertsSettings)
        return settings

    def act_link(self, alert_id: uuid.UUID, person: Person) -> str:
        return f"{self.settings.base_url}/dashboard/alerts/{alert_id}?lang={person.language.value}"


# --- mails ----------------------------------------------------------------------------------------------


async def _mail(
    conn: Conn,
    alert: store.NewAlert,
    recipient: Recipient,
    mail: domain.MailText,
) -> store.RecipientRow:
    """Recorded with the alert (the kit's deliveries send it, retry it and keep its state)."""
    person = recipient.person
    delivery = await deliveries.enqueue(
        conn,
        OutgoingMessage(
            channel=Channel.email,
            recipient=person.address,
            subject=mail.subject,
            body_text=mail.body,
            language=person.language.value,
            idempotency_key=f"alert:{alert.alert_id}:{person.id}",
            reference=f"alert:{alert.alert_id}",
            tenant=alert.tenant,
        ),
    )
    return store.RecipientRow(
        alert_id=alert.alert_id,
        recipient_id=person.id,
        role=recipient.role,
        deputy_for=recipient.deputy_for.id if recipient.deputy_for else None,
        delivery_id=delivery.id,
    )


def _common_values(
    app: Alerts, book: RuleBook, alert: store.NewAlert, recipient: Recipient
) -> dict[str, str]:
    team = book.organisation.team(alert.team_id)
    labels = book.texts.labels[recipient.person.language]
    return {
        "recipient_name": recipient.person.name,
        "team_id": alert.team_id or "-",
        "team_name": team.name if team else (alert.team_id or "-"),
        "act_link": app.act_link(alert.alert_id, recipient.person),
        "deputy_note": domain.deputy_note(labels, recipient),
    }


def _values(app: Alerts, book: RuleBook, alert: store.NewAlert, recipient: Recipient) -> dict[str, str]:
    """A mail's placeholders: the alert's own facts (kept in details) in the recipient's language."""
    values = _common_values(app, book, alert, recipient)
    facts: dict[str, str] = dict(alert.details.get("values", {}))
    values.update(facts)
    labels = book.texts.labels[recipient.person.language]
    if "channel" in facts:
        values["channel"] = domain.channel_text(labels, ContactChannel(facts["channel"]))
    if alert.kind is AlertKind.unhappy_smiley:
        values["answers"] = _answers_text(alert, labels)
        comment = alert.details.get("comment")
        values["comment"] = comment if comment else labels.no_comment
        values["recording_link"] = alert.details.get("recording_link") or labels.no_recording
        values["answered_at"] = domain.local_time(
            datetime.fromisoformat(facts["answered_at"]), book.organisation
        )
    elif alert.kind is AlertKind.threshold:
        values["window"] = domain.window_text(labels, book.threshold)
    return values


def _answers_text(alert: store.NewAlert, labels: domain.Labels) -> str:
    answer = SurveyAnswered.model_validate(alert.details["answer"])
    findings = tuple(Finding.model_validate(f) for f in alert.details.get("findings", []))
    return domain.answers_block(answer, labels, findings)


async def _tell(
    app: Alerts, conn: Conn, book: RuleBook, alert: store.NewAlert, recipient: Recipient
) -> store.RecipientRow:
    values = _values(app, book, alert, recipient)
    mail = domain.compose(book.texts, alert.kind.value, recipient.person.language, values)
    return await _mail(conn, alert, recipient, mail)


def _raised(
    app: Alerts, alert: store.NewAlert, cause: Envelope | None, reading: ThresholdReading | None = None
) -> Envelope:
    """The AlertRaised envelope, as Service.emit would make it, for writing a batch at once."""
    return make_envelope(
        _raised_event(alert, reading),
        producer=app.svc.name,
        tenant=alert.tenant,
        correlation_id=(cause.correlation_id or cause.id) if cause else None,
        causation_id=cause.id if cause else None,
    )


def _raised_event(alert: store.NewAlert, reading: ThresholdReading | None = None) -> AlertRaised:
    return AlertRaised(
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
    )


# --- R23, R24, R25: survey answers, invitations, contacts -----------------------------------------------


async def record_feedback(app: Alerts, conn: Conn, envelopes: list[Envelope]) -> None:
    """Count what the dashboard shows; an unhappy answer mails the team's lead at once (R23) and
    the team's rolling CSAT is assessed (R24). A Kafka batch is written in a few statements."""
    book = await app.rules.book(conn)
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
        findings = {e.id: domain.unhappy_findings(e.data_as(SurveyAnswered), book.unhappy) for e in answered}
        fresh = await store.insert_answers(
            conn, [(e.tenant, e.data_as(SurveyAnswered), bool(findings[e.id])) for e in answered]
        )
        unhappy: list[tuple[Envelope, store.NewAlert, Recipient]] = []
        assessed: set[tuple[str, str]] = set()
        for env in answered:
            answer = env.data_as(SurveyAnswered)
            if answer.survey_id not in fresh:
                continue  # the survey was answered before: counted and alerted then
            fresh.discard(answer.survey_id)  # the same answer twice in one batch counts once
            touched.add((env.tenant, answer.team_id))
            if findings[env.id]:
                unhappy.append(_unhappy_alert(book, env, answer, findings[env.id]))
            if answer.team_id is not None and answer.satisfaction is not None:
                assessed.add((env.tenant, answer.team_id))
        await _raise_unhappy(app, conn, book, unhappy)
        for tenant, team_id in sorted(assessed):
            await _assess_threshold(app, conn, book, tenant, team_id, answered[-1])
    await store.touch_many(conn, touched)


def _unhappy_alert(
    book: RuleBook, env: Envelope, answer: SurveyAnswered, findings: tuple[Finding, ...]
) -> tuple[Envelope, store.NewAlert, Recipient]:
    """R23: the alert of an unhappy answer, for the supervisor of the agent's team (or the
    deputy, R3), with what the customer answered and wrote."""
    org = book.organisation
    now = _now()
    recipient = domain.team_lead_on(org.team(answer.team_id), org, book.absences, org.local_day(now))
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
        details={
            "answer": answer.model_dump(mode="json"),
            "findings": [f.model_dump() for f in findings],
            "comment": answer.comment.strip() if answer.has_comment and answer.comment else None,
            "recording_link": book.links.recording(env.tenant, answer.recording_ref, answer.contact_id),
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
    app: Alerts,
    conn: Conn,
    book: RuleBook,
    unhappy: list[tuple[Envelope, store.NewAlert, Recipient]],
) -> None:
    """R23 at once: the alerts, their mails and their events, in the consumer's transaction."""
    if not unhappy:
        return
    new = await store.insert_alerts(conn, [alert for _, alert, _ in unhappy])
    told: list[store.RecipientRow] = []
    events: list[Envelope] = []
    for env, alert, recipient in unhappy:
        if alert.alert_id not in new:
            continue  # raised before, for the same answer under another event id
        told.append(await _tell(app, conn, book, alert, recipient))
        events.append(_raised(app, alert, env))
    await store.add_recipients(conn, told)
    await app.svc.emit_many(conn, events)


async def _assess_threshold(
    app: Alerts, conn: Conn, book: RuleBook, tenant: str, team_id: str, cause: Envelope
) -> None:
    """R24: one alert when the team's rolling CSAT drops below the level, none again until it
    recovered (the state is locked per team, so replicas decide one after another)."""
    rule = book.threshold
    state = await store.lock_threshold_state(conn, tenant, team_id)
    now = _now()
    rolling = await store.rolling_satisfaction(conn, tenant, team_id, rule, now)
    value = domain.csat(rolling.satisfaction_sum, rolling.answers)
    assessment = domain.assess_threshold(state, value, rolling.answers, rule)
    await store.save_threshold_state(conn, tenant, team_id, assessment.state, value, rolling.answers)
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
    org = book.organisation
    alert = store.NewAlert(
        alert_id=uuid.uuid4(),
        tenant=tenant,
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
    recipient = domain.team_lead_on(org.team(team_id), org, book.absences, org.local_day(now))
    await store.add_recipients(conn, [await _tell(app, conn, book, alert, recipient)])
    await app.svc.emit_many(conn, [_raised(app, alert, cause, reading)])


# --- R4, R7, R15: complaints and abuse flags --------------------------------------------------------------


async def record_complaint(app: Alerts, conn: Conn, env: Envelope) -> None:
    data = env.data
    book = await app.rules.book(conn)
    if isinstance(data, ComplaintRaised):
        await store.complaint_raised(conn, env.tenant, data)
        await _notice(
            app,
            conn,
            book,
            env,
            store.NewAlert(
                alert_id=domain.notice_alert_id(env.tenant, AlertKind.complaint_new, data.complaint_id),
                tenant=env.tenant,
                kind=AlertKind.complaint_new,
                severity=Severity.info,
                status=status_of_new(AlertKind.complaint_new),
                raised_at=_now(),
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
                        "raised_at": domain.local_time(data.raised_at, book.organisation),
                        "due_date": data.due_date.isoformat(),
                    }
                },
            ),
        )
    elif isinstance(data, ComplaintSlaBreached):
        await _notice(
            app,
            conn,
            book,
            env,
            store.NewAlert(
                alert_id=domain.notice_alert_id(
                    env.tenant, AlertKind.sla_breach, data.complaint_id, data.due_date
                ),
                tenant=env.tenant,
                kind=AlertKind.sla_breach,
                severity=Severity.info,
                status=status_of_new(AlertKind.sla_breach),
                raised_at=_now(),
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
                        "breached_at": domain.local_time(data.breached_at, book.organisation),
                    }
                },
            ),
        )
    elif isinstance(data, ComplaintResolved):
        await store.complaint_resolved(conn, env.tenant, data)
        await store.touch(conn, env.tenant, data.team_id)
    elif isinstance(data, ComplaintClosed):
        await store.complaint_closed(conn, env.tenant, data)
        await store.touch(conn, env.tenant, data.team_id)
    elif isinstance(data, CustomerFlaggedForReview):
        await _flag_for_back_office(app, conn, book, env, data)


async def _notice(app: Alerts, conn: Conn, book: RuleBook, env: Envelope, alert: store.NewAlert) -> None:
    """R4: management is informed (not asked to act), at once or in the next digest."""
    if not await store.insert_alerts(conn, [alert]):
        return
    if book.notices.management is NoticeMode.immediate:
        told = [
            await _tell(app, conn, book, alert, Recipient(person=p, role=RecipientRole.management))
            for p in _management(book)
        ]
        await store.add_recipients(conn, told)
    else:
        await store.queue_notice(conn, alert.alert_id, alert.tenant)
        key = f"digest:{alert.tenant}"
        # Scheduling again would move the timer: the digest goes out a period after its first notice.
        if await timers.pending(conn, DIGEST_TIMER, key) is None:
            due = _now() + timedelta(seconds=book.notices.digest_every_seconds)
            await timers.schedule(conn, DIGEST_TIMER, key, due, {"tenant": alert.tenant})
    await app.svc.emit_many(conn, [_raised(app, alert, env)])
    await store.touch(conn, alert.tenant, alert.team_id)


def _management(book: RuleBook) -> list[Person]:
    org = book.organisation
    return [p for p in (org.person(m) for m in org.management) if p is not None]


async def _flag_for_back_office(
    app: Alerts, conn: Conn, book: RuleBook, env: Envelope, flag: CustomerFlaggedForReview
) -> None:
    """R15: the abuse watch's flag goes to the back office, who reviews the customer."""
    alert = store.NewAlert(
        alert_id=domain.notice_alert_id(
            env.tenant, AlertKind.abuse_flag, flag.customer_id, flag.flagged_at.isoformat()
        ),
        tenant=env.tenant,
        kind=AlertKind.abuse_flag,
        severity=Severity.warning,
        status=status_of_new(AlertKind.abuse_flag),
        raised_at=_now(),
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
    if not await store.insert_alerts(conn, [alert]):
        return
    recipient = Recipient(person=book.organisation.back_office, role=RecipientRole.back_office)
    await store.add_recipients(conn, [await _tell(app, conn, book, alert, recipient)])
    await app.svc.emit_many(conn, [_raised(app, alert, env)])


async def send_digest(app: Alerts, conn: Conn, tenant: str) -> None:
    """R4 as a digest: one mail per manager listing the notices queued since the last one."""
    notices = await store.take_pending_notices(conn, tenant)
    if not notices:
        return
    book = await app.rules.book(conn)
    digest_id = uuid.uuid4()
    for person in _management(book):
        recipient = Recipient(person=person, role=RecipientRole.management)
        lines = [
            "- "
            + domain.compose(
                book.texts, n.kind.value, person.language, _values(app, book, n, recipient)
            ).subject
            for n in notices
        ]
        mail = domain.compose(
            book.texts,
            "digest",
            person.language,
            {"recipient_name": person.name, "count": str(len(notices)), "items": "\n".join(lines)},
        )
        delivery = await deliveries.enqueue(
            conn,
            OutgoingMessage(
                channel=Channel.email,
                recipient=person.address,
                subject=mail.subject,
                body_text=mail.body,
                language=person.language.value,
                idempotency_key=f"digest:{digest_id}:{person.id}",
                reference=f"digest:{digest_id}",
                tenant=tenant,
            ),
        )
        await store.add_recipients(
            conn,
            [
                store.RecipientRow(n.alert_id, person.id, RecipientRole.management, None, delivery.id)
                for n in notices
            ],
        )


# --- deliveries -----------------------------------------------------------------------------------------


async def delivery_changed(app: Alerts, conn: Conn, record: DeliveryRecord) -> None:
    """AlertDelivered once the mail server accepted the mail (for each alert a digest carried)."""
    if record.state is DeliveryState.given_up:
        await store.mark_given_up(conn, record.id)
        return
    if record.state is not DeliveryState.sent:
        return
    at = record.sent_at or _now()
    delivered = await store.mark_delivered(conn, record.id, at)
    await app.svc.emit_many(
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
                producer=app.svc.name,
                tenant=d.tenant,
            )
            for d in delivered
        ],
    )


# --- closing the loop (R23, R7) -------------------------------------------------------------------------


def visible_alert(principal: Principal, alert: store.StoredAlert | None) -> store.StoredAlert:
    """404 for an alert of another organisation or of a team the principal does not lead, exactly
    as for one that does not exist (nothing leaks)."""
    if alert is None:
        raise NotFound("alert")
    ensure_tenant(principal, alert.tenant, what="alert")
    if alert.team_id is None:
        # Abuse flags and other notices without a team are the back office's (approvers) and admins'.
        if not principal.has_role(Role.approver, Role.admin):
            raise NotFound("alert")
        return alert
    if not principal.has_role(Role.supervisor):
        raise HTTPException(403, "requires one of the roles: supervisor")
    ensure_team_access(principal, alert.team_id, supervisor_scope=True, what="alert")
    return alert


async def acknowledge(
    app: Alerts,
    conn: Conn,
    principal: Principal,
    alert_id: uuid.UUID,
    action: AlertAction,
    note: str | None,
    root_cause_department: str | None,
) -> store.StoredAlert:
    alert = visible_alert(principal, await store.get_alert(conn, alert_id, for_update=True))
    if (
        alert.status is AlertStatus.acknowledged
        and alert.acknowledged_by == principal.subject
        and alert.action == action.value
        and alert.root_cause_department == root_cause_department
    ):
        return alert  # the same acknowledgement sent again (a double click, a retry)
    try:
        domain.check_acknowledgement(alert.status, action, root_cause_department)
    except AcknowledgementRefused as exc:
        raise DomainError(str(exc), status=409 if exc.conflict else 422, field=exc.field) from exc
    now = _now()
    updated = await store.acknowledge(
        conn,
        alert_id,
        by=principal.subject,
        at=now,
        action=action.value,
        note=note,
        root_cause_department=root_cause_department,
    )
    await app.svc.emit(
        conn,
        AlertAcknowledged(
            alert_id=alert_id,
            acknowledged_by=principal.subject,
            action=action,
            acknowledged_at=now,
            team_id=alert.team_id,
            root_cause_department=root_cause_department,
        ),
        tenant=alert.tenant,
    )
    await store.touch(conn, alert.tenant, alert.team_id)
    return updated


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


async def team_dashboard(app: Alerts, conn: Conn, tenant: str, team_id: str) -> TeamDashboard:
    org = await app.rules.organisation(conn)
    rule = await app.rules.dashboard(conn)
    now = _now()
    since = now - timedelta(days=rule.period_days)
    counts = await store.counts(conn, tenant, team_id, since)
    trend_since = datetime.combine(
        org.local_day(now) - timedelta(days=rule.trend_days - 1), datetime.min.time(), org.zone
    )
    by_day = {d.day: d for d in await store.daily(conn, tenant, team_id, trend_since, org.timezone)}
    trend = []
    for i in range(rule.trend_days):
        day = trend_since.date() + timedelta(days=i)
        d = by_day.get(day)
        trend.append(
            TrendPoint(
                day=day.isoformat(),
                csat=domain.csat(d.satisfaction_sum, d.satisfaction_n) if d else None,
                nps=domain.nps(d.promoters, d.detractors, d.nps_n) if d else None,
                answers=d.satisfaction_n if d else 0,
            )
        )
    root_causes = [
        RootCauseFigure(
            department=r.department,
            csat=domain.csat(r.satisfaction_sum, r.satisfaction_n),
            answers=r.satisfaction_n,
        )
        for r in await store.by_root_cause(conn, tenant, team_id, since)
    ]
    team = org.team(team_id)
    return TeamDashboard(
        tenant=tenant,
        team_id=team_id,
        team_name=team.name if team else team_id,
        period_days=rule.period_days,
        figures=domain.figures(counts),
        trend=trend,
        root_causes=root_causes,
        open_alerts=await store.list_alerts(conn, tenant, [team_id], [AlertStatus.open], limit=50),
        acknowledged=await store.list_alerts(conn, tenant, [team_id], [AlertStatus.acknowledged], limit=20),
        open_count=await store.count_open(conn, tenant, team_id),
        generated_at=now,
    )
