"""The survey service's use cases: each runs in the caller's transaction, asks the domain, and saves
state, outbox events and outgoing messages together.

Routing, in one place: ContactClosed, ComplaintClosed and CallbackCompleted → ``request_surveys``
(R17); the rules' delay → timer ``survey.invite`` → ``invitation_due``; CustomerMarkedDeceased →
``customer_deceased`` and CustomerDeceasedMarkWithdrawn → ``deceased_mark_withdrawn`` (R10); the
survey page → ``submit_answer`` and ``opt_out`` (R18, R19); the API → ``request_proactive_contact``
(R30).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
from hoera_events.callbacks import CallbackCompleted
from hoera_events.common import AgeBand, Channel, Language, MessageChannel
from hoera_events.complaints import ComplaintClosed, CustomerDeceasedMarkWithdrawn, CustomerMarkedDeceased
from hoera_events.envelope import Envelope
from hoera_events.platform import ContactClosed
from hoera_events.surveys import (
    ContactMeRequest,
    SuppressionReason,
    SurveyAnswered,
    SurveyInvited,
    SurveySuppressed,
    SurveyTrigger,
)
from hoera_kit import deliveries, timers
from hoera_kit.db import Conn
from hoera_kit.directory import CustomerContact, CustomerDirectory
from hoera_kit.errors import DomainError
from hoera_kit.service import Service

from hoera_survey import links, rules, store, views
from hoera_survey.domain import (
    Allow,
    Answer,
    BudgetKind,
    Delivery,
    Suppress,
    TriggerFacts,
    Verdict,
    choose_delivery,
    mark_deceased,
    may_contact,
    may_repeat,
    screen_trigger,
    withdraw_deceased_mark,
)
from hoera_survey.settings import SurveySettings
from hoera_survey.store import MarkChange, SurveyRow, SurveyState

log = logging.getLogger(__name__)

INVITE_TIMER = "survey.invite"
_SURVEY_IDS = uuid.UUID("6b1d3c8e-2f7a-4c55-9e0b-5a4d3c2b1a09")
_DISPLAY_ZONE = ZoneInfo("Europe/Brussels")


@dataclass
class Deps:
    """What the use cases need from the composition root."""

    svc: Service[SurveySettings]
    settings: SurveySettings
    directory: CustomerDirectory
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class SurveyRequest:
    """A trigger event, read as a request for one survey (R17)."""

    trigger: SurveyTrigger
    trigger_ref: str
    tenant: str
    customer_id: str
    channel: Channel
    language: Language
    happened_at: datetime
    about_deceased: bool = False
    contact_id: str | None = None
    complaint_id: uuid.UUID | None = None
    callback_id: uuid.UUID | None = None
    agent_id: str | None = None
    team_id: str | None = None
    age_band: AgeBand | None = None
    recording_ref: str | None = None


def survey_request(env: Envelope, triggers: rules.TriggerRules) -> SurveyRequest | None:
    """The request a trigger event makes, or None when the event is no survey trigger at all."""
    data = env.data
    if isinstance(data, ContactClosed):
        return SurveyRequest(
            SurveyTrigger.contact_closed,
            f"contact:{data.contact_id}",
            env.tenant,
            data.customer_id,
            data.channel,
            data.language,
            data.closed_at,
            about_deceased=data.about_deceased,
            contact_id=data.contact_id,
            agent_id=data.agent_id,
            team_id=data.team_id,
            age_band=data.age_band,
            recording_ref=data.recording_ref,
        )
    if isinstance(data, ComplaintClosed):
        return SurveyRequest(
            SurveyTrigger.complaint_closed,
            f"complaint:{data.complaint_id}",
            env.tenant,
            data.customer_id,
            data.channel,
            data.language,
            data.closed_at,
            about_deceased=data.about_deceased,
            complaint_id=data.complaint_id,
            agent_id=data.agent_id,
            team_id=data.team_id,
        )
    if isinstance(data, CallbackCompleted):
        # A short recovery survey follows only the outcomes the rules name (a positive close);
        # an unanswered call is no contact to ask about, so not a suppression either.
        if data.outcome not in triggers.callback_completed.callback_outcomes:
            return None
        return SurveyRequest(
            SurveyTrigger.callback_completed,
            f"callback:{data.callback_id}",
            env.tenant,
            data.customer_id,
            data.channel,
            data.language,
            data.completed_at,
            callback_id=data.callback_id,
            complaint_id=data.complaint_id,
            agent_id=data.agent_id,
            team_id=data.team_id,
        )
    return None


async def request_surveys(deps: Deps, conn: Conn, envelopes: Sequence[Envelope]) -> None:
    """R17: a survey for each trigger, decided now or when the rules' delay ends."""
    ruleset = await rules.load(conn, deps.settings.survey_rules_dir)
    requests = [(env, survey_request(env, ruleset.triggers)) for env in envelopes]
    # One customer's row is locked at a time in a fixed order, so two batches (or a batch and the
    # timer scanner) that share customers cannot deadlock on each other; the sort is stable, so one
    # customer's contacts keep their order.
    requests.sort(key=lambda pair: (pair[1].tenant, pair[1].customer_id) if pair[1] else ("", ""))
    for env, request in requests:
        if request is not None:
            await request_survey(deps, conn, ruleset, request, env)


async def request_survey(
    deps: Deps, conn: Conn, ruleset: rules.RuleSet, req: SurveyRequest, cause: Envelope | None
) -> SurveyRow | None:
    now = deps.now()
    rule = ruleset.triggers.for_trigger(req.trigger)
    screened = screen_trigger(
        TriggerFacts(
            req.channel,
            about_deceased=req.about_deceased,
            enabled=rule.enabled,
            channel_surveyed=req.channel in rule.channels,
        )
    )
    if screened is not None:
        await _suppress_request(deps, conn, req, screened, cause)
        return None
    survey = SurveyRow(
        survey_id=uuid.uuid5(_SURVEY_IDS, f"{req.tenant}/{req.trigger_ref}"),
        tenant=req.tenant,
        customer_id=req.customer_id,
        trigger=req.trigger,
        trigger_ref=req.trigger_ref,
        channel=req.channel,
        language=req.language,
        state=SurveyState.scheduled,
        requested_at=now,
        # R17: minutes after the contact; a contact reported late (or from a clock ahead) is not
        # surveyed later than the delay after its arrival.
        due_at=min(req.happened_at, now) + timedelta(minutes=rule.delay_minutes),
        contact_id=req.contact_id,
        complaint_id=req.complaint_id,
        callback_id=req.callback_id,
        agent_id=req.agent_id,
        team_id=req.team_id,
        age_band=req.age_band,
        recording_ref=req.recording_ref,
        correlation_id=(cause.correlation_id or cause.id) if cause else None,
    )
    if not await store.insert_survey(conn, survey):
        await _suppress_request(
            deps, conn, req, Suppress(SuppressionReason.already_invited, "same_trigger"), cause
        )
        return None
    if survey.due_at <= now:
        return await decide_invitation(deps, conn, ruleset, survey)
    await timers.schedule(conn, INVITE_TIMER, str(survey.survey_id), survey.due_at)
    return survey


async def invitation_due(deps: Deps, conn: Conn, timer: timers.Timer) -> None:
    """The rules' delay has passed: decide on the invitation now."""
    survey = await store.get_survey(conn, uuid.UUID(timer.key), for_update=True)
    if survey is None or survey.state is not SurveyState.scheduled:
        return
    ruleset = await rules.load(conn, deps.settings.survey_rules_dir)
    await decide_invitation(deps, conn, ruleset, survey)


async def _lookup(deps: Deps, tenant: str, customer_id: str) -> CustomerContact | None:
    try:
        return await deps.directory.lookup(tenant, customer_id)
    except httpx.HTTPError as exc:
        # The platform's directory being away is the world's fault, not the event's: retried
        # (ConnectionError is transient to the kit), never dead-lettered.
        raise ConnectionError(f"customer directory: {type(exc).__name__}: {exc}") from exc


async def decide_invitation(deps: Deps, conn: Conn, ruleset: rules.RuleSet, survey: SurveyRow) -> SurveyRow:
    """R10, R21, R30: invite within the customer's contact budget, or suppress with the reason.

    The customer's row is locked first, so concurrent decisions for one customer (other contacts,
    other replicas, proactive messages) see each other's spending and a cap is never exceeded.
    """
    contact = await _lookup(deps, survey.tenant, survey.customer_id)
    standing = await store.lock_customer(conn, survey.tenant, survey.customer_id)
    now = deps.now()
    verdict: Verdict
    if contact is not None and contact.deceased and not standing.deceased:
        verdict = Suppress(SuppressionReason.deceased, "directory_deceased")
    else:
        history = await store.spends_since(
            conn, survey.tenant, survey.customer_id, now - _longest_period(ruleset)
        )
        verdict = may_contact(standing, ruleset.caps.caps, history, BudgetKind.survey, now)
    if isinstance(verdict, Allow):
        rule = ruleset.triggers.for_trigger(survey.trigger)
        delivery = choose_delivery(
            rule.preferred_delivery(survey.channel),
            email=contact.email if contact else None,
            phone=contact.phone if contact else None,
            sms_available=bool(deps.settings.sms_gateway_url),
        )
        if delivery is not None:
            return await _invite(deps, conn, ruleset, survey, delivery, now)
        verdict = Suppress(SuppressionReason.no_delivery_address, "no_address")
    await store.mark_suppressed(conn, survey.survey_id)
    await _record_suppression(deps, conn, survey, verdict, now)
    return replace(survey, state=SurveyState.suppressed)


def _longest_period(ruleset: rules.RuleSet) -> timedelta:
    return timedelta(days=max((c.period_days for c in ruleset.caps.caps), default=1))


async def _invite(
    deps: Deps,
    conn: Conn,
    ruleset: rules.RuleSet,
    survey: SurveyRow,
    delivery: Delivery,
    now: datetime,
) -> SurveyRow:
    rule = ruleset.triggers.for_trigger(survey.trigger)
    # Whole seconds: the link carries its expiry in seconds and must agree with the row.
    expires_at = (now + timedelta(days=rule.expiry_days)).replace(microsecond=0)
    nonce = links.new_nonce()
    await store.add_spend(
        conn, survey.tenant, survey.customer_id, BudgetKind.survey, now, f"survey:{survey.survey_id}"
    )
    await store.mark_invited(
        conn,
        survey.survey_id,
        delivery_channel=delivery.channel,
        invited_at=now,
        expires_at=expires_at,
        nonce=nonce,
    )
    link = survey_link(deps.settings, links.LinkClaims(survey.survey_id, expires_at, nonce))
    await deliveries.enqueue(
        conn,
        invitation_message(ruleset.texts, survey, delivery, link, expires_at),
    )
    await deps.svc.emit(
        conn,
        SurveyInvited(
            survey_id=survey.survey_id,
            customer_id=survey.customer_id,
            trigger=survey.trigger,
            channel=survey.channel,
            language=survey.language,
            delivery_channel=delivery.channel,
            invited_at=now,
            expires_at=expires_at,
            contact_id=survey.contact_id,
            complaint_id=survey.complaint_id,
            callback_id=survey.callback_id,
            agent_id=survey.agent_id,
            team_id=survey.team_id,
            age_band=survey.age_band,
        ),
        tenant=survey.tenant,
        correlation_id=survey.correlation_id,
    )
    return replace(
        survey,
        state=SurveyState.invited,
        delivery_channel=delivery.channel,
        invited_at=now,
        expires_at=expires_at,
        link_nonce=nonce,
    )


def survey_link(settings: SurveySettings, claims: links.LinkClaims) -> str:
    return f"{settings.base_url}/s/{claims.survey_id}?t={links.sign(claims, settings.link_secret)}"


def invitation_message(
    texts: rules.TextRules, survey: SurveyRow, delivery: Delivery, link: str, expires_at: datetime
) -> deliveries.OutgoingMessage:
    """R17, R22: the invitation in the customer's language, by e-mail or SMS."""
    t = texts.for_language(survey.language)
    values = {"link": link, "expires_on": expires_at.astimezone(_DISPLAY_ZONE).strftime("%d/%m/%Y")}
    common = {
        "recipient": delivery.recipient,
        "language": survey.language.value,
        "idempotency_key": f"survey-invitation:{survey.survey_id}",
        "reference": f"survey:{survey.survey_id}",
        "tenant": survey.tenant,
    }
    if delivery.channel is MessageChannel.sms:
        return deliveries.OutgoingMessage(
            channel=deliveries.Channel.sms, body_text=t.sms_body.format(**values), **common
        )
    body = t.mail_body.format(**values)
    return deliveries.OutgoingMessage(
        channel=deliveries.Channel.email,
        subject=t.mail_subject.format(**values),
        body_text=body,
        body_html=views.invitation_html(t, survey.language, body, link),
        **common,
    )


async def _suppress_request(
    deps: Deps, conn: Conn, req: SurveyRequest, suppress: Suppress, cause: Envelope | None
) -> None:
    now = deps.now()
    await store.add_suppression(
        conn,
        tenant=req.tenant,
        customer_id=req.customer_id,
        kind=BudgetKind.survey,
        suppress=suppress,
        reference=req.trigger_ref,
        at=now,
        trigger=req.trigger,
        channel=req.channel,
        team_id=req.team_id,
    )
    await deps.svc.emit(
        conn,
        SurveySuppressed(
            customer_id=req.customer_id,
            trigger=req.trigger,
            reason=suppress.reason,
            suppressed_at=now,
            channel=req.channel,
            contact_id=req.contact_id,
            complaint_id=req.complaint_id,
            callback_id=req.callback_id,
            team_id=req.team_id,
        ),
        tenant=req.tenant,
        cause=cause,
    )


async def _record_suppression(
    deps: Deps, conn: Conn, survey: SurveyRow, suppress: Suppress, now: datetime
) -> None:
    await store.add_suppression(
        conn,
        tenant=survey.tenant,
        customer_id=survey.customer_id,
        kind=BudgetKind.survey,
        suppress=suppress,
        reference=survey.trigger_ref,
        at=now,
        trigger=survey.trigger,
        survey_id=survey.survey_id,
        channel=survey.channel,
        team_id=survey.team_id,
    )
    await deps.svc.emit(
        conn,
        SurveySuppressed(
            customer_id=survey.customer_id,
            trigger=survey.trigger,
            reason=suppress.reason,
            suppressed_at=now,
            channel=survey.channel,
            contact_id=survey.contact_id,
            complaint_id=survey.complaint_id,
            callback_id=survey.callback_id,
            team_id=survey.team_id,
        ),
        tenant=survey.tenant,
        correlation_id=survey.correlation_id,
    )


async def customer_deceased(deps: Deps, conn: Conn, env: Envelope) -> None:
    """R10: never survey a deceased customer again (waiting surveys are suppressed when due)."""
    event = env.data_as(CustomerMarkedDeceased)
    mark = await store.lock_deceased_mark(conn, env.tenant, event.customer_id)
    await store.save_deceased_mark(
        conn,
        env.tenant,
        event.customer_id,
        mark_deceased(mark, event.marked_at),
        change=MarkChange.marked,
        at=event.marked_at,
        agent_id=event.owner_agent_id,
        event_id=env.id,
    )


async def deceased_mark_withdrawn(deps: Deps, conn: Conn, env: Envelope) -> None:
    """R10: a mistaken mark withdrawn: the customer may be surveyed again. Surveys suppressed in the
    meantime stay suppressed (their moment has passed); waiting ones are decided when due."""
    event = env.data_as(CustomerDeceasedMarkWithdrawn)
    mark = await store.lock_deceased_mark(conn, env.tenant, event.customer_id)
    await store.save_deceased_mark(
        conn,
        env.tenant,
        event.customer_id,
        withdraw_deceased_mark(mark, event.withdrawn_at),
        change=MarkChange.withdrawn,
        at=event.withdrawn_at,
        agent_id=event.withdrawn_by,
        event_id=env.id,
    )


async def submit_answer(
    deps: Deps, conn: Conn, survey_id: uuid.UUID, nonce: str, answer: Answer, language: Language
) -> SurveyRow | None:
    """R18, R19: store the answer and spend the link in one transaction; None if it was spent."""
    now = deps.now()
    survey = await store.consume_link(conn, survey_id, nonce, now)
    if survey is None:
        return None
    ruleset = await rules.load(conn, deps.settings.survey_rules_dir)
    rule = ruleset.triggers.for_trigger(survey.trigger)
    answer = answer.limited_to(rule.questions, rule.attributes)
    await store.add_answer(conn, survey_id, answer, answered_at=now, language=language)
    contact_me = (
        ContactMeRequest(
            preferred_channel=answer.contact_me.channel,
            preferred_moment=answer.contact_me.moment,
        )
        if answer.contact_me
        else None
    )
    await deps.svc.emit(
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
            comment=answer.comment,
            contact_me=contact_me,
            recording_ref=survey.recording_ref,
            age_band=survey.age_band,
        ),
        tenant=survey.tenant,
        correlation_id=survey.correlation_id,
    )
    return survey


async def opt_out(deps: Deps, conn: Conn, tenant: str, customer_id: str, by: str) -> None:
    """R21: the customer wants no more surveys; every later request is suppressed as opted_out."""
    await store.set_opt_out(conn, tenant, customer_id, deps.now(), by)


async def opt_in(deps: Deps, conn: Conn, tenant: str, customer_id: str) -> None:
    await store.set_opt_out(conn, tenant, customer_id, None, None)


async def request_proactive_contact(
    deps: Deps, conn: Conn, tenant: str, customer_id: str, reference: str
) -> Verdict:
    """R30: a proactive message spends the same contact budget as surveys (asked by another system).

    The reference is the message's own id, so it names one message to one customer: asked again for
    the same customer it is one contact, and the answer repeats the grant; asked for another
    customer it is refused (409), never granted on the first customer's spend.
    """
    # Locked first: a replay and the opt-out (or the death) that came after it are decided in order.
    standing = await store.lock_customer(conn, tenant, customer_id)
    spent_for = await store.spent_for(conn, tenant, BudgetKind.proactive, reference)
    if spent_for is not None and spent_for != customer_id:
        raise _reference_taken()
    now = deps.now()
    if spent_for is not None:
        verdict = may_repeat(standing)
    else:
        ruleset = await rules.load(conn, deps.settings.survey_rules_dir)
        history = await store.spends_since(conn, tenant, customer_id, now - _longest_period(ruleset))
        verdict = may_contact(standing, ruleset.caps.caps, history, BudgetKind.proactive, now)
    if isinstance(verdict, Allow):
        if spent_for is None and not await store.add_spend(
            conn, tenant, customer_id, BudgetKind.proactive, now, reference
        ):
            # Another customer's request took the reference a moment ago (this customer's own
            # requests wait on the lock above, so they see their spend).
            raise _reference_taken()
    else:
        await store.add_suppression(
            conn,
            tenant=tenant,
            customer_id=customer_id,
            kind=BudgetKind.proactive,
            suppress=verdict,
            reference=reference,
            at=now,
        )
    return verdict


def _reference_taken() -> DomainError:
    return DomainError(
        "this reference was already used for another customer's message", status=409, field="reference"
    )
