"""The one dependency container every service's handlers take: `deps`.

Handlers are functions `async def resolve_complaint(deps: Deps, ...)`: they open a transaction with
`deps.transaction()`, read the time with `deps.now()` (a test sets the clock), find a tenant's
organisation and calendar in `deps.tenants`, its rules in `deps.rules`, and write events with
`deps.emit`. A service that needs more (its own settings, a customer directory) subclasses it as
`Deps` in its handlers.py, so every service's handlers read alike.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from hoera_kit.db import Conn
from hoera_kit.settings import KitSettings

if TYPE_CHECKING:
    from hoera_kit.directory import CustomerDirectory
    from hoera_kit.references import SurveyComments
    from hoera_kit.rules import RuleBook
    from hoera_kit.service import Service
    from hoera_kit.tenants import TenantRegistry

S = TypeVar("S", bound=KitSettings)
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class ServiceDeps(Generic[S]):
    def __init__(self, svc: Service[S], *, clock: Clock | None = None) -> None:
        self.svc = svc
        self.clock: Clock = clock or utc_now

    @property
    def settings(self) -> S:
        return self.svc.settings

    @property
    def tenants(self) -> TenantRegistry:
        return self.svc.tenants

    @property
    def rules(self) -> RuleBook:
        return self.svc.rules

    @property
    def directory(self) -> CustomerDirectory:
        return self.svc.directory

    @property
    def survey_comments(self) -> SurveyComments:
        """The customer's words the survey service keeps (events say only `commented`)."""
        return self.svc.survey_comments

    def now(self) -> datetime:
        return self.clock()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Conn]:
        """One unit of work: state, outbox rows and inbox records commit together or not at all."""
        async with self.svc.pool.acquire() as conn, conn.transaction():
            yield conn

    async def emit(self, conn: Conn, event: Any, **kwargs: Any) -> Any:
        return await self.svc.emit(conn, event, **kwargs)

    async def emit_many(self, conn: Conn, envelopes: Any) -> None:
        await self.svc.emit_many(conn, envelopes)
