"""R25 live: a word on the live channel reaches the open streams of that team of that tenant only,
once per burst; when the service stops, the refreshes end and every open stream ends."""

from __future__ import annotations

import asyncio
import json

from hoera_alerts.live import LiveHub


def word(tenant: str, team: str) -> str:
    return json.dumps({"tenant": tenant, "team": team})


class Reads:
    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls: list[tuple[str, str]] = []

    async def __call__(self, tenant: str, team: str) -> str:
        self.calls.append((tenant, team))
        await asyncio.sleep(self.delay)
        return f"{tenant}/{team}#{len(self.calls)}"


async def test_a_burst_of_words_is_read_once_and_reaches_only_that_tenants_team() -> None:
    reads = Reads()
    hub: LiveHub[str] = LiveHub(reads, debounce_s=0.05)
    async with hub.subscribe("demo", "team-nl-1") as ours, hub.subscribe("acme", "team-nl-1") as theirs:
        for _ in range(5):
            hub.on_notify(word("demo", "team-nl-1"))
        hub.on_notify(word("demo", "team-fr-1"))  # nobody watches it: never read
        assert await ours.next(timeout=2) == "demo/team-nl-1#1"
        assert await theirs.next(timeout=0.2) is None
    assert reads.calls == [("demo", "team-nl-1")]
    assert hub.watched() == []


async def test_listening_again_reads_every_watched_team() -> None:
    reads = Reads()
    hub: LiveHub[str] = LiveHub(reads, debounce_s=0)
    async with hub.subscribe("demo", "team-nl-1") as a, hub.subscribe("acme", "team-x") as b:
        hub.on_notify("")  # the kit's LISTEN connection was lost and is back
        assert (await a.next(timeout=2) or "").startswith("demo/team-nl-1#")
        assert (await b.next(timeout=2) or "").startswith("acme/team-x#")
    assert sorted(reads.calls) == [("acme", "team-x"), ("demo", "team-nl-1")]


async def test_a_malformed_word_is_ignored() -> None:
    reads = Reads()
    hub: LiveHub[str] = LiveHub(reads, debounce_s=0)
    async with hub.subscribe("demo", "team-nl-1") as stream:
        for bad in ("not json", json.dumps({"team": "team-nl-1"}), "[]"):
            hub.on_notify(bad)
        assert await stream.next(timeout=0.2) is None
    assert reads.calls == []


async def test_closing_ends_the_refreshes_and_every_open_stream_at_once() -> None:
    reads = Reads(delay=30)  # a read that would outlive any grace period
    hub: LiveHub[str] = LiveHub(reads, debounce_s=0)
    async with hub.subscribe("demo", "team-nl-1") as stream:
        hub.on_notify(word("demo", "team-nl-1"))
        await asyncio.sleep(0.05)
        assert reads.calls  # the refresh is under way
        waiting = asyncio.create_task(stream.next(timeout=60))
        await asyncio.wait_for(hub.close(), timeout=1)
        assert await asyncio.wait_for(waiting, timeout=1) is None
        assert stream.ended
        hub.on_notify(word("demo", "team-nl-1"))  # too late: nothing starts any more
    assert len(reads.calls) == 1
    assert [t for t in asyncio.all_tasks() if t.get_name().startswith("live ")] == []
