"""Operator data (R8), per tenant: rule documents that operators change without a release.

Each service declares its documents once (`RuleBook.document(name, Model)`): a pydantic model that
validates every write, a description, and a template per kind of organisation
(services/<service>/rules/templates/<template>/<name>.json). A tenant reads its template's document
(version 0) until an operator writes its own; every write

- names the version it was made against (expected_version): of N writers racing from the same
  version exactly one wins, the others get 409 and change nothing (the version is part of the key,
  so PostgreSQL decides, no lock is held);
- keeps the whole document as a new version with who, when and why: the history is the audit trail
  (from what to what is the previous version and this one), and a rollback is a write of an old
  version's document;
- is seen at once by every reader in this process and, through NOTIFY, by every other replica.

Nothing here knows a service's rules: a service's rules.py declares its models and reads them with
`await book.get(conn, tenant, CATALOGUE)`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Generic, TypeVar

import asyncpg
from pydantic import BaseModel, ValidationError

from hoera_kit.db import Conn
from hoera_kit.refusals import Conflict, Invalid, NotFound

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
NOTIFY_CHANNEL = "kit_rules"
DEFAULT_TEMPLATE = "nl"

Check = Callable[[Any], Sequence[tuple[str, str]]]
"""Extra checks beyond the model's own: (field, problem) pairs; any makes the write a 422."""
OnChange = Callable[[Conn, "Versioned[Any]"], Awaitable[None]]
"""Runs in the transaction of every write (an owner publishing the new document as an event)."""
Committed = Callable[["Versioned[Any]"], None]
"""Runs once a write's transaction has committed (the owner's own replica of the document taking the
new version at once, rather than when its event comes back from the broker)."""
Preview = Callable[[str, Any, str], Awaitable[Sequence[tuple[str, str]]]]
"""What a document (not yet saved) would do for a tenant, as (what, then) lines in a language: the
operator console shows it beside the form (the date a complaint received now would be promised)."""


class RuleProblem(Invalid):
    """A document that does not fit its model: 422 with one entry per offending field."""

    def __init__(self, name: str, problems: list[tuple[str, str]]) -> None:
        field = problems[0][0]
        summary = "; ".join(f"{f}: {m}" for f, m in problems[:5])
        super().__init__(f"rule document {name}: {summary}", field=field or None)
        self.problems = problems


@dataclass(frozen=True)
class RuleDocument(Generic[M]):
    name: str
    model: type[M]
    description: str
    check: Check | None = None
    on_change: OnChange | None = None
    on_committed: Committed | None = None

    def validate(self, document: Any) -> M:
        try:
            value = self.model.model_validate(document)
        except ValidationError as exc:
            problems = [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()]
            raise RuleProblem(self.name, problems or [("", "invalid")]) from None
        extra = list(self.check(value)) if self.check is not None else []
        if extra:
            raise RuleProblem(self.name, extra)
        return value


@dataclass(frozen=True)
class Versioned(Generic[M]):
    name: str
    tenant: str
    version: int
    """0: the template's document, never written for this tenant."""
    document: M
    changed_at: datetime | None
    changed_by: str | None
    reason: str | None


@dataclass(frozen=True)
class Change:
    version: int
    changed_at: datetime
    changed_by: str
    reason: str | None
    document: dict[str, Any]
    previous: dict[str, Any] | None


class RuleBook:
    """A service's rule documents, per tenant. `template_of(tenant)` says which template a tenant
    started from (the tenant registry); templates live in `templates_dir/<template>/<name>.json`."""

    def __init__(
        self,
        templates_dir: Path,
        *,
        template_of: Callable[[str], str | None] | None = None,
    ) -> None:
        self.templates_dir = templates_dir
        self.template_of = template_of or (lambda _tenant: DEFAULT_TEMPLATE)
        self._documents: dict[str, RuleDocument[Any]] = {}
        self._templates: dict[tuple[str, str], Any] = {}
        self._cache: dict[tuple[str, str], Versioned[Any]] = {}
        self.previews: dict[str, Preview] = {}

    # ---- declaring ----------------------------------------------------------------------------
    def document(
        self,
        name: str,
        model: type[M],
        *,
        description: str,
        check: Check | None = None,
        on_change: OnChange | None = None,
        on_committed: Committed | None = None,
    ) -> RuleDocument[M]:
        if name in self._documents:
            raise ValueError(f"rule document {name} is declared twice")
        doc = RuleDocument(name, model, description, check, on_change, on_committed)
        self._documents[name] = doc
        return doc

    def preview(self, name: str, preview: Preview) -> None:
        """Show what a change of document `name` would do, in the operator console, before saving."""
        self.named(name)
        self.previews[name] = preview

    @property
    def documents(self) -> list[RuleDocument[Any]]:
        return list(self._documents.values())

    def named(self, name: str) -> RuleDocument[Any]:
        try:
            return self._documents[name]
        except KeyError:
            raise NotFound(f"rule document {name}") from None

    def templates(self) -> list[str]:
        return sorted(p.name for p in self.templates_dir.iterdir() if p.is_dir())

    def template_document(self, doc: RuleDocument[M], template: str) -> M:
        """The template's document, validated (a broken template stops the service at start)."""
        key = (template, doc.name)
        if key not in self._templates:
            path = self.templates_dir / template / f"{doc.name}.json"
            if not path.exists():
                path = self.templates_dir / DEFAULT_TEMPLATE / f"{doc.name}.json"
            raw = json.loads(path.read_text())
            try:
                self._templates[key] = doc.validate(raw)
            except RuleProblem as exc:
                raise ValueError(f"{path}: {exc.message}") from None
        value: M = self._templates[key]
        return value

    def check_templates(self) -> None:
        """Validate every template of every document: called at start, so a bad file stops it."""
        for template in self.templates():
            for doc in self._documents.values():
                self.template_document(doc, template)

    # ---- reading ------------------------------------------------------------------------------
    async def read(self, conn: Conn, tenant: str, doc: RuleDocument[M]) -> Versioned[M]:
        """The tenant's current document: its latest version, or its template's (version 0)."""
        cached = self._cache.get((tenant, doc.name))
        if cached is not None:
            return cached
        row = await conn.fetchrow(
            "select version, document::text as document, changed_at, changed_by, reason "
            "from kit_rule_versions where tenant = $1 and name = $2 order by version desc limit 1",
            tenant,
            doc.name,
        )
        if row is None:
            template = self.template_of(tenant) or DEFAULT_TEMPLATE
            current: Versioned[M] = Versioned(
                doc.name, tenant, 0, self.template_document(doc, template), None, None, None
            )
        else:
            current = Versioned(
                doc.name,
                tenant,
                row["version"],
                doc.model.model_validate(json.loads(row["document"])),
                row["changed_at"],
                row["changed_by"],
                row["reason"],
            )
        self._cache[(tenant, doc.name)] = current
        return current

    async def get(self, conn: Conn, tenant: str, doc: RuleDocument[M]) -> M:
        return (await self.read(conn, tenant, doc)).document

    async def history(
        self, conn: Conn, tenant: str, doc: RuleDocument[Any], *, limit: int = 50
    ) -> list[Change]:
        rows = await conn.fetch(
            "select version, document::text as document, changed_at, changed_by, reason, "
            "lag(document::text) over (order by version) as previous "
            "from kit_rule_versions where tenant = $1 and name = $2 order by version desc limit $3",
            tenant,
            doc.name,
            limit,
        )
        return [
            Change(
                r["version"],
                r["changed_at"],
                r["changed_by"],
                r["reason"],
                json.loads(r["document"]),
                json.loads(r["previous"]) if r["previous"] else None,
            )
            for r in rows
        ]

    async def version(self, conn: Conn, tenant: str, doc: RuleDocument[M], version: int) -> M:
        if version == 0:
            return self.template_document(doc, self.template_of(tenant) or DEFAULT_TEMPLATE)
        raw = await conn.fetchval(
            "select document::text from kit_rule_versions where tenant = $1 and name = $2 and version = $3",
            tenant,
            doc.name,
            version,
        )
        if raw is None:
            raise NotFound(f"version {version} of rule document {doc.name}")
        return doc.model.model_validate(json.loads(raw))

    # ---- writing ------------------------------------------------------------------------------
    async def write(
        self,
        conn: Conn,
        tenant: str,
        doc: RuleDocument[M],
        document: Any,
        *,
        expected_version: int,
        changed_by: str,
        reason: str | None = None,
    ) -> Versioned[M]:
        """Validate and store a new version; 409 unless `expected_version` is the current one."""
        value = doc.validate(
            document.model_dump(mode="json") if isinstance(document, BaseModel) else document
        )
        current = await conn.fetchval(
            "select coalesce(max(version), 0) from kit_rule_versions where tenant = $1 and name = $2",
            tenant,
            doc.name,
        )
        if current != expected_version:
            raise Conflict(
                f"rule document {doc.name} is at version {current}, not {expected_version}: "
                "read it again and apply your change to the current version",
                field="expected_version",
            )
        try:
            async with conn.transaction():
                row = await conn.fetchrow(
                    "insert into kit_rule_versions (tenant, name, version, document, changed_by, reason) "
                    "values ($1, $2, $3, $4::text::jsonb, $5, $6) returning changed_at",
                    tenant,
                    doc.name,
                    expected_version + 1,
                    json.dumps(value.model_dump(mode="json")),
                    changed_by,
                    reason,
                )
        except asyncpg.UniqueViolationError:
            raise Conflict(
                f"rule document {doc.name} was changed by someone else meanwhile (version "
                f"{expected_version + 1} exists): read it again",
                field="expected_version",
            ) from None
        await conn.execute("select pg_notify($1, $2)", NOTIFY_CHANNEL, f"{tenant}/{doc.name}")
        self._cache.pop((tenant, doc.name), None)
        assert row is not None
        written = Versioned(
            doc.name, tenant, expected_version + 1, value, row["changed_at"], changed_by, reason
        )
        if doc.on_change is not None:
            await doc.on_change(conn, written)
        return written

    async def rollback(
        self,
        conn: Conn,
        tenant: str,
        doc: RuleDocument[M],
        *,
        to_version: int,
        expected_version: int,
        changed_by: str,
        reason: str | None = None,
    ) -> Versioned[M]:
        old = await self.version(conn, tenant, doc, to_version)
        why = f"rollback to version {to_version}" + (f": {reason}" if reason else "")
        return await self.write(
            conn, tenant, doc, old, expected_version=expected_version, changed_by=changed_by, reason=why
        )

    def committed(self, written: Versioned[Any]) -> None:
        """Call once the transaction of a `write` or `rollback` has committed."""
        doc = self.named(written.name)
        if doc.on_committed is not None:
            doc.on_committed(written)

    # ---- cache --------------------------------------------------------------------------------
    def forget(self, payload: str) -> None:
        """A NOTIFY from a write (here or in another replica); an empty payload forgets everything."""
        tenant, _, name = payload.partition("/")
        if not payload:
            self._cache.clear()
        else:
            self._cache.pop((tenant, name), None)


def diff(before: Any, after: Any, path: str = "") -> list[dict[str, Any]]:
    """What changed between two documents, field by field: [{path, before, after}]."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[dict[str, Any]] = []
        for key in sorted(set(before) | set(after), key=str):
            out += diff(before.get(key), after.get(key), f"{path}.{key}" if path else str(key))
        return out
    if isinstance(before, list) and isinstance(after, list):
        # Row by row; a row added at the end (or removed from it) is one change, not the whole list.
        out = []
        for i in range(max(len(before), len(after))):
            b = before[i] if i < len(before) else None
            a = after[i] if i < len(after) else None
            if i >= len(before) or i >= len(after):
                out += [] if a == b else [{"path": f"{path}[{i}]", "before": b, "after": a}]
            else:
                out += diff(b, a, f"{path}[{i}]")
        return out
    return [] if before == after else [{"path": path or "(document)", "before": before, "after": after}]
