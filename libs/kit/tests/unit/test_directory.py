"""The platform's customer directory over real HTTP: a small server in this process stands for the
platform, counting what it is asked and on how many connections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from hoera_devkit.testing import eventually, free_port
from hoera_kit.directory import HttpDirectory, lookup_all


@dataclass
class Platform:
    """Knows customers whose id does not start with "unknown"; answers 503 while `away`."""

    url: str = ""
    gets: list[str] = field(default_factory=list)
    posts: list[tuple[str, list[str]]] = field(default_factory=list)
    peers: set[int] = field(default_factory=set)
    away: bool = False

    def card(self, tenant: str, customer: str) -> dict[str, object]:
        return {"customer_id": customer, "email": f"{customer}@{tenant}.example", "language": "fr"}


@pytest.fixture
async def platform() -> AsyncIterator[Platform]:
    seen = Platform()
    app = FastAPI()

    @app.get("/{tenant}/customers/{customer}")
    async def one(tenant: str, customer: str, request: Request) -> Response:
        seen.gets.append(f"{tenant}/{customer}")
        seen.peers.add(request.client.port if request.client else 0)
        if customer.startswith("unknown"):
            return Response(status_code=404)
        return JSONResponse(seen.card(tenant, customer))

    @app.post("/{tenant}/customers:lookup")
    async def many(tenant: str, request: Request) -> dict[str, object]:
        if seen.away:
            raise HTTPException(status_code=503)
        ids = (await request.json())["customer_ids"]
        seen.posts.append((tenant, ids))
        seen.peers.add(request.client.port if request.client else 0)
        known = [seen.card(tenant, c) for c in ids if not c.startswith("unknown")]
        # A platform that says more than it was asked: the directory keeps only what it asked for.
        return {"customers": [*known, seen.card(tenant, "someone-else")]}

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        return bool(server.started)

    assert await eventually(started, bool, timeout=10, interval=0.02), "the platform's server started"
    seen.url = f"http://127.0.0.1:{port}"
    try:
        yield seen
    finally:
        server.should_exit = True
        await task


async def test_without_a_batch_url_each_customer_is_one_get_on_connections_kept_open(
    platform: Platform,
) -> None:
    directory = HttpDirectory(platform.url + "/{tenant}/customers/{customer_id}")
    wanted = [("acme", f"c-{i}") for i in range(30)] + [("demo", "c-1"), ("demo", "unknown-1")]
    try:
        found = await lookup_all(directory, [*wanted, ("acme", "c-0")])  # asked twice, looked up once
        again = await lookup_all(directory, [("acme", "c-5")])
    finally:
        await directory.aclose()
    assert sorted(platform.gets) == sorted(f"{t}/{c}" for t, c in [*wanted, ("acme", "c-5")])
    assert len(platform.peers) <= 20, "the client's connections are reused, never one per customer"
    assert found[("demo", "unknown-1")] is None
    contact = found[("demo", "c-1")]
    assert contact is not None and contact.email == "c-1@demo.example" and contact.language == "fr"
    assert set(found) == set(wanted)
    assert again[("acme", "c-5")] is not None


async def test_with_a_batch_url_a_tenants_customers_are_asked_a_hundred_at_a_time(platform: Platform) -> None:
    directory = HttpDirectory(
        platform.url + "/{tenant}/customers/{customer_id}",
        batch_url_template=platform.url + "/{tenant}/customers:lookup",
    )
    acme = [("acme", f"c-{i}") for i in range(250)] + [("acme", "unknown-7")]
    demo = [("demo", "c-1"), ("demo", "c-2")]
    try:
        found = await lookup_all(directory, [*acme, *demo])
    finally:
        await directory.aclose()
    assert platform.gets == []
    assert sorted((t, len(ids)) for t, ids in platform.posts) == [
        ("acme", 51),
        ("acme", 100),
        ("acme", 100),
        ("demo", 2),
    ]
    assert set(found) == {*acme, *demo}, "what was asked, nothing the platform added"
    assert found[("acme", "unknown-7")] is None
    contact = found[("acme", "c-249")]
    assert contact is not None and contact.email == "c-249@acme.example"
    other = found[("demo", "c-2")]
    assert other is not None and other.email == "c-2@demo.example"


async def test_a_directory_that_cannot_answer_raises_instead_of_calling_customers_unknown(
    platform: Platform,
) -> None:
    platform.away = True
    directory = HttpDirectory(
        platform.url + "/{tenant}/customers/{customer_id}",
        batch_url_template=platform.url + "/{tenant}/customers:lookup",
    )
    try:
        with pytest.raises(httpx.HTTPStatusError):
            await lookup_all(directory, [("acme", "c-1"), ("acme", "c-2")])
    finally:
        await directory.aclose()
