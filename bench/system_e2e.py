"""End to end (issue 11, item 4): intake, survey and alerts as separate processes under an open-loop load.

The bench plays the platform and the customers. The platform publishes ContactClosed (and, for one
contact in twenty, ComplaintReceived) at a fixed offered rate, whatever the services' speed; survey
invites at once (its contact_closed delay set to 0 through its admin API); the invitation reaches an
SMTP sink in this process, which timestamps every mail as it accepts it; a customer answers 30% of
the invitations through the survey form (the page, then the POST), one answer in four unhappy; alerts
mails the team's supervisor. Each service runs on a fresh database and its consumer groups start at
the end of the shared topics (HOERA_CONSUMER_START=end), so only new traffic reaches it.

1. Sustained rate: the offered rate doubles in short windows until the invitations mailed per second
   fall below 95% of the offered rate, or a consumer group's backlog grows; one step between the
   last rate kept up and the first one not. Reported beside C, raw aiokafka produce, of the same run.
2. At half the sustained rate: the latency from an unhappy SurveyAnswered on Kafka (the record's
   timestamp, read from the end offsets recorded at start) to the supervisor's mail accepted by the
   sink (mapped by survey id: the mail's idempotency key carries the unhappy alert's id, derived
   from the survey id), p50/p99/max; and the latency of the contact to its invitation.
3. The same during a 10x burst of half the sustained rate, until it has drained.
4. A campaign (HOERA_BENCH_CAMPAIGN contacts, default 20,000 x scale) published as fast as the
   producer takes them while the customers keep answering: the time until the last invitation is
   mailed, invitations mailed per second, any mailed twice or missing, CPU per contact by process,
   and the unhappy answers' mail latency during it (answers have their own consumer group).
5. Mixed: steady contacts at half the sustained rate, a campaign (5,000 x scale) and a 10x burst inside
   it, the customers answering throughout: time until everything is mailed, each stream's invitation
   latency, the unhappy answers' mail latency, CPU per contact by process.
6. Memory per process: each service's resident set (VmRSS, VmHWM) from /proc, in MB.

HOERA_BENCH_PROFILE=survey (or intake, alerts, or a comma list) runs those services under pyinstrument
(this module is their `python -m` entry then); the profiles land in bench/results/profile-e2e-*.txt.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from hoera_alerts.domain import unhappy_alert_id
from hoera_devkit.smtp_sink import MailStore, SmtpSink
from hoera_devkit.testing import (
    ServiceProcess,
    create_database,
    define_tenant,
    drop_database,
    free_port,
    pg_dsn,
    platform_headers,
)
from hoera_devkit.tokens import mint_token
from hoera_events.common import Channel, Language
from hoera_events.envelope import encode, event_headers, make_envelope
from hoera_events.platform import ComplaintReceived, ContactClosed
from hoera_events.registry import topic_for
from hoera_events.surveys import SurveyAnswered
from hoera_kit.auth import Role
from hoera_kit.settings import DEV_ISSUER, DEV_SIGNING_SECRET, KitSettings

from bench import ceilings
from bench.common import RESULTS, Figure, Report, bootstrap, percentile

SERVICES = ("intake", "survey", "alerts")
# The bench's own organisation (the demo organisation's teams and people, signed with the test
# platform's key), so a run never changes what `make up` shows under "demo".
TENANT = "bench"
C_PRODUCE = "C raw aiokafka produce 1KB acks=all"
ALERTS_FLOOR = "alerts ceiling: bare consumer + SMTP send, p50"
ANSWERED_TOPIC = topic_for(SurveyAnswered)
TEAMS = (("team-nl-1", Language.nl, "agent-anna"), ("team-fr-1", Language.fr, "agent-luc"))
CHANNELS = (Channel.phone, Channel.phone, Channel.phone, Channel.email, Channel.chat)
COMPLAINT_EVERY = 20  # one contact in twenty also brings a complaint (intake's dossier, alerts' notice)
ANSWER_PER_MILLE = 300  # customers who answer their invitation
UNHAPPY_EVERY = 4  # of those, one in four is unhappy
KEEP_UP = 0.95
CAMPAIGN = 20_000  # contacts of the campaign phase at scale 1.0 (HOERA_BENCH_CAMPAIGN overrides)
MIXED_CAMPAIGN = 5_000  # the campaign inside the mixed phase, at scale 1.0
POLL_SETTINGS = ("outbox_poll_interval_s", "timer_poll_interval_s", "delivery_poll_interval_s")
LINK = re.compile(r"(https?://[^\s\"'<>]+/s/([0-9a-f-]{36}))\?t=([^\s\"'<>&]+)")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# ---- what the run saw, by id ----------------------------------------------------------------------


@dataclass
class Seen:
    run: str
    published: dict[str, float] = field(default_factory=dict)  # customer id → on Kafka (sent)
    invited: dict[str, float] = field(default_factory=dict)  # customer id → invitation accepted
    answered: dict[str, tuple[str, bool]] = field(default_factory=dict)  # survey id → (customer, unhappy)
    answer_errors: int = 0
    on_kafka: dict[str, float] = field(default_factory=dict)  # survey id → SurveyAnswered timestamp
    alerted: dict[str, float] = field(default_factory=dict)  # unhappy alert id → supervisor mail accepted
    mails: int = 0
    twice: int = 0  # invitations mailed a second time to the same customer

    @staticmethod
    def phase(customer: str) -> str:
        return customer.split("-")[1]

    def customers(self, phase: str) -> list[str]:
        return [c for c in self.published if self.phase(c) == phase]

    def unhappy(self, phase: str) -> list[str]:
        return [s for s, (c, unhappy) in self.answered.items() if unhappy and self.phase(c) == phase]


def _wants_answer(survey_id: uuid.UUID) -> tuple[bool, bool]:
    """Whether this customer answers, and unhappily: fixed by the survey id, so the shares are exact."""
    n = survey_id.int
    return n % 1000 < ANSWER_PER_MILLE, (n >> 16) % UNHAPPY_EVERY == 0


class _Recorder(MailStore):
    """The sink's store, in memory: the acceptance time of each mail and the invitations to answer."""

    def __init__(self, folder: Path, seen: Seen, to_answer: asyncio.Queue[tuple[str, str, str, str]]) -> None:
        super().__init__(folder)
        self.seen = seen
        self.to_answer = to_answer
        self._headers = BytesHeaderParser(policy=policy.default)

    def save(self, mail_from: str, rcpt_tos: list[str], raw: bytes) -> dict[str, Any]:
        at = time.time()
        self.seen.mails += 1
        key = str(self._headers.parsebytes(raw).get("X-Hoera-Idempotency-Key", "")).strip()
        if key.startswith("survey-invitation:"):
            customer = rcpt_tos[0].split("@", 1)[0] if rcpt_tos else ""
            if not customer.startswith(self.seen.run):
                return {}
            if customer in self.seen.invited:
                self.seen.twice += 1  # exactly once is a promise: a second invitation is counted
                return {}
            self.seen.invited[customer] = at
            survey_id = uuid.UUID(key.split(":", 1)[1])
            if _wants_answer(survey_id)[0]:
                body = message_from_bytes(raw, policy=policy.default).get_body(preferencelist=("plain",))
                match = LINK.search(body.get_content() if body is not None else "")
                if match:
                    url, sid, token = match.groups()
                    self.to_answer.put_nowait((customer, url, sid, token))
        elif key.startswith("alert:"):
            self.seen.alerted.setdefault(key.split(":")[1], at)
        return {}


# ---- the platform and the customers ---------------------------------------------------------------


class Platform:
    """Open loop: the n-th contact of a phase goes out at start + n / rate, whatever the services do."""

    def __init__(self, producer: AIOKafkaProducer, seen: Seen) -> None:
        self.producer = producer
        self.seen = seen
        self.pending: list[asyncio.Future[Any]] = []

    async def _contact(self, phase: str, i: int) -> None:
        team, language, agent = TEAMS[i % 2]
        customer = f"{self.seen.run}-{phase}-{i}"
        channel = CHANNELS[i % len(CHANNELS)]
        now = datetime.now(UTC)
        contact = ContactClosed(
            contact_id=f"ct-{customer}",
            customer_id=customer,
            channel=channel,
            agent_id=agent,
            team_id=team,
            closed_at=now,
            language=language,
            reason_code="invoice",
            recording_ref=f"rec/{customer}" if channel is Channel.phone else None,
            first_contact_resolved=i % 3 != 0,
        )
        await self._send(contact)
        self.seen.published[customer] = time.time()
        if i % COMPLAINT_EVERY == COMPLAINT_EVERY - 1:
            await self._send(
                ComplaintReceived(
                    platform_ref=f"pf-{customer}",
                    customer_id=customer,
                    channel=channel,
                    category="refund.late",
                    language=language,
                    received_at=now,
                    summary="Terugbetaling van mijn factuur van maart nog altijd niet ontvangen.",
                    contact_id=contact.contact_id,
                    agent_id=agent,
                    team_id=team,
                )
            )

    async def _send(self, event: ContactClosed | ComplaintReceived) -> None:
        env = make_envelope(event, producer="platform", tenant=TENANT)
        value = encode(env)
        self.pending.append(
            await self.producer.send(
                topic_for(event),
                value,
                key=env.key.encode(),
                headers=platform_headers(value, event_headers(env)),
            )
        )

    async def blast(self, phase: str, n: int) -> float:
        """A campaign: n contacts as fast as the producer takes them; returns when the last was acked."""
        for i in range(n):
            await self._contact(phase, i)
            if len(self.pending) >= 5_000:  # bounded memory: wait for the acks of what is in flight
                await asyncio.gather(*self.pending)
                self.pending.clear()
        await asyncio.gather(*self.pending)
        self.pending.clear()
        return time.time()

    async def offer(self, phase: str, rate: float, seconds: float) -> float:
        """Publishes rate x seconds contacts evenly; returns the wall-clock time the last one went out."""
        n = max(1, round(rate * seconds))
        started = time.monotonic()
        for i in range(n):
            ahead = started + i / rate - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)
            await self._contact(phase, i)
        await asyncio.gather(*self.pending)  # every send acknowledged (or raise here)
        self.pending.clear()
        return time.time()


class Customers:
    """Customers who open the invitation's link and post the form at once (30%, a quarter unhappy)."""

    def __init__(
        self, seen: Seen, queue: asyncio.Queue[tuple[str, str, str, str]], workers: int = 24
    ) -> None:
        self.seen = seen
        self.queue = queue
        self.http = httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=workers))
        self.tasks = [asyncio.create_task(self._work()) for _ in range(workers)]

    async def _work(self) -> None:
        while True:
            customer, url, survey_id, token = await self.queue.get()
            try:
                await self._answer(customer, url, survey_id, token)
            except httpx.HTTPError:
                self.seen.answer_errors += 1
            finally:
                self.queue.task_done()

    async def _answer(self, customer: str, url: str, survey_id: str, token: str) -> None:
        unhappy = _wants_answer(uuid.UUID(survey_id))[1]
        page = await self.http.get(url, params={"t": token})
        if page.status_code != 200:
            self.seen.answer_errors += 1
            return
        form = (
            {
                "satisfaction": "1",
                "effort": "2",
                "nps": "3",
                "attr_clear": "1",
                "comment": "Niemand belt terug.",
            }
            if unhappy
            else {"satisfaction": "5", "effort": "5", "nps": "9", "attr_friendly": "5", "attr_clear": "4"}
        )
        # Recorded before the post: the answer may be on Kafka before the redirect comes back.
        self.seen.answered[survey_id] = (customer, unhappy)
        resp = await self.http.post(url, data={"t": token, **form})
        if resp.status_code != 303:
            del self.seen.answered[survey_id]
            self.seen.answer_errors += 1

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.http.aclose()


async def _read_answers(seen: Seen, consumer: AIOKafkaConsumer) -> None:
    """Every SurveyAnswered from the end offsets recorded at start: its survey id and timestamp."""
    while True:
        batch = await consumer.getmany(timeout_ms=100, max_records=1000)
        for records in batch.values():
            for record in records:
                data = json.loads(record.value or b"{}").get("data", {})
                if "survey_id" in data:
                    seen.on_kafka.setdefault(data["survey_id"], record.timestamp / 1000)


# ---- the services' processes ----------------------------------------------------------------------


class Procs:
    """The three services, each its own process on a fresh database; RSS and CPU read from /proc."""

    def __init__(self, folder: Path, sink_port: int, profile: set[str]) -> None:
        self.group = f"bench-e2e-{uuid.uuid4().hex[:8]}"
        self.folder = folder
        self.sink_port = sink_port
        self.profile = profile
        self.databases: dict[str, str] = {}
        self.procs: dict[str, ServiceProcess] = {}
        self.peak_rss: dict[str, float] = dict.fromkeys(SERVICES, 0.0)

    async def start(self) -> None:
        for name in SERVICES:
            self.databases[name] = await create_database(f"bench_e2e_{name}")
        ports = {name: free_port() for name in SERVICES}
        # Alerts asks survey for an answer's comment: each service knows where the others are.
        urls = json.dumps({name: f"http://127.0.0.1:{port}" for name, port in ports.items()})
        for name in SERVICES:
            env = {
                "HOERA_SERVICE_URLS": urls,
                "HOERA_DATABASE_URL": pg_dsn(self.databases[name]),
                "HOERA_SMTP_PORT": str(self.sink_port),
                "HOERA_LOG_LEVEL": "WARNING",
                "HOERA_POOL_MAX_SIZE": "20",
                # As deployed: ServiceProcess polls 5x a second for tests; the kit's defaults here
                # (NOTIFY wakes the outbox relay and the delivery worker; polling is the fallback).
                **{
                    f"HOERA_{setting.upper()}": str(KitSettings.model_fields[setting].default)
                    for setting in POLL_SETTINGS
                },
            }
            module = f"hoera_{name}"
            if name in self.profile:
                env["HOERA_BENCH_PROFILE_MODULE"] = module
                env["HOERA_BENCH_PROFILE_OUT"] = str(RESULTS / f"profile-e2e-{name}")
                module = "bench.system_e2e"
            self.procs[name] = ServiceProcess(
                module,
                env=env,
                port=ports[name],
                log_dir=self.folder,
                name=name,
                group_prefix=self.group,
            ).start()
        await asyncio.gather(*(p.wait_ready(timeout=120) for p in self.procs.values()))

    def url(self, name: str) -> str:
        return self.procs[name].url

    def pid(self, name: str) -> int:
        return int(self.procs[name].proc.pid)

    def status_mb(self, name: str, field_name: str) -> float:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{self.pid(name)}/status").read_text().splitlines():
                if line.startswith(field_name + ":"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def sample_rss(self) -> None:
        for name in SERVICES:
            self.peak_rss[name] = max(self.peak_rss[name], self.status_mb(name, "VmRSS"))

    def cpu_times(self) -> dict[tuple[str, int], float]:
        """CPU seconds (user + system) so far of each process that matters, by (role, pid): the
        services, the PostgreSQL backends serving their databases, the Kafka broker, this bench
        process; ("machine", 0) is the whole machine's busy time (all but idle and iowait)."""
        out = {(name, self.pid(name)): _proc_cpu(self.pid(name)) for name in SERVICES}
        databases = [db.encode() for db in self.databases.values()]
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                args = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if args[0].startswith(b"postgres: ") and any(db in args[0] for db in databases):
                out[("postgres", int(entry.name))] = _proc_cpu(int(entry.name))
            elif b"kafka.Kafka" in args:  # the broker's main class
                out[("kafka", int(entry.name))] = _proc_cpu(int(entry.name))
        out[("bench", os.getpid())] = _proc_cpu(os.getpid())
        ticks = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        out[("machine", 0)] = (sum(ticks) - ticks[3] - ticks[4]) / CLOCK_TICKS
        return out

    async def stop(self) -> None:
        for name, p in self.procs.items():
            if name in self.profile and p.proc is not None and p.proc.poll() is None:
                p.proc.send_signal(signal.SIGTERM)
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(p.proc.wait, 120)  # writing the profile takes a while
            p.stop()
        for db in self.databases.values():
            await drop_database(db)


def _proc_cpu(pid: int) -> float:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    parts = stat.rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / CLOCK_TICKS  # utime, stime


def _cpu_shares(
    before: dict[tuple[str, int], float], after: dict[tuple[str, int], float], wall: float
) -> dict[str, float]:
    """Cores used per role over the interval, counting only processes alive at both ends (backends
    and brokers of other runs come and go); "others" is what the rest of the machine used."""
    shares = dict.fromkeys((*SERVICES, "postgres", "kafka", "bench"), 0.0)
    for key, seconds in after.items():
        if key in before and key[0] != "machine":
            shares[key[0]] += (seconds - before[key]) / wall
    shares["machine"] = (after[("machine", 0)] - before[("machine", 0)]) / wall
    shares["others"] = max(0.0, shares["machine"] - sum(v for k, v in shares.items() if k != "machine"))
    return shares


class Backlog:
    """Where work waits: unread records of the services' consumer groups (committed offset to end
    offset), and rows in each service's outbox and deliveries queue."""

    def __init__(self, prefix: str, databases: dict[str, str]) -> None:
        self.prefix = prefix
        self.databases = databases
        self.admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap())
        self.probe = AIOKafkaConsumer(bootstrap_servers=bootstrap(), enable_auto_commit=False)
        self.groups: list[str] = []
        self.conns: dict[str, asyncpg.Connection] = {}

    async def start(self) -> None:
        await self.admin.start()
        await self.probe.start()
        for name, db in self.databases.items():
            self.conns[name] = await asyncpg.connect(pg_dsn(db))
        listed = await self.admin.list_consumer_groups()
        self.groups = sorted(g[0] for g in listed if str(g[0]).startswith(self.prefix + "."))

    async def lag(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for group in self.groups:
            committed = await self.admin.list_consumer_group_offsets(group)
            tps = [tp for tp, meta in committed.items() if meta.offset >= 0]
            ends = await self.probe.end_offsets(tps) if tps else {}
            out[group.removeprefix(self.prefix + ".")] = sum(
                max(0, ends[tp] - committed[tp].offset) for tp in tps
            )
        return out

    async def where(self) -> str:
        waiting = [f"{group} {n}" for group, n in (await self.lag()).items() if n]
        for name, conn in self.conns.items():
            outbox = await conn.fetchval("select count(*) from kit_outbox")
            mails = await conn.fetchval(
                "select count(*) from kit_deliveries where state in ('pending', 'failed')"
            )
            waiting += [f"{name} outbox {outbox}"] if outbox else []
            waiting += [f"{name} deliveries {mails}"] if mails else []
        return ", ".join(waiting) or "nothing waits"

    async def stop(self) -> None:
        for conn in self.conns.values():
            await conn.close()
        await self.probe.stop()
        await self.admin.close()


# ---- the run ---------------------------------------------------------------------------------------


@dataclass
class Step:
    offered: float
    achieved: float
    lag: int
    cpu: dict[str, float]

    @property
    def kept_up(self) -> bool:
        return self.achieved >= KEEP_UP * self.offered and self.lag <= max(50, self.offered)

    def line(self) -> str:
        cpu = " ".join(f"{k} {v:.0%}" for k, v in self.cpu.items() if k != "machine")
        verdict = "kept up" if self.kept_up else "fell behind"
        return (
            f"    offered {self.offered:7.1f}/s  mailed {self.achieved:7.1f}/s  backlog {self.lag:5d}"
            f"  {verdict:<11}  cpu: {cpu} (machine {self.cpu['machine']:.0%})"
        )


class Bench:
    def __init__(self, report: Report, scale: float) -> None:
        self.report = report
        self.scale = scale
        self.seen = Seen(run=f"e2e{uuid.uuid4().hex[:6]}")
        self.queue: asyncio.Queue[tuple[str, str, str, str]] = asyncio.Queue()
        self.folder = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
        self.sink = SmtpSink("127.0.0.1", 0, _Recorder(self.folder / "mail", self.seen, self.queue))
        self.lead = 1.0  # how long the pipeline takes at low load, measured in the warm-up

    def seconds(self, base: float, least: float) -> float:
        return max(least, base * self.scale)

    async def run(self) -> None:
        if self.report.get(C_PRODUCE) is None:  # run alone: measure the ceiling here, same machine, same run
            await ceilings.raw_produce(self.report, max(20_000, int(100_000 * self.scale)))
        profile = {s.strip() for s in os.environ.get("HOERA_BENCH_PROFILE", "").split(",") if s.strip()}
        await self.sink.up()
        procs = Procs(self.folder, self.sink.port, profile)
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap(), acks="all", enable_idempotence=True, linger_ms=5
        )
        answers = AIOKafkaConsumer(bootstrap_servers=bootstrap(), enable_auto_commit=False)
        tasks: list[asyncio.Task[None]] = []
        customers: Customers | None = None
        backlog: Backlog | None = None
        began = time.monotonic()
        try:
            await define_tenant(TENANT, template="nl", bootstrap=bootstrap())
            await procs.start()
            await producer.start()
            await answers.start()
            tps = await ceilings.assign_all(answers, ANSWERED_TOPIC)
            for tp, end in (await answers.end_offsets(tps)).items():
                answers.seek(tp, end)
            tasks.append(asyncio.create_task(_read_answers(self.seen, answers)))
            tasks.append(asyncio.create_task(self._sample(procs)))
            await self._invite_at_once(procs.url("survey"))
            backlog = Backlog(procs.group, procs.databases)
            await backlog.start()
            customers = Customers(self.seen, self.queue)
            platform = Platform(producer, self.seen)
            print(
                f"  (services up in {time.monotonic() - began:.0f}s, {len(backlog.groups)} consumer groups)"
            )

            await self._warm_up(platform, backlog)
            sustained = await self._search(platform, procs, backlog)
            half = sustained / 2
            # Enough unhappy answers for a p99 where the rate is low, within the time budget.
            unhappy_per_s = half * ANSWER_PER_MILLE / 1000 / UNHAPPY_EVERY
            seconds = min(self.seconds(40, 15), max(self.seconds(20, 8), 100 / unhappy_per_s))
            await self._latencies(platform, backlog, "h", half, seconds, "at half rate")
            await self._latencies(platform, backlog, "b", sustained * 5, self.seconds(10, 5), "10x burst")
            campaign = int(os.environ.get("HOERA_BENCH_CAMPAIGN", 0)) or max(
                1_000, int(CAMPAIGN * self.scale)
            )
            await self._campaign(platform, procs, backlog, campaign)
            await self._mixed(producer, procs, backlog, sustained)
            for name in SERVICES:
                procs.sample_rss()
                self.report.add(
                    Figure(
                        f"e2e memory: {name} process, peak RSS",
                        max(procs.peak_rss[name], procs.status_mb(name, "VmHWM")),
                        "MB",
                        note=f"(now {procs.status_mb(name, 'VmRSS'):.0f} MB after the burst"
                        + (", under pyinstrument)" if name in profile else ")"),
                    )
                )
            if self.seen.answer_errors:
                print(f"  ({self.seen.answer_errors} answers refused or failed)")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if customers is not None:
                await customers.close()
            if backlog is not None:
                await backlog.stop()
            await answers.stop()
            await producer.stop()
            await procs.stop()
            await self.sink.down()
            _tell_log_problems(self.folder)
            shutil.rmtree(self.folder, ignore_errors=True)
        if profile:
            print(f"  profiles: {', '.join(str(RESULTS / f'profile-e2e-{p}.txt') for p in sorted(profile))}")
        print(f"  (end to end took {time.monotonic() - began:.0f}s)")

    async def _sample(self, procs: Procs) -> None:
        while True:
            procs.sample_rss()
            await asyncio.sleep(0.5)

    async def _invite_at_once(self, survey_url: str) -> None:
        """R17's delay and send window are operator data: none, so an invitation follows its contact at
        once."""
        token = mint_token(
            subject="bench",
            roles=[Role.admin],
            tenant=TENANT,
            secret=DEV_SIGNING_SECRET,
            issuer=DEV_ISSUER,
            audience="hoera",
        )
        headers = {"Authorization": f"Bearer {token}"}
        async with httpx.AsyncClient(base_url=survey_url, headers=headers) as http:
            resp = await http.get("/admin/rules/triggers")
            resp.raise_for_status()
            current = resp.json()
            triggers = current["document"]
            triggers["contact_closed"]["delay_minutes"] = 0
            # Day and night: a run after 21:00 would otherwise wait for the morning's window.
            triggers["contact_closed"]["send_window"] = None
            change = {
                "document": triggers,
                "expected_version": current["version"],
                "reason": "bench: invite at once",
            }
            (await http.put("/admin/rules/triggers", json=change)).raise_for_status()

    async def _drain(self, phase: str, backlog: Backlog, limit: float) -> None:
        """Until every contact of the phase has its invitation, the customers are done, every unhappy
        answer has its supervisor's mail and no consumer group lags (or the time limit passes)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            customers = self.seen.customers(phase)
            done = all(c in self.seen.invited for c in customers) and self.queue.empty()
            if done:
                await self.queue.join()
                alerted = all(self._alert_key(s) in self.seen.alerted for s in self.seen.unhappy(phase))
                if alerted and sum((await backlog.lag()).values()) == 0:
                    return
            await asyncio.sleep(0.2)
        print(f"  (phase {phase} not drained after {limit:.0f}s)")

    async def _watch(self, backlog: Backlog, started: float) -> None:
        """HOERA_BENCH_TRACE=1: where work waits, every 5 s of a phase."""
        while True:
            await asyncio.sleep(5)
            print(f"      {time.monotonic() - started:5.0f}s waiting: {await backlog.where()}", flush=True)

    def _alert_key(self, survey_id: str) -> str:
        return str(unhappy_alert_id(TENANT, uuid.UUID(survey_id)))

    def _invite_latencies(self, phase: str) -> list[float]:
        return [
            (self.seen.invited[c] - self.seen.published[c]) * 1000
            for c in self.seen.customers(phase)
            if c in self.seen.invited
        ]

    async def _warm_up(self, platform: Platform, backlog: Backlog) -> None:
        """First traffic joins the groups and fills the caches; the second measures the pipeline's lead."""
        await platform.offer("w0", 10, 3)
        await self._drain("w0", backlog, 60)
        await platform.offer("w1", 20, self.seconds(4, 3))
        await self._drain("w1", backlog, 60)
        latencies = self._invite_latencies("w1")
        self.lead = max(1.0, 2 * percentile(latencies, 90) / 1000)
        print(
            f"  (warm-up: contact → invitation p50 {percentile(latencies, 50):.0f} ms; lead {self.lead:.1f}s)"
        )

    async def _step(
        self, platform: Platform, procs: Procs, backlog: Backlog, phase: str, rate: float
    ) -> Step:
        window = self.seconds(6, 4)
        cpu_before, wall_before = procs.cpu_times(), time.monotonic()
        started = time.time()
        ended = await platform.offer(phase, rate, window)
        # Contacts sent in the window's last moments get the pipeline's lead to come out.
        await asyncio.sleep(max(0.0, ended + self.lead - time.time()))
        cpu_after, wall = procs.cpu_times(), time.monotonic() - wall_before
        lag = sum((await backlog.lag()).values())
        waiting = await backlog.where()
        mailed = sum(
            1
            for c in self.seen.customers(phase)
            if self.seen.invited.get(c, float("inf")) <= ended + self.lead
        )
        cpu = _cpu_shares(cpu_before, cpu_after, wall)
        step = Step(offered=rate, achieved=mailed / (ended - started), lag=lag, cpu=cpu)
        print(f"{step.line()}\n      waiting: {waiting}", flush=True)
        await self._drain(phase, backlog, self.seconds(60, 30))
        return step

    async def _search(self, platform: Platform, procs: Procs, backlog: Backlog) -> float:
        """Double from 25/s while the system keeps up (halve while it does not), then one step between
        the highest rate kept up and the lowest one not."""
        rate, steps, between_done = 25.0, list[Step](), False
        while len(steps) < 8:
            step = await self._step(platform, procs, backlog, f"s{len(steps)}", rate)
            steps.append(step)
            kept = [s.offered for s in steps if s.kept_up]
            behind = [s.offered for s in steps if not s.kept_up and s.offered > max(kept, default=0)]
            if not behind:
                rate *= 2
            elif not kept:
                if rate <= 4:
                    break
                rate /= 2
            elif not between_done and min(behind) / max(kept) > 1.3:
                rate, between_done = round((min(behind) * max(kept)) ** 0.5), True
            else:
                break
        kept_steps = [s for s in steps if s.kept_up]
        best = (
            max(kept_steps, key=lambda s: s.offered) if kept_steps else max(steps, key=lambda s: s.achieved)
        )
        sustained = best.offered if kept_steps else max(1.0, best.achieved)
        overloaded = [s for s in steps if not s.kept_up]
        note = f"({len(steps)} steps of {self.seconds(6, 4):.0f}s"
        if overloaded:
            top = max(overloaded, key=lambda s: s.offered)
            note += f"; offered {top.offered:.0f}/s, mailed {top.achieved:.0f}/s"
        note += ")"
        fig = Figure(
            "e2e sustained rate: contacts closed → invitations mailed", sustained, "contacts/s", note=note
        )
        self.report.add(self.report.ratio_to(fig, C_PRODUCE))
        for name in (*SERVICES, "postgres", "kafka", "bench"):
            per_contact = best.cpu[name] / max(best.achieved, 0.1) * 1000
            self.report.add(
                Figure(
                    f"e2e CPU per contact at {best.offered:.0f}/s: {name}",
                    per_contact,
                    "ms",
                    note=f"({best.cpu[name]:.0%} of a core; machine busy {best.cpu['machine']:.0%} of "
                    f"{os.cpu_count()} cores)",
                )
            )
        return sustained

    async def _campaign(self, platform: Platform, procs: Procs, backlog: Backlog, n: int) -> None:
        """A mass mailing: n contacts published at once (as a platform closing a campaign's contacts
        would), while the customers keep answering. Time until the last invitation is mailed, every
        invitation once, CPU per contact by process, and the unhappy answers' mail latency meanwhile."""
        phase = "c"
        cpu_before, wall_before = procs.cpu_times(), time.monotonic()
        started = time.time()
        published = await platform.blast(phase, n)
        await self._drain(phase, backlog, max(self.seconds(300, 120), n / 50))
        wall = time.monotonic() - wall_before
        cpu = _cpu_shares(cpu_before, procs.cpu_times(), wall)
        customers = self.seen.customers(phase)
        mailed = [self.seen.invited[c] for c in customers if c in self.seen.invited]
        last = max(mailed, default=started) - started
        missing = len(customers) - len(mailed)
        head = f"e2e campaign of {n:,} contacts"
        self.report.add(
            Figure(
                f"{head}: published",
                n / max(published - started, 1e-6),
                "contacts/s",
                note=f"(all on Kafka in {published - started:.1f}s)",
            )
        )
        self.report.add(
            Figure(
                f"{head}: last invitation mailed after",
                last,
                "s",
                note=f"({len(mailed):,} mailed, {missing} missing, {self.seen.twice} mailed twice)",
            )
        )
        self.report.add(Figure(f"{head}: invitations mailed", len(mailed) / max(last, 1e-6), "mails/s"))
        services = sum(cpu[name] for name in (*SERVICES, "postgres", "kafka"))
        for name in (*SERVICES, "postgres", "kafka", "bench"):
            self.report.add(
                Figure(
                    f"{head}: CPU per contact, {name}",
                    cpu[name] * wall / n * 1000,
                    "ms",
                    note=f"({cpu[name]:.0%} of a core over {wall:.0f}s)",
                )
            )
        self.report.add(
            Figure(
                f"{head}: CPU per contact, services + postgres + kafka",
                services * wall / n * 1000,
                "ms",
                note=f"(machine busy {cpu['machine']:.0%} of {os.cpu_count()} cores)",
            )
        )
        latencies = self._alert_latencies(phase)
        for p in (50, 99):
            self.report.add(
                Figure(
                    f"{head}: unhappy answer on Kafka → supervisor mail meanwhile, p{p}",
                    percentile(latencies, p),
                    "ms",
                    note=f"({len(latencies)} unhappy answers)" if p == 50 else "",
                )
            )

    async def _mixed(
        self, producer: AIOKafkaProducer, procs: Procs, backlog: Backlog, sustained: float
    ) -> None:
        """Everything at once, as a platform's bad day: steady contacts at half the sustained rate for
        the whole phase, a campaign published a sixth of the way in, a 10x burst of the half rate a
        third of the way in, the customers answering throughout. Each stream publishes on its own
        (one Platform each, the same producer). Time until everything is mailed, the contacts'
        invitation latency per stream, the unhappy answers' mail latency, CPU per contact by process."""
        steady, burst = sustained / 2, sustained * 5
        seconds, burst_s = self.seconds(30, 15), self.seconds(10, 5)
        n = max(1_000, int(MIXED_CAMPAIGN * self.scale))

        async def later(delay: float, publish: Awaitable[float]) -> float:
            await asyncio.sleep(delay)
            return await publish

        cpu_before, wall_before = procs.cpu_times(), time.monotonic()
        started = time.time()
        await asyncio.gather(
            Platform(producer, self.seen).offer("ms", steady, seconds),
            later(seconds / 6, Platform(producer, self.seen).blast("mc", n)),
            later(seconds / 3, Platform(producer, self.seen).offer("mb", burst, burst_s)),
        )
        for phase in ("ms", "mb", "mc"):
            await self._drain(phase, backlog, max(self.seconds(300, 120), n / 50))
        wall = time.monotonic() - wall_before
        cpu = _cpu_shares(cpu_before, procs.cpu_times(), wall)
        contacts = [c for phase in ("ms", "mb", "mc") for c in self.seen.customers(phase)]
        mailed = [self.seen.invited[c] for c in contacts if c in self.seen.invited]
        head = (
            f"e2e mixed: {steady:.0f}/s for {seconds:.0f}s + a campaign of {n:,} + a 10x burst "
            f"({burst:.0f}/s for {burst_s:.0f}s), answers throughout"
        )
        self.report.add(
            Figure(
                f"{head}: everything mailed after",
                max(mailed, default=started) - started,
                "s",
                note=f"({len(mailed):,} of {len(contacts):,} mailed, {len(contacts) - len(mailed)} missing, "
                f"{self.seen.twice} mailed twice over the run)",
            )
        )
        for phase, label in (("ms", "steady"), ("mb", "burst")):
            invites = self._invite_latencies(phase)
            for p in (50, 99):
                self.report.add(
                    Figure(f"{head}: {label} contact → invitation mailed, p{p}", percentile(invites, p), "ms")
                )
        latencies = [x for phase in ("ms", "mb", "mc") for x in self._alert_latencies(phase)]
        for p in (50, 99):
            self.report.add(
                Figure(
                    f"{head}: unhappy answer on Kafka → supervisor mail, p{p}",
                    percentile(latencies, p),
                    "ms",
                    note=f"({len(latencies)} unhappy answers)" if p == 50 else "",
                )
            )
        services = sum(cpu[name] for name in (*SERVICES, "postgres", "kafka"))
        shares = ", ".join(f"{name} {cpu[name]:.0%}" for name in (*SERVICES, "postgres", "kafka", "bench"))
        machine = f"machine busy {cpu['machine']:.0%} of {os.cpu_count()} cores"
        self.report.add(
            Figure(
                f"{head}: CPU per contact, services + postgres + kafka",
                services * wall / max(len(contacts), 1) * 1000,
                "ms",
                note=f"({shares} of a core over {wall:.0f}s; {machine})",
            )
        )

    def _alert_latencies(self, phase: str) -> list[float]:
        return [
            (self.seen.alerted[self._alert_key(s)] - self.seen.on_kafka[s]) * 1000
            for s in self.seen.unhappy(phase)
            if s in self.seen.on_kafka and self._alert_key(s) in self.seen.alerted
        ]

    async def _latencies(
        self, platform: Platform, backlog: Backlog, phase: str, rate: float, seconds: float, label: str
    ) -> None:
        started = time.monotonic()
        watch = (
            asyncio.create_task(self._watch(backlog, started))
            if os.environ.get("HOERA_BENCH_TRACE")
            else None
        )
        await platform.offer(phase, rate, seconds)
        await self._drain(phase, backlog, self.seconds(90 if phase == "b" else 60, 30))
        drained = time.monotonic() - started
        if watch is not None:
            watch.cancel()
        unhappy = self.seen.unhappy(phase)
        latencies = self._alert_latencies(phase)
        missing = len(unhappy) - len(latencies)
        count = f"{len(latencies)} unhappy answers{f', {missing} missing' if missing else ''}"
        head = f"e2e {label} ({rate:.0f}/s for {seconds:.0f}s)"
        for p in (50, 99):
            fig = Figure(
                f"{head}: unhappy answer on Kafka → supervisor mail, p{p}", percentile(latencies, p), "ms"
            )
            if p == 50:
                fig.note = f"({count}; drained in {drained:.0f}s)"
                self.report.ratio_to(fig, ALERTS_FLOOR)
            self.report.add(fig)
        self.report.add(
            Figure(f"{head}: unhappy answer on Kafka → supervisor mail, max", max(latencies, default=0), "ms")
        )
        invites = self._invite_latencies(phase)
        for p in (50, 99):
            self.report.add(
                Figure(
                    f"{head}: contact closed → invitation mailed, p{p}",
                    percentile(invites, p),
                    "ms",
                    note=f"({len(invites)} of {len(self.seen.customers(phase))} contacts)" if p == 50 else "",
                )
            )


def _tell_log_problems(folder: Path) -> None:
    """The services log at WARNING here: say what they complained about before the logs go."""
    for log in sorted(folder.glob("*.log")):
        lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
        if lines:
            print(f"  ({log.stem}: {len(lines)} log lines, e.g. {lines[0][:200]!r})")


def run(report: Report, scale: float) -> None:
    asyncio.run(Bench(report, scale).run())


def _profiled_service() -> None:
    """A service's `python -m` under pyinstrument: the whole process, every task (statistical)."""
    import runpy

    from pyinstrument import Profiler

    out = Path(os.environ["HOERA_BENCH_PROFILE_OUT"])
    out.parent.mkdir(parents=True, exist_ok=True)

    # uvicorn restores this handler after its graceful stop and raises SIGTERM again: end here, write.
    def _stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _stop)
    profiler = Profiler(interval=0.002, async_mode="disabled")
    profiler.start()
    try:
        runpy.run_module(os.environ["HOERA_BENCH_PROFILE_MODULE"], run_name="__main__", alter_sys=True)
    finally:
        profiler.stop()
        out.with_suffix(".txt").write_text(profiler.output_text(unicode=True, show_all=False))


if __name__ == "__main__":
    if os.environ.get("HOERA_BENCH_PROFILE_MODULE"):
        _profiled_service()
    else:
        run(Report(), float(sys.argv[1]) if len(sys.argv) > 1 else 1.0)
