"""Operator data (R8): the compensation service's rule documents, per tenant, kept by the kit.

Four documents, each validated whole by its model (domain.py) before it is written:

- `catalogue`          the most common complaints: the answer, the apology, gestures and whether and
                       how much money may be given (R13), in nl, fr and en
- `mandates`           how much each proposing role grants alone (R14)
- `approval-deadline`  how long approvers have before a request is escalated (R14 with R3), in
                       business days of the tenant's calendar
- `abuse-watch`        how many financial compensations within how many days flag a customer (R15)

A tenant reads its template's documents (rules/templates/<nl|fr>/<name>.json) until an administrator
changes one through the kit's /admin/rules routes (a version to write against, a reason, the history
with field diffs, rollback). The business calendar is the tenant's organisation's, owned by intake
(hoera_kit.tenants), so it is no rule of this service.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hoera_kit.rules import RuleBook, RuleDocument

from hoera_compensation.domain import (
    AbuseWatchRule,
    ApprovalDeadline,
    Catalogue,
    Mandates,
    catalogue_document_problems,
    mandates_problems,
)

TEMPLATES = Path(__file__).resolve().parents[2] / "rules" / "templates"

CATALOGUE = RuleDocument(
    "catalogue",
    Catalogue,
    "R13: the catalogue of the most common complaints: per complaint type the answer for the agent, "
    "the apology and gestures (nl, fr, en) and whether and how much money may be given (cents)",
    check=catalogue_document_problems,
)
MANDATES = RuleDocument(
    "mandates",
    Mandates,
    "R14: how much an agent and a supervisor may grant alone; above it an approver decides",
    check=mandates_problems,
)
APPROVAL_DEADLINE = RuleDocument(
    "approval-deadline",
    ApprovalDeadline,
    "R14: how long approvers have before an undecided request is escalated, in business days of the "
    "organisation's calendar (or seconds, for tests and demos)",
)
ABUSE_WATCH = RuleDocument(
    "abuse-watch",
    AbuseWatchRule,
    "R15: how many financial compensations within how many days flag a customer for review; while "
    "flagged, the customer's money always goes to an approver",
)
DOCUMENTS: tuple[RuleDocument[Any], ...] = (CATALOGUE, MANDATES, APPROVAL_DEADLINE, ABUSE_WATCH)


def declare(book: RuleBook) -> None:
    """Register the documents with the service's rule book (its admin routes then serve them)."""
    for doc in DOCUMENTS:
        book.document(doc.name, doc.model, description=doc.description, check=doc.check)
