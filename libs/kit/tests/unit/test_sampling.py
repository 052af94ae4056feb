"""Trace sampling keeps every complaint's trace whole and a share of the rest (HOERA_TRACE_SAMPLE_RATIO)."""

from __future__ import annotations

from hoera_kit.telemetry import KEEP_TRACE, KeepComplaints
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased


def _tracer(ratio: float) -> tuple[trace.Tracer, InMemorySpanExporter]:
    exported = InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBased(root=KeepComplaints(ratio, ["/complaints"])))
    provider.add_span_processor(SimpleSpanProcessor(exported))
    return provider.get_tracer("test"), exported


def test_at_ratio_zero_only_complaints_are_traced_and_their_traces_stay_whole() -> None:
    tracer, exported = _tracer(0.0)
    for i in range(50):
        with (
            tracer.start_as_current_span("contact", attributes={"n": i}),
            tracer.start_as_current_span("insert"),
        ):
            pass
    with (
        tracer.start_as_current_span("handle complaint.received", attributes={KEEP_TRACE: True}),
        tracer.start_as_current_span("insert dossier"),
    ):
        pass
    with tracer.start_as_current_span(
        "POST /complaints", attributes={"http.method": "POST", "http.target": "/complaints?x=1"}
    ):
        pass
    with tracer.start_as_current_span(
        "POST /complaints/1/notes",
        attributes={"http.request.method": "POST", "url.path": "/complaints/1/notes"},
    ):
        pass
    with tracer.start_as_current_span(
        "GET /complaints", attributes={"http.method": "GET", "http.target": "/complaints"}
    ):
        pass
    with tracer.start_as_current_span(
        "POST /complaintsx", attributes={"http.method": "POST", "http.target": "/complaintsx"}
    ):
        pass
    names = sorted(s.name for s in exported.get_finished_spans())
    assert names == sorted(
        ["handle complaint.received", "insert dossier", "POST /complaints", "POST /complaints/1/notes"]
    )
    child, parent = (
        next(s for s in exported.get_finished_spans() if s.name == n)
        for n in ("insert dossier", "handle complaint.received")
    )
    assert child.context.trace_id == parent.context.trace_id, "the complaint's spans in one trace"


def test_a_ratio_keeps_about_that_share_of_whole_traces() -> None:
    tracer, exported = _tracer(0.25)
    for _ in range(2000):
        with tracer.start_as_current_span("contact"), tracer.start_as_current_span("insert"):
            pass
    spans = exported.get_finished_spans()
    roots = [s for s in spans if s.parent is None]
    assert 350 <= len(roots) <= 650, len(roots)
    assert len(spans) == 2 * len(roots), "a kept trace keeps its children; a dropped one drops them"
