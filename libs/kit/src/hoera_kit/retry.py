"""Fault classification and capped exponential backoff with full jitter.

A transient fault (database or broker unreachable, a timeout, a serialization conflict) is retried, never
dead-lettered: the event is good, the world is not. A poison message (undecodable, schema-invalid) is
dead-lettered at once: retrying cannot make it good. Anything else is a bug or a rule that refused the
event; it is retried a few times (it may be transient after all) and then dead-lettered with its error.
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

log = logging.getLogger(__name__)
T = TypeVar("T")


class Fault(StrEnum):
    transient = "transient"
    poison = "poison"
    unknown = "unknown"


class PoisonError(Exception):
    """Raised by a handler for an event that can never be processed (e.g. it names an unknown tenant)."""


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


def classify(exc: BaseException) -> Fault:
    if isinstance(exc, EventDecodeError | ValidationError | PoisonError | UnicodeDecodeError):
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


def backoff_delay(
    attempt: int, *, base: float = 0.1, cap: float = 30.0, rng: random.Random | None = None
) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**attempt)], so replicas do not retry in step."""
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    ceiling = min(cap, base * (2 ** min(attempt, 62)))
    return (rng or random).uniform(0, ceiling)


async def retry_transient(
    op: Callable[[], Awaitable[T]],
    *,
    what: str,
    base: float = 0.1,
    cap: float = 10.0,
    on_retry: Callable[[BaseException, int], None] | None = None,
) -> T:
    """Run op until it succeeds or fails with a fault that is not transient (which is raised)."""
    attempt = 0
    while True:
        try:
            return await op()
        except Exception as exc:
            if classify(exc) is not Fault.transient:
                raise
            delay = backoff_delay(attempt, base=base, cap=cap)
            log.warning("%s: transient fault, retrying in %.2fs (attempt %d): %r", what, delay, attempt, exc)
            if on_retry is not None:
                on_retry(exc, attempt)
            attempt += 1
            await asyncio.sleep(delay)
