"""The asyncpg pool and the one way a service opens a transaction."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# A pooled connection is a proxy of a Connection; handlers accept either.
Conn = asyncpg.Connection | PoolConnectionProxy
Pool = asyncpg.Pool


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb in and out as Python values, so SQL code never calls json.dumps by hand.
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10, **kw: Any) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        command_timeout=30,
        **kw,
    )
    assert pool is not None
    return pool


@asynccontextmanager
async def transaction(pool: asyncpg.Pool) -> AsyncIterator[Conn]:
    """One unit of work: state, outbox rows and inbox records commit together or not at all."""
    async with pool.acquire() as conn, conn.transaction():
        yield conn


async def count_changed(conn: Conn, statement: str, *args: Any) -> int:
    """How many rows an UPDATE or DELETE changed, in the same round trip: the statement runs in a CTE
    with `returning 1` added (erasure and retention report counts per kind)."""
    return int(await conn.fetchval(f"with hit as ({statement} returning 1) select count(*) from hit", *args))
