"""The kit's Prometheus metrics, served on /metrics by every service."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

OUTBOX_PUBLISHED = Counter("hoera_outbox_published_total", "Outbox rows published to Kafka", ["service"])
OUTBOX_RELAY_SECONDS = Histogram(
    "hoera_outbox_relay_batch_seconds", "Time to publish one relay pass", ["service"]
)
OUTBOX_BACKLOG = Gauge("hoera_outbox_backlog", "Outbox rows not yet published", ["service"])
HANDLER_SECONDS = Histogram(
    "hoera_handler_seconds",
    "Time to handle one batch of events (decode, transaction, commit)",
    ["service", "consumer"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
EVENTS_HANDLED = Counter(
    "hoera_events_handled_total", "Events handled, by outcome", ["service", "consumer", "outcome"]
)
DEAD_LETTERS = Counter(
    "hoera_dead_letters_total", "Messages sent to a dead-letter topic", ["service", "topic"]
)
CONSUMER_LAG = Gauge(
    "hoera_consumer_lag",
    "Records between the group's committed offsets and the partitions' ends, read off the broker",
    ["service", "consumer", "topic"],
)
CONSUMER_STALLED = Gauge(
    "hoera_consumer_stalled",
    "1 while a consumer group has lag and its committed offsets have not moved for the stall period",
    ["service", "consumer"],
)
OUTBOX_PARKED = Gauge(
    "hoera_outbox_parked", "Outbox rows the broker refused for good, parked for an operator", ["service"]
)
BACKGROUND_CANCELLED = Counter(
    "hoera_background_cancelled_total",
    "Background tasks cancelled at shutdown because they outlived the grace period",
    ["service"],
)
TIMERS_FIRED = Counter("hoera_timers_fired_total", "Durable timers fired", ["service", "kind"])
TIMERS_DUE = Gauge("hoera_timers_due", "Durable timers due and not yet fired", ["service"])
DELIVERIES = Gauge("hoera_deliveries", "Deliveries by state", ["service", "state"])
TRANSIENT_RETRIES = Counter("hoera_transient_retries_total", "Transient faults retried", ["service", "where"])
