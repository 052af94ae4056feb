"""The span a consumer's batch runs in: it continues a complaint's trace when the batch holds one, so
that trace stays whole under sampling, and links the other records' traces."""

from __future__ import annotations

from dataclasses import dataclass, field

from hoera_events.complaints import ComplaintRaised
from hoera_events.envelope import Envelope, make_envelope
from hoera_events.platform import ContactClosed
from hoera_kit.inbox import InboxConsumer, _Item
from hoera_kit.telemetry import KEEP_TRACE, KeepComplaints
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased


@dataclass
class _Record:
    topic: str
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    partition: int = 0
    offset: int = 0
    key: bytes | None = None
    value: bytes | None = None


def _item(env: Envelope, trace_id: int | None) -> _Item:
    headers = [("traceparent", f"00-{trace_id:032x}-{trace_id:016x}-01".encode())] if trace_id else []
    return _Item(record=_Record(topic=env.type, headers=headers), inbox_id=str(env.id), envelope=env)


def _contact() -> Envelope:
    return make_envelope(ContactClosed.example(), producer="platform", tenant="demo")


def _complaint() -> Envelope:
    return make_envelope(ComplaintRaised.example(), producer="intake", tenant="demo")


def _inbox(ratio: float) -> tuple[InboxConsumer, InMemorySpanExporter]:
    exported = InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBased(root=KeepComplaints(ratio)))
    provider.add_span_processor(SimpleSpanProcessor(exported))

    async def nothing(conn: object, envelopes: list[Envelope]) -> None:
        return None

    inbox = InboxConsumer(None, service="test", name="mixed", batch_handler=nothing)  # type: ignore[arg-type]
    inbox._tracer = provider.get_tracer("test")
    return inbox, exported


def test_a_batch_holding_a_complaint_continues_its_trace_and_links_the_others() -> None:
    inbox, exported = _inbox(1.0)
    items = [_item(_contact(), 0xA), _item(_complaint(), 0xB), _item(_contact(), 0xC)]
    with inbox._span(items):
        pass
    [span] = exported.get_finished_spans()
    assert span.context.trace_id == 0xB, "the complaint's trace, not the first record's"
    assert span.name == "test.mixed handle complaint.raised"
    assert sorted(link.context.trace_id for link in span.links) == [0xA, 0xC]
    assert span.attributes is not None and span.attributes[KEEP_TRACE] is True


def test_under_sampling_a_batch_of_contacts_is_dropped_and_one_with_a_complaint_kept() -> None:
    inbox, exported = _inbox(0.0)
    with inbox._span([_item(_contact(), None) for _ in range(5)]):
        pass
    with inbox._span([_item(_contact(), None), _item(_complaint(), None)]):
        assert trace.get_current_span().get_span_context().trace_flags.sampled
    assert [s.name for s in exported.get_finished_spans()] == ["test.mixed handle complaint.raised"]


def test_a_batch_of_thousands_reads_no_more_links_than_a_span_keeps() -> None:
    inbox, exported = _inbox(1.0)
    with inbox._span([_item(_contact(), n + 1) for n in range(1000)]):
        pass
    [span] = exported.get_finished_spans()
    assert span.context.trace_id == 1 and len(span.links) == 128
