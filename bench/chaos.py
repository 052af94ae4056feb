"""`make chaos`: a campaign with answers while the services are SIGKILLed, the broker and PostgreSQL are
stopped and started; then what came out is compared with what went in, by id.

The bench plays the platform and the customers as bench/system_e2e.py does (its Platform, Procs and
SMTP sink): intake, survey and alerts run as processes on fresh databases, survey invites at once, a
customer answers 30% of the invitations through the survey form, one in four unhappy. The platform
publishes HOERA_CHAOS_CONTACTS contacts (default 100,000) as fast as the producer takes them. From the
moment invitations flow until the last one is mailed, faults follow each other at random moments, in a
shuffled cycle so every kind comes round:

- a service (intake, survey or alerts) SIGKILLed, started again after 0-3 s;
- the broker stopped (`hoera-local kafka stop`) for 10 s, then started;
- PostgreSQL stopped (`hoera-local pg stop`) for 10 s, then started.

The platform re-sends what the broker did not acknowledge (the same record: the same event id) and a
customer posts the form again until it is recorded (303) or found answered already (409), as a real
platform and a real customer would. The verdict, by id, from the mails the SMTP sink accepted:

- every contact's invitation mailed, none mailed twice (a second Message-ID); a resend of the same
  Message-ID (a crash between the SMTP server's accept and the recorded outcome) is counted apart;
- every recorded unhappy answer exactly one supervisor mail (keyed by the unhappy alert's id);
- after each fault, the seconds until invitations flow again at half the rate of the 20 s before it
  (a fault that ends after the last invitation has nothing to measure: "n/a").

Run it on its own stack (the Makefile target does: .run-chaos, Kafka on 29092, PostgreSQL on 25432),
never beside `make test`: it stops the broker and the database of whatever stack it is given.
Exit status 1 when anything was lost, doubled, or did not come back within 60 s.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from hoera_devkit.testing import define_tenant, platform_headers
from hoera_events.envelope import encode, event_headers, make_envelope
from hoera_events.platform import ComplaintReceived, ContactClosed
from hoera_events.registry import topic_for
from hoera_local import config, ready

from bench.common import Report, bootstrap
from bench.system_e2e import (
    SERVICES,
    TENANT,
    Backlog,
    Bench,
    Customers,
    Platform,
    Procs,
    Seen,
    _Recorder,
    _tell_log_problems,
    _wants_answer,
)

CONTACTS = 100_000
RECOVERED_SHARE = 0.5  # throughput "back": half the invitation rate of the 20 s before the fault
RECOVERY_LIMIT = 60.0
BROKER_DOWN_S = 10.0
POSTGRES_DOWN_S = 10.0


@dataclass
class Fault:
    kind: str
    began: float  # wall clock, as the sink's timestamps
    ended: float = 0.0  # the component answers again
    recovered_after: float | None = None  # seconds from ended until the invitations flow again
    measurable: bool = True

    def line(self, t0: float) -> str:
        if not self.measurable:
            back = "n/a (the campaign was mailed by then)"
        elif self.recovered_after is None:
            back = f"NOT back within {RECOVERY_LIMIT:.0f} s"
        else:
            back = f"throughput back after {self.recovered_after:.1f} s"
        return f"    t={self.began - t0:6.0f}s  {self.kind:<16} down {self.ended - self.began:5.1f} s  {back}"


@dataclass
class Tally:
    """Every mail of the run, by id: the Message-IDs received for each customer's invitation and for
    each unhappy alert's supervisor mail. A mail is known by its Message-ID (derived from the
    delivery's idempotency key): the same one received again is a resend after a crash between the
    SMTP server's accept and the commit of the outcome (mail is delivered at least once; a receiving
    server drops a Message-ID it has); a second Message-ID for one thing would be a second mail."""

    invitations: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    alert_mails: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    @staticmethod
    def mails(received: Counter[str]) -> int:
        return len(received)

    @staticmethod
    def resent(received: Counter[str]) -> int:
        return sum(received.values()) - len(received)


class _CountingRecorder(_Recorder):
    """system_e2e's recorder, also counting each id's mails (it keeps only the first of each)."""

    def __init__(self, folder: Path, seen: Seen, queue: asyncio.Queue[Any], tally: Tally) -> None:
        super().__init__(folder, seen, queue)
        self.tally = tally

    def save(self, mail_from: str, rcpt_tos: list[str], raw: bytes) -> dict[str, Any]:
        headers = self._headers.parsebytes(raw)
        key = str(headers.get("X-Hoera-Idempotency-Key", "")).strip()
        message_id = str(headers.get("Message-ID", "")).strip()
        if key.startswith("survey-invitation:") and rcpt_tos and rcpt_tos[0].startswith(self.seen.run):
            self.tally.invitations[rcpt_tos[0].split("@", 1)[0]][message_id] += 1
        elif key.startswith("alert:"):
            self.tally.alert_mails[key.split(":")[1]][message_id] += 1
        return super().save(mail_from, rcpt_tos, raw)


class PatientPlatform(Platform):
    """Publishes like system_e2e's platform, and sends a record again (the same bytes, so the same
    event id) when the broker did not acknowledge it: a platform does not drop a contact."""

    async def _send(self, event: ContactClosed | ComplaintReceived) -> None:
        env = make_envelope(event, producer="platform", tenant=TENANT)
        value = encode(env)
        headers = platform_headers(value, event_headers(env))
        self.pending.append(
            asyncio.ensure_future(self._until_acked(topic_for(event), value, env.key, headers))
        )

    async def _until_acked(self, topic: str, value: bytes, key: str, headers: Any) -> None:
        while True:
            try:
                await (await self.producer.send(topic, value, key=key.encode(), headers=headers))
                return
            except KafkaError:
                await asyncio.sleep(1.0)


class PatientCustomers(Customers):
    """A customer whose post is refused by a restarting service tries again until the answer is
    recorded (303) or found recorded already (409: an earlier post went through, its reply was lost)."""

    async def _answer(self, customer: str, url: str, survey_id: str, token: str) -> None:
        unhappy = _wants_answer(uuid.UUID(survey_id))[1]
        form = (
            {"satisfaction": "1", "effort": "2", "nps": "3", "comment": "Niemand belt terug."}
            if unhappy
            else {"satisfaction": "5", "effort": "5", "nps": "9"}
        )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                resp = await self.http.post(url, data={"t": token, **form})
            except httpx.HTTPError:
                resp = None
            if resp is not None and resp.status_code in (303, 409):
                self.seen.answered[survey_id] = (customer, unhappy)
                return
            if resp is not None and resp.status_code < 500 and resp.status_code not in (408, 429):
                break  # refused for good: not an answer, counted below
            await asyncio.sleep(1.0)
        self.seen.answer_errors += 1


def _hoera_local(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "hoera_local.cli", *args], check=False, timeout=120)


async def _until(check: Callable[[], Awaitable[bool]], want: bool, limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if await check() == want:
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"still {'down' if want else 'up'} after {limit:.0f} s")


class Chaos(Bench):
    def __init__(self, n: int, seed: int) -> None:
        super().__init__(Report(), 1.0)
        self.n = n
        self.random = random.Random(seed)
        self.seed = seed
        self.tally = Tally()
        self.sink.store = _CountingRecorder(self.folder / "mail", self.seen, self.queue, self.tally)
        self.faults: list[Fault] = []
        self.cfg = config.load()

    async def run(self) -> None:
        await self.sink.up()
        procs = Procs(self.folder, self.sink.port, set())
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap(), acks="all", enable_idempotence=True, linger_ms=5
        )
        customers: PatientCustomers | None = None
        backlog: Backlog | None = None
        injector: asyncio.Task[None] | None = None
        failed = False
        try:
            await define_tenant(TENANT, template="nl", bootstrap=bootstrap())
            await procs.start()
            await producer.start()
            await self._invite_at_once(procs.url("survey"))
            backlog = Backlog(procs.group, procs.databases)
            await backlog.start()
            customers = PatientCustomers(self.seen, self.queue)
            platform = PatientPlatform(producer, self.seen)
            await self._warm_up(platform, backlog)
            await backlog.stop()
            backlog = None  # its connections do not outlive a database restart

            t0 = time.time()
            print(f"  campaign of {self.n:,} contacts, faults from seed {self.seed}", flush=True)
            injector = asyncio.create_task(self._inject(procs, t0))
            published = await platform.blast("c", self.n)
            print(f"  published in {published - t0:.1f} s", flush=True)
            await self._settle(limit=max(1800.0, self.n / 20))
            injector.cancel()
            await asyncio.gather(injector, return_exceptions=True)
            injector = None
            await asyncio.sleep(20)  # a late second mail would arrive now
            failed = self._verdict(t0)
        finally:
            if injector is not None:
                injector.cancel()
                await asyncio.gather(injector, return_exceptions=True)
            if customers is not None:
                await customers.close()
            if backlog is not None:
                await backlog.stop()
            await producer.stop()
            await procs.stop()
            await self.sink.down()
            _tell_log_problems(self.folder)
        if failed:
            raise SystemExit(1)

    # ---- faults --------------------------------------------------------------------------------

    async def _inject(self, procs: Procs, t0: float) -> None:
        """Faults at random moments until the campaign is mailed, one at a time; each waits for the
        invitations to flow again (or the limit) before the next gap starts."""
        while True:  # the faults start once invitations flow, so each has a rate to come back to
            if self._first_mails(t0):
                break
            await asyncio.sleep(1)
        await asyncio.sleep(15)
        kinds: list[str] = []
        while not self._mailed():
            if not kinds:
                kinds = [*(f"kill {s}" for s in SERVICES), "broker stop", "postgres stop"]
                self.random.shuffle(kinds)
            fault = Fault(kinds.pop(), began=time.time())
            self.faults.append(fault)
            await self._cause(fault.kind, procs)
            fault.ended = time.time()
            print(
                f"  {fault.kind} at t={fault.began - t0:.0f}s, back after {fault.ended - fault.began:.1f} s",
                flush=True,
            )
            await self._until_recovered(fault)
            await asyncio.sleep(self.random.uniform(5, 30))

    async def _cause(self, kind: str, procs: Procs) -> None:
        if kind.startswith("kill "):
            proc = procs.procs[kind.removeprefix("kill ")]
            await asyncio.to_thread(proc.kill)
            await asyncio.sleep(self.random.uniform(0, 3))
            proc.start()
            await proc.wait_ready(timeout=120)
        elif kind == "broker stop":
            await asyncio.to_thread(_hoera_local, "kafka", "stop")
            await _until(lambda: ready.kafka_ready(self.cfg.kafka_bootstrap), False, 60)
            await asyncio.sleep(BROKER_DOWN_S)
            await self._restart("kafka", lambda: ready.kafka_ready(self.cfg.kafka_bootstrap))
        else:
            await asyncio.to_thread(_hoera_local, "pg", "stop")
            await _until(lambda: ready.pg_ready(self.cfg), False, 60)
            await asyncio.sleep(POSTGRES_DOWN_S)
            await self._restart("pg", lambda: ready.pg_ready(self.cfg))

    async def _restart(self, what: str, answers: Callable[[], Awaitable[bool]]) -> None:
        for _ in range(10):  # a start refused (its port not yet free) is tried again
            await asyncio.to_thread(_hoera_local, what, "start")
            try:
                await _until(answers, True, 15)
                return
            except TimeoutError:
                continue
        raise TimeoutError(f"{what} did not come back")

    async def _until_recovered(self, fault: Fault) -> None:
        before = self._rate(fault.began - 20, fault.began)
        deadline = fault.ended + RECOVERY_LIMIT
        while time.time() < deadline:
            if self._mailed():  # nothing left to flow: the fault cannot be judged by throughput
                fault.measurable = False
                return
            now = time.time()
            if now - fault.ended >= 1 and self._rate(now - 5, now) >= RECOVERED_SHARE * before:
                fault.recovered_after = now - fault.ended
                return
            await asyncio.sleep(0.5)

    # ---- what the sink saw -----------------------------------------------------------------------

    def _campaign_times(self) -> list[float]:
        return [self.seen.invited[c] for c in self.seen.customers("c") if c in self.seen.invited]

    def _rate(self, start: float, end: float) -> float:
        return sum(1 for t in self._campaign_times() if start <= t < end) / max(end - start, 1e-6)

    def _first_mails(self, t0: float) -> bool:
        return any(t >= t0 for t in self._campaign_times())

    def _mailed(self) -> bool:
        customers = self.seen.customers("c")
        return len(customers) == self.n and all(c in self.seen.invited for c in customers)

    async def _settle(self, limit: float) -> None:
        """Until every invitation is mailed, the customers are done and every unhappy answer has its
        supervisor's mail (or the limit)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self._mailed() and self.queue.empty():
                await self.queue.join()
                if all(self._alert_key(s) in self.seen.alerted for s in self.seen.unhappy("c")):
                    return
            await asyncio.sleep(1)
        print(f"  (not settled after {limit:.0f} s)")

    def _verdict(self, t0: float) -> bool:
        customers = self.seen.customers("c")
        invitations, alert_mails = self.tally.invitations, self.tally.alert_mails
        missing = [c for c in customers if Tally.mails(invitations[c]) == 0]
        twice = [c for c in customers if Tally.mails(invitations[c]) > 1]
        resent = sum(Tally.resent(invitations[c]) for c in customers)
        unhappy = [self._alert_key(s) for s in self.seen.unhappy("c")]
        alerts_missing = [a for a in unhappy if Tally.mails(alert_mails[a]) == 0]
        alerts_twice = [a for a in unhappy if Tally.mails(alert_mails[a]) > 1]
        alerts_resent = sum(Tally.resent(alert_mails[a]) for a in unhappy)
        times = self._campaign_times()
        last = max(times, default=t0) - t0
        print(f"\nchaos: a campaign of {self.n:,} contacts with {len(self.faults)} faults (seed {self.seed})")
        for fault in self.faults:
            print(fault.line(t0))
        slow = [f for f in self.faults if f.measurable and f.recovered_after is None]
        print(
            f"  last invitation mailed {last:.0f} s after the first contact was published "
            f"({len(times) / max(last, 1e-6):.0f}/s on average)"
        )
        print(
            f"  invitations: {len(customers) - len(missing):,} of {len(customers):,} mailed, "
            f"{len(missing)} lost, {len(twice)} mailed twice; {resent} resent with the same Message-ID"
        )
        print(
            f"  answers recorded: {len(self.seen.unhappy('c')):,} unhappy of "
            f"{sum(1 for c, _ in self.seen.answered.values() if Seen.phase(c) == 'c'):,}; "
            f"{self.seen.answer_errors} refused for good"
        )
        print(
            f"  supervisor mails: {len(unhappy) - len(alerts_missing):,} of {len(unhappy):,} unhappy "
            f"answers, {len(alerts_missing)} missing, {len(alerts_twice)} mailed twice; "
            f"{alerts_resent} resent"
        )
        print(f"  faults without throughput back within {RECOVERY_LIMIT:.0f} s: {len(slow)}")
        for label, ids in (
            ("lost", missing),
            ("twice", twice),
            ("alert missing", alerts_missing),
            ("alert twice", alerts_twice),
        ):
            if ids:
                print(f"    e.g. {label}: {', '.join(ids[:5])}")
        return bool(missing or twice or alerts_missing or alerts_twice or slow or self.seen.answer_errors)


def main() -> None:
    n = int(os.environ.get("HOERA_CHAOS_CONTACTS", CONTACTS))
    seed = int(os.environ.get("HOERA_CHAOS_SEED", str(random.SystemRandom().randrange(1_000_000))))
    asyncio.run(Chaos(n, seed).run())


if __name__ == "__main__":
    main()
