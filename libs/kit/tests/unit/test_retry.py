"""Backoff bounds and fault classification (pure, property-based)."""

from __future__ import annotations

import random

import asyncpg
from aiokafka import errors as kafka_errors
from hoera_events.envelope import EventDecodeError
from hoera_kit.retry import Fault, PoisonError, backoff_delay, classify
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError


@given(
    attempt=st.integers(min_value=0, max_value=10_000),
    base=st.floats(min_value=0.001, max_value=10),
    cap=st.floats(min_value=0.01, max_value=600),
    seed=st.integers(),
)
def test_a_backoff_delay_is_never_negative_nor_above_its_cap_or_exponential_ceiling(
    attempt: int, base: float, cap: float, seed: int
) -> None:
    delay = backoff_delay(attempt, base=base, cap=cap, rng=random.Random(seed))
    assert 0 <= delay <= min(cap, base * 2 ** min(attempt, 62))


@given(seed=st.integers())
def test_backoff_grows_with_attempts_on_average(seed: int) -> None:
    rng = random.Random(seed)
    early = sum(backoff_delay(1, base=0.1, cap=100, rng=rng) for _ in range(200))
    late = sum(backoff_delay(8, base=0.1, cap=100, rng=rng) for _ in range(200))
    assert late > early


class _Model(BaseModel):
    n: int


def _validation_error() -> ValidationError:
    try:
        _Model.model_validate({"n": "x"})
    except ValidationError as exc:
        return exc
    raise AssertionError


@given(
    st.sampled_from(
        [
            ConnectionRefusedError(),
            TimeoutError(),
            OSError("network unreachable"),
            asyncpg.CannotConnectNowError("starting up"),
            asyncpg.ConnectionDoesNotExistError("closed"),
            asyncpg.InterfaceError("connection is closed"),
            asyncpg.SerializationError("conflict"),
            asyncpg.DeadlockDetectedError("deadlock"),
            asyncpg.AdminShutdownError("shutdown"),
            kafka_errors.KafkaConnectionError(),
            kafka_errors.KafkaTimeoutError(),
            kafka_errors.NotLeaderForPartitionError(),
        ]
    )
)
def test_unreachable_databases_brokers_and_timeouts_are_transient(exc: BaseException) -> None:
    assert classify(exc) is Fault.transient


@given(
    st.sampled_from(
        [
            EventDecodeError("data.amount: float"),
            PoisonError("unknown tenant"),
            UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
        ]
    )
)
def test_undecodable_and_schema_invalid_messages_are_poison(exc: BaseException) -> None:
    assert classify(exc) is Fault.poison


def test_a_schema_validation_error_is_poison() -> None:
    assert classify(_validation_error()) is Fault.poison


@given(st.sampled_from([KeyError("x"), ValueError("rule"), asyncpg.UniqueViolationError("dup")]))
def test_bugs_and_refusals_are_neither_transient_nor_poison(exc: BaseException) -> None:
    assert classify(exc) is Fault.unknown
