"""R8: the alerts service's operator data, changed without a programmer.

Each kind of rule is one JSON document (unhappy, threshold, organisation, absences, notices, links,
dashboard, texts), validated by its model in domain.py. The documents are seeded from
services/alerts/rules/*.json the first time they are read from an empty table; afterwards an
administrator changes them through the admin API, which validates the whole document (a 422 names
the bad field and nothing is written) and keeps every version with who saved it (rules_audit).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from hoera_kit.db import Conn
from hoera_kit.errors import DomainError, NotFound
from pydantic import ValidationError

from hoera_alerts.domain import (
    AbsenceCalendar,
    DashboardRule,
    Links,
    NoticeRule,
    Organisation,
    Rule,
    Texts,
    ThresholdRule,
    UnhappyRule,
)

DOCUMENTS: dict[str, type[Rule]] = {
    "unhappy": UnhappyRule,
    "threshold": ThresholdRule,
    "organisation": Organisation,
    "absences": AbsenceCalendar,
    "notices": NoticeRule,
    "links": Links,
    "dashboard": DashboardRule,
    "texts": Texts,
}
SEEDED_BY = "seed"
_PATH_IN_MESSAGE = re.compile(r"^(?:Value error, )?([a-z_]+(?:\.[a-z0-9_]+)*): ")


@dataclass(frozen=True)
class RuleBook:
    """Every rule, as one consistent read inside the caller's transaction."""

    unhappy: UnhappyRule
    threshold: ThresholdRule
    organisation: Organisation
    absences: AbsenceCalendar
    notices: NoticeRule
    links: Links
    dashboard: DashboardRule
    texts: Texts


@dataclass(frozen=True)
class StoredRule:
    name: str
    version: int
    changed_by: str
    changed_at: datetime
    body: dict[str, Any]


def parse(name: str, body: object) -> Rule:
    """The document validated by its model; DomainError 422 naming the first bad field."""
    model = DOCUMENTS.get(name)
    if model is None:
        raise NotFound(f"rule document {name!r}")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        message = first["msg"]
        inner = _PATH_IN_MESSAGE.match(message)
        if inner:  # a whole-document check names the path in its message
            field = ".".join(p for p in (field, inner.group(1)) if p)
            message = message[inner.end() :]
        elif message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        raise DomainError(
            f"{name}: {field or 'document'}: {message}", status=422, field=field or None
        ) from exc


def _dump(rule: Rule) -> dict[str, Any]:
    dumped: dict[str, Any] = rule.model_dump(mode="json")
    return dumped


class RuleStore:
    def __init__(self, seed_dir: Path) -> None:
        self.seed_dir = seed_dir

    async def seed(self, conn: Conn) -> None:
        """Fill in whatever document is missing from the seed files (every replica may try)."""
        for name in DOCUMENTS:
            path = self.seed_dir / f"{name}.json"
            body = _dump(parse(name, json.loads(path.read_text())))
            inserted = await conn.fetchval(
                "insert into rules (name, body, version, changed_by) values ($1, $2, 1, $3) "
                "on conflict (name) do nothing returning version",
                name,
                body,
                SEEDED_BY,
            )
            if inserted is not None:
                await conn.execute(
                    "insert into rules_audit (name, version, body, changed_by) values ($1, 1, $2, $3)",
                    name,
                    body,
                    SEEDED_BY,
                )

    async def _bodies(self, conn: Conn, *, lock: bool = False) -> dict[str, Any]:
        suffix = " for update" if lock else ""
        rows = await conn.fetch(f"select name, body from rules{suffix}")
        if len(rows) < len(DOCUMENTS):
            await self.seed(conn)
            rows = await conn.fetch(f"select name, body from rules{suffix}")
        return {r["name"]: r["body"] for r in rows}

    async def book(self, conn: Conn) -> RuleBook:
        bodies = await self._bodies(conn)
        return RuleBook(
            unhappy=UnhappyRule.model_validate(bodies["unhappy"]),
            threshold=ThresholdRule.model_validate(bodies["threshold"]),
            organisation=Organisation.model_validate(bodies["organisation"]),
            absences=AbsenceCalendar.model_validate(bodies["absences"]),
            notices=NoticeRule.model_validate(bodies["notices"]),
            links=Links.model_validate(bodies["links"]),
            dashboard=DashboardRule.model_validate(bodies["dashboard"]),
            texts=Texts.model_validate(bodies["texts"]),
        )

    async def organisation(self, conn: Conn) -> Organisation:
        return Organisation.model_validate((await self._bodies(conn))["organisation"])

    async def dashboard(self, conn: Conn) -> DashboardRule:
        return DashboardRule.model_validate((await self._bodies(conn))["dashboard"])

    async def current(self, conn: Conn, name: str) -> StoredRule:
        if name not in DOCUMENTS:
            raise NotFound(f"rule document {name!r}")
        await self._bodies(conn)
        row = await conn.fetchrow("select * from rules where name = $1", name)
        assert row is not None
        return _stored(row)

    async def history(self, conn: Conn, name: str) -> list[StoredRule]:
        if name not in DOCUMENTS:
            raise NotFound(f"rule document {name!r}")
        await self._bodies(conn)
        rows = await conn.fetch("select * from rules_audit where name = $1 order by version desc", name)
        return [_stored(r) for r in rows]

    async def change(self, conn: Conn, name: str, body: object, changed_by: str) -> StoredRule:
        """Validate and save a whole document, or change nothing (call inside a transaction)."""
        rule = parse(name, body)
        # Locked, so two administrators saving the organisation and the absences at once cannot
        # leave an absence of a person who no longer exists.
        bodies = await self._bodies(conn, lock=True)
        _check_references(name, rule, bodies)
        dumped = _dump(rule)
        row = await conn.fetchrow(
            "update rules set body = $2, version = version + 1, changed_by = $3, changed_at = now() "
            "where name = $1 returning *",
            name,
            dumped,
            changed_by,
        )
        assert row is not None
        await conn.execute(
            "insert into rules_audit (name, version, body, changed_by, changed_at) "
            "values ($1, $2, $3, $4, $5)",
            name,
            row["version"],
            dumped,
            changed_by,
            row["changed_at"],
        )
        return _stored(row)


def _check_references(name: str, rule: Rule, bodies: dict[str, Any]) -> None:
    """The absence calendar names people of the organisation, whichever of the two changes."""
    if isinstance(rule, AbsenceCalendar):
        unknown = rule.unknown_people(Organisation.model_validate(bodies["organisation"]))
    elif isinstance(rule, Organisation):
        unknown = AbsenceCalendar.model_validate(bodies["absences"]).unknown_people(rule)
    else:
        return
    if unknown:
        index, person = unknown[0]
        if name == "absences":
            raise DomainError(
                f"absences: absences.{index}.person: {person!r} is not one of the organisation's people",
                status=422,
                field=f"absences.{index}.person",
            )
        raise DomainError(
            f"organisation: people: {person!r} is still in the absence calendar; change that first",
            status=422,
            field="people",
        )


def _stored(row: Any) -> StoredRule:
    return StoredRule(
        name=row["name"],
        version=row["version"],
        changed_by=row["changed_by"],
        changed_at=row["changed_at"],
        body=row["body"],
    )
