"""Operator data (R8): the callback service's rule documents, per tenant, kept by the kit.

Three documents, each validated whole by its model (domain.py) before it is written:

- `queue`     the lead-time target (R28), how long a claim holds (R26), the waits between attempts (R28)
- `priority`  how much each churn-risk signal weighs and where the levels start (R29)
- `triggers`  which complaint moments and survey answers put a customer in the queue (R19, R26)
- `recovery`  which signals open a recovery case, its target time and what counts as recovered (R29)

A tenant reads its template's documents (rules/templates/<nl|fr>/<name>.json) until an administrator
changes one through the kit's /admin/rules routes (versions, history with field diffs, rollback). Dates
come from the tenant's business calendar and queues from its organisation's teams, both owned by intake
(hoera_kit.tenants), so neither is a rule of this service.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hoera_kit.rules import RuleBook, RuleDocument

from hoera_callback.domain import (
    PriorityRules,
    QueueRules,
    TriggerRules,
    priority_problems,
    queue_problems,
)
from hoera_callback.recovery import RecoveryRules, recovery_problems

TEMPLATES = Path(__file__).resolve().parents[2] / "rules" / "templates"

QUEUE = RuleDocument(
    "queue",
    QueueRules,
    "The queue's lead-time target (R28), how long a claim holds (R26) and the waits between attempts "
    "at an unreachable customer (R28), on the organisation's business calendar",
    check=queue_problems,
)
PRIORITY = RuleDocument(
    "priority",
    PriorityRules,
    "How much each churn-risk signal weighs and where high and urgent start (R29)",
    check=priority_problems,
)
TRIGGERS = RuleDocument(
    "triggers",
    TriggerRules,
    "Which complaint moments and survey answers put a customer in the callback queue (R19, R26)",
)
RECOVERY = RuleDocument(
    "recovery",
    RecoveryRules,
    "Which signals open a recovery case, its target time on the business calendar and which recovery "
    "survey answer counts as recovered (R23, R29)",
    check=recovery_problems,
)
DOCUMENTS: tuple[RuleDocument[Any], ...] = (QUEUE, PRIORITY, TRIGGERS, RECOVERY)


def declare(book: RuleBook) -> None:
    """Register the documents with the service's rule book (its admin routes then serve them)."""
    for doc in DOCUMENTS:
        book.document(doc.name, doc.model, description=doc.description, check=doc.check)
