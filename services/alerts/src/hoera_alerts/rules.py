"""R8: the alerts service's operator data, per tenant, as documents of the kit's rule book.

Each document is validated by its model in domain.py (and, where fields depend on each other, by a
check there); a tenant reads its template's document (rules/templates/<nl|fr>/<name>.json) until
an administrator writes its own through the kit's /admin/rules routes, which keep every version
with who, when and why. Who leads which team, who stands in, management, the back office and the
calendar are not here: they are the tenant's organisation (deps.tenants).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hoera_kit.db import Conn
from hoera_kit.rules import RuleBook, RuleDocument

from hoera_alerts.domain import (
    DashboardRule,
    Links,
    NoticeRule,
    Texts,
    ThresholdRule,
    UnhappyRule,
    notice_problems,
    text_problems,
    threshold_problems,
)

TEMPLATES = Path(__file__).resolve().parents[2] / "rules" / "templates"

UNHAPPY = RuleDocument(
    "unhappy", UnhappyRule, "R23: the scores at or below which an answer mails the supervisor"
)
THRESHOLD = RuleDocument(
    "threshold",
    ThresholdRule,
    "R24: the rolling window, the level that alerts and the level that counts as recovered",
    threshold_problems,
)
NOTICES = RuleDocument(
    "notices",
    NoticeRule,
    "R4: management informed at once or by digest, and how often a digest goes out",
    notice_problems,
)
LINKS = RuleDocument("links", Links, "R23: where the contact-centre platform plays a call's recording")
DASHBOARD = RuleDocument("dashboard", DashboardRule, "R25: the period of the figures and the trend's days")
TEXTS = RuleDocument(
    "texts", Texts, "R22, R23: every mail and label in nl, fr and en, with its placeholders", text_problems
)
DOCUMENTS: tuple[RuleDocument[Any], ...] = (UNHAPPY, THRESHOLD, NOTICES, LINKS, DASHBOARD, TEXTS)


def declare(book: RuleBook) -> None:
    """The service's documents in its rule book (served by the kit's admin routes)."""
    for doc in DOCUMENTS:
        book.document(doc.name, doc.model, description=doc.description, check=doc.check)


@dataclass(frozen=True)
class TenantRules:
    """Every document a use case decides with, read once for the tenant."""

    unhappy: UnhappyRule
    threshold: ThresholdRule
    notices: NoticeRule
    links: Links
    dashboard: DashboardRule
    texts: Texts


async def read(book: RuleBook, conn: Conn, tenant: str) -> TenantRules:
    return TenantRules(
        unhappy=await book.get(conn, tenant, UNHAPPY),
        threshold=await book.get(conn, tenant, THRESHOLD),
        notices=await book.get(conn, tenant, NOTICES),
        links=await book.get(conn, tenant, LINKS),
        dashboard=await book.get(conn, tenant, DASHBOARD),
        texts=await book.get(conn, tenant, TEXTS),
    )
