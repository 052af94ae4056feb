"""Intake's own Prometheus metrics (the kit's are in hoera_kit.metrics), for the SLA dashboard and alerts."""

from __future__ import annotations

from prometheus_client import Counter

SLA_BREACHES = Counter(
    "hoera_sla_breaches_total", "Complaints whose promised date passed (R3, R4)", ["service", "tenant"]
)
