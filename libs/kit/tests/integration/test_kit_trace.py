"""One trace from an HTTP request through the outbox and Kafka into the consumer's database span."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest
from hoera_devkit.testing import create_topics, eventually, unique_topic
from hoera_events.registry import dlq_topic
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))
from probe_app import ProbeSettings, create_app

pytestmark = pytest.mark.integration


async def test_one_trace_id_runs_from_http_through_kafka_into_the_consumers_sql(
    fresh_db: str,
) -> None:
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))

    topic = unique_topic("hoera.test.trace")
    await create_topics(topic, dlq_topic(topic), partitions=1)
    svc = create_app(
        ProbeSettings(
            database_url=fresh_db,
            probe_topic=topic,
            environment="test",
            log_json=False,
            outbox_poll_interval_s=0.1,
        )
    )
    async with svc.api.router.lifespan_context(svc.api):
        transport = httpx.ASGITransport(app=svc.api)
        async with httpx.AsyncClient(transport=transport, base_url="http://probe") as http:
            resp = await http.post("/things", json={"key": "traced"})
        assert resp.status_code == 201

        async def seen() -> int:
            async with svc.pool.acquire() as conn:
                return int(await conn.fetchval("select count(*) from probe_seen"))

        assert await eventually(seen, lambda n: n == 1, timeout=30) == 1

    spans = exporter.get_finished_spans()
    http_spans = [s for s in spans if s.kind == trace.SpanKind.SERVER and "/things" in s.name]
    assert http_spans, [s.name for s in spans]
    trace_id = http_spans[0].context.trace_id
    consumer_spans = [s for s in spans if s.name.startswith("probe.seen handle")]
    assert [s.context.trace_id for s in consumer_spans] == [trace_id]
    consumer_span = consumer_spans[0]
    sql_spans = [
        s
        for s in spans
        if "probe_seen" in str((s.attributes or {}).get("db.statement", ""))
        and s.parent is not None
        and s.parent.span_id == consumer_span.context.span_id
    ]
    assert sql_spans and sql_spans[0].context.trace_id == trace_id
