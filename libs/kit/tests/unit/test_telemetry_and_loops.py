"""Secrets never reach a span; a repeating log line is folded; loops stop within their grace period."""

from __future__ import annotations

import asyncio
import logging

import pytest
from hoera_kit.loops import Background, Loop
from hoera_kit.settings import KitSettings
from hoera_kit.telemetry import RateLimit, _RedactSecrets, redact_url
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import ValidationError


def test_secret_query_parameters_are_redacted_and_the_rest_kept() -> None:
    url = "http://h/dashboard?team=t1&token=eyJabc&lang=nl&t=sig.nature&code=xyz"
    redacted = redact_url(url)
    assert "eyJabc" not in redacted and "sig.nature" not in redacted and "xyz" not in redacted
    assert "team=t1" in redacted and "lang=nl" in redacted
    assert redact_url("http://h/plain") == "http://h/plain"


def test_a_span_with_a_token_in_its_url_is_exported_without_it() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(_RedactSecrets())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span(
        "GET /agent",
        attributes={
            "http.url": "http://h/agent?token=secret-jwt",
            "http.target": "/agent?token=secret-jwt",
            "url.query": "token=secret-jwt&lang=fr",
        },
    ):
        pass
    (span,) = exporter.get_finished_spans()
    assert "secret-jwt" not in repr(dict(span.attributes or {}))
    assert span.attributes is not None and "lang=fr" in str(span.attributes["url.query"])


def test_a_repeating_line_is_folded_after_a_burst_and_the_next_window_counts_the_folded() -> None:
    limit = RateLimit(burst=3, window_s=60)
    record = lambda n: logging.LogRecord("kit", logging.WARNING, __file__, 1, "retry %d", (n,), None)  # noqa: E731
    passed = [limit.filter(record(n)) for n in range(100)]
    assert passed.count(True) == 3
    other = logging.LogRecord("kit", logging.WARNING, __file__, 1, "another line", (), None)
    assert limit.filter(other)
    limit.window_s = 0  # the window ends
    later = record(101)
    assert limit.filter(later)
    assert "97 similar lines folded" in later.getMessage()
    info = logging.LogRecord("kit", logging.INFO, __file__, 1, "retry %d", (1,), None)
    assert all(RateLimit(burst=1).filter(info) for _ in range(10)), "below WARNING nothing is folded"


def test_a_service_refuses_to_start_without_being_told_its_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HOERA_ENVIRONMENT", raising=False)
    with pytest.raises(ValidationError, match="HOERA_ENVIRONMENT is not set"):
        KitSettings(service_name="intake")
    monkeypatch.setenv("HOERA_ENVIRONMENT", "development")
    assert KitSettings(service_name="intake").is_dev


async def test_loops_retry_their_faults_and_stop_within_the_grace_period() -> None:
    calls = {"flaky": 0, "slow": 0}

    async def flaky() -> bool:
        calls["flaky"] += 1
        if calls["flaky"] < 3:
            raise ConnectionResetError("the database is away")
        return False

    async def stubborn(stop: asyncio.Event) -> None:
        # Ignores the stop event: the grace period has to end it.
        calls["slow"] += 1
        await asyncio.sleep(3600)

    background = Background(grace_s=0.2)
    background.loop(Loop("flaky", flaky, interval_s=0.01, backoff_cap_s=0.01))
    background.start("stubborn", stubborn)
    for _ in range(200):
        if calls["flaky"] >= 4:
            break
        await asyncio.sleep(0.01)
    cancelled = await background.stop()
    assert calls["flaky"] >= 4, "the loop went on after its faults"
    assert cancelled == ["stubborn"]
    assert background.running == []
