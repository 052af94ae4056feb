"""Side effects outside Kafka (e-mail, SMS, webhooks): recorded first, then tried, retried, kept.

A service calls `enqueue` in the transaction that changes its state, so the acknowledgement mail,
the survey invitation or the supervisor alert exists exactly when the change does: a rollback takes
it away, a redelivered event finds its idempotency key and adds nothing. A `DeliveryWorker` in every
replica claims due rows with FOR UPDATE SKIP LOCKED and a lease (the row's next attempt is pushed
past the send), sends them, and records the outcome in a new transaction together with whatever the
service writes in `on_state_change` (a timeline entry, an AlertDelivered outbox event).

The lease outlives every send it covers: a wave of claimed rows is sent (a few at a time, over kept-open
SMTP sessions) until half the lease has passed; a send still running then is cut off, and a row not yet
started is handed back unsent (its attempt not counted). So however slow the SMTP server, no claimed
row is still being sent when its lease ends and another replica takes it (which would send it twice).
A wave's outcomes are recorded in one transaction (one statement for the mails that went out).

What this can and cannot promise: a worker that dies between sending and recording leaves the row
leased; when the lease ends another worker sends it again. So delivery is at least once and never
silently lost, and every send of one delivery carries the same idempotency key (a mail's Message-ID
is derived from it, HTTP requests carry an Idempotency-Key header) so receivers drop a repeat.

Order and holds (webhooks to partners, hoera_kit.webhooks): deliveries that share an `ordering_key`
go one after the other, in the order they were recorded (`seq`): one is not claimed while an earlier
one of its key is pending or failed, and a failed one's successors wait for its next attempt with it.
A reference on hold (`hold`: a partner's endpoint disabled) has its deliveries kept pending and not
claimed, however long, until `release`; new ones recorded meanwhile wait with them.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import hashlib
import hmac
import json
import logging
import random
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime, formataddr, parseaddr
from enum import StrEnum
from typing import Protocol, TypeAlias, cast
from uuid import UUID, uuid4

import aiosmtplib
import asyncpg
import httpx
from asyncpg.pool import PoolConnectionProxy
from opentelemetry import trace
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hoera_kit.retry import backoff_delay, retrying

# A connection of the caller's transaction: a plain one or one from the pool.
Conn: TypeAlias = asyncpg.Connection | PoolConnectionProxy

log = logging.getLogger(__name__)
NOTIFY_CHANNEL = "kit_deliveries"


class Channel(StrEnum):
    email = "email"
    sms = "sms"
    webhook = "webhook"


class DeliveryState(StrEnum):
    pending = "pending"
    sent = "sent"
    failed = "failed"  # the last attempt failed; tried again at next_attempt_at
    given_up = "given_up"


_HEADER_NAME = re.compile(r"^[!-9;-~]+$")
# Set by the senders themselves (so are all Content-* headers): a caller that could set them could
# forge the de-duplication key or break the MIME structure.
_RESERVED_HEADERS = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "date",
        "message-id",
        "mime-version",
        "host",
        "idempotency-key",
        "x-hoera-idempotency-key",
        "x-hoera-reference",
        "x-hoera-signature",
        "webhook-signature",
        "webhook-timestamp",
    }
)


def _one_line(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError("must not contain line breaks")
    return value


class OutgoingMessage(BaseModel):
    """One side effect to deliver; the idempotency key says which ones are the same."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channel: Channel
    recipient: str = Field(min_length=1, max_length=2048, description="address, phone or URL")
    subject: str = Field(default="", max_length=998)
    body_text: str
    body_html: str | None = None
    language: str | None = Field(default=None, min_length=2, max_length=35)
    idempotency_key: str = Field(min_length=1, max_length=512)
    reference: str = Field(min_length=1, max_length=512, description="e.g. complaint:<uuid>")
    headers: dict[str, str] = Field(default_factory=dict)
    tenant: str = Field(min_length=1)
    sender: str | None = Field(
        default=None, max_length=400, description="From: the tenant's mail_from; None: the deployment's"
    )
    max_attempts: int | None = Field(default=None, ge=1, description="None: the worker's limit")
    customer_id: str | None = Field(
        default=None, max_length=64, description="the customer it is to or about: erasure blanks it"
    )
    ordering_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        description="deliveries sharing one are sent one after the other, in the order recorded",
    )

    @field_validator(
        "recipient", "subject", "language", "idempotency_key", "reference", "sender", "ordering_key"
    )
    @classmethod
    def _no_header_injection(cls, value: str | None) -> str | None:
        return None if value is None else _one_line(value)

    @field_validator("headers")
    @classmethod
    def _valid_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if not _HEADER_NAME.match(name):
                raise ValueError(f"header name {name!r} is not a valid field name")
            if name.lower() in _RESERVED_HEADERS or name.lower().startswith("content-"):
                raise ValueError(f"header {name!r} is set by the delivery itself")
            _one_line(value)
        return headers

    @model_validator(mode="after")
    def _fits_channel(self) -> OutgoingMessage:
        if self.channel is Channel.webhook:
            if not self.recipient.startswith(("https://", "http://")):
                raise ValueError("a webhook recipient is an http(s) URL")
            try:
                json.loads(self.body_text)
            except ValueError as exc:
                raise ValueError(f"a webhook body_text is a JSON document: {exc}") from exc
        return self


@dataclass(frozen=True)
class DeliveryRecord:
    id: UUID
    idempotency_key: str
    channel: Channel
    recipient: str
    subject: str
    body_text: str
    body_html: str | None
    language: str | None
    reference: str
    headers: dict[str, str]
    tenant: str
    state: DeliveryState
    attempts: int
    max_attempts: int | None
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    last_error: str | None
    provider_id: str | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    sender: str | None = None
    """The tenant's mailbox this delivery goes out from; None: the tenant's (or the deployment's) default."""
    customer_id: str | None = None
    ordering_key: str | None = None
    seq: int | None = None
    """The order deliveries were recorded in (None for rows older than the column)."""


# headers as text: the module works on any connection, with or without the pool's jsonb codec.
_COLUMNS = (
    "id, idempotency_key, channel, recipient, subject, body_text, body_html, language, reference, "
    "headers::text as headers, tenant, sender, state, attempts, max_attempts, next_attempt_at, "
    "last_attempt_at, last_error, provider_id, created_at, updated_at, sent_at, customer_id, "
    "ordering_key, seq"
)
# The same columns of the table aliased d (an update joined to the values it applies).
_D_COLUMNS = ", ".join(f"d.{column.strip()}" for column in _COLUMNS.split(","))
_RETRYABLE = "state in ('pending', 'failed')"


def _record(row: asyncpg.Record) -> DeliveryRecord:
    return DeliveryRecord(
        id=row["id"],
        idempotency_key=row["idempotency_key"],
        channel=Channel(row["channel"]),
        recipient=row["recipient"],
        subject=row["subject"],
        body_text=row["body_text"],
        body_html=row["body_html"],
        language=row["language"],
        reference=row["reference"],
        headers=json.loads(row["headers"]),
        tenant=row["tenant"],
        sender=row["sender"],
        state=DeliveryState(row["state"]),
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_attempt_at=row["last_attempt_at"],
        last_error=row["last_error"],
        provider_id=row["provider_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        sent_at=row["sent_at"],
        customer_id=row["customer_id"],
        ordering_key=row["ordering_key"],
        seq=row["seq"],
    )


# A delivery recorded for a reference on hold waits (its next attempt at infinity, out of the claim's
# range) until `release`. The hold is read FOR SHARE: a release deleting it waits for this transaction
# and then finds the new rows; a release that committed first is seen here.
_HELD = "held as (select reference from kit_delivery_holds where reference = any($8::text[]) for share)"
_INSERTED = (
    "idempotency_key, channel, recipient, subject, body_text, body_html, language, reference, headers, "
    "tenant, max_attempts, sender, customer_id, ordering_key, next_attempt_at"
)


async def enqueue(conn: Conn, msg: OutgoingMessage) -> DeliveryRecord:
    """Record a delivery in the caller's transaction; the same idempotency key returns the first.

    The first one wins even if the second differs: a redelivered event must not change what is sent.
    """
    row = await conn.fetchrow(
        f"with {_HELD} insert into kit_deliveries ({_INSERTED}) "
        "values ($1, $2, $3, $4, $5, $6, $7, $8[1], $9::text::jsonb, $10, $11, $12, $13, $14, "
        "case when exists (select 1 from held) then 'infinity'::timestamptz else now() end) "
        f"on conflict (idempotency_key) do nothing returning {_COLUMNS}",
        msg.idempotency_key,
        msg.channel.value,
        msg.recipient,
        msg.subject,
        msg.body_text,
        msg.body_html,
        msg.language,
        [msg.reference],
        json.dumps(msg.headers),
        msg.tenant,
        msg.max_attempts,
        msg.sender,
        msg.customer_id,
        msg.ordering_key,
    )
    if row is None:
        existing = await by_idempotency_key(conn, msg.idempotency_key)
        if existing is None:  # pragma: no cover - read committed sees the winner
            raise RuntimeError(f"delivery {msg.idempotency_key!r} conflicted but is not visible")
        return existing
    # Delivered to listeners at commit: the worker wakes exactly when the row becomes visible.
    await conn.execute("select pg_notify($1, '')", NOTIFY_CHANNEL)
    return _record(row)


async def enqueue_many(conn: Conn, msgs: Sequence[OutgoingMessage]) -> int:
    """Record many deliveries in one statement (a consumer's batch); returns how many are new.

    As `enqueue`, one by one: a key recorded before (or twice in `msgs`) adds nothing, and the rows
    take their `seq` in the order given, so deliveries of one ordering key go out in that order."""
    if not msgs:
        return 0
    n = await conn.fetchval(
        f"with {_HELD}, ins as (insert into kit_deliveries ({_INSERTED}) "
        "select u.k, u.c, u.r, u.s, u.bt, u.bh, u.l, u.ref, u.h::jsonb, u.t, u.m, u.snd, u.cu, u.o, "
        "case when u.ref in (select reference from held) then 'infinity'::timestamptz else now() end "
        "from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], "
        "$8::text[], $9::text[], $10::text[], $11::int[], $12::text[], $13::text[], $14::text[]) "
        "with ordinality as u(k, c, r, s, bt, bh, l, ref, h, t, m, snd, cu, o, n) order by u.n "
        "on conflict (idempotency_key) do nothing returning 1) select count(*) from ins",
        [m.idempotency_key for m in msgs],
        [m.channel.value for m in msgs],
        [m.recipient for m in msgs],
        [m.subject for m in msgs],
        [m.body_text for m in msgs],
        [m.body_html for m in msgs],
        [m.language for m in msgs],
        [m.reference for m in msgs],
        [json.dumps(m.headers) for m in msgs],
        [m.tenant for m in msgs],
        [m.max_attempts for m in msgs],
        [m.sender for m in msgs],
        [m.customer_id for m in msgs],
        [m.ordering_key for m in msgs],
    )
    if n:
        await conn.execute("select pg_notify($1, '')", NOTIFY_CHANNEL)
    return int(n)


async def hold(conn: Conn, reference: str, reason: str) -> None:
    """Keep a reference's deliveries pending and unclaimed until `release` (a disabled endpoint).

    One already being sent finishes its attempt; the rest, and those recorded meanwhile, wait."""
    await conn.execute(
        "insert into kit_delivery_holds (reference, reason) values ($1, $2) "
        "on conflict (reference) do update set reason = excluded.reason",
        reference,
        reason[:2000],
    )
    # Out of the claim's range, so a long backlog on hold costs the claim nothing.
    await conn.execute(
        "update kit_deliveries set next_attempt_at = 'infinity', updated_at = now() "
        f"where reference = $1 and {_RETRYABLE}",
        reference,
    )


async def release(conn: Conn, reference: str) -> int:
    """End a hold: the reference's waiting deliveries are due now (in order, where they have one).
    Returns how many were waiting."""
    await conn.execute("delete from kit_delivery_holds where reference = $1", reference)
    n = await conn.fetchval(
        "with due as (update kit_deliveries set next_attempt_at = now(), updated_at = now() "
        f"where reference = $1 and {_RETRYABLE} and next_attempt_at = 'infinity' returning 1) "
        "select count(*) from due",
        reference,
    )
    await conn.execute("select pg_notify($1, '')", NOTIFY_CHANNEL)
    return int(n)


async def is_held(conn: Conn, reference: str) -> bool:
    found = await conn.fetchval("select 1 from kit_delivery_holds where reference = $1", reference)
    return found is not None


async def give_up_all(conn: Conn, reference: str, reason: str) -> int:
    """Give up every unsent delivery of a reference (its endpoint deleted) and end any hold on it."""
    await conn.execute("delete from kit_delivery_holds where reference = $1", reference)
    n = await conn.fetchval(
        "with gone as (update kit_deliveries set state = 'given_up', last_error = $2, updated_at = now() "
        f"where reference = $1 and {_RETRYABLE} returning 1) select count(*) from gone",
        reference,
        reason[:2000],
    )
    return int(n)


async def history(
    conn: Conn,
    reference: str,
    *,
    limit: int = 50,
    before_seq: int | None = None,
    state: DeliveryState | None = None,
) -> list[DeliveryRecord]:
    """A reference's deliveries, newest first (by `seq`), a page at a time: `before_seq` is the last
    page's smallest seq."""
    rows = await conn.fetch(
        f"select {_COLUMNS} from kit_deliveries where reference = $1 "
        "and ($2::bigint is null or seq < $2) and ($3::text is null or state = $3) "
        "order by seq desc limit $4",
        reference,
        before_seq,
        state.value if state is not None else None,
        limit,
    )
    return [_record(r) for r in rows]


async def get(conn: Conn, delivery_id: UUID) -> DeliveryRecord | None:
    row = await conn.fetchrow(f"select {_COLUMNS} from kit_deliveries where id = $1", delivery_id)
    return _record(row) if row else None


async def by_idempotency_key(conn: Conn, key: str) -> DeliveryRecord | None:
    row = await conn.fetchrow(f"select {_COLUMNS} from kit_deliveries where idempotency_key = $1", key)
    return _record(row) if row else None


async def ids_of(conn: Conn, keys: Sequence[str]) -> dict[str, UUID]:
    """The ids of the deliveries recorded under these idempotency keys (after `enqueue_many`)."""
    rows = await conn.fetch(
        "select idempotency_key, id from kit_deliveries where idempotency_key = any($1::text[])", list(keys)
    )
    return {r["idempotency_key"]: r["id"] for r in rows}


async def by_reference(conn: Conn, reference: str) -> list[DeliveryRecord]:
    rows = await conn.fetch(
        f"select {_COLUMNS} from kit_deliveries where reference = $1 order by created_at, id",
        reference,
    )
    return [_record(r) for r in rows]


async def count_by_state(conn: Conn) -> dict[DeliveryState, int]:
    """Every state, zero included, so a Prometheus gauge drops back to 0 rather than going stale."""
    rows = await conn.fetch("select state, count(*) as n from kit_deliveries group by state")
    counts = dict.fromkeys(DeliveryState, 0)
    for row in rows:
        counts[DeliveryState(row["state"])] = int(row["n"])
    return counts


async def requeue(conn: Conn, delivery_id: UUID) -> DeliveryRecord | None:
    """Try a failed or given-up delivery again now, with a fresh attempt budget (an operator's act).

    Returns None when the delivery does not exist or is not failed or given up.
    """
    row = await conn.fetchrow(
        "update kit_deliveries set state = 'pending', attempts = 0, next_attempt_at = now(), "
        "updated_at = now() where id = $1 and state in ('failed', 'given_up') "
        f"returning {_COLUMNS}",
        delivery_id,
    )
    if row is None:
        return None
    await conn.execute("select pg_notify($1, '')", NOTIFY_CHANNEL)
    return _record(row)


# --- senders --------------------------------------------------------------------------------------


class DeliveryError(Exception):
    pass


class TransientDeliveryError(DeliveryError):
    """Try again later: unreachable, timed out, 4xx SMTP, HTTP 5xx/429. retry_after_s is a floor."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class PermanentDeliveryError(DeliveryError):
    """Trying again cannot help (recipient refused, invalid address): the delivery is given up."""


class Sender(Protocol):
    async def send(self, msg: DeliveryRecord) -> str | None:
        """Deliver once; return the provider's id for it, if any."""
        ...


def message_id(idempotency_key: str, domain: str = "hoera") -> str:
    """The same key gives the same Message-ID, so a mail sent twice is recognisably one mail."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


def _header(value: str) -> str:
    """A header's value as 7-bit text: RFC 2047 encoded words where it is not ASCII."""
    if value.isascii():
        return value
    return Header(value, "utf-8", maxlinelen=76).encode(linesep="\r\n")


def _mailbox(value: str) -> str:
    """An address header's value ("Name <addr>" or "addr"), its display name encoded if need be."""
    name, addr = parseaddr(value)
    return formataddr((name, addr), charset="utf-8") if name else addr


_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _text_part(text: str) -> tuple[str, bytes]:
    """(Content-Transfer-Encoding, body with CRLF line ends): 7bit where the text is ASCII in short
    lines, quoted-printable otherwise, so no relay has to support 8BITMIME."""
    data = text.replace("\r\n", "\n").replace("\r", "\n")
    if (
        data.isascii()
        and not _CONTROL.search(data.encode("ascii"))
        and max((len(line) for line in data.split("\n")), default=0) <= 998
    ):
        return "7bit", data.replace("\n", "\r\n").encode("ascii")
    encoded = binascii.b2a_qp(data.encode("utf-8"), quotetabs=False, istext=True)
    # b2a_qp leaves control characters as they are; a reader may take a form feed for a line end.
    encoded = _CONTROL.sub(lambda m: b"=%02X" % m.group()[0], encoded)
    return "quoted-printable", encoded.replace(b"\n", b"\r\n")


def _part(subtype: str, text: str) -> bytes:
    """A text part: its Content-* headers, a blank line, its body (a final line end only where the
    text has one)."""
    cte, body = _text_part(text)
    head = f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: {cte}\r\n\r\n'
    return head.encode() + body


def render_email(
    msg: DeliveryRecord | OutgoingMessage,
    *,
    mail_from: str,
    message_id_domain: str = "hoera",
    now: datetime | None = None,
) -> bytes:
    """The mail as it goes over SMTP: plain text, with an HTML alternative when there is one; UTF-8.

    Written out directly (RFC 5322 headers, RFC 2045-2047 MIME) rather than through the standard
    library's `email` package, whose header parsing and generator cost more than the rest of the
    delivery together (the bench's profile); a test reads what this writes back with that package."""
    headers = [
        ("From", _mailbox(msg.sender or mail_from)),
        ("To", _mailbox(msg.recipient)),
        ("Subject", _header(msg.subject or "")),
        ("Date", format_datetime(now or datetime.now(UTC))),
        ("Message-ID", message_id(msg.idempotency_key, message_id_domain)),
        ("X-Hoera-Idempotency-Key", msg.idempotency_key),
        ("X-Hoera-Reference", _header(msg.reference)),
        # RFC 3834: tells out-of-office responders not to answer an automatic mail.
        ("Auto-Submitted", "auto-generated"),
        *((name, _header(value)) for name, value in msg.headers.items()),
        ("MIME-Version", "1.0"),
    ]
    if msg.language:
        headers.append(("Content-Language", msg.language))
    parts = [("plain", msg.body_text)] + ([("html", msg.body_html)] if msg.body_html else [])
    out = bytearray()
    for name, value in headers:
        out += f"{name}: {value}\r\n".encode("ascii")
    if len(parts) == 1:
        single = _part("plain", msg.body_text)
        return bytes(out + single + (b"" if single.endswith(b"\r\n") else b"\r\n"))
    # Random: no text can hold it by accident.
    boundary = f"==hoera-{uuid4().hex}=="
    out += f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'.encode()
    for subtype, text in parts:
        # The line end before a boundary belongs to the boundary (RFC 2046), not to the text.
        out += f"--{boundary}\r\n".encode() + _part(subtype, text) + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out)


def _address(value: str) -> str:
    _, addr = parseaddr(value)
    local, at, domain = addr.rpartition("@")
    if not (at and local and domain) or any(c.isspace() for c in addr):
        raise PermanentDeliveryError(f"not an e-mail address: {value!r}")
    return addr


def _smtp_error(exc: aiosmtplib.SMTPException) -> DeliveryError:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        text = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
        if codes and all(500 <= c < 600 for c in codes):
            return PermanentDeliveryError(f"smtp recipient refused: {text}")
        return TransientDeliveryError(f"smtp recipient deferred: {text}")
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPDataError):
        text = f"smtp {exc.code} {exc.message}"
        if 500 <= exc.code < 600:
            return PermanentDeliveryError(text)
        return TransientDeliveryError(text)
    # Connection, timeout, authentication, a refused sender: the server's or our configuration's
    # fault, not this mail's; retried until an operator fixes it or the attempts run out.
    return TransientDeliveryError(f"smtp: {type(exc).__name__}: {exc}")


class SmtpPool:
    """Connections to one SMTP relay host, kept open and reused across mails.

    Opening a session (TCP, EHLO, STARTTLS, AUTH) costs more than sending a short mail; a relay takes
    many mails per session. At most `size` connections exist at once (a send waits for a free one);
    one idle longer than `idle_s` is closed rather than reused (servers drop quiet sessions), and one
    that failed in any way is closed, never handed out again. A reused connection the server had
    already closed fails before the mail is accepted: the send is tried once more on a fresh one."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 10,
        size: int = 10,
        idle_s: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.starttls = starttls
        self.timeout = timeout
        self.idle_s = idle_s
        self._free = asyncio.Semaphore(size)
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []
        self.opened = 0

    async def _connection(self) -> tuple[aiosmtplib.SMTP, bool]:
        """An open connection and whether it was reused."""
        loop = asyncio.get_running_loop()
        while self._idle:
            smtp, since = self._idle.pop()
            if smtp.is_connected and loop.time() - since < self.idle_s:
                return smtp, True
            await self._discard(smtp)
        smtp = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            start_tls=self.starttls,
            timeout=self.timeout,
        )
        await smtp.connect()
        self.opened += 1
        return smtp, False

    async def _discard(self, smtp: aiosmtplib.SMTP) -> None:
        with contextlib.suppress(Exception):
            smtp.close()

    async def send(self, mail: bytes, *, sender: str, recipient: str) -> None:
        async with self._free:
            for _ in range(2):
                smtp, reused = await self._connection()
                try:
                    await smtp.sendmail(sender, [recipient], mail)
                except aiosmtplib.SMTPServerDisconnected:
                    await self._discard(smtp)
                    if reused:
                        continue  # the server closed it while it was idle: once more, fresh
                    raise
                except BaseException:
                    await self._discard(smtp)
                    raise
                self._idle.append((smtp, asyncio.get_running_loop().time()))
                return

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for smtp, _ in idle:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(smtp.quit(), timeout=1)
            await self._discard(smtp)


class SmtpSender:
    def __init__(
        self,
        host: str,
        port: int,
        mail_from: str,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout: float = 10,
        *,
        message_id_domain: str = "hoera",
        sender_of: Callable[[str], str | None] | None = None,
        connections: int = 10,
    ) -> None:
        """sender_of(tenant): the mailbox a tenant's mail comes from (its mail_from); None: mail_from.
        connections: how many SMTP sessions to the relay are kept open and used at once."""
        self.sender_of = sender_of or (lambda _tenant: None)
        self.host = host
        self.port = port
        self.mail_from = mail_from
        self.message_id_domain = message_id_domain
        self._envelope_from = _address(mail_from)
        self.pool = SmtpPool(
            host,
            port,
            username=username,
            password=password,
            starttls=starttls,
            timeout=timeout,
            size=connections,
        )

    def _from(self, msg: DeliveryRecord | OutgoingMessage) -> str:
        return msg.sender or self.sender_of(msg.tenant) or self.mail_from

    def render(self, msg: DeliveryRecord | OutgoingMessage) -> bytes:
        return render_email(msg, mail_from=self._from(msg), message_id_domain=self.message_id_domain)

    async def send(self, msg: DeliveryRecord) -> str | None:
        rcpt = _address(msg.recipient)
        mail = self.render(msg)
        try:
            await self.pool.send(mail, sender=_address(self._from(msg)), recipient=rcpt)
        except aiosmtplib.SMTPException as exc:
            raise _smtp_error(exc) from exc
        except (OSError, TimeoutError) as exc:
            raise TransientDeliveryError(f"smtp: {type(exc).__name__}: {exc}") from exc
        return message_id(msg.idempotency_key, self.message_id_domain)

    async def aclose(self) -> None:
        await self.pool.aclose()


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None


async def _post(
    client: httpx.AsyncClient, url: str, *, content: bytes, headers: dict[str, str]
) -> str | None:
    """POST once and sort the outcome: 2xx sent, 408/425/429/5xx and network faults transient,
    anything else permanent (a 4xx says the request itself is wrong; a redirect is not followed)."""
    try:
        response = await client.post(url, content=content, headers=headers)
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise PermanentDeliveryError(f"http: {exc}") from exc
    except httpx.TransportError as exc:
        raise TransientDeliveryError(f"http: {type(exc).__name__}: {exc}") from exc
    status = response.status_code
    if 200 <= status < 300:
        with contextlib.suppress(ValueError):
            body = response.json()
            if isinstance(body, dict) and body.get("id") is not None:
                return str(body["id"])
        return None
    text = f"http {status}: {response.text[:500]}"
    if status in (408, 425, 429) or status >= 500:
        raise TransientDeliveryError(text, retry_after_s=_retry_after(response))
    raise PermanentDeliveryError(text)


class _HttpSender:
    def __init__(self, *, timeout: float, client: httpx.AsyncClient | None) -> None:
        self._owns_client = client is None
        self.client = client or httpx.AsyncClient(timeout=timeout, headers={"User-Agent": "hoera-deliveries"})

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()


class SmsSender(_HttpSender):
    """POSTs {to, text, idempotency_key, reference} as JSON to an SMS gateway (the sink has one)."""

    def __init__(
        self,
        gateway_url: str,
        *,
        token: str | None = None,
        timeout: float = 10,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(timeout=timeout, client=client)
        self.gateway_url = gateway_url
        self.token = token

    async def send(self, msg: DeliveryRecord) -> str | None:
        payload = {
            "to": msg.recipient,
            "text": msg.body_text,
            "idempotency_key": msg.idempotency_key,
            "reference": msg.reference,
        }
        headers = {"Content-Type": "application/json", "Idempotency-Key": msg.idempotency_key}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return await _post(
            self.client, self.gateway_url, content=json.dumps(payload).encode(), headers=headers
        )


class WebhookSender(_HttpSender):
    """POSTs body_text (a JSON document) to the recipient URL, signed when a secret is set:
    X-Hoera-Signature: sha256=<hex HMAC-SHA256 of the body>, so the receiver can trust it."""

    def __init__(
        self,
        *,
        secret: str | None = None,
        timeout: float = 10,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        super().__init__(timeout=timeout, client=client)
        self.secret = secret

    async def send(self, msg: DeliveryRecord) -> str | None:
        body = msg.body_text.encode()
        headers = {
            **msg.headers,
            "Content-Type": "application/json",
            "Idempotency-Key": msg.idempotency_key,
            "X-Hoera-Idempotency-Key": msg.idempotency_key,
            "X-Hoera-Reference": msg.reference,
        }
        if self.secret:
            digest = hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Hoera-Signature"] = f"sha256={digest}"
        return await _post(self.client, msg.recipient, content=body, headers=headers)


# --- the worker -----------------------------------------------------------------------------------


def retry_delay(attempts: int, *, base_s: float, cap_s: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after the attempts-th failed attempt (1-based): full jitter, capped."""
    return float(backoff_delay(max(attempts - 1, 0), base=base_s, cap=cap_s, rng=rng))


StateChangeHook = Callable[[asyncpg.Connection, DeliveryRecord], Awaitable[None]]


@dataclass(frozen=True)
class _Outcome:
    state: DeliveryState | None  # None: not tried before the wave's deadline, handed back
    provider_id: str | None = None
    error: str | None = None
    retry_after_s: float | None = None


_UNSENT = _Outcome(None)


class DeliveryWorker:
    """Claims due deliveries, sends them, records the outcome. Any number may share one database.

    on_state_change(conn, record) runs in the transaction that records each attempt's outcome (sent,
    failed, given_up), once per recorded outcome; if it raises, the outcome is not recorded and the
    delivery is tried again when its lease ends.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        senders: Mapping[Channel, Sender],
        *,
        max_attempts: int = 12,
        base_delay_s: float = 1.0,
        max_delay_s: float = 300.0,
        batch_size: int = 200,
        poll_interval_s: float = 0.5,
        lease_s: float = 60,
        on_state_change: StateChangeHook | None = None,
        max_concurrency: int = 10,
        rng: random.Random | None = None,
        wake: asyncio.Event | None = None,
        record_every_s: float = 0.2,
    ) -> None:
        if max_attempts < 1 or batch_size < 1 or max_concurrency < 1:
            raise ValueError("max_attempts, batch_size and max_concurrency must be >= 1")
        if lease_s <= 0 or poll_interval_s <= 0 or record_every_s <= 0 or base_delay_s < 0 or max_delay_s < 0:
            raise ValueError("lease_s, poll_interval_s and record_every_s must be > 0, delays >= 0")
        self.pool = pool
        self.senders = dict(senders)
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.batch_size = batch_size
        self.poll_interval_s = poll_interval_s
        self.lease_s = lease_s
        self.on_state_change = on_state_change
        self.rng = rng
        self.max_concurrency = max_concurrency
        self.record_every_s = record_every_s
        self.claim_size = batch_size
        self._handed_back = False
        self.wake = wake or asyncio.Event()
        self._tracer = trace.get_tracer("hoera_kit.deliveries")

    async def run_once(self) -> int:
        """One wave: claim, send (max_concurrency at a time) until half the lease has passed, and
        record the outcomes as they come, a transaction for each short interval's worth (so a crash
        resends only the mails accepted since the last record, not the wave's). Returns how many
        deliveries were attempted."""
        claimed = await self._claim()
        self._handed_back = False
        if not claimed:
            return 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.lease_s / 2
        gate = asyncio.Semaphore(self.max_concurrency)

        async def attempt(record: DeliveryRecord) -> _Outcome:
            async with gate:
                if loop.time() >= deadline:
                    return _UNSENT
                return await self._send(record, deadline)

        tasks: dict[asyncio.Future[_Outcome], DeliveryRecord] = {
            asyncio.ensure_future(attempt(record)): record for record in claimed
        }
        left = set(tasks)
        attempted = 0
        try:
            while left:
                done, left = await asyncio.wait(left, timeout=self.record_every_s)
                if not done:
                    continue
                outcomes = [(tasks[task], task.result()) for task in done]
                # Rows handed back are due at once: the loop comes round again without waiting.
                self._handed_back |= any(outcome.state is None for _, outcome in outcomes)
                attempted += sum(1 for _, outcome in outcomes if outcome.state is not None)
                await self._record_wave(outcomes)
        finally:
            for task in left:
                task.cancel()
        return attempted

    async def step(self) -> bool:
        """The worker's round for a Loop: True while a full wave was claimed (more may be due)."""
        attempted = await self.run_once()
        return attempted >= self.claim_size or self._handed_back

    async def aclose(self) -> None:
        """Close the senders' connection pools (HTTP clients) at shutdown."""
        for sender in self.senders.values():
            close = getattr(sender, "aclose", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()

    async def _claim(self) -> list[DeliveryRecord]:
        # One statement, so one short transaction: the lease is committed before anything is sent,
        # and a second worker skips these rows now (locked) and later (next_attempt_at moved on).
        # Not claimed: a row whose reference is on hold, and a row with an earlier unfinished delivery
        # of its ordering key (both probes are index lookups; held rows wait at infinity, out of range).
        rows = await self.pool.fetch(
            "with due as materialized ("
            "  select d.id from kit_deliveries d"
            f"  where d.{_RETRYABLE} and d.next_attempt_at <= now() and d.channel = any($3::text[])"
            "  and not exists (select 1 from kit_delivery_holds h where h.reference = d.reference)"
            "  and (d.ordering_key is null or not exists (select 1 from kit_deliveries p"
            "    where p.ordering_key = d.ordering_key and p.seq < d.seq"
            f"    and p.{_RETRYABLE}))"
            "  order by d.next_attempt_at limit $1 for update of d skip locked) "
            "update kit_deliveries set attempts = attempts + 1, last_attempt_at = now(), "
            "  next_attempt_at = now() + make_interval(secs => $2), updated_at = now() "
            f"where id in (select id from due) returning {_COLUMNS}",
            self.claim_size,
            float(self.lease_s),
            [c.value for c in self.senders],
        )
        return [_record(r) for r in rows]

    async def _send(self, record: DeliveryRecord, deadline: float) -> _Outcome:
        sender = self.senders[record.channel]
        with self._tracer.start_as_current_span(
            f"delivery {record.channel}",
            attributes={
                "hoera.delivery.id": str(record.id),
                "hoera.delivery.reference": record.reference,
                "hoera.delivery.attempt": record.attempts,
            },
        ):
            try:
                # Half the lease: the outcome is recorded before another worker may take over.
                async with asyncio.timeout_at(deadline):
                    provider_id = await sender.send(record)
                return _Outcome(DeliveryState.sent, provider_id=provider_id)
            except PermanentDeliveryError as exc:
                log.warning("delivery %s (%s) refused: %s", record.id, record.reference, exc)
                return _Outcome(DeliveryState.given_up, error=str(exc))
            except TransientDeliveryError as exc:
                return self._failed(record, str(exc), exc.retry_after_s)
            except TimeoutError:
                return self._failed(record, f"timed out after {self.lease_s / 2:.0f}s", None)
            except Exception as exc:
                # A sender bug: retried like a transient fault so nothing is lost, but loudly.
                log.exception("delivery %s: the %s sender failed", record.id, record.channel)
                return self._failed(record, f"{type(exc).__name__}: {exc}", None)

    def _failed(self, record: DeliveryRecord, error: str, retry_after_s: float | None) -> _Outcome:
        limit = record.max_attempts or self.max_attempts
        if record.attempts >= limit:
            log.warning(
                "delivery %s (%s) given up after %d attempts: %s",
                record.id,
                record.reference,
                record.attempts,
                error,
            )
            return _Outcome(DeliveryState.given_up, error=error)
        return _Outcome(DeliveryState.failed, error=error, retry_after_s=retry_after_s)

    async def _record_wave(self, wave: list[tuple[DeliveryRecord, _Outcome]]) -> None:
        """Outcomes of a wave in one transaction; if that fails (a hook refusing one record),
        each is recorded on its own, so one record's trouble never holds back the others'."""
        unsent = [record for record, outcome in wave if outcome.state is None]
        tried = [(record, outcome) for record, outcome in wave if outcome.state is not None]

        async def record_all() -> None:
            async with self.pool.acquire() as conn, conn.transaction():
                if unsent:
                    await self._hand_back(conn, unsent)
                for updated in await self._apply_all(conn, tried):
                    if self.on_state_change is not None:
                        await self.on_state_change(cast(asyncpg.Connection, conn), updated)

        try:
            await retrying(record_all, what=f"{len(wave)} deliveries: recording the wave", attempts=3)
            return
        except Exception as exc:
            log.warning("recording a wave of %d deliveries failed (%r); one by one", len(wave), exc)
        for record, outcome in tried:
            await self._record_outcome(record, outcome)

    async def _hand_back(self, conn: Conn, records: list[DeliveryRecord]) -> None:
        """Rows claimed but not tried before the wave's deadline: due again now, the attempt uncounted."""
        await conn.execute(
            "update kit_deliveries d set attempts = d.attempts - 1, next_attempt_at = now(), "
            "updated_at = now() from unnest($1::uuid[], $2::int[]) as u(id, attempts) "
            f"where d.id = u.id and d.attempts = u.attempts and d.{_RETRYABLE}",
            [r.id for r in records],
            [r.attempts for r in records],
        )

    async def _apply_all(
        self, conn: Conn, tried: list[tuple[DeliveryRecord, _Outcome]]
    ) -> list[DeliveryRecord]:
        """The outcomes applied, in the order given: the sent ones in one statement, the rest (rare)
        one by one. Returns the records whose state changed."""
        sent = [(record, outcome) for record, outcome in tried if outcome.state is DeliveryState.sent]
        updated: dict[UUID, DeliveryRecord] = {}
        if sent:
            rows = await conn.fetch(
                "update kit_deliveries d set state = 'sent', sent_at = now(), updated_at = now(), "
                "provider_id = u.provider_id, last_error = null "
                "from unnest($1::uuid[], $2::text[]) as u(id, provider_id) "
                f"where d.id = u.id and d.{_RETRYABLE} returning {_D_COLUMNS}",
                [record.id for record, _ in sent],
                [outcome.provider_id for _, outcome in sent],
            )
            updated.update((row["id"], _record(row)) for row in rows)
        for record, outcome in tried:
            if outcome.state is not DeliveryState.sent:
                changed = await self._apply(conn, record, outcome)
                if changed is not None:
                    updated[record.id] = changed
        superseded = len(tried) - len(updated)
        if superseded:
            log.info("%d delivery outcome(s) superseded", superseded)
        return [updated[record.id] for record, _ in tried if record.id in updated]

    async def _record_outcome(self, record: DeliveryRecord, outcome: _Outcome) -> None:
        """Record in its own transaction, retrying a database that is briefly away; when it stays
        away the lease runs out and the delivery is tried again (at least once, never lost)."""

        async def record_it() -> None:
            async with self.pool.acquire() as conn, conn.transaction():
                updated = await self._apply(conn, record, outcome)
                if updated is not None and self.on_state_change is not None:
                    # A pool connection proxies a Connection; the hook sees it as one.
                    await self.on_state_change(cast(asyncpg.Connection, conn), updated)

        try:
            await retrying(record_it, what=f"delivery {record.id}: recording {outcome.state}", attempts=5)
        except Exception:
            log.exception(
                "delivery %s: outcome %s not recorded; retried after the lease", record.id, outcome.state
            )

    async def _apply(self, conn: Conn, record: DeliveryRecord, outcome: _Outcome) -> DeliveryRecord | None:
        if outcome.state is DeliveryState.sent:
            # A success is a fact even if our lease ran out meanwhile; a later failure of another
            # worker's attempt never turns it back.
            row = await conn.fetchrow(
                "update kit_deliveries set state = 'sent', sent_at = now(), updated_at = now(), "
                f"provider_id = $2, last_error = null where id = $1 and {_RETRYABLE} "
                f"returning {_COLUMNS}",
                record.id,
                outcome.provider_id,
            )
        elif outcome.state is DeliveryState.failed:
            delay = retry_delay(
                record.attempts, base_s=self.base_delay_s, cap_s=self.max_delay_s, rng=self.rng
            )
            if outcome.retry_after_s is not None:
                delay = min(max(delay, outcome.retry_after_s), self.max_delay_s)
            # attempts = ours: if the lease ran out and another worker claimed the row, its
            # attempt decides, not ours.
            row = await conn.fetchrow(
                "update kit_deliveries set state = 'failed', last_error = $3, updated_at = now(), "
                "next_attempt_at = now() + make_interval(secs => $4) "
                f"where id = $1 and attempts = $2 and {_RETRYABLE} returning {_COLUMNS}",
                record.id,
                record.attempts,
                (outcome.error or "")[:2000],
                delay,
            )
            if row is not None and row["ordering_key"] is not None:
                # Its successors could not go before it anyway: they wait for its next attempt with it,
                # rather than being looked at (and passed over) by every claim meanwhile.
                await conn.execute(
                    "update kit_deliveries set next_attempt_at = greatest(next_attempt_at, $3) "
                    f"where ordering_key = $1 and seq > $2 and {_RETRYABLE}",
                    row["ordering_key"],
                    row["seq"],
                    row["next_attempt_at"],
                )
        else:
            row = await conn.fetchrow(
                "update kit_deliveries set state = 'given_up', last_error = $3, updated_at = now() "
                f"where id = $1 and attempts = $2 and {_RETRYABLE} returning {_COLUMNS}",
                record.id,
                record.attempts,
                (outcome.error or "")[:2000],
            )
        if row is None:
            log.info("delivery %s: outcome %s superseded", record.id, outcome.state)
            return None
        return _record(row)


__all__ = [
    "NOTIFY_CHANNEL",
    "Channel",
    "DeliveryError",
    "DeliveryRecord",
    "DeliveryState",
    "DeliveryWorker",
    "OutgoingMessage",
    "PermanentDeliveryError",
    "Sender",
    "SmsSender",
    "SmtpPool",
    "SmtpSender",
    "TransientDeliveryError",
    "WebhookSender",
    "by_idempotency_key",
    "by_reference",
    "count_by_state",
    "enqueue",
    "enqueue_many",
    "get",
    "give_up_all",
    "history",
    "hold",
    "ids_of",
    "is_held",
    "message_id",
    "release",
    "render_email",
    "requeue",
    "retry_delay",
]
