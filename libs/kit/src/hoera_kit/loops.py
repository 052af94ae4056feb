"""The background work of a service, as one mechanism: loops that poll, wake, back off and stop on time.

Every recurring job of the kit (the outbox relay, the timer scanner, the delivery worker, the gauges,
the lag monitor, the LISTEN connection) and of a service (the alerts' live streams) is a `Loop`: a
step that runs again at once when it says there is more, when its wake event is set (a NOTIFY), or
after its poll interval. A step that fails waits with full-jitter backoff (retry.retrying) and tries
again, so an outage never ends a loop and never floods the log. `Background` runs the loops of a
process and stops them together: it sets the stop event, lets each finish its current step within the
grace period, then cancels what is left and waits until every task is done, so every connection a
step holds is released before the pool closes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress

from hoera_kit.retry import ShuttingDown, retrying

log = logging.getLogger(__name__)

Step = Callable[[], Awaitable[bool]]
"""One round of work; True when there is more to do at once (a full batch)."""


def _any_fault(exc: BaseException) -> bool:
    # A loop outlives every fault: a transient one passes, a bug is logged (rate limited) and retried
    # with backoff, so it costs a few lines a minute, not a dead loop nobody notices.
    return isinstance(exc, Exception)


async def wait_any(stop: asyncio.Event, seconds: float | None, *events: asyncio.Event) -> None:
    """Sleep for seconds, or less when stop or any of events is set."""
    waiters = [asyncio.ensure_future(e.wait()) for e in (stop, *events)]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)


class Loop:
    def __init__(
        self,
        name: str,
        step: Step,
        *,
        interval_s: float,
        wake: asyncio.Event | None = None,
        backoff_cap_s: float = 10.0,
    ) -> None:
        self.name = name
        self.step = step
        self.interval_s = interval_s
        self.wake = wake
        self.backoff_cap_s = backoff_cap_s
        self.rounds = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if self.wake is not None:
                self.wake.clear()
            try:
                more = await retrying(
                    self.step, what=self.name, retry_on=_any_fault, stop=stop, cap=self.backoff_cap_s
                )
            except ShuttingDown:
                return
            except Exception:
                if stop.is_set():  # the last failed try of a loop that is stopping anyway
                    return
                raise
            self.rounds += 1
            if more:
                # Let other tasks run between full batches (a step that never awaits would starve them).
                await asyncio.sleep(0)
                continue
            events = (self.wake,) if self.wake is not None else ()
            await wait_any(stop, self.interval_s, *events)


class Background:
    """The loops and long-lived tasks of one process, started together and stopped within a grace period."""

    def __init__(self, *, grace_s: float) -> None:
        self.grace_s = grace_s
        self.stopping = asyncio.Event()
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, name: str, run: Callable[[asyncio.Event], Awaitable[None]]) -> None:
        if name in self._tasks and not self._tasks[name].done():
            raise RuntimeError(f"background task {name} is already running")
        self._tasks[name] = asyncio.create_task(self._guard(name, run), name=name)

    def loop(self, loop: Loop) -> Loop:
        self.start(loop.name, loop.run)
        return loop

    async def _guard(self, name: str, run: Callable[[asyncio.Event], Awaitable[None]]) -> None:
        try:
            await run(self.stopping)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Loops retry their own faults; reaching here is a bug in the loop itself.
            log.exception("background task %s ended with an error", name)

    @property
    def running(self) -> list[str]:
        return [name for name, task in self._tasks.items() if not task.done()]

    async def stop(self, grace_s: float | None = None) -> list[str]:
        """Stop everything; returns the names of tasks that had to be cancelled after the grace period."""
        self.stopping.set()
        tasks = [t for t in self._tasks.values() if not t.done()]
        if not tasks:
            return []
        _, late = await asyncio.wait(tasks, timeout=self.grace_s if grace_s is None else grace_s)
        for task in late:
            task.cancel()
        for task in late:
            with suppress(asyncio.CancelledError, Exception):
                await task
        names = [t.get_name() for t in late]
        if names:
            log.warning("background tasks cancelled after the grace period: %s", ", ".join(names))
        return names
