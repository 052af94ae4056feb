"""Operator data (R8): the catalogue (R13), the mandates per role and organisation and the approval
deadline (R14), the abuse watch (R15).

Seeded at start from services/compensation/rules/*.json when the tables are empty, then changed only
through the admin API: each change is validated first (a 422 naming the field, nothing half-applied)
and written with an audit row saying who changed what from what to what, in one transaction.
"""

from __future__ import annotations

import json
import logging
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import asyncpg
from hoera_events.common import Currency, Money
from hoera_kit.db import Conn
from hoera_kit.errors import DomainError
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from hoera_compensation.domain import (
    AbuseWatchRule,
    ApprovalDeadline,
    CatalogueEntry,
    catalogue_problems,
)

log = logging.getLogger(__name__)

DEFAULT_TENANT = "*"
"""The mandate row that holds for every organisation without its own."""

APPROVAL_DEADLINE = "approval_deadline"
ABUSE_WATCH = "abuse_watch"

P = TypeVar("P", bound=BaseModel)


class ProposerRole(StrEnum):
    """The roles that propose compensations and so have a mandate (R14); approvers decide above it."""

    agent = "agent"
    supervisor = "supervisor"


class MandateRule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant: Annotated[str, StringConstraints(pattern=r"^(\*|[a-z0-9][a-z0-9_.-]{0,63})$")]
    role: ProposerRole
    limit: Money


class MandatesFile(BaseModel):
    model_config = ConfigDict(extra="ignore")

    mandates: Annotated[list[MandateRule], Field(min_length=1)]
    approval_deadline: ApprovalDeadline


class CatalogueFile(BaseModel):
    model_config = ConfigDict(extra="ignore")

    entries: Annotated[list[CatalogueEntry], Field(min_length=1)]


def check_entry(entry: CatalogueEntry) -> None:
    """422 naming the first offending field of an operator's catalogue entry."""
    problems = catalogue_problems(entry)
    if problems:
        field, message = problems[0]
        raise DomainError(f"{field}: {message}", status=422, field=field)


def _read(path: Path, model: type[P]) -> P:
    try:
        data = json.loads(path.read_text())
        # Keys starting with "_" are notes for the operator who edits the file.
        return model.model_validate({k: v for k, v in data.items() if not k.startswith("_")})
    except (OSError, ValueError, ValidationError) as exc:
        raise SystemExit(f"compensation: the rules file {path} is not valid: {exc}") from exc


async def seed(pool: asyncpg.Pool, rules_dir: Path) -> list[str]:
    """Fill each empty rule table from its file (once; replicas starting together take turns)."""
    catalogue = _read(rules_dir / "catalogue.json", CatalogueFile)
    for entry in catalogue.entries:
        problems = catalogue_problems(entry)
        if problems:
            raise SystemExit(f"compensation: catalogue entry {entry.code}: {problems}")
    mandates = _read(rules_dir / "mandates.json", MandatesFile)
    abuse = _read(rules_dir / "abuse_watch.json", AbuseWatchRule)
    seeded: list[str] = []
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("select pg_advisory_xact_lock(hashtextextended('compensation.rules.seed', 0))")
        if not await conn.fetchval("select exists (select 1 from catalogue_entries)"):
            for entry in catalogue.entries:
                await _write_entry(conn, entry)
                await _audit(conn, "catalogue", entry.code, "seed", None, _dump(entry), "seed")
            seeded.append("catalogue")
        if not await conn.fetchval("select exists (select 1 from mandates)"):
            for rule in mandates.mandates:
                await _write_mandate(conn, rule.tenant, rule.role, rule.limit)
                key = f"{rule.tenant}/{rule.role.value}"
                await _audit(conn, "mandate", key, "seed", None, _dump(rule.limit), "seed")
            seeded.append("mandates")
        for name, value in ((APPROVAL_DEADLINE, mandates.approval_deadline), (ABUSE_WATCH, abuse)):
            inserted = await conn.execute(
                "insert into policies (name, value) values ($1, $2) on conflict do nothing",
                name,
                _dump(value),
            )
            if inserted.endswith(" 1"):
                await _audit(conn, "policy", name, "seed", None, _dump(value), "seed")
                seeded.append(name)
    if seeded:
        log.info("compensation: seeded %s from %s", ", ".join(seeded), rules_dir)
    return seeded


def _dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude_none=True)


async def _audit(
    conn: Conn, what: str, key: str, action: str, before: Any, after: Any, changed_by: str
) -> None:
    await conn.execute(
        "insert into rules_audit (what, key, action, before, after, changed_by) "
        "values ($1, $2, $3, $4, $5, $6)",
        what,
        key,
        action,
        before,
        after,
        changed_by,
    )


# ---- the catalogue (R13) ---------------------------------------------------------------------------


async def _write_entry(conn: Conn, entry: CatalogueEntry) -> None:
    await conn.execute(
        """
        insert into catalogue_entries (code, categories, entry, retired, updated_at)
        values ($1, $2, $3, false, now())
        on conflict (code) do update set categories = excluded.categories, entry = excluded.entry,
            retired = false, updated_at = now()
        """,
        entry.code,
        entry.categories,
        _dump(entry),
    )


async def catalogue(conn: Conn) -> list[CatalogueEntry]:
    rows = await conn.fetch("select entry from catalogue_entries where not retired order by code")
    return [CatalogueEntry.model_validate(r["entry"]) for r in rows]


async def catalogue_entry(conn: Conn, code: str) -> CatalogueEntry | None:
    value = await conn.fetchval("select entry from catalogue_entries where code = $1 and not retired", code)
    return CatalogueEntry.model_validate(value) if value is not None else None


async def entry_for_category(conn: Conn, category: str) -> CatalogueEntry | None:
    """The catalogue's answer for a complaint category (the first by code when several answer)."""
    value = await conn.fetchval(
        "select entry from catalogue_entries where $1 = any(categories) and not retired "
        "order by code limit 1",
        category,
    )
    return CatalogueEntry.model_validate(value) if value is not None else None


async def put_entry(conn: Conn, entry: CatalogueEntry, *, by: str) -> bool:
    """Create or replace an entry (validated); True when it is new."""
    check_entry(entry)
    before = await conn.fetchrow(
        "select entry, retired from catalogue_entries where code = $1 for update", entry.code
    )
    await _write_entry(conn, entry)
    action = "create" if before is None else ("restore" if before["retired"] else "update")
    await _audit(conn, "catalogue", entry.code, action, before["entry"] if before else None, _dump(entry), by)
    return before is None


async def retire_entry(conn: Conn, code: str, *, by: str) -> None:
    """An entry is retired, not deleted: compensations and the audit trail still name it."""
    before = await conn.fetchval(
        "update catalogue_entries set retired = true, updated_at = now() "
        "where code = $1 and not retired returning entry",
        code,
    )
    if before is None:
        raise DomainError(f"catalogue entry {code} not found", status=404, field="code")
    await _audit(conn, "catalogue", code, "retire", before, None, by)


# ---- mandates and the approval deadline (R14) ---------------------------------------------------


async def _write_mandate(conn: Conn, tenant: str, role: ProposerRole, limit: Money) -> None:
    await conn.execute(
        """
        insert into mandates (tenant, role, limit_cents, currency) values ($1, $2, $3, $4)
        on conflict (tenant, role) do update set limit_cents = excluded.limit_cents,
            currency = excluded.currency
        """,
        tenant,
        role.value,
        limit.amount_cents,
        limit.currency.value,
    )


async def mandates(conn: Conn, tenant: str) -> dict[str, Money]:
    """Each role's mandate in this organisation: its own row, else the default row."""
    rows = await conn.fetch(
        "select distinct on (role) role, limit_cents, currency from mandates "
        "where tenant = $1 or tenant = $2 order by role, (tenant = $1) desc",
        tenant,
        DEFAULT_TENANT,
    )
    return {r["role"]: Money(amount_cents=r["limit_cents"], currency=Currency(r["currency"])) for r in rows}


async def put_mandate(conn: Conn, tenant: str, role: ProposerRole, limit: Money, *, by: str) -> None:
    key = f"{tenant}/{role.value}"
    before = await conn.fetchrow(
        "select limit_cents, currency from mandates where tenant = $1 and role = $2 for update",
        tenant,
        role.value,
    )
    await _write_mandate(conn, tenant, role, limit)
    previous = {"amount_cents": before["limit_cents"], "currency": before["currency"]} if before else None
    await _audit(conn, "mandate", key, "update" if before else "create", previous, _dump(limit), by)


# ---- policies: approval deadline, abuse watch --------------------------------------------------------


async def _policy(conn: Conn, name: str, model: type[P]) -> P:
    value = await conn.fetchval("select value from policies where name = $1", name)
    return model.model_validate(value) if value is not None else model()


async def approval_deadline(conn: Conn) -> ApprovalDeadline:
    value = await conn.fetchval("select value from policies where name = $1", APPROVAL_DEADLINE)
    return ApprovalDeadline.model_validate(value or {"business_days": 2})


async def abuse_watch(conn: Conn) -> AbuseWatchRule:
    return await _policy(conn, ABUSE_WATCH, AbuseWatchRule)


async def put_policy(conn: Conn, name: str, value: BaseModel, *, by: str) -> None:
    before = await conn.fetchval("select value from policies where name = $1 for update", name)
    await conn.execute(
        "insert into policies (name, value) values ($1, $2) "
        "on conflict (name) do update set value = excluded.value",
        name,
        _dump(value),
    )
    await _audit(conn, "policy", name, "update" if before else "create", before, _dump(value), by)


# ---- the audit trail --------------------------------------------------------------------------------


async def audit_trail(conn: Conn, *, what: str | None, key: str | None, limit: int) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """
        select id, what, key, action, before, after, changed_by, changed_at from rules_audit
        where ($1::text is null or what = $1) and ($2::text is null or key = $2)
        order by id desc limit $3
        """,
        what,
        key,
        limit,
    )
    return [dict(r) for r in rows]
