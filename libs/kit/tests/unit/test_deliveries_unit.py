"""Deliveries without I/O: the mail we build, the faults we sort, the delays we wait."""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import uuid
from datetime import UTC, datetime
from typing import Any

import aiosmtplib
import httpx
import pytest
from hoera_kit.deliveries import (
    Channel,
    DeliveryRecord,
    DeliveryState,
    DeliveryWorker,
    OutgoingMessage,
    PermanentDeliveryError,
    SmsSender,
    SmtpSender,
    TransientDeliveryError,
    WebhookSender,
    message_id,
    render_email,
    retry_delay,
)
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError


def _message(**overrides: Any) -> OutgoingMessage:
    fields: dict[str, Any] = {
        "channel": Channel.email,
        "recipient": "Klant <klant@example.org>",
        "subject": "Uw klacht is goed ontvangen — réf 42",
        "body_text": "Beste klant,\nwe hebben uw klacht ontvangen.",
        "idempotency_key": "complaint:1:acknowledgement",
        "reference": "complaint:1",
        "tenant": "demo",
    }
    fields.update(overrides)
    return OutgoingMessage(**fields)


def _record(msg: OutgoingMessage) -> DeliveryRecord:
    now = datetime.now(UTC)
    return DeliveryRecord(
        id=uuid.uuid4(),
        idempotency_key=msg.idempotency_key,
        channel=msg.channel,
        recipient=msg.recipient,
        subject=msg.subject,
        body_text=msg.body_text,
        body_html=msg.body_html,
        language=msg.language,
        reference=msg.reference,
        headers=dict(msg.headers),
        tenant=msg.tenant,
        state=DeliveryState.pending,
        attempts=1,
        max_attempts=None,
        next_attempt_at=now,
        last_attempt_at=now,
        last_error=None,
        provider_id=None,
        created_at=now,
        updated_at=now,
        sent_at=None,
    )


# --- the mail ------------------------------------------------------------------------------------


def _written(msg: OutgoingMessage, **options: Any) -> Any:
    """The mail as render_email writes it, read back by the standard library's parser."""
    return _read_back(render_email(msg, **options))


def test_the_message_id_follows_from_the_idempotency_key_alone() -> None:
    a = _written(_message(), mail_from="Hoera <no-reply@hoera.local>")
    b = _written(_message(subject="anders"), mail_from="x@y.z")
    digest = hashlib.sha256(b"complaint:1:acknowledgement").hexdigest()[:32]
    assert a["Message-ID"] == b["Message-ID"] == f"<{digest}@hoera>"
    other = _written(_message(idempotency_key="complaint:2:acknowledgement"), mail_from="x@y.z")
    assert other["Message-ID"] != a["Message-ID"]
    assert message_id("k", "mail.example.org").endswith("@mail.example.org>")


def test_the_mail_carries_the_idempotency_key_reference_and_the_callers_headers() -> None:
    mail = _written(
        _message(headers={"X-Hoera-Team": "retention", "Reply-To": "team@hoera.local"}, language="nl"),
        mail_from="Hoera <no-reply@hoera.local>",
    )
    assert mail["X-Hoera-Idempotency-Key"] == "complaint:1:acknowledgement"
    assert mail["X-Hoera-Reference"] == "complaint:1"
    assert mail["X-Hoera-Team"] == "retention"
    assert mail["Reply-To"] == "team@hoera.local"
    assert mail["Content-Language"] == "nl"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["To"].addresses[0].addr_spec == "klant@example.org"
    assert mail["Subject"] == "Uw klacht is goed ontvangen — réf 42"
    # Non-ASCII subjects travel RFC 2047-encoded, so any SMTP server accepts them.
    assert mail.as_bytes().decode("ascii")


def test_a_text_only_mail_is_one_utf8_plain_part() -> None:
    mail = _written(_message(), mail_from="no-reply@hoera.local")
    assert mail.get_content_type() == "text/plain"
    assert mail.get_content_charset() == "utf-8"
    assert mail.get_content().startswith("Beste klant,")


def test_an_html_body_becomes_an_alternative_to_the_text() -> None:
    mail = _written(_message(body_html="<p>Beste klant, café</p>", language="fr"), mail_from="a@b.c")
    assert mail.get_content_type() == "multipart/alternative"
    assert mail["Content-Language"] == "fr"
    parts = [p.get_content_type() for p in mail.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    html_part = mail.get_body(preferencelist=("html",))
    assert html_part is not None
    assert "café" in html_part.get_content()
    assert html_part.get_content_charset() == "utf-8"


@pytest.mark.parametrize(
    "overrides",
    [
        {"headers": {"Bcc": "someone@else.org"}},
        {"headers": {"X-Hoera-Idempotency-Key": "forged"}},
        {"headers": {"X-Note": "a\r\nBcc: someone@else.org"}},
        {"headers": {"Bad Name": "x"}},
        {"subject": "hi\nBcc: someone@else.org"},
        {"recipient": "a@b.c\r\nBcc: d@e.f"},
        {"idempotency_key": ""},
        {"channel": Channel.webhook, "recipient": "https://x.example/hook", "body_text": "no json"},
        {"channel": Channel.webhook, "recipient": "ftp://x.example/hook", "body_text": "{}"},
        {"max_attempts": 0},
    ],
)
def test_a_message_that_could_inject_or_cannot_be_sent_is_refused_at_enqueue(
    overrides: dict[str, Any],
) -> None:
    with pytest.raises(ValidationError):
        _message(**overrides)


async def test_an_address_without_a_domain_is_given_up_not_retried() -> None:
    sender = SmtpSender("127.0.0.1", 1, "no-reply@hoera.local")
    with pytest.raises(PermanentDeliveryError):
        await sender.send(_record(_message(recipient="just-a-name")))


# --- sorting faults ------------------------------------------------------------------------------


def _refused(code: int) -> aiosmtplib.SMTPRecipientsRefused:
    return aiosmtplib.SMTPRecipientsRefused(
        [aiosmtplib.SMTPRecipientRefused(code, "no", "klant@example.org")]
    )


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (_refused(550), PermanentDeliveryError),
        (_refused(451), TransientDeliveryError),
        (aiosmtplib.SMTPDataError(554, "rejected as spam"), PermanentDeliveryError),
        (aiosmtplib.SMTPDataError(452, "mailbox full"), TransientDeliveryError),
        (aiosmtplib.SMTPConnectError("connection refused"), TransientDeliveryError),
        (aiosmtplib.SMTPReadTimeoutError("timed out"), TransientDeliveryError),
        (
            aiosmtplib.SMTPSenderRefused(550, "who are you", "no-reply@hoera.local"),
            TransientDeliveryError,
        ),
        (aiosmtplib.SMTPAuthenticationError(535, "bad credentials"), TransientDeliveryError),
        (ConnectionRefusedError(111, "refused"), TransientDeliveryError),
    ],
)
async def test_smtp_faults_are_sorted_into_transient_and_permanent(
    monkeypatch: pytest.MonkeyPatch, exc: Exception, expected: type[Exception]
) -> None:
    async def connected(*args: Any, **kwargs: Any) -> Any:
        return None

    async def fail(*args: Any, **kwargs: Any) -> Any:
        raise exc

    monkeypatch.setattr(aiosmtplib.SMTP, "connect", connected)
    monkeypatch.setattr(aiosmtplib.SMTP, "sendmail", fail)
    sender = SmtpSender("127.0.0.1", 2525, "no-reply@hoera.local")
    with pytest.raises(expected):
        await sender.send(_record(_message()))


def _client(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Any:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=body, headers=headers)

    return httpx.AsyncClient(transport=httpx.MockTransport(handle)), seen


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (500, TransientDeliveryError),
        (503, TransientDeliveryError),
        (429, TransientDeliveryError),
        (408, TransientDeliveryError),
        (400, PermanentDeliveryError),
        (404, PermanentDeliveryError),
        (422, PermanentDeliveryError),
        (301, PermanentDeliveryError),
    ],
)
async def test_gateway_answers_are_sorted_into_transient_and_permanent(
    status: int, expected: type[Exception]
) -> None:
    client, _ = _client(status, {"detail": "x"})
    sms = SmsSender("http://gateway.test/api/sms", client=client)
    with pytest.raises(expected):
        await sms.send(_record(_message(channel=Channel.sms, recipient="+32470000000")))


async def test_a_gateway_that_cannot_be_reached_is_a_transient_fault() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    sms = SmsSender(
        "http://gateway.test/api/sms",
        client=httpx.AsyncClient(transport=httpx.MockTransport(refuse)),
    )
    with pytest.raises(TransientDeliveryError):
        await sms.send(_record(_message(channel=Channel.sms, recipient="+32470000000")))


async def test_retry_after_of_a_busy_gateway_travels_with_the_fault() -> None:
    client, _ = _client(429, {"detail": "slow down"}, {"Retry-After": "30"})
    sms = SmsSender("http://gateway.test/api/sms", client=client)
    with pytest.raises(TransientDeliveryError) as caught:
        await sms.send(_record(_message(channel=Channel.sms, recipient="+32470000000")))
    assert caught.value.retry_after_s == 30


async def test_an_sms_is_posted_as_json_with_its_idempotency_key() -> None:
    client, seen = _client(201, {"id": "sms-7"})
    sms = SmsSender("http://gateway.test/api/sms", token="t0k", client=client)
    msg = _message(channel=Channel.sms, recipient="+32470000000", body_text="Bel ons terug")
    assert await sms.send(_record(msg)) == "sms-7"
    (request,) = seen
    assert json.loads(request.content) == {
        "to": "+32470000000",
        "text": "Bel ons terug",
        "idempotency_key": "complaint:1:acknowledgement",
        "reference": "complaint:1",
    }
    assert request.headers["Idempotency-Key"] == "complaint:1:acknowledgement"
    assert request.headers["Authorization"] == "Bearer t0k"


async def test_a_webhook_posts_the_body_signed_with_the_secret() -> None:
    client, seen = _client(204)
    hook = WebhookSender(secret="s3cret", client=client)
    body = json.dumps({"alert": "unhappy smiley", "team": "retention"})
    msg = _message(
        channel=Channel.webhook,
        recipient="https://hooks.example.org/hoera",
        body_text=body,
        headers={"X-Team": "retention"},
    )
    assert await hook.send(_record(msg)) is None
    (request,) = seen
    assert str(request.url) == "https://hooks.example.org/hoera"
    assert request.content == body.encode()
    expected = hmac.new(b"s3cret", body.encode(), hashlib.sha256).hexdigest()
    assert request.headers["X-Hoera-Signature"] == f"sha256={expected}"
    assert request.headers["Idempotency-Key"] == "complaint:1:acknowledgement"
    assert request.headers["X-Team"] == "retention"


# --- backoff -------------------------------------------------------------------------------------


@given(
    attempts=st.integers(min_value=1, max_value=10_000),
    base=st.floats(min_value=0.0, max_value=100.0),
    cap=st.floats(min_value=0.0, max_value=3600.0),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_the_retry_delay_stays_within_its_exponential_ceiling_and_the_cap(
    attempts: int, base: float, cap: float, seed: int
) -> None:
    delay = retry_delay(attempts, base_s=base, cap_s=cap, rng=random.Random(seed))
    ceiling = min(cap, base * 2.0 ** min(attempts - 1, 62))
    assert 0.0 <= delay <= ceiling + 1e-9


class _Top(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return b


def test_the_retry_ceiling_doubles_per_attempt_until_the_cap() -> None:
    delays = [retry_delay(n, base_s=1.0, cap_s=10.0, rng=_Top()) for n in range(1, 7)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_a_worker_refuses_settings_that_would_never_deliver() -> None:
    with pytest.raises(ValueError):
        DeliveryWorker(None, {}, max_attempts=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        DeliveryWorker(None, {}, lease_s=0)  # type: ignore[arg-type]


# --- the mail as written ---------------------------------------------------------------------------


def _read_back(raw: bytes) -> Any:
    from email import message_from_bytes, policy

    assert b"\n" not in raw.replace(b"\r\n", b""), "every line ends in CRLF"
    assert all(len(line) <= 998 for line in raw.split(b"\r\n")), "no line longer than SMTP allows"
    raw.decode("ascii")  # 7-bit throughout: no relay needs 8BITMIME
    return message_from_bytes(raw, policy=policy.default)


def test_a_mail_with_an_html_alternative_reads_back_as_written() -> None:
    long_line = "é" * 700 + " einde"
    msg = _message(
        recipient="Jérôme Dupont <jerome@example.org>",
        body_text=f"Beste klant,\nwe hebben uw klacht ontvangen.\n{long_line}\n",
        body_html="<p>Beste klant, <b>réf 42</b></p>",
        language="nl",
        headers={"List-Unsubscribe": "<https://hoera.test/uit?t=1>", "X-Extra": "één"},
    )
    sent_at = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    mail = _read_back(
        render_email(msg, mail_from="Hoera Zorg <no-reply@hoera.test>", message_id_domain="x", now=sent_at)
    )
    assert str(mail["From"]) == "Hoera Zorg <no-reply@hoera.test>"
    assert str(mail["To"]) == "Jérôme Dupont <jerome@example.org>"
    assert str(mail["Subject"]) == msg.subject
    assert mail["Date"].datetime == sent_at
    assert str(mail["Message-ID"]) == message_id(msg.idempotency_key, "x")
    assert str(mail["X-Hoera-Idempotency-Key"]) == msg.idempotency_key
    assert str(mail["X-Hoera-Reference"]) == msg.reference
    assert str(mail["Auto-Submitted"]) == "auto-generated"
    assert str(mail["X-Extra"]) == "één"
    assert str(mail["List-Unsubscribe"]) == "<https://hoera.test/uit?t=1>"
    assert str(mail["Content-Language"]) == "nl"
    assert mail.get_content_type() == "multipart/alternative"
    plain = mail.get_body(preferencelist=("plain",))
    html = mail.get_body(preferencelist=("html",))
    assert plain.get_content().replace("\r\n", "\n") == msg.body_text
    assert html.get_content().rstrip("\r\n") == msg.body_html
    assert plain.get_content_charset() == "utf-8"


def test_a_plain_mail_in_ascii_goes_as_it_is() -> None:
    msg = _message(subject="Ontvangen", body_text="Beste klant,\r\nontvangen.")
    raw = render_email(msg, mail_from="no-reply@hoera.test")
    assert b"Content-Transfer-Encoding: 7bit\r\n\r\nBeste klant,\r\nontvangen.\r\n" in raw
    mail = _read_back(raw)
    assert mail.get_content_type() == "text/plain"
    assert mail.get_content() == "Beste klant,\r\nontvangen.\r\n"
    assert str(mail["To"]) == "Klant <klant@example.org>"


# A subject is one line: no control characters, no line or paragraph separators.
_ONE_LINE = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=80)
# Text as templates write it: lines of printable characters (the standard library's reader takes a
# form feed or U+2028 for a line end of its own, whatever the wire says).
_TEXT = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")) | st.sampled_from("\n\t"),
    min_size=1,
    max_size=300,
)


@given(_TEXT, _ONE_LINE)
def test_any_text_and_subject_read_back_unchanged(body: str, subject: str) -> None:
    msg = _message(body_text=body, subject=subject or "s", body_html=f"<p>{body}</p>")
    mail = _read_back(render_email(msg, mail_from="no-reply@hoera.test"))
    expected = body.replace("\r\n", "\n").replace("\r", "\n")
    plain = mail.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
    assert plain == expected
    # Leading and trailing blanks of a header are folding white space to a reader.
    assert str(mail["Subject"]).strip() == (subject or "s").strip()
