"""R25 live: a per-team broadcast to the dashboards open on this replica.

The consumers and the API say "team X changed" with PostgreSQL NOTIFY inside their transaction
(store.touch), so the word goes out only after the commit, never for a rollback, and reaches every
replica, whichever one consumed the event. Each replica holds one LISTEN connection while somebody
watches; on a word it waits a moment (a Kafka batch touches a team many times), reads the team's
dashboard once and hands it to every stream of that team on this replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic, TypeVar

import asyncpg
from hoera_kit.retry import backoff_delay

from hoera_alerts.store import LIVE_CHANNEL

log = logging.getLogger(__name__)

T = TypeVar("T")
TeamKey = tuple[str, str]  # (tenant, team)


class LiveHub(Generic[T]):
    def __init__(
        self,
        dsn: str,
        read: Callable[[str, str], Awaitable[T]],
        *,
        debounce_s: float = 0.25,
    ) -> None:
        self.dsn = dsn
        self.read = read
        self.debounce_s = debounce_s
        self._streams: dict[TeamKey, set[asyncio.Queue[T]]] = {}
        self._refreshing: dict[TeamKey, asyncio.Task[None]] = {}
        self._listener: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()

    @contextlib.asynccontextmanager
    async def subscribe(self, tenant: str, team_id: str) -> AsyncIterator[asyncio.Queue[T]]:
        """A queue that always holds the team's latest dashboard (older ones are dropped)."""
        key = (tenant, team_id)
        queue: asyncio.Queue[T] = asyncio.Queue(maxsize=1)
        self._streams.setdefault(key, set()).add(queue)
        if self._listener is None or self._listener.done():
            self._listener = asyncio.create_task(self._listen(), name="alerts-live-listener")
        try:
            yield queue
        finally:
            streams = self._streams.get(key)
            if streams is not None:
                streams.discard(queue)
                if not streams:
                    del self._streams[key]
            if not self._streams and self._listener is not None:
                self._listener.cancel()
                self._listener = None
                self.listening.clear()

    def watched(self) -> list[TeamKey]:
        return list(self._streams)

    async def close(self) -> None:
        for task in [*self._refreshing.values(), *([self._listener] if self._listener else [])]:
            task.cancel()
        self._streams.clear()

    def _on_notify(self, conn: object, pid: int, channel: str, payload: object) -> None:
        try:
            word: dict[str, Any] = json.loads(str(payload))
            key = (str(word["tenant"]), str(word["team"]))
        except (ValueError, KeyError, TypeError):
            log.warning("live: ignoring a malformed notification %r", payload)
            return
        self.changed(key)

    def changed(self, key: TeamKey) -> None:
        if key in self._streams and key not in self._refreshing:
            self._refreshing[key] = asyncio.create_task(self._refresh(key))

    async def _refresh(self, key: TeamKey) -> None:
        try:
            await asyncio.sleep(self.debounce_s)
            # Words arriving from here on start a new refresh: none is lost between read and send.
            self._refreshing.pop(key, None)
            if key not in self._streams:
                return
            snapshot = await self.read(*key)
            for queue in list(self._streams.get(key, ())):
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                queue.put_nowait(snapshot)
        except Exception:
            log.exception("live: refreshing %s failed", key)
        finally:
            if self._refreshing.get(key) is asyncio.current_task():
                del self._refreshing[key]

    async def _listen(self) -> None:
        failures = 0
        while True:
            try:
                conn = await asyncpg.connect(self.dsn)
            except Exception as exc:
                delay = backoff_delay(failures, base=0.2, cap=5.0)
                failures += 1
                log.warning("live: cannot listen yet (%r); retry in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                continue
            try:
                lost = asyncio.Event()
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(LIVE_CHANNEL, self._on_notify)
                failures = 0
                self.listening.set()
                # Whatever changed while nobody listened: every watched team is read again.
                for key in self.watched():
                    self.changed(key)
                while not lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), timeout=5.0)
                    if not lost.is_set():
                        await conn.fetchval("select 1", timeout=5)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("live: listener lost (%r); listening again", exc)
            finally:
                self.listening.clear()
                with contextlib.suppress(Exception):
                    await asyncio.shield(conn.close(timeout=2))
