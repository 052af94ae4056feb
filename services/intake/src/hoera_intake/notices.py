"""Messages out of a dossier: to the complainant (R2, R5; to the next of kin or held, R10) and to staff
(the owner's reminder, the escalation to whoever stands in for the supervisor, R3). Rendered from the
tenant's templates in the reader's language, on the tenant's behalf (replies go to its mail_from),
and handed to the kit's deliveries in the caller's transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

import httpx
from hoera_events.organisation import Person
from hoera_kit import deliveries
from hoera_kit.db import Conn
from hoera_kit.deliveries import Channel, OutgoingMessage
from hoera_kit.directory import CustomerContact, lookup_all

from hoera_intake import domain, store
from hoera_intake.domain import Complaint
from hoera_intake.rules import Template, TenantRules, render

if TYPE_CHECKING:
    from hoera_intake.handlers import Deps

MONTHS = {
    "nl": "januari februari maart april mei juni juli augustus september oktober november december",
    "fr": "janvier février mars avril mai juin juillet août septembre octobre novembre décembre",
    "en": "January February March April May June July August September October November December",
}
WEEKDAYS = {
    "nl": "maandag dinsdag woensdag donderdag vrijdag zaterdag zondag",
    "fr": "lundi mardi mercredi jeudi vendredi samedi dimanche",
    "en": "Monday Tuesday Wednesday Thursday Friday Saturday Sunday",
}
STATUS_LABELS: dict[domain.Status, dict[str, str]] = {
    domain.Status.open: {"nl": "ontvangen", "fr": "reçue", "en": "received"},
    domain.Status.in_progress: {"nl": "in behandeling", "fr": "en cours de traitement", "en": "in progress"},
    domain.Status.waiting_on_customer: {
        "nl": "wacht op informatie van u",
        "fr": "en attente d'informations de votre part",
        "en": "waiting for information from you",
    },
    domain.Status.waiting_on_department: {
        "nl": "wacht op een andere afdeling",
        "fr": "en attente d'un autre service",
        "en": "waiting for another department",
    },
    domain.Status.resolved: {"nl": "beantwoord", "fr": "traitée", "en": "answered"},
    domain.Status.closed: {"nl": "afgesloten", "fr": "clôturée", "en": "closed"},
}


def format_date(day: date, language: str) -> str:
    """14 mei 2026 / jeudi 14 mai 2026: the promised date as the customer reads it (R22)."""
    lang = language if language in MONTHS else "en"
    weekday = WEEKDAYS[lang].split()[day.weekday()]
    month = MONTHS[lang].split()[day.month - 1]
    return f"{weekday} {day.day} {month} {day.year}"


class DirectoryUnavailable(ConnectionError):
    """The platform's customer directory did not answer: transient, the work is retried (never lost)."""


@dataclass(frozen=True)
class Sent:
    """What became of a message: queued (with its delivery's id) or held (with the reason)."""

    addressee: domain.Addressee
    delivery_id: uuid.UUID | None


@dataclass(frozen=True)
class Notice:
    """A message to a dossier's customer, as `to_customers` takes many at once. known: the
    complainant's details and the deceased marking, as the caller has read them."""

    rules: TenantRules
    c: Complaint
    kind: str
    key: str
    known: tuple[store.Complainant | None, store.Deceased | None]
    extra: dict[str, Any] = field(default_factory=dict)


def context(deps: Deps, rules: TenantRules, c: Complaint, language: str, **extra: Any) -> dict[str, Any]:
    category = rules.category(c.category)
    values: dict[str, Any] = {
        "complaint_ref": c.ref,
        "category": category.names.get(language) if category else c.category,
        "promised_date": format_date(c.due_date, language),
        "previous_date": "",
        "status": STATUS_LABELS[c.status][language],
        "to_next_of_kin": False,
        "customer_id": c.customer_id,
        "agent_id": c.agent_id or "-",
        "team_id": c.team_id or "-",
        "link": f"{deps.settings.base_url}/complaints/{c.id}",
        "note": "",
    }
    values.update(extra)
    return values


async def _lookup_all(
    deps: Deps, customers: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], CustomerContact | None]:
    """Every customer's details from the platform's directory, each tenant's asked together
    (hoera_kit.directory.lookup_all)."""
    try:
        return await lookup_all(deps.directory, customers)
    except httpx.HTTPError as exc:
        raise DirectoryUnavailable(f"customer directory: {exc!r}") from exc


def _needs_lookup(n: Notice) -> bool:
    given, deceased = n.known
    has_address = bool(given and (given.email or given.phone))
    kin = (given.next_of_kin_email if given else None) or (deceased.next_of_kin_email if deceased else None)
    is_deceased = n.c.about_deceased or deceased is not None
    return not has_address or (is_deceased and not kin)


def _addressee(n: Notice, found: CustomerContact | None) -> domain.Addressee:
    """R10: who the message goes to, from what the platform handed over, the marking and (when
    those lack an address) the directory."""
    given, deceased = n.known
    email = given.email if given else None
    phone = given.phone if given else None
    kin = (given.next_of_kin_email if given else None) or (deceased.next_of_kin_email if deceased else None)
    is_deceased = n.c.about_deceased or deceased is not None
    if found is not None:
        email, phone = email or found.email, phone or found.phone
        kin = kin or found.next_of_kin_email
        is_deceased = is_deceased or found.deceased
    return domain.address_customer(
        deceased=is_deceased,
        email=email,
        phone=phone,
        prefer_sms=bool(given and given.prefer_sms),
        next_of_kin_email=kin,
    )


async def to_customer(
    deps: Deps,
    conn: Conn,
    rules: TenantRules,
    c: Complaint,
    kind: str,
    *,
    key: str,
    known: tuple[store.Complainant | None, store.Deceased | None] | None = None,
    **extra: Any,
) -> Sent:
    """R5/R10: the customer's message, or the next of kin's, or held on the timeline.
    known: the complainant's details and the deceased marking, when the caller has just read them."""
    if known is None:
        known = (
            await store.get_complainant(conn, c.tenant, c.id),
            await store.get_deceased(conn, c.tenant, c.customer_id),
        )
    [sent] = await to_customers(deps, conn, [Notice(rules, c, kind, key, known, extra)])
    return sent


async def to_customers(
    deps: Deps,
    conn: Conn,
    notices: Sequence[Notice],
    *,
    timeline: list[store.TimelineEntry] | None = None,
) -> list[Sent]:
    """R5/R10: many customers' messages (a batch's acknowledgements) in a constant number of
    statements: the directory asked at once for those without an address, the deliveries recorded in
    one statement, and each message's line on its dossier's timeline (written here, or appended to
    `timeline` for the caller to write with its own lines)."""
    if not notices:
        return []
    asks = sorted({(n.c.tenant, n.c.customer_id) for n in notices if _needs_lookup(n)})
    found = await _lookup_all(deps, asks) if asks else {}
    addressees = [
        _addressee(n, found.get((n.c.tenant, n.c.customer_id)) if _needs_lookup(n) else None) for n in notices
    ]
    messages = []
    for n, addressee in zip(notices, addressees, strict=True):
        if addressee.route is domain.Route.held:
            continue
        template: Template = getattr(n.rules.templates, n.kind).get(n.c.language)
        values = context(deps, n.rules, n.c, n.c.language, to_next_of_kin=addressee.to_next_of_kin, **n.extra)
        messages.append(_outgoing(deps, n.c, template, values, addressee, n.key, n.c.language))
    await deliveries.enqueue_many(conn, messages)
    ids = await deliveries.ids_of(conn, [m.idempotency_key for m in messages]) if messages else {}
    lines: list[store.TimelineEntry] = []
    sent: list[Sent] = []
    for n, addressee in zip(notices, addressees, strict=True):
        if addressee.route is domain.Route.held:
            lines.append(store.entry(n.c, "message_held", "intake", addressee.reason, {"message": n.kind}))
            sent.append(Sent(addressee, None))
            continue
        delivery_id = ids[n.key]
        detail = {
            "message": n.kind,
            "channel": addressee.route.value,
            "to_next_of_kin": addressee.to_next_of_kin,
            "delivery_id": str(delivery_id),
        }
        lines.append(store.entry(n.c, "message_queued", "intake", None, detail))
        sent.append(Sent(addressee, delivery_id))
    if timeline is None:
        await store.add_timelines(conn, lines)
    else:
        timeline.extend(lines)
    return sent


async def to_staff(
    deps: Deps,
    conn: Conn,
    rules: TenantRules,
    c: Complaint,
    kind: str,
    person: Person,
    *,
    key: str,
    **extra: Any,
) -> deliveries.DeliveryRecord:
    """The owner's reminder, the escalation: to the person's work address from the organisation."""
    template: Template = getattr(rules.templates, kind).get(person.language.value)
    values = context(deps, rules, c, person.language.value, **extra)
    addressee = domain.Addressee(domain.Route.email, person.email)
    record = await deliveries.enqueue(
        conn, _outgoing(deps, c, template, values, addressee, key, person.language.value)
    )
    await store.add_timeline(
        conn,
        c,
        "message_queued",
        "intake",
        None,
        {"message": kind, "channel": "email", "to": person.id, "delivery_id": str(record.id)},
    )
    return record


def _outgoing(
    deps: Deps,
    c: Complaint,
    template: Template,
    values: dict[str, Any],
    addressee: domain.Addressee,
    key: str,
    language: str,
) -> OutgoingMessage:
    assert addressee.recipient is not None
    sms = addressee.route is domain.Route.sms
    subject = render(template.subject, values)
    body = render(template.sms or template.subject, values) if sms else render(template.body, values)
    tenant = deps.tenants.tenant(c.tenant)
    # The deployment's sender carries every tenant's mail; the answer goes to the tenant's own address.
    headers = {"Reply-To": tenant.mail_from} if tenant is not None and not sms else {}
    return OutgoingMessage(
        channel=Channel.sms if sms else Channel.email,
        recipient=addressee.recipient,
        subject="" if sms else subject,
        body_text=body,
        language=language,
        idempotency_key=key,
        reference=f"complaint:{c.id}",
        headers=headers,
        tenant=c.tenant,
        customer_id=c.customer_id,
    )
