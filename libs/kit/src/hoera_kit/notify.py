"""One LISTEN connection per process, for every channel a loop of the service wakes on.

PostgreSQL's NOTIFY is delivered at commit, so a word on `kit_outbox` means new rows are visible now.
The outbox relay, the delivery worker and a service's own listeners (the alerts' live dashboards)
register a channel here instead of each holding a connection of its own. The connection is a dedicated
one, outside the pool, so it never takes a slot the handlers need; it is checked every few seconds (a
cut network says nothing), re-opened with backoff when lost, and closed when the service stops. On
every (re)connect each channel's callbacks run once with an empty payload: whatever was notified
while nobody listened is looked at now. Polling covers the rest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import suppress

import asyncpg

from hoera_kit.loops import wait_any
from hoera_kit.retry import ShuttingDown, retrying

log = logging.getLogger(__name__)

Callback = Callable[[str], None]
"""Called with the notification's payload (an empty string on reconnect); must not block."""


class Notifications:
    def __init__(self, dsn: str, *, check_every_s: float = 2.0) -> None:
        self.dsn = dsn
        self.check_every_s = check_every_s
        self._callbacks: dict[str, list[Callback]] = {}
        self._conn: asyncpg.Connection | None = None
        self.listening = asyncio.Event()

    def on(self, channel: str, callback: Callback) -> None:
        """Call callback for every NOTIFY on channel (register before the service starts)."""
        self._callbacks.setdefault(channel, []).append(callback)

    def wake(self, channel: str) -> asyncio.Event:
        """An event set on every NOTIFY on channel: what a Loop waits on."""
        event = asyncio.Event()
        self.on(channel, lambda _payload: event.set())
        return event

    def _deliver(self, _conn: object, _pid: int, channel: str, payload: object) -> None:
        for callback in self._callbacks.get(channel, ()):
            try:
                callback(str(payload))
            except Exception:
                log.exception("notification callback for %s failed", channel)

    async def run(self, stop: asyncio.Event) -> None:
        """Hold the listening connection until stop; re-open it whenever it is lost."""
        if not self._callbacks:
            return
        while not stop.is_set():
            try:
                conn = await retrying(
                    lambda: asyncpg.connect(self.dsn, timeout=10),
                    what="LISTEN connection",
                    # Whatever keeps it from connecting (even a database not created yet), it tries again.
                    retry_on=lambda exc: isinstance(exc, Exception),
                    stop=stop,
                )
            except ShuttingDown:
                return
            self._conn = conn
            try:
                await self._listen(conn, stop)
            except Exception as exc:
                log.warning("LISTEN connection lost (%r); listening again", exc)
            finally:
                self.listening.clear()
                self._conn = None
                with suppress(Exception):
                    await asyncio.wait_for(conn.close(), timeout=2)
                if not conn.is_closed():
                    conn.terminate()

    async def _listen(self, conn: asyncpg.Connection, stop: asyncio.Event) -> None:
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _c: lost.set())
        for channel in self._callbacks:
            await conn.add_listener(channel, self._deliver)
        self.listening.set()
        for channel in self._callbacks:
            self._deliver(conn, 0, channel, "")
        while not (stop.is_set() or lost.is_set()):
            await wait_any(stop, self.check_every_s, lost)
            if not (stop.is_set() or lost.is_set()):
                await conn.fetchval("select 1", timeout=5)
