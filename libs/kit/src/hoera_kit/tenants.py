"""Every service's replica of the tenants and their organisations, read from two compacted topics.

Intake owns tenants and organisations and publishes each change as a whole snapshot (TenantDefined,
OrganisationChanged) keyed by tenant on a compacted topic. Each service reads both topics from the
beginning into memory before it takes its first event, then follows them; no service reads another's
tables. An event or request for a tenant the replica does not know is refused: before refusing, the
replica reads the topics up to their current end once more, so a tenant created a moment ago is
never mistaken for an unknown one (intake answers the creation only after its snapshot is on the
topic).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress

from aiokafka import AIOKafkaConsumer, TopicPartition
from hoera_events.envelope import EventDecodeError, decode
from hoera_events.organisation import Organisation, OrganisationChanged, TenantDefined
from hoera_events.registry import topic_for

from hoera_kit import kafka
from hoera_kit.calendar import BusinessCalendar
from hoera_kit.retry import PoisonError, ShuttingDown, retrying

log = logging.getLogger(__name__)

TENANTS_TOPIC = topic_for(TenantDefined)
UNKNOWN_RECHECK_S = 5.0
ORGANISATIONS_TOPIC = topic_for(OrganisationChanged)


class UnknownTenant(PoisonError):
    """No tenant of that name is defined (or it was deactivated)."""


class TenantRegistry:
    def __init__(self, bootstrap: kafka.Client) -> None:
        self.bootstrap = bootstrap
        self._tenants: dict[str, TenantDefined] = {}
        self._organisations: dict[str, OrganisationChanged] = {}
        self._calendars: dict[str, BusinessCalendar] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._lock = asyncio.Lock()
        self._looked_up: dict[str, float] = {}
        self.ready = asyncio.Event()

    # ---- what services ask --------------------------------------------------------------------
    def tenant(self, tenant_id: str) -> TenantDefined | None:
        found = self._tenants.get(tenant_id)
        return found if found is not None and found.active else None

    def definition(self, tenant_id: str) -> TenantDefined | None:
        """The latest definition, active or not (for the owner comparing it with its own)."""
        return self._tenants.get(tenant_id)

    def template_of(self, tenant_id: str) -> str | None:
        found = self._tenants.get(tenant_id)
        return found.template.value if found is not None else None

    @property
    def tenant_ids(self) -> list[str]:
        return sorted(t for t, d in self._tenants.items() if d.active)

    def organisation(self, tenant_id: str) -> Organisation:
        """The tenant's organisation; an empty one with the default calendar until intake sends one."""
        found = self._organisations.get(tenant_id)
        return found.organisation if found is not None else Organisation()

    def organisation_version(self, tenant_id: str) -> int:
        found = self._organisations.get(tenant_id)
        return found.version if found is not None else 0

    def calendar(self, tenant_id: str) -> BusinessCalendar:
        """The tenant's business calendar, kept while its rules stay the same: it computes its public
        holidays once (a calendar made per call computed them for every invitation)."""
        rules = self.organisation(tenant_id).calendar
        held = self._calendars.get(tenant_id)
        if held is None or held.rules != rules:
            held = self._calendars[tenant_id] = BusinessCalendar(rules)
        return held

    async def require(self, tenant_id: str) -> TenantDefined:
        """The tenant, or UnknownTenant after one more read of the topics to their end (at most once
        every few seconds per name: a stream of events or requests for an unknown tenant costs no more)."""
        found = await self.known(tenant_id)
        if found is None:
            raise UnknownTenant(f"tenant {tenant_id!r} is not defined here")
        return found

    async def known(self, tenant_id: str) -> TenantDefined | None:
        found = self.tenant(tenant_id)
        if found is not None:
            return found
        now = asyncio.get_running_loop().time()
        if now - self._looked_up.get(tenant_id, -UNKNOWN_RECHECK_S) < UNKNOWN_RECHECK_S:
            return None
        await self.catch_up()
        self._looked_up[tenant_id] = asyncio.get_running_loop().time()
        if len(self._looked_up) > 10_000:  # names of unknown tenants are not kept for ever
            self._looked_up.clear()
        return self.tenant(tenant_id)

    def apply(self, event: TenantDefined | OrganisationChanged) -> None:
        if isinstance(event, TenantDefined):
            self._tenants[event.tenant_id] = event
            return
        # The topic is keyed by tenant: its order is the order of the changes. The owner (intake) also
        # applies its own committed change at once, so an older version still on its way is ignored.
        held = self._organisations.get(event.tenant_id)
        if held is None or event.version >= held.version:
            self._organisations[event.tenant_id] = event

    # ---- following the topics -----------------------------------------------------------------
    async def _start(self) -> AIOKafkaConsumer:
        if self._consumer is not None:
            return self._consumer
        consumer = AIOKafkaConsumer(**kafka.options(self.bootstrap), enable_auto_commit=False)
        await consumer.start()
        try:
            tps: list[TopicPartition] = []
            for topic in (TENANTS_TOPIC, ORGANISATIONS_TOPIC):
                parts = consumer.partitions_for_topic(topic)
                if not parts:
                    await consumer._client.force_metadata_update()
                    parts = consumer.partitions_for_topic(topic) or set()
                if not parts:
                    raise ConnectionError(f"topic {topic} is not there (yet)")
                tps += [TopicPartition(topic, p) for p in sorted(parts)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer
        return consumer

    async def _read(self, consumer: AIOKafkaConsumer, timeout_ms: int) -> int:
        batch = await consumer.getmany(timeout_ms=timeout_ms, max_records=1000)
        n = 0
        for records in batch.values():
            for record in records:
                try:
                    env = decode(record.value or b"")
                except (EventDecodeError, RecursionError):
                    log.error("tenant registry: skipping an unreadable record at %s", record.offset)
                    continue
                if (
                    isinstance(env.data, TenantDefined | OrganisationChanged)
                    and env.tenant == env.data.tenant_id
                ):
                    self.apply(env.data)
                    n += 1
        return n

    async def catch_up(self, timeout_s: float = 30.0) -> None:
        """Read both topics up to their end offsets as of now."""
        async with self._lock:
            consumer = await retrying(self._start, what="tenant registry", attempts=5)
            tps = list(consumer.assignment())
            ends = await consumer.end_offsets(tps)
            async with asyncio.timeout(timeout_s):
                while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
                    await self._read(consumer, 200)
        self.ready.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Follow the topics until stop (a background task of the Service)."""
        try:
            while not stop.is_set():
                try:
                    consumer = await retrying(
                        self._start,
                        what="tenant registry",
                        retry_on=lambda e: isinstance(e, Exception),
                        stop=stop,
                    )
                except ShuttingDown:
                    return
                try:
                    async with self._lock:
                        await self._read(consumer, 500)
                except Exception as exc:
                    log.warning("tenant registry: %r; reading again", exc)
                    await self.close()
                    await asyncio.sleep(1.0)
                await asyncio.sleep(0)
        finally:
            await self.close()

    async def close(self) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            with suppress(Exception):
                await consumer.stop()
