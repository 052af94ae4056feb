"""Kafka subscriptions: FastStream fetches batches, the kit decides what is processed and committed.

FastStream runs the consumer group (subscription, rebalances, the fetch loop, a graceful stop that
waits for the batch in hand). Its own parsing is bypassed: it decoded every record's JSON and headers
before the handler ran, so one record it could not read (JSON nested 100,000 deep, a header that is
not UTF-8) failed the whole batch before the kit could dead-letter it, and the batch was retried for
ever. Here the parser keeps the records as bytes and the decoder decodes nothing; the kit then

- handles the batch in one inbox transaction and, when that fails, splits it by partition and gives
  each partition its own transaction, so a partition never waits behind another partition's failure;
- commits, per partition, exactly the offset after the last record that was processed or dead-lettered
  (never past one that was neither);
- rewinds a partition whose transaction failed (the database away, a bug) to its first record and
  pauses it with full-jitter backoff, while the other partitions go on.

Poison never reaches this level: the inbox dead-letters it inside the transaction (hoera_kit.inbox).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage as InjectedMessage
from faststream.kafka.message import KafkaMessage

from hoera_kit import kafka, metrics
from hoera_kit.inbox import InboxConsumer
from hoera_kit.retry import backoff_delay

log = logging.getLogger(__name__)


async def _keep_raw(records: tuple[ConsumerRecord[Any, Any], ...]) -> KafkaMessage:
    """The batch as FastStream's message, without reading a byte of it (the inbox judges each record)."""
    first = records[0] if records else None
    return KafkaMessage(
        raw_message=records,
        body=b"",
        message_id=f"{first.topic}-{first.partition}-{first.offset}" if first else "",
        consumer=None,  # type: ignore[arg-type]  # the kit commits through the subscriber's consumer
    )


async def _decode_nothing(msg: KafkaMessage) -> None:
    return None


def by_partition(records: Sequence[ConsumerRecord[Any, Any]]) -> dict[TopicPartition, list[Any]]:
    """Records grouped per partition, each group in offset order (as Kafka delivered them)."""
    groups: dict[TopicPartition, list[Any]] = {}
    for record in records:
        groups.setdefault(TopicPartition(record.topic, record.partition), []).append(record)
    return groups


class Subscription:
    """One consumer group of a service: its topics, its inbox, and the per-partition commit logic."""

    def __init__(
        self,
        inbox: InboxConsumer,
        topics: list[str],
        *,
        group: str,
        service: str,
    ) -> None:
        self.inbox = inbox
        self.topics = topics
        self.group = group
        self.service = service
        self._subscriber: Any = None
        self._failures: dict[TopicPartition, int] = {}
        self._resumes: dict[TopicPartition, asyncio.TimerHandle] = {}
        self.processed_batches = 0

    def attach(self, broker: KafkaBroker, *, batch_size: int, batch_timeout_ms: int) -> None:
        self._subscriber = broker.subscriber(
            *self.topics,
            group_id=self.group,
            batch=True,
            max_records=batch_size,
            batch_timeout_ms=batch_timeout_ms,
            auto_offset_reset="earliest",
            # The kit commits offsets itself, per partition, after each partition's transaction.
            ack_policy=AckPolicy.MANUAL,
            parser=_keep_raw,
            decoder=_decode_nothing,
        )
        self._subscriber(self.on_batch)

    @property
    def consumer(self) -> AIOKafkaConsumer | None:
        return getattr(self._subscriber, "consumer", None)

    async def on_batch(self, msg: InjectedMessage) -> None:
        records = msg.raw_message
        if not isinstance(records, tuple) or not records:
            return
        consumer = self.consumer
        groups = by_partition(records)
        done: dict[TopicPartition, int] = {}
        if len(groups) > 1 and await self._all_at_once(groups):
            done = {tp: group[-1].offset + 1 for tp, group in groups.items()}
            groups = {}
        for tp, partition_records in groups.items():
            try:
                await self.inbox.process(partition_records)
            except asyncio.CancelledError:
                # Stopping mid-transaction: nothing of this partition is committed, it is redelivered.
                raise
            except Exception as exc:
                self._hold_back(consumer, tp, partition_records[0].offset, exc)
                continue
            done[tp] = partition_records[-1].offset + 1
            self._failures.pop(tp, None)
        self.processed_batches += 1
        if done and consumer is not None:
            try:
                await consumer.commit(done)
            except Exception as exc:
                # A rebalance took the partitions away: the new owner re-reads them and the inbox makes
                # the repeat a no-op. Nothing is lost by not committing.
                log.warning("%s: commit of %d partition(s) failed: %r", self.group, len(done), exc)

    async def _all_at_once(self, groups: dict[TopicPartition, list[Any]]) -> bool:
        """The whole batch in one transaction (a batch spread over many partitions would otherwise
        pay a transaction per partition). False when it failed: then each partition goes on its own,
        so one partition's trouble holds back only that partition."""
        try:
            await self.inbox.process([record for group in groups.values() for record in group])
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info(
                "%s: batch over %d partitions failed (%r); partition by partition",
                self.group,
                len(groups),
                exc,
            )
            return False
        for tp in groups:
            self._failures.pop(tp, None)
        return True

    def _hold_back(
        self, consumer: AIOKafkaConsumer | None, tp: TopicPartition, first_offset: int, exc: BaseException
    ) -> None:
        attempt = self._failures.get(tp, 0)
        self._failures[tp] = attempt + 1
        delay = backoff_delay(attempt, base=0.2, cap=30.0)
        log.warning(
            "%s: %s[%d] failed (%r); rewound to %d, paused for %.1fs",
            self.group,
            tp.topic,
            tp.partition,
            exc,
            first_offset,
            delay,
        )
        if consumer is None:
            return
        with suppress(Exception):
            consumer.seek(tp, first_offset)
            consumer.pause(tp)
            old = self._resumes.pop(tp, None)
            if old is not None:
                old.cancel()
            self._resumes[tp] = asyncio.get_running_loop().call_later(delay, self._resume, tp)

    def _resume(self, tp: TopicPartition) -> None:
        self._resumes.pop(tp, None)
        consumer = self.consumer
        if consumer is None:
            return
        # After a rebalance the partition may belong to another member now: nothing to resume then.
        with suppress(Exception):
            consumer.resume(tp)

    def close(self) -> None:
        for handle in self._resumes.values():
            handle.cancel()
        self._resumes.clear()


def record_lag(service: str, consumer_id: str, lag_by_topic: dict[str, int]) -> None:
    for topic, lag in lag_by_topic.items():
        metrics.CONSUMER_LAG.labels(service, consumer_id, topic).set(lag)


class LagMonitor:
    """Reads each group's lag off the broker: the partitions' end offsets minus the group's committed
    offsets (not what the consumer last saw, which stops changing exactly when the consumer does).

    A group with lag whose committed offsets have not moved for `stall_after_s` is stalled: the gauge
    hoera_consumer_stalled reads 1 and `healthy()` turns False, so /readyz answers 503.
    """

    def __init__(
        self,
        bootstrap: kafka.Client,
        subscriptions: Sequence[Subscription],
        *,
        service: str,
        stall_after_s: float,
        clock: Any = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.subscriptions = list(subscriptions)
        self.service = service
        self.stall_after_s = stall_after_s
        self._clock = clock or asyncio.get_running_loop
        self._admin: Any = None
        self._reader: AIOKafkaConsumer | None = None
        self._progress: dict[str, tuple[int, float]] = {}
        self.stalled: set[str] = set()
        self.lag: dict[str, int] = {}

    def _now(self) -> float:
        return float(self._clock().time())

    async def _clients(self) -> tuple[Any, AIOKafkaConsumer]:
        from aiokafka.admin import AIOKafkaAdminClient

        if self._admin is None:
            admin = AIOKafkaAdminClient(**kafka.options(self.bootstrap))
            await admin.start()
            self._admin = admin
        if self._reader is None:
            reader = AIOKafkaConsumer(**kafka.options(self.bootstrap), enable_auto_commit=False)
            await reader.start()
            self._reader = reader
        return self._admin, self._reader

    async def step(self) -> bool:
        admin, reader = await self._clients()
        for sub in self.subscriptions:
            tps: list[TopicPartition] = []
            for topic in sub.topics:
                parts = reader.partitions_for_topic(topic)
                if not parts:
                    await reader._client.force_metadata_update()
                    parts = reader.partitions_for_topic(topic) or set()
                tps += [TopicPartition(topic, p) for p in sorted(parts)]
            if not tps:
                continue
            ends = await reader.end_offsets(tps)
            starts = await reader.beginning_offsets(tps)
            committed = await admin.list_consumer_group_offsets(sub.group)
            by_topic: dict[str, int] = dict.fromkeys(sub.topics, 0)
            position = 0
            for tp in tps:
                meta = committed.get(tp)
                at = meta.offset if meta is not None and meta.offset >= 0 else starts.get(tp, 0)
                by_topic[tp.topic] += max(0, ends[tp] - at)
                position += at
            record_lag(self.service, sub.inbox.consumer_id, by_topic)
            total = sum(by_topic.values())
            self.lag[sub.group] = total
            self._judge(sub, total, position)
        return False

    def _judge(self, sub: Subscription, lag: int, position: int) -> None:
        now = self._now()
        last = self._progress.get(sub.group)
        if last is None or last[0] != position or lag == 0:
            self._progress[sub.group] = (position, now)
            stalled = False
        else:
            stalled = now - last[1] >= self.stall_after_s
        if stalled and sub.group not in self.stalled:
            log.error(
                "%s: consumer group %s has made no progress for %.0fs with %d records waiting",
                self.service,
                sub.group,
                now - (last[1] if last else now),
                lag,
            )
        if stalled:
            self.stalled.add(sub.group)
        else:
            self.stalled.discard(sub.group)
        metrics.CONSUMER_STALLED.labels(self.service, sub.inbox.consumer_id).set(1 if stalled else 0)

    def healthy(self) -> bool:
        return not self.stalled

    async def close(self) -> None:
        if self._reader is not None:
            with suppress(Exception):
                await self._reader.stop()
            self._reader = None
        if self._admin is not None:
            with suppress(Exception):
                await self._admin.close()
            self._admin = None
