"""A dead letter's summary names the event type from the structured CloudEvent it holds."""

from __future__ import annotations

import pytest
from hoera_events.complaints import ComplaintRaised
from hoera_events.envelope import encode, event_headers, make_envelope
from hoera_kit.dlq import DeadLetter


def _letter(value: bytes, headers: list[tuple[str, bytes]] | None = None) -> DeadLetter:
    dlq_headers = [("hoera-dlq-topic", b"hoera.complaint.raised.v1"), ("hoera-dlq-error", b"refused")]
    return DeadLetter(partition=0, offset=7, key=b"k", value=value, headers=(headers or []) + dlq_headers)


def test_the_summary_reads_the_type_from_the_payload_of_a_produced_event() -> None:
    env = make_envelope(ComplaintRaised.example(), producer="intake", tenant="demo")
    summary = _letter(encode(env), event_headers(env)).summary()
    assert summary["type"] == "hoera.complaint.raised"


@pytest.mark.parametrize(
    "value",
    [b"x", b"", b"\xff\xfe", b"[" * 100_000, b'["hoera.complaint.raised"]', b'{"type": 7}', b"{}"],
    ids=["not json", "empty", "not utf-8", "too deep", "an array", "a number", "no type"],
)
def test_a_letter_without_a_readable_type_is_summarised_with_none(value: bytes) -> None:
    summary = _letter(value).summary()
    assert summary["type"] is None
    assert summary["error"] == "refused"


def test_a_ce_type_header_left_by_an_older_producer_is_not_what_the_summary_reports() -> None:
    letter = _letter(b'{"type": "hoera.survey.answered"}', [("ce_type", b"hoera.contact.closed")])
    assert letter.summary()["type"] == "hoera.survey.answered"
