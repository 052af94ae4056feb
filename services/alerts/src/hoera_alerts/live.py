"""R25 live: a per-team broadcast to the dashboards open on this replica.

The consumers and the API say "team X of tenant T changed" with PostgreSQL NOTIFY inside their
transaction (store.touch), so the word goes out only after the commit, never for a rollback, and
reaches every replica, whichever one consumed the event. The kit holds the one LISTEN connection of
the process (hoera_kit.notify) and hands each word to `on_notify`; on a word the hub waits a moment
(a Kafka batch touches a team many times), reads the team's dashboard once and offers it to every
stream of that team on this replica. When the service stops, `close` ends the refreshes and every
stream (the pages' browsers then reconnect, to another replica).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
TeamKey = tuple[str, str]  # (tenant, team)


class Stream(Generic[T]):
    """One open dashboard: always the team's latest state (an older one not yet sent is dropped)."""

    def __init__(self) -> None:
        self._latest: T | None = None
        self._ready = asyncio.Event()
        self.ended = False

    def offer(self, value: T) -> None:
        self._latest = value
        self._ready.set()

    def end(self) -> None:
        self.ended = True
        self._ready.set()

    async def next(self, timeout: float) -> T | None:
        """The latest state, or None when nothing changed within `timeout` or the stream ended."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), timeout)
        self._ready.clear()
        value, self._latest = self._latest, None
        return None if self.ended else value


class LiveHub(Generic[T]):
    def __init__(self, read: Callable[[str, str], Awaitable[T]], *, debounce_s: float = 0.25) -> None:
        self.read = read
        self.debounce_s = debounce_s
        self._streams: dict[TeamKey, set[Stream[T]]] = {}
        self._refreshing: dict[TeamKey, asyncio.Task[None]] = {}
        """The refresh of a team that has not started reading yet (a new word joins it)."""
        self._tasks: set[asyncio.Task[None]] = set()
        """Every refresh still running, reading or not (what close ends)."""
        self.closed = False

    @contextlib.asynccontextmanager
    async def subscribe(self, tenant: str, team_id: str) -> AsyncIterator[Stream[T]]:
        key = (tenant, team_id)
        stream: Stream[T] = Stream()
        if self.closed:
            stream.end()
        self._streams.setdefault(key, set()).add(stream)
        try:
            yield stream
        finally:
            streams = self._streams.get(key)
            if streams is not None:
                streams.discard(stream)
                if not streams:
                    del self._streams[key]

    def watched(self) -> list[TeamKey]:
        return list(self._streams)

    def on_notify(self, payload: str) -> None:
        """A NOTIFY on the live channel. Empty: the kit listens again after losing its connection,
        so whatever changed meanwhile is read again for every watched team."""
        if not payload:
            for key in self.watched():
                self.changed(key)
            return
        try:
            word: dict[str, Any] = json.loads(payload)
            key = (str(word["tenant"]), str(word["team"]))
        except (ValueError, KeyError, TypeError):
            log.warning("live: ignoring a malformed notification %r", payload)
            return
        self.changed(key)

    def changed(self, key: TeamKey) -> None:
        if not self.closed and key in self._streams and key not in self._refreshing:
            task = asyncio.create_task(self._refresh(key), name=f"live {key}")
            self._refreshing[key] = task
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _refresh(self, key: TeamKey) -> None:
        try:
            await asyncio.sleep(self.debounce_s)
            # Words arriving from here on start a new refresh: none is lost between read and send.
            self._refreshing.pop(key, None)
            if key not in self._streams:
                return
            snapshot = await self.read(*key)
            for stream in list(self._streams.get(key, ())):
                stream.offer(snapshot)
        except Exception:
            log.exception("live: refreshing %s failed", key)
        finally:
            if self._refreshing.get(key) is asyncio.current_task():
                del self._refreshing[key]

    async def close(self) -> None:
        """The service stops: no refresh runs on (the pool closes next) and every stream ends."""
        self.closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._refreshing.clear()
        for streams in self._streams.values():
            for stream in streams:
                stream.end()
