"""Operator data (R8): lead-time target, lease, retry schedule, calendar, priority weights, complaint
triggers and default teams. Seeded at start from services/callback/rules/callback_rules.json when the
table is empty, then changed only through the admin API, which validates the whole document first
(a 422 naming the bad field, nothing half-applied) and keeps who changed what."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Self

from hoera_events.common import Language, TeamId
from hoera_kit.db import Conn
from pydantic import BaseModel, ConfigDict, Field, model_validator

from hoera_callback.domain import (
    BusinessCalendar,
    ComplaintTriggers,
    Duration,
    PriorityRules,
    RetryRules,
)

RULES_FILE = "callback_rules.json"
DEFAULT_RULES_DIR = Path(__file__).resolve().parents[2] / "rules"


class CallbackRules(BaseModel):
    """The whole rule document; one version is in force at a time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    lead_time: Duration
    """R28: the queue's lead-time target, from the request to the first attempt."""
    lease_seconds: Annotated[int, Field(ge=1, le=86_400)]
    """How long a claim holds before the callback returns to the queue (R26)."""
    retry: RetryRules
    """R28: the waits between attempts to reach an unreachable customer."""
    calendar: BusinessCalendar
    priority: PriorityRules
    complaint_triggers: ComplaintTriggers
    unhappy_smiley_callback: bool = False
    """Also queue a call for an unhappy smiley without an explicit "please contact me"."""
    default_language: Language = Language.nl
    default_team_by_language: dict[Language, TeamId]
    """The queue a callback goes to when its cause names no team."""

    @model_validator(mode="after")
    def _every_language_has_a_team(self) -> Self:
        missing = [lang.value for lang in Language if lang not in self.default_team_by_language]
        if missing:
            raise ValueError(f"default_team_by_language lacks {', '.join(missing)}")
        return self

    def team_for(self, team_id: str | None, language: str | None) -> str:
        if team_id:
            return team_id
        known = {lang.value: lang for lang in Language}
        return self.default_team_by_language[known.get(language or "", self.default_language)]


class RulesVersion(BaseModel):
    version: int
    changed_by: str
    changed_at: datetime
    rules: CallbackRules


class AuditEntry(BaseModel):
    version: int
    changed_by: str
    changed_at: datetime
    changed_fields: list[str]
    """Dotted paths of what changed, e.g. priority.weights.nps_detractor."""


def read_seed(rules_dir: Path) -> CallbackRules:
    return CallbackRules.model_validate_json((rules_dir / RULES_FILE).read_text())


def _diff(before: Any, after: Any, path: str = "") -> list[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[str] = []
        for key in sorted(set(before) | set(after), key=str):
            out += _diff(before.get(key), after.get(key), f"{path}.{key}" if path else str(key))
        return out
    return [] if before == after else [path or "(all)"]


def _body(rules: CallbackRules) -> Any:
    return json.loads(rules.model_dump_json())


class RuleStore:
    """The rules in force. The seed folder fills an empty table, at start and, should an event or a
    request arrive first, on first use; every replica may try, the first insert wins."""

    def __init__(self, seed_dir: Path, *, reread_after_s: float = 2.0) -> None:
        self.seed_dir = seed_dir
        self.reread_after_s = reread_after_s
        self._parsed: tuple[int, CallbackRules] | None = None
        self._read_at = float("-inf")

    async def seed(self, conn: Conn) -> bool:
        rules = read_seed(self.seed_dir)
        inserted = await conn.fetchval(
            "insert into callback_rules (id, version, body, changed_by) values (1, 1, $1, $2) "
            "on conflict (id) do nothing returning version",
            _body(rules),
            f"seed:{RULES_FILE}",
        )
        if inserted is None:
            return False
        await conn.execute(
            "insert into callback_rules_audit (version, body, changed_by, changed_fields) "
            "values (1, $1, $2, $3)",
            _body(rules),
            f"seed:{RULES_FILE}",
            ["(all)"],
        )
        return True

    async def _row(self, conn: Conn, *, lock: bool = False) -> Any:
        query = "select version, body, changed_by, changed_at from callback_rules where id = 1"
        row = await conn.fetchrow(query + (" for update" if lock else ""))
        if row is None:
            await self.seed(conn)
            row = await conn.fetchrow(query + (" for update" if lock else ""))
        assert row is not None
        return row

    def _parse(self, version: int, body: Any) -> CallbackRules:
        # Parsed once per version: the claim path reads the rules on every request.
        if self._parsed is None or self._parsed[0] != version:
            self._parsed = (version, CallbackRules.model_validate(body))
        return self._parsed[1]

    async def current(self, conn: Conn) -> CallbackRules:
        """The rules in force. Every claim reads them, so they are read from the database at most
        every reread_after_s: a change made on another replica applies there within that time."""
        if self._parsed is not None and time.monotonic() - self._read_at < self.reread_after_s:
            return self._parsed[1]
        row = await self._row(conn)
        self._read_at = time.monotonic()
        return self._parse(row["version"], row["body"])

    def forget(self) -> None:
        """After a change committed here: the next read goes to the database."""
        self._read_at = float("-inf")

    async def current_version(self, conn: Conn) -> RulesVersion:
        row = await self._row(conn)
        return RulesVersion(
            version=row["version"],
            changed_by=row["changed_by"],
            changed_at=row["changed_at"],
            rules=self._parse(row["version"], row["body"]),
        )

    async def replace(self, conn: Conn, rules: CallbackRules, *, changed_by: str) -> RulesVersion:
        """Put a validated document in force and audit it, in the caller's transaction."""
        before = await self._row(conn, lock=True)
        body = _body(rules)
        row = await conn.fetchrow(
            "update callback_rules set version = version + 1, body = $1, changed_by = $2, "
            "changed_at = now() where id = 1 returning version, changed_at",
            body,
            changed_by,
        )
        assert row is not None
        await conn.execute(
            "insert into callback_rules_audit (version, body, previous, changed_by, changed_fields) "
            "values ($1, $2, $3, $4, $5)",
            row["version"],
            body,
            before["body"],
            changed_by,
            _diff(before["body"], body),
        )
        return RulesVersion(
            version=row["version"], changed_by=changed_by, changed_at=row["changed_at"], rules=rules
        )

    async def history(self, conn: Conn, *, limit: int = 50) -> list[AuditEntry]:
        rows = await conn.fetch(
            "select version, changed_by, changed_at, changed_fields from callback_rules_audit "
            "order by id desc limit $1",
            limit,
        )
        return [
            AuditEntry(
                version=r["version"],
                changed_by=r["changed_by"],
                changed_at=r["changed_at"],
                changed_fields=list(r["changed_fields"]),
            )
            for r in rows
        ]
