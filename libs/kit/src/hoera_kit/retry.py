"""Fault classification, and retries with capped exponential backoff and full jitter (tenacity).

A transient fault (database or broker unreachable, a timeout, a serialization conflict) is retried, never
dead-lettered: the event is good, the world is not. A poison message (undecodable, schema-invalid, too
deep or too large to read) is dead-lettered at once: retrying cannot make it good. Anything else is a bug
or a rule that refused the event; it is retried a few times (it may be transient after all) and then
dead-lettered with its error.

Every loop of the kit that waits for the world to come back does so through `retrying`, so the backoff,
the logging of a retry and the way a shutdown interrupts the wait are the same everywhere.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import TypeVar

import asyncpg
from aiokafka import errors as kafka_errors
from hoera_events.envelope import EventDecodeError
from pydantic import ValidationError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_random_exponential
from tenacity.stop import stop_after_attempt, stop_base, stop_never

log = logging.getLogger(__name__)
T = TypeVar("T")


class Fault(StrEnum):
    transient = "transient"
    poison = "poison"
    unknown = "unknown"


class PoisonError(Exception):
    """Raised for a record or event that can never be processed (undecodable, or naming an unknown tenant)."""


class ShuttingDown(Exception):
    """The service is stopping: a retry wait ends here instead of trying again."""


_TRANSIENT_PG = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.LockNotAvailableError,
    asyncpg.QueryCanceledError,
)

TRANSIENT: tuple[type[Exception], ...] = (
    *_TRANSIENT_PG,
    OSError,
    TimeoutError,
    kafka_errors.KafkaConnectionError,
    kafka_errors.KafkaTimeoutError,
)
"""The faults that say the world is away for a moment (retried; over HTTP a 503)."""

# RecursionError: JSON nested deeper than the interpreter can follow (b"[" * 100000). It says nothing
# about the world, only about the message, so it is the message's fault like any other undecodable one.
_POISON = (EventDecodeError, ValidationError, PoisonError, UnicodeError, RecursionError)


def classify(exc: BaseException) -> Fault:
    if isinstance(exc, _POISON):
        return Fault.poison
    if isinstance(exc, (*_TRANSIENT_PG, OSError, TimeoutError, asyncio.TimeoutError)):
        return Fault.transient
    if isinstance(exc, kafka_errors.KafkaError):
        retriable = getattr(exc, "retriable", False)
        connection = isinstance(exc, kafka_errors.KafkaConnectionError | kafka_errors.KafkaTimeoutError)
        return Fault.transient if retriable or connection else Fault.unknown
    if isinstance(exc, asyncpg.PostgresError):
        # Integrity and data errors are the event's fault, not the world's.
        return Fault.unknown
    return Fault.unknown


def is_transient(exc: BaseException) -> bool:
    return classify(exc) is Fault.transient


def backoff_delay(
    attempt: int, *, base: float = 0.1, cap: float = 30.0, rng: random.Random | None = None
) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**attempt)], so replicas do not retry in step.

    For work that is rescheduled as a row (a timer, a delivery) rather than waited for in a loop."""
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    ceiling = min(cap, base * (2 ** min(attempt, 62)))
    return (rng or random).uniform(0, ceiling)


class _stop_on_event(stop_base):
    def __init__(self, stop: asyncio.Event) -> None:
        self.stop = stop

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.stop.is_set()


def _sleeper(stop: asyncio.Event | None) -> Callable[[float], Awaitable[None]]:
    async def sleep(seconds: float) -> None:
        if stop is None:
            await asyncio.sleep(seconds)
            return
        try:
            await asyncio.wait_for(stop.wait(), timeout=seconds)
        except TimeoutError:
            return
        raise ShuttingDown()

    return sleep


async def retrying(
    op: Callable[[], Awaitable[T]],
    *,
    what: str,
    retry_on: Callable[[BaseException], bool] = is_transient,
    stop: asyncio.Event | None = None,
    attempts: int | None = None,
    base: float = 0.2,
    cap: float = 10.0,
    logger: logging.Logger | None = None,
    on_retry: Callable[[BaseException, int], None] | None = None,
) -> T:
    """Run op until it succeeds. A fault `retry_on` accepts is retried after a full-jitter exponential
    wait (capped); any other fault is raised at once. With `stop`, a shutdown ends the wait with
    ShuttingDown; with `attempts`, the last fault is raised after that many tries."""
    out = logger or log

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        # The same line for every retry of every loop: the log's rate limit folds a long outage.
        out.warning("%s: %r; retrying in %.2fs (attempt %d)", what, exc, delay, state.attempt_number)
        if on_retry is not None and exc is not None:
            on_retry(exc, state.attempt_number)

    stops: stop_base = stop_after_attempt(attempts) if attempts else stop_never
    if stop is not None:
        stops = stops | _stop_on_event(stop)
    async for attempt in AsyncRetrying(
        retry=retry_if_exception(retry_on),
        wait=wait_random_exponential(multiplier=base, max=cap),
        stop=stops,
        sleep=_sleeper(stop),
        before_sleep=before_sleep,
        reraise=True,
    ):
        with attempt:
            return await op()
    raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover
