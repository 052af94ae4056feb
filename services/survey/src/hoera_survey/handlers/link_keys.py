"""The survey links' signing keys, per tenant (docs/architecture.md, Edges): made on first need with
`secrets`, kept in this service's database and never sent anywhere, rotated by the tenant's administrator.

The newest key signs; it and the one before it verify, so a rotation leaves the links already sent
working until they expire, and a second rotation ends them (a key that leaked is rotated twice)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from hoera_kit.db import Conn
from hoera_kit.refusals import Conflict

from hoera_survey import links, store

if TYPE_CHECKING:
    from hoera_survey.handlers import Deps

FIRST_KEY_BY = "survey"
"""Who made a tenant's first key: the service itself, when the tenant's first link was signed."""


async def signing_key(deps: Deps, conn: Conn, tenant: str) -> links.LinkKey:
    """The tenant's newest key; its first one is made here, by whichever transaction needs it first
    (a racing one waits on the insert and then finds the winner's key)."""
    key = await store.signing_key(conn, tenant)
    if key is None:
        await store.add_link_key(conn, links.new_key(tenant), 1, FIRST_KEY_BY)
        key = await store.signing_key(conn, tenant)
    assert key is not None, "a first key was just made"
    return key


async def signing_keys(deps: Deps, conn: Conn, tenants: Iterable[str]) -> dict[str, links.LinkKey]:
    """`signing_key` for every tenant of a batch: one read, and a first key made where one is missing."""
    wanted = sorted(set(tenants))
    found = await store.signing_keys(conn, wanted) if wanted else {}
    for tenant in wanted:
        if tenant not in found:
            found[tenant] = await signing_key(deps, conn, tenant)
    return found


async def link_key(deps: Deps, conn: Conn, token: str) -> links.LinkKey | None:
    """The key a link names, while it still verifies (None for an unknown or retired one)."""
    key_id = links.key_id(token)
    return await store.link_key(conn, key_id) if key_id is not None else None


async def rotate(deps: Deps, tenant: str, by: str) -> list[store.KeyRow]:
    """A new signing key; the previous one keeps verifying, the ones before it are retired."""
    async with deps.transaction() as conn:
        newest = await store.newest_generation(conn, tenant)
        if not await store.add_link_key(conn, links.new_key(tenant), newest + 1, by):
            raise Conflict("the link keys were rotated by someone else meanwhile: look at them again")
        await store.retire_link_keys(conn, tenant, older_than=newest, at=deps.now())
        return await store.link_keys(conn, tenant)


async def keys(deps: Deps, tenant: str) -> list[store.KeyRow]:
    async with deps.transaction() as conn:
        return await store.link_keys(conn, tenant)
