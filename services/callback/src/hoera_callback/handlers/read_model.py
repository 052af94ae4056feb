"""R27: other services' events become the callback service's own read model (never their tables);
some of them put a customer in the queue (R26) or move their callbacks up or down (R29)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

from hoera_events.alerts import AlertRaised
from hoera_events.common import Channel
from hoera_events.complaints import (
    ComplaintClosed,
    ComplaintRaised,
    ComplaintReopened,
    ComplaintResolved,
    ComplaintSlaBreached,
    CustomerDeceasedMarkWithdrawn,
    CustomerMarkedDeceased,
)
from hoera_events.envelope import Envelope
from hoera_events.platform import ContactClosed
from hoera_events.recovery import RecoveryTrigger
from hoera_events.surveys import SurveyAnswered, SurveyTrigger
from hoera_kit import privacy
from hoera_kit.db import Conn

from hoera_callback import store
from hoera_callback.domain import (
    ComplaintTrigger,
    Source,
    Status,
    WithdrawnReason,
    complaint_wants_callback,
    mark_deceased,
    survey_wants_callback,
    withdraw_deceased_mark,
)
from hoera_callback.handlers import recovery
from hoera_callback.handlers.book import Book, TenantRules, tenant_rules
from hoera_callback.handlers.common import LEAD_TIME_TIMER, RETRY_TIMER, timer_key, utc
from hoera_callback.handlers.requests import NewRequest, queue_request, refresh
from hoera_callback.recovery import complaint_opens_case
from hoera_callback.store import AlertRow, ComplaintRow, ContactRow, SurveyRow

if TYPE_CHECKING:
    from hoera_callback.handlers import Deps


async def contacts_closed(deps: Deps, conn: Conn, envelopes: Sequence[Envelope]) -> None:
    """The platform's closed contacts, kept as context (R27): a Kafka batch in one statement."""
    rows = []
    for env in envelopes:
        event = env.data_as(ContactClosed)
        rows.append(
            (
                env.tenant,
                ContactRow(
                    contact_id=event.contact_id,
                    customer_id=event.customer_id,
                    channel=event.channel.value,
                    agent_id=event.agent_id,
                    team_id=event.team_id,
                    language=event.language.value,
                    closed_at=event.closed_at,
                    reason_code=event.reason_code,
                    first_contact_resolved=event.first_contact_resolved,
                    recording_ref=event.recording_ref,
                ),
            )
        )
    await store.upsert_contacts(conn, rows)


async def _comments(
    deps: Deps, conn: Conn, answers: Sequence[tuple[str, SurveyAnswered]]
) -> list[str | None]:
    """The customers' words of answers ((tenant, answer)), kept as context (R27). An event says only
    that they commented: the words are asked of the survey service, once per tenant of the batch; an
    older event that still carries them is read as it comes. A customer this service has erased gets
    no words back from a late answer."""
    asked: dict[str, list[UUID]] = {}
    for tenant, event in answers:
        if event.commented and event.comment is None:
            asked.setdefault(tenant, []).append(event.survey_id)
    words: dict[tuple[str, UUID], str] = {}
    for tenant, ids in asked.items():
        found = await deps.survey_comments.resolve(tenant, list(dict.fromkeys(ids)))
        words.update({(tenant, survey_id): text for survey_id, text in found.items()})
    erased = await privacy.erased_many(
        conn, [(tenant, e.customer_id) for tenant, e in answers if (tenant, e.survey_id) in words]
    )
    return [
        event.comment
        if not event.commented or event.comment is not None
        else None
        if (tenant, event.customer_id) in erased
        else words.get((tenant, event.survey_id))
        for tenant, event in answers
    ]


def _survey_row(event: SurveyAnswered, comment: str | None) -> SurveyRow:
    return SurveyRow(
        survey_id=event.survey_id,
        customer_id=event.customer_id,
        trigger=event.trigger.value,
        channel=event.channel.value,
        language=event.language.value,
        answered_at=event.answered_at,
        contact_id=event.contact_id,
        complaint_id=event.complaint_id,
        callback_id=event.callback_id,
        agent_id=event.agent_id,
        team_id=event.team_id,
        satisfaction=event.satisfaction,
        effort=event.effort,
        nps=event.nps,
        attributes={k.value: v for k, v in event.attributes.items()},
        comment=comment,
        contact_me=event.contact_me is not None,
        reason=event.reason,
        topics=list(event.topics),
    )


def _survey_source(event: SurveyAnswered, rules: TenantRules) -> Source | None:
    return survey_wants_callback(
        contact_me=event.contact_me is not None,
        satisfaction=event.satisfaction,
        unhappy_smiley_callback=rules.triggers.unhappy_smiley_callback,
        unhappy_max_smiley=rules.priority.unhappy_max_smiley,
    )


async def surveys_answered(deps: Deps, conn: Conn, envelopes: Sequence[Envelope]) -> None:
    """Survey answers: kept as context (R27); a "please contact me" (or, where the rules say so, an
    unhappy smiley) puts the customer in the queue (R26); an unhappy answer opens a recovery case, a
    recovery survey feeds the case its callback worked (R23); the customer's open callbacks move up or
    down (R29). A Kafka batch in a constant number of statements, applied in its order."""
    answers = [(env, env.data_as(SurveyAnswered)) for env in envelopes]
    comments = await _comments(deps, conn, [(env.tenant, event) for env, event in answers])
    rows = [
        (env.tenant, _survey_row(event, comment))
        for (env, event), comment in zip(answers, comments, strict=True)
    ]
    kept = await store.insert_surveys(conn, rows)
    rules = await tenant_rules(deps, conn, {env.tenant for env in envelopes})
    sources = [_survey_source(event, rules[env.tenant]) for env, event in answers]
    opens = [recovery.answer_opens(event, rules[env.tenant].recovery) for env, event in answers]
    wanting = {
        (env.tenant, event.customer_id)
        for (env, event), source, opening in zip(answers, sources, opens, strict=True)
        if source is not None or opening
    }
    others = {(env.tenant, event.customer_id) for env, event in answers} - wanting
    recovering = [
        (env.tenant, event.callback_id)
        for env, event in answers
        if event.trigger is SurveyTrigger.callback_completed and event.callback_id is not None
    ]
    book = await Book.load(
        deps,
        conn,
        tenants=rules,
        lock=wanting | await store.with_open_callbacks(conn, sorted(others)),
        callback_refs=[
            (env.tenant, f"survey:{event.survey_id}")
            for (env, event), source in zip(answers, sources, strict=True)
            if source is not None
        ],
        case_refs=[
            (env.tenant, f"survey:{event.survey_id}")
            for (env, event), opening in zip(answers, opens, strict=True)
            if opening
        ],
        case_callbacks=recovering,
        complaints=[
            (env.tenant, event.complaint_id)
            for (env, event), opening in zip(answers, opens, strict=True)
            if opening and event.complaint_id is not None
        ],
        surveys_kept=kept,
    )
    earlier = await store.contacts(
        conn,
        [
            (env.tenant, event.contact_id)
            for (env, event), source in zip(answers, sources, strict=True)
            if source is not None and event.contact_id
        ],
    )
    counted: set[tuple[str, UUID]] = set()
    for (env, event), (tenant, row), source in zip(answers, rows, sources, strict=True):
        if (tenant, event.survey_id) in kept and (tenant, event.survey_id) not in counted:
            counted.add((tenant, event.survey_id))
            book.survey_kept(tenant, row)
        if source is not None:
            wish = event.contact_me
            contact = earlier.get((tenant, event.contact_id)) if event.contact_id else None
            queue_request(
                book,
                NewRequest(
                    tenant=tenant,
                    request_ref=f"survey:{event.survey_id}",
                    customer_id=event.customer_id,
                    team_id=event.team_id,
                    source=source,
                    language=event.language.value,
                    requested_at=event.answered_at,
                    preferred_channel=wish.preferred_channel if wish else Channel.phone,
                    preferred_moment=wish.preferred_moment if wish else None,
                    preferred_at=wish.preferred_at if wish else None,
                    survey_id=event.survey_id,
                    complaint_id=event.complaint_id,
                    contact_id=event.contact_id,
                    earlier_agent_id=event.agent_id,
                    reason_code=contact.reason_code if contact else None,
                    satisfaction=event.satisfaction,
                ),
                cause=env,
            )
        recovery.survey_answered(book, env, event)
        refresh(book, tenant, event.customer_id)
    await book.write(conn)


async def alerts_raised(deps: Deps, conn: Conn, envelopes: Sequence[Envelope]) -> None:
    """Alerts about one customer, kept as context (R27): a Kafka batch in one statement. A team's
    threshold alert is not about one customer's story."""
    rows = []
    for env in envelopes:
        event = env.data_as(AlertRaised)
        if event.customer_id is None:
            continue
        rows.append(
            (
                env.tenant,
                AlertRow(
                    alert_id=event.alert_id,
                    customer_id=event.customer_id,
                    kind=event.kind.value,
                    severity=event.severity.value,
                    raised_at=event.raised_at,
                    team_id=event.team_id,
                    agent_id=event.agent_id,
                    complaint_id=event.complaint_id,
                    survey_id=event.survey_id,
                    contact_id=event.contact_id,
                    satisfaction=event.satisfaction,
                ),
            )
        )
    await store.insert_alerts(conn, rows)


@dataclass(frozen=True)
class _Moment:
    """What one complaint event says: what it adds to the complaint's row, and whether it may put the
    customer in the queue (R26) or open a recovery case (R23), under which request ref."""

    fields: dict[str, Any]
    at: datetime
    queue: ComplaintTrigger | None = None
    recovery: RecoveryTrigger | None = None
    ref: str | None = None


def _moment(data: Moment) -> _Moment:
    fields: dict[str, Any]
    if isinstance(data, ComplaintRaised):
        fields = {
            "category": data.category,
            "language": data.language.value,
            "team_id": data.team_id,
            "agent_id": data.agent_id,
            "contact_id": data.contact_id,
            "due_date": data.due_date,
            "raised_at": data.raised_at,
        }
        # R10: a complaint about a deceased customer never calls them.
        trigger = None if data.about_deceased else ComplaintTrigger.raised
        return _Moment(fields, data.raised_at, trigger, ref=f"complaint:{data.complaint_id}:raised")
    if isinstance(data, ComplaintSlaBreached):
        fields = {
            "category": data.category,
            "team_id": data.team_id,
            "agent_id": data.agent_id,
            "due_date": data.due_date,
            "breached_at": data.breached_at,
        }
        ref = f"complaint:{data.complaint_id}:sla_breached:{data.due_date.isoformat()}"
        return _Moment(
            fields, data.breached_at, ComplaintTrigger.sla_breached, RecoveryTrigger.sla_breach, ref
        )
    if isinstance(data, ComplaintResolved):
        fields = {
            "category": data.category,
            "team_id": data.team_id,
            "agent_id": data.agent_id,
            "resolved_at": data.resolved_at,
            "root_cause_department": data.root_cause_department,
            "first_contact_resolution": data.first_contact_resolution,
        }
        return _Moment(fields, data.resolved_at)
    if isinstance(data, ComplaintClosed):
        fields = {
            "category": data.category,
            "language": data.language.value,
            "team_id": data.team_id,
            "agent_id": data.agent_id,
            "closed_at": data.closed_at,
        }
        return _Moment(fields, data.closed_at)
    fields = {
        "team_id": data.team_id,
        "agent_id": data.agent_id,
        "due_date": data.due_date,
        "reopened_at": data.reopened_at,
    }
    ref = f"complaint:{data.complaint_id}:reopened:{data.reopened_at.isoformat()}"
    return _Moment(
        fields, data.reopened_at, ComplaintTrigger.reopened, RecoveryTrigger.complaint_reopened, ref
    )


Moment = ComplaintRaised | ComplaintSlaBreached | ComplaintResolved | ComplaintClosed | ComplaintReopened


def _wants_callback(moment: _Moment, rules: TenantRules) -> bool:
    """R26: some complaint moments put the customer in the queue, where the tenant's rules say so (the
    category of a raised complaint is the event's own)."""
    return moment.queue is not None and complaint_wants_callback(
        moment.queue, moment.fields.get("category"), rules.triggers
    )


def _opens_case(moment: _Moment, rules: TenantRules) -> bool:
    return moment.recovery is not None and complaint_opens_case(moment.recovery, rules.recovery)


def _complaint_callback(book: Book, env: Envelope, row: ComplaintRow, ref: str, at: datetime) -> None:
    queue_request(
        book,
        NewRequest(
            tenant=env.tenant,
            request_ref=ref,
            customer_id=row.customer_id,
            team_id=row.team_id,
            source=Source.complaint,
            language=row.language,
            requested_at=at,
            complaint_id=row.complaint_id,
            contact_id=row.contact_id,
            earlier_agent_id=row.agent_id,
            reason_code=row.category,
        ),
        cause=env,
    )


async def complaint_events(deps: Deps, conn: Conn, envelopes: Sequence[Envelope]) -> None:
    """Complaint facts for the context panel (R27) and the churn signals (R29); some complaint
    moments put the customer in the queue (R26) or open a recovery case (R23). A deceased mark
    withdraws their callbacks (R10). A Kafka batch in a constant number of statements, applied in its
    order: a complaint raised and resolved in one batch is raised first."""
    rules = await tenant_rules(deps, conn, {env.tenant for env in envelopes})
    items: list[tuple[Envelope, CustomerMarkedDeceased | Moment, _Moment | None]] = [
        (env, env.data, _moment(env.data) if isinstance(env.data, Moment) else None)
        for env in envelopes
        if isinstance(env.data, CustomerMarkedDeceased | Moment)
    ]
    calls = [m is not None and _wants_callback(m, rules[env.tenant]) for env, _, m in items]
    cases = [m is not None and _opens_case(m, rules[env.tenant]) for env, _, m in items]
    customers = [(env.tenant, data.customer_id) for env, data, _ in items]
    # Locked: whoever a mark, a request or a case is about, and whoever has callbacks to move.
    wanting = {
        customer
        for customer, (_, _, m), call, case in zip(customers, items, calls, cases, strict=True)
        if m is None or call or case
    }
    book = await Book.load(
        deps,
        conn,
        tenants=rules,
        lock=wanting | await store.with_open_callbacks(conn, sorted(set(customers) - wanting)),
        callback_refs=[
            (env.tenant, m.ref)
            for (env, _, m), call in zip(items, calls, strict=True)
            if m and m.ref and call
        ],
        case_refs=[
            (env.tenant, m.ref)
            for (env, _, m), case in zip(items, cases, strict=True)
            if m and m.ref and case
        ],
        complaints=[(env.tenant, data.complaint_id) for env, data, _ in items if isinstance(data, Moment)],
        lock_complaints=True,
    )
    for (env, data, moment), call in zip(items, calls, strict=True):
        if isinstance(data, CustomerMarkedDeceased):
            customer_died(book, env.tenant, data)
            continue
        assert moment is not None
        row = book.merge_complaint(env.tenant, data.complaint_id, data.customer_id, moment.fields)
        if call and moment.ref is not None:
            _complaint_callback(book, env, row, moment.ref, moment.at)
        if moment.recovery is not None and moment.ref is not None:
            recovery.complaint_signal(book, env, row, moment.recovery, moment.ref, moment.at)
        refresh(book, env.tenant, data.customer_id)
    await book.write(conn)


def customer_died(book: Book, tenant: str, event: CustomerMarkedDeceased) -> None:
    """R10: nobody calls a deceased customer back; their open callbacks leave the queue."""
    mark = mark_deceased(book.customer(tenant, event.customer_id).mark, event.marked_at)
    book.set_mark(tenant, event.customer_id, mark)
    if not mark.deceased:
        return  # a mark older than its withdrawal, arrived late: the customer is not deceased
    for callback in book.open_callbacks(tenant, event.customer_id):
        book.change_callback(
            callback,
            status=Status.withdrawn,
            withdrawn_at=utc(event.marked_at),
            withdrawn_reason=WithdrawnReason.customer_deceased,
            claimed_by=None,
            claim_id=None,
            claimed_at=None,
            lease_until=None,
            retry_at=None,
        )
        book.cancel(LEAD_TIME_TIMER, timer_key(tenant, callback.callback_id))
        book.cancel(RETRY_TIMER, timer_key(tenant, callback.callback_id))


async def deceased_marks_withdrawn(deps: Deps, conn: Conn, envelopes: Sequence[Envelope]) -> None:
    """R10: a mistaken deceased mark withdrawn: the customer may be called back again, so new
    requests are accepted. Callbacks withdrawn because of the mark stay withdrawn (their moment has
    passed, and calling out of the blue after such a mistake is a person's decision); they keep
    their reason and show among the customer's earlier callbacks on the next one's context panel.
    A Kafka batch in two statements (the customers locked, their marks written)."""
    withdrawals = [(env.tenant, env.data_as(CustomerDeceasedMarkWithdrawn)) for env in envelopes]
    book = await Book.load(
        deps, conn, lock=[(t, e.customer_id) for t, e in withdrawals], context=False, cases=False
    )
    for tenant, event in withdrawals:
        mark = book.customer(tenant, event.customer_id).mark
        book.set_mark(tenant, event.customer_id, withdraw_deceased_mark(mark, event.withdrawn_at))
    await book.write(conn)
