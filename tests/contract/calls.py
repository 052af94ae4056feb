"""Sending a case's request and reading what came back, without hanging on an event stream."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from .matrix import Access, Call, Probe, build
from .tokens import bearer, caller_headers
from .world import World, compact


@dataclass(frozen=True)
class Answer:
    status: int
    text: str
    """The body; JSON compacted (world.compact), nothing for an event stream."""

    def __str__(self) -> str:
        return f"{self.status} {self.text[:400]}"


async def _receive(http: httpx.AsyncClient, request: httpx.Request) -> Answer:
    resp = await http.send(request, stream=True)
    try:
        # A live stream the caller may read never ends: its status and headers are the answer.
        if resp.headers.get("content-type", "").startswith("text/event-stream"):
            return Answer(resp.status_code, "")
        await resp.aread()
    finally:
        await resp.aclose()
    try:
        return Answer(resp.status_code, compact(resp.json()))
    except ValueError:
        return Answer(resp.status_code, resp.text)


async def send(
    http: httpx.AsyncClient, service: str, method: str, path: str, access: Access, call: Call
) -> Answer:
    values = await build(access.path, call) or {}
    body = await build(access.body, call)
    request = http.build_request(
        method,
        call.world.url(service, path.format(**values)),
        params=await build(access.query, call),
        json=body,
        data=await build(access.form, call),
        headers={**caller_headers(call.role, call.scope), **(await build(access.headers, call) or {})},
    )
    return await _receive(http, request)


@dataclass(frozen=True)
class State:
    status: int
    etag: str | None
    body: Any


async def observe(http: httpx.AsyncClient, world: World, probe: Probe, call: Call) -> State:
    """What a reader of the fixture team and tenant sees of the object (with its version, if any)."""
    resp = await http.get(world.url(probe.service, probe.path(call)), headers=bearer(probe.role))
    json = resp.headers.get("content-type", "").startswith("application/json")
    return State(resp.status_code, resp.headers.get("etag"), resp.json() if json else resp.text)
