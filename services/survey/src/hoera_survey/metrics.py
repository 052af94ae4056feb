"""The survey service's own Prometheus metrics, for the live CSAT dashboard per tenant (R25)."""

from __future__ import annotations

from prometheus_client import Counter

SATISFACTION = Counter(
    "hoera_survey_satisfaction_total",
    "Satisfaction smileys answered (1 unhappiest to 5 happiest), by tenant",
    ["service", "tenant", "score"],
)
