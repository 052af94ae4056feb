"""OpenTelemetry traces and JSON logs that carry the trace id.

Traces go HTTP (FastAPI instrumentation) → SQL (asyncpg instrumentation) → outbox row (the W3C
traceparent is stored with it) → Kafka headers → the consumer's span → its SQL. Export is OTLP over HTTP
when OTEL_EXPORTER_OTLP_ENDPOINT is set (the standard variable); otherwise spans stay in-process, and a
test may install its own provider with an in-memory exporter before the service starts.

Two things keep the logs and traces safe to ship: secrets in query strings (a survey link's `t`, an OIDC
`code`, any `token`) are redacted from every span before it is exported, and a log line that repeats (a
loop retrying through an outage, a flood of poison records) is folded after a few per window, with the
count of folded lines on the next one that passes.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.util.types import Attributes
from pythonjsonlogger.json import JsonFormatter

_instrumented = False
_redacting: set[int] = set()

SECRET_QUERY_PARAMETERS = frozenset(
    {"token", "access_token", "id_token", "refresh_token", "code", "state", "t", "signature", "sig"}
)
"""Query parameters whose values never reach a span: bearer tokens, OIDC codes, survey link tokens."""
_URL_ATTRIBUTES = ("http.url", "url.full", "http.target")
_QUERY_ATTRIBUTES = ("url.query",)
REDACTED = "REDACTED"


def redact_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(k.lower() in SECRET_QUERY_PARAMETERS for k, _ in pairs):
        return query
    return urlencode([(k, REDACTED if k.lower() in SECRET_QUERY_PARAMETERS else v) for k, v in pairs])


def redact_url(url: str) -> str:
    """The URL with the values of secret query parameters replaced (path and other parameters kept)."""
    if "?" not in url:
        return url
    parts = urlsplit(url)
    return urlunsplit(parts._replace(query=redact_query(parts.query)))


class _RedactSecrets(SpanProcessor):
    """Rewrites URL attributes when a span starts, before any exporter can see them."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        attributes = span.attributes or {}
        for name in _URL_ATTRIBUTES:
            value = attributes.get(name)
            if isinstance(value, str) and "?" in value:
                span.set_attribute(name, redact_url(value))
        for name in _QUERY_ATTRIBUTES:
            value = attributes.get(name)
            if isinstance(value, str) and value:
                span.set_attribute(name, redact_query(value))

    def on_end(self, span: ReadableSpan) -> None:
        return None


@dataclass
class _Window:
    started: float
    passed: int = 0
    folded: int = 0


class RateLimit(logging.Filter):
    """At most `burst` lines per (logger, message template) in each `window` seconds, from `level` up.

    A template is the message before its arguments: "retrying in %.2fs" is one line however often a loop
    retries, so an outage or a flood of poison records writes a handful of lines a minute, not thousands.
    """

    def __init__(self, *, burst: int = 5, window_s: float = 30.0, level: int = logging.WARNING) -> None:
        super().__init__()
        self.burst = burst
        self.window_s = window_s
        self.level = level
        self._windows: dict[tuple[str, str], _Window] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < self.level:
            return True
        key = (record.name, str(record.msg))
        now = time.monotonic()
        with self._lock:
            window = self._windows.get(key)
            if window is None or now - window.started >= self.window_s:
                folded = window.folded if window is not None else 0
                window = self._windows[key] = _Window(started=now)
                if folded:
                    # No "%" in the note, so the record's own arguments still format.
                    record.msg = f"{record.msg} [{folded} similar lines folded]"
            window.passed += 1
            if window.passed > self.burst:
                window.folded += 1
                return False
        return True


class _TraceIds(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ctx = trace.get_current_span().get_span_context()
        record.trace_id = f"{ctx.trace_id:032x}" if ctx.is_valid else None
        record.span_id = f"{ctx.span_id:016x}" if ctx.is_valid else None
        return True


def setup_logging(service: str, *, level: str = "INFO", json_logs: bool = True) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(_TraceIds())
    handler.addFilter(RateLimit())
    if json_logs:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(trace_id)s %(span_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                static_fields={"service": service},
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(trace_id)s] %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiokafka", "kafka", "uvicorn.access", "faststream", "yoyo"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


KEEP_TRACE = "hoera.keep_trace"
"""Set at a span's start: a trace that tells a complaint's story, kept whatever the sampling ratio."""


class KeepComplaints(Sampler):
    """Decides for a trace's first span: kept when it starts a complaint's story (KEEP_TRACE, which the
    inbox sets for complaint events, or a POST to one of keep_paths, as an agent's new complaint), else
    kept at `ratio` by trace id. Under ParentBased, the rest of a trace follows its first span, across
    services (the traceparent travels with the events), so a kept complaint is one whole trace."""

    def __init__(self, ratio: float, keep_paths: Sequence[str] = ()) -> None:
        self.ratio = TraceIdRatioBased(ratio)
        self.keep_paths = tuple(keep_paths)

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: trace.SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[trace.Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        if attributes and (attributes.get(KEEP_TRACE) or self._keeps(attributes)):
            return ALWAYS_ON.should_sample(
                parent_context, trace_id, name, kind, attributes, links, trace_state
            )
        return self.ratio.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def _keeps(self, attributes: Mapping[str, Any]) -> bool:
        method = attributes.get("http.request.method") or attributes.get("http.method")
        path = str(attributes.get("url.path") or attributes.get("http.target") or "").split("?", 1)[0]
        return method == "POST" and any(path == p or path.startswith(p + "/") for p in self.keep_paths)

    def get_description(self) -> str:
        return f"KeepComplaints{{{self.ratio.get_description()}, paths={list(self.keep_paths)}}}"


def setup_tracing(
    service: str, *, sample_ratio: float = 1.0, keep_paths: Sequence[str] = ()
) -> trace.TracerProvider:
    """Install a tracer provider once per process (a test's own provider is kept). sample_ratio < 1
    keeps that share of traces (every complaint's whole, see KeepComplaints); at 1 the SDK's own
    choice stands (OTEL_TRACES_SAMPLER, else every trace)."""
    global _instrumented
    current = trace.get_tracer_provider()
    if not isinstance(current, TracerProvider):
        resource = Resource.create({"service.name": service})
        if sample_ratio < 1:
            sampler = ParentBased(root=KeepComplaints(sample_ratio, keep_paths))
            provider = TracerProvider(resource=resource, sampler=sampler)
        else:
            provider = TracerProvider(resource=resource)
        if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        trace.set_tracer_provider(provider)
        current = provider
    if isinstance(current, TracerProvider) and id(current) not in _redacting:
        current.add_span_processor(_RedactSecrets())
        _redacting.add(id(current))
    if not _instrumented:
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

        AsyncPGInstrumentor().instrument()  # type: ignore[no-untyped-call]
        _instrumented = True
    return current


def instrument_app(app: Any) -> None:
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, excluded_urls="livez,readyz,metrics")
