"""Reading and replaying dead-letter topics after the fault is fixed.

A dead letter keeps the original value and headers, plus hoera-dlq-* headers with the error and the
original topic, partition, offset and consumer. Replay publishes the original value and headers back to
the original topic; consumers that already processed the event id ignore it (the inbox), the one that
dead-lettered it gets a fresh chance (its poison record is keyed by offset, and the replay has a new one).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from hoera_kit import kafka
from hoera_kit.outbox import make_producer


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k == name:
                return v.decode("utf-8", "replace")
        return None

    @property
    def original_topic(self) -> str | None:
        return self.header("hoera-dlq-topic")

    def summary(self) -> dict[str, Any]:
        # The type is read from the structured CloudEvent in the value (no ce_type header is sent);
        # a letter is often poison, so a value that is not a JSON object simply has no type.
        try:
            message = json.loads(self.value)
        except (ValueError, RecursionError):
            message = None
        event_type = message.get("type") if isinstance(message, dict) else None
        return {
            "partition": self.partition,
            "offset": self.offset,
            "error": self.header("hoera-dlq-error"),
            "original": f"{self.original_topic}[{self.header('hoera-dlq-partition')}]"
            f"@{self.header('hoera-dlq-offset')}",
            "consumer": self.header("hoera-dlq-consumer"),
            "at": self.header("hoera-dlq-at"),
            "type": event_type if isinstance(event_type, str) else None,
            "value": self.value[:300].decode("utf-8", "replace"),
        }


async def list_letters(client: kafka.Client, topic: str, *, limit: int = 1000) -> list[DeadLetter]:
    """Everything currently in a dead-letter topic (read without a consumer group)."""
    consumer = AIOKafkaConsumer(**kafka.options(client), enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        if partitions is None:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        letters: list[DeadLetter] = []
        remaining = {tp for tp in tps if ends[tp] > 0}
        while remaining and len(letters) < limit:
            batch = await consumer.getmany(timeout_ms=1000, max_records=500)
            if not batch:
                remaining = {tp for tp in remaining if await consumer.position(tp) < ends[tp]}
                continue
            for tp, records in batch.items():
                for r in records:
                    letters.append(DeadLetter(r.partition, r.offset, r.key, r.value or b"", list(r.headers)))
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return letters[:limit]
    finally:
        await consumer.stop()


async def replay(
    bootstrap: kafka.Client,
    topic: str,
    *,
    offsets: set[int] | None,
    partition: int | None = None,
) -> int:
    letters = await list_letters(bootstrap, topic, limit=1_000_000)
    chosen = [
        d
        for d in letters
        if (offsets is None or d.offset in offsets) and (partition is None or d.partition == partition)
    ]
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        futures = []
        for d in chosen:
            original = d.original_topic
            if not original:
                continue
            headers = [(k, v) for k, v in d.headers if not k.startswith("hoera-dlq-")]
            headers.append(("hoera-replayed-from", f"{topic}@{d.partition}:{d.offset}".encode()))
            futures.append(await producer.send(original, value=d.value, key=d.key, headers=headers))
        await asyncio.gather(*futures)
        return len(futures)
    finally:
        await producer.stop()
