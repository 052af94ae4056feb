"""R17, R10, R21, R30: a trigger asks for a survey; when its moment comes, the customer is invited
within their contact budget, or the survey is suppressed with its reason (never silently)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

import httpx
from hoera_events.callbacks import CallbackCompleted
from hoera_events.common import AgeBand, Channel, Language, MessageChannel
from hoera_events.complaints import ComplaintClosed
from hoera_events.envelope import Envelope
from hoera_events.platform import ContactClosed
from hoera_events.surveys import SuppressionReason, SurveyInvited, SurveySuppressed, SurveyTrigger
from hoera_kit import deliveries, timers
from hoera_kit.db import Conn
from hoera_kit.directory import CustomerContact, lookup_all

from hoera_survey import links, store, views
from hoera_survey.domain import (
    Allow,
    Delivery,
    Spend,
    Suppress,
    TriggerFacts,
    Verdict,
    budget_kind,
    choose_delivery,
    invitation_moment,
    link_expiry,
    link_last_day,
    lookback,
    may_contact,
    screen_trigger,
    survey_language,
)
from hoera_survey.handlers.link_keys import signing_keys
from hoera_survey.handlers.tenants import organisation_of
from hoera_survey.rules import CAPS, TEXTS, TRIGGERS, TextRules, Texts, TriggerRule, TriggerRules
from hoera_survey.store import SurveyRow, SurveyState

if TYPE_CHECKING:
    from hoera_survey.handlers import Deps

INVITE_TIMER = "survey.invite"
"""Fires when a waiting survey's moment has come (the rules' delay and send window)."""
_SURVEY_IDS = uuid.UUID("6b1d3c8e-2f7a-4c55-9e0b-5a4d3c2b1a09")


def timer_key(tenant: str, survey_id: uuid.UUID) -> str:
    """A survey's timer carries its tenant, so the handler that fires reads it in that tenant only."""
    return f"{tenant}/{survey_id}"


def from_timer_key(key: str) -> tuple[str, uuid.UUID]:
    tenant, _, survey_id = key.partition("/")
    return tenant, uuid.UUID(survey_id)


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


def survey_request(env: Envelope, triggers: TriggerRules) -> SurveyRequest | None:
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


@dataclass
class _Writes:
    """What a batch of decisions writes, gathered and written at the end in one statement per kind,
    so a Kafka batch of any size costs the same few statements. Events and messages keep the order
    in which the decisions were taken (per customer, the order of the triggers)."""

    spends: list[store.NewSpend] = field(default_factory=list)
    invited: list[store.Invited] = field(default_factory=list)
    suppressed_surveys: list[tuple[str, uuid.UUID]] = field(default_factory=list)
    suppressions: list[store.NewSuppression] = field(default_factory=list)
    messages: list[deliveries.OutgoingMessage] = field(default_factory=list)
    events: list[Envelope] = field(default_factory=list)
    later: list[tuple[str, datetime]] = field(default_factory=list)

    async def write(self, deps: Deps, conn: Conn) -> None:
        await store.add_spends(conn, self.spends)
        await store.mark_invited_many(conn, self.invited)
        await store.mark_suppressed_many(conn, self.suppressed_surveys)
        await store.add_suppressions(conn, self.suppressions)
        await timers.schedule_many(conn, INVITE_TIMER, self.later)
        await deliveries.enqueue_many(conn, self.messages)
        await deps.emit_many(conn, self.events)


async def request_surveys(deps: Deps, conn: Conn, envelopes: Sequence[Envelope]) -> None:
    """R17: a survey for each trigger, decided now or when its moment comes. A Kafka batch takes a
    constant number of statements, whatever its size."""
    now = deps.now()
    requests: list[tuple[Envelope, SurveyRequest]] = []
    for env in envelopes:
        request = survey_request(env, await deps.rules.get(conn, env.tenant, TRIGGERS))
        if request is not None:
            requests.append((env, request))
    # Customers are locked in a fixed order, so two batches (or a batch and the timer scanner) that
    # share customers cannot deadlock on each other; the sort is stable, so one customer's contacts
    # keep their order.
    requests.sort(key=lambda pair: (pair[1].tenant, pair[1].customer_id))
    writes = _Writes()
    wanted: list[tuple[SurveyRow, Envelope]] = []
    seen: set[tuple[str, str]] = set()
    for env, req in requests:
        rule = (await deps.rules.get(conn, req.tenant, TRIGGERS)).for_trigger(req.trigger)
        screened = screen_trigger(
            TriggerFacts(
                req.channel,
                about_deceased=req.about_deceased,
                enabled=rule.enabled,
                channel_surveyed=req.channel in rule.channels,
            )
        )
        if (req.tenant, req.trigger_ref) in seen:
            # The same trigger twice in one batch: the second is a repeat, as if it came later.
            screened = Suppress(SuppressionReason.already_invited, "same_trigger")
        if screened is not None:
            _suppressed(deps, writes, req, screened, at=now, cause=env)
            continue
        seen.add((req.tenant, req.trigger_ref))
        wanted.append((_survey_row(req, rule, now, deps, env), env))
    inserted = await store.insert_surveys(conn, [survey for survey, _ in wanted])
    due: list[SurveyRow] = []
    for survey, env in wanted:
        if (survey.tenant, survey.survey_id) not in inserted:
            already = Suppress(SuppressionReason.already_invited, "same_trigger")
            _suppressed(deps, writes, survey, already, at=now, cause=env)
        elif survey.due_at <= now:
            due.append(survey)
        else:
            writes.later.append((timer_key(survey.tenant, survey.survey_id), survey.due_at))
    await _decide(deps, conn, due, writes)
    await writes.write(deps, conn)


def _survey_row(
    req: SurveyRequest, rule: TriggerRule, now: datetime, deps: Deps, cause: Envelope
) -> SurveyRow:
    return SurveyRow(
        survey_id=uuid.uuid5(_SURVEY_IDS, f"{req.tenant}/{req.trigger_ref}"),
        tenant=req.tenant,
        customer_id=req.customer_id,
        trigger=req.trigger,
        trigger_ref=req.trigger_ref,
        channel=req.channel,
        language=req.language,
        state=SurveyState.scheduled,
        requested_at=now,
        # A contact reported late (or from a clock ahead) is not surveyed later than the delay
        # after its arrival.
        due_at=invitation_moment(deps.tenants.calendar(req.tenant), min(req.happened_at, now), rule),
        contact_id=req.contact_id,
        complaint_id=req.complaint_id,
        callback_id=req.callback_id,
        agent_id=req.agent_id,
        team_id=req.team_id,
        age_band=req.age_band,
        recording_ref=req.recording_ref,
        correlation_id=cause.correlation_id or cause.id,
    )


async def invitation_due(deps: Deps, conn: Conn, timer: timers.Timer) -> None:
    """The survey's moment has come: decide on the invitation now."""
    tenant, survey_id = from_timer_key(timer.key)
    survey = await store.get_survey(conn, tenant, survey_id, for_update=True)
    if survey is None or survey.state is not SurveyState.scheduled:
        return
    await decide_invitation(deps, conn, survey)


async def decide_invitation(deps: Deps, conn: Conn, survey: SurveyRow) -> SurveyRow:
    """R10, R21, R30: invite within the customer's contact budget, or suppress with the reason."""
    writes = _Writes()
    [decided] = await _decide(deps, conn, [survey], writes)
    await writes.write(deps, conn)
    return decided


async def _lookup_all(
    deps: Deps, customers: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], CustomerContact | None]:
    """Every customer's contact details from the platform's directory, each tenant's asked together
    (hoera_kit.directory.lookup_all)."""
    try:
        return await lookup_all(deps.directory, customers)
    except httpx.HTTPError as exc:
        # The platform's directory being away is the world's fault, not the event's: retried
        # (ConnectionError is transient to the kit), never dead-lettered.
        raise ConnectionError(f"customer directory: {type(exc).__name__}: {exc}") from exc


async def _decide(deps: Deps, conn: Conn, surveys: Sequence[SurveyRow], writes: _Writes) -> list[SurveyRow]:
    """R10, R21, R30: invite within the customer's contact budget, or suppress with the reason.

    The customers' rows are locked first (in one statement, in a fixed order), so concurrent
    decisions for one customer (other contacts, other replicas, proactive messages) see each other's
    spending and a cap is never exceeded; inside the batch, each decision sees the ones before it."""
    if not surveys:
        return []
    customers = sorted({(s.tenant, s.customer_id) for s in surveys})
    tenants = sorted({t for t, _ in customers})
    contacts = await _lookup_all(deps, customers)
    standings = await store.lock_customers(conn, customers)
    # After the locks: a decision that held one before us spent at its own moment, which must not be
    # later than ours (a spend "in the future" would count for no cap).
    now = deps.now()
    caps = {t: (await deps.rules.get(conn, t, CAPS)).caps for t in tenants}
    histories = await store.spends_since_many(conn, {(t, c): now - lookback(caps[t]) for t, c in customers})
    keys = await signing_keys(deps, conn, tenants)
    decided: list[SurveyRow] = []
    for survey in surveys:
        who = (survey.tenant, survey.customer_id)
        contact, standing = contacts[who], standings[who]
        verdict: Verdict
        if contact is not None and contact.deceased and not standing.deceased:
            verdict = Suppress(SuppressionReason.deceased, "directory_deceased")
        else:
            verdict = may_contact(
                standing, caps[survey.tenant], histories[who], budget_kind(survey.trigger), now
            )
        if isinstance(verdict, Allow):
            rule = (await deps.rules.get(conn, survey.tenant, TRIGGERS)).for_trigger(survey.trigger)
            delivery = choose_delivery(
                rule.preferred_delivery(survey.channel),
                email=contact.email if contact else None,
                phone=contact.phone if contact else None,
                sms_available=bool(deps.settings.sms_gateway_url),
            )
            if delivery is not None:
                assert contact is not None
                texts = await deps.rules.get(conn, survey.tenant, TEXTS)
                invited = await _invite(
                    deps, writes, survey, rule, texts, contact, delivery, keys[survey.tenant], now
                )
                histories[who].append(Spend(budget_kind(survey.trigger), now))
                decided.append(invited)
                continue
            verdict = Suppress(SuppressionReason.no_delivery_address, "no_address")
        writes.suppressed_surveys.append((survey.tenant, survey.survey_id))
        _suppressed(
            deps,
            writes,
            survey,
            verdict,
            at=now,
            survey_id=survey.survey_id,
            correlation_id=survey.correlation_id,
        )
        decided.append(replace(survey, state=SurveyState.suppressed))
    return decided


async def _invite(
    deps: Deps,
    writes: _Writes,
    survey: SurveyRow,
    rule: TriggerRule,
    texts: TextRules,
    contact: CustomerContact,
    delivery: Delivery,
    key: links.LinkKey,
    now: datetime,
) -> SurveyRow:
    organisation = await organisation_of(deps, survey.tenant)
    calendar = deps.tenants.calendar(survey.tenant)
    expires_at = link_expiry(calendar, now, rule)
    language = survey_language(contact.language, survey.language, organisation.language)
    nonce = links.new_nonce()
    kind = budget_kind(survey.trigger)
    writes.spends.append(
        store.NewSpend(survey.tenant, survey.customer_id, kind, now, f"survey:{survey.survey_id}")
    )
    writes.invited.append(
        store.Invited(survey.tenant, survey.survey_id, language, delivery.channel, now, expires_at, nonce)
    )
    invited = replace(
        survey,
        language=language,
        state=SurveyState.invited,
        delivery_channel=delivery.channel,
        invited_at=now,
        expires_at=expires_at,
        link_nonce=nonce,
    )
    link = survey_link(deps.settings.base_url, links.LinkClaims(survey.survey_id, expires_at, nonce), key)
    values = {
        "link": link,
        "expires_on": link_last_day(calendar, expires_at).strftime("%d/%m/%Y"),
        "organisation": organisation.name,
    }
    writes.messages.append(invitation_message(texts.for_language(language), invited, delivery, values))
    writes.events.append(
        deps.svc.envelope(
            SurveyInvited(
                survey_id=survey.survey_id,
                customer_id=survey.customer_id,
                trigger=survey.trigger,
                channel=survey.channel,
                language=language,
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
    )
    return invited


def survey_link(base_url: str, claims: links.LinkClaims, key: links.LinkKey) -> str:
    return f"{base_url}/s/{claims.survey_id}?t={links.sign(claims, key)}"


def invitation_message(
    t: Texts, survey: SurveyRow, delivery: Delivery, values: dict[str, str]
) -> deliveries.OutgoingMessage:
    """R17, R22: the invitation in the customer's language, by e-mail or SMS, with the tenant's texts."""
    common = {
        "recipient": delivery.recipient,
        "language": survey.language.value,
        "idempotency_key": f"survey-invitation:{survey.survey_id}",
        "reference": f"survey:{survey.survey_id}",
        "tenant": survey.tenant,
        "customer_id": survey.customer_id,
    }
    if delivery.channel is MessageChannel.sms:
        return deliveries.OutgoingMessage(
            channel=deliveries.Channel.sms, body_text=t.sms_body.format(**values), **common
        )
    body = t.mail_body.format(**values)
    subject = t.mail_subject.format(**values)
    return deliveries.OutgoingMessage(
        channel=deliveries.Channel.email,
        subject=subject,
        body_text=body,
        body_html=views.invitation_html(t, survey.language, values),
        **common,
    )


class _Surveyable(Protocol):
    """What a survey is about: a request not yet a survey, or a survey (SurveyRow)."""

    @property
    def tenant(self) -> str: ...
    @property
    def customer_id(self) -> str: ...
    @property
    def trigger(self) -> SurveyTrigger: ...
    @property
    def trigger_ref(self) -> str: ...
    @property
    def channel(self) -> Channel: ...
    @property
    def contact_id(self) -> str | None: ...
    @property
    def complaint_id(self) -> uuid.UUID | None: ...
    @property
    def callback_id(self) -> uuid.UUID | None: ...
    @property
    def team_id(self) -> str | None: ...


def _suppressed(
    deps: Deps,
    writes: _Writes,
    about: _Surveyable,
    suppress: Suppress,
    *,
    at: datetime,
    survey_id: uuid.UUID | None = None,
    cause: Envelope | None = None,
    correlation_id: uuid.UUID | None = None,
) -> None:
    """Record that no survey goes out (counted against nobody's budget) and say so as an event."""
    writes.suppressions.append(
        store.NewSuppression(
            tenant=about.tenant,
            customer_id=about.customer_id,
            kind=budget_kind(about.trigger),
            suppress=suppress,
            reference=about.trigger_ref,
            at=at,
            trigger=about.trigger,
            survey_id=survey_id,
            channel=about.channel,
            team_id=about.team_id,
        )
    )
    writes.events.append(
        deps.svc.envelope(
            SurveySuppressed(
                customer_id=about.customer_id,
                trigger=about.trigger,
                reason=suppress.reason,
                suppressed_at=at,
                channel=about.channel,
                contact_id=about.contact_id,
                complaint_id=about.complaint_id,
                callback_id=about.callback_id,
                team_id=about.team_id,
            ),
            tenant=about.tenant,
            cause=cause,
            correlation_id=correlation_id,
        )
    )
