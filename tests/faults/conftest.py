"""The fault-injection harness: the whole system under a steady stream, compared with its ledger by id.

A run (`fault_run`) starts the five services as processes on fresh databases (tests/conftest.py's
`running_system`), with their own in-process SMTP sink (so the SMTP-down fault takes only this run's
mail server away) and survey invitations sent at once. The stream is the demo generator's
(deploy/local's `hoera_local.demo`): the platform publishes contacts on phone, e-mail and chat,
complaints and deceased-customer cases to Kafka, customers answer the invitations they find in the
sink, some unhappy and asking to be contacted, and a few poison messages (undecodable bytes,
schema-invalid JSON) go onto the platform's topics on purpose. Everything sent is written to a
ledger. After the fault the run drains (waits, bounded, until the outcomes stop missing) and judges
what came out against the ledger, by id:

- every complaint raised once, acknowledged once (one `complaint.acknowledged` event id) and one
  acknowledgement mail in the sink;
- every contact one survey decision (invited or suppressed), every invitation one mail, no
  invitation about a deceased customer;
- every accepted answer one `survey.answered`; every unhappy one one unhappy-smiley alert and one
  mail to the supervisor, a happy one none; every "please contact me" one callback, no others;
- every poison message dead-lettered into its topic's `.dlq` by every consumer of that topic, and
  seen nowhere else; no other event of the run in any `.dlq`.

Topics are read from their end offsets at the start of the stream, so earlier traffic and other
tests' traffic do not count; the run's customer ids carry a run tag that tells its events apart.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from hoera_devkit.smtp_sink import MailStore, SmtpSink, web_app
from hoera_devkit.testing import eventually, free_port, kafka_bootstrap, platform_headers
from hoera_devkit.tokens import mint_token
from hoera_events.envelope import Envelope, decode, encode, make_envelope
from hoera_events.platform import ComplaintReceived, ContactClosed
from hoera_events.registry import all_topics, dlq_topic, topic_for
from hoera_kit.auth import Role
from hoera_kit.settings import DEV_ISSUER, DEV_SIGNING_SECRET
from hoera_local.demo import Customers, DemoSettings, Ledger, Platform

from tests.conftest import System, invitations_at_once, running_system

ROOT = Path(__file__).resolve().parents[2]
TENANT = "demo"
CONTACT_TOPIC = topic_for(ContactClosed)
COMPLAINT_TOPIC = topic_for(ComplaintReceived)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "faults: fault injection against the whole system (slow; stops shared infrastructure)"
    )


@dataclass
class StreamPlan:
    """A few events a second for half a minute: enough of every kind to be judged by id."""

    seconds: float = 30.0
    rate: float = 3.0
    complaint_share: float = 0.25
    deceased_share: float = 0.04
    respond_share: float = 0.6
    call_me_share: float = 0.15
    poison_rounds: int = 3
    drain_s: float = 120.0


# ---- the stream ------------------------------------------------------------------------------------


async def publish_until_acknowledged(producer: AIOKafkaProducer, topic: str, value: bytes, key: bytes) -> Any:
    """The platform keeps trying while the broker is away; a repeat carries the same event id, which
    the consumers' inbox turns into a no-op, so the ledger may say "sent" only once it was acknowledged."""
    attempt = 0
    while True:
        try:
            # Signed as the platform signs for its tenant (hoera_kit.signing); poison is signed too,
            # so it is refused for what it is, not for a missing signature.
            headers = platform_headers(value) if value is not None else []
            return await asyncio.wait_for(producer.send_and_wait(topic, value, key=key, headers=headers), 15)
        except (KafkaError, TimeoutError):
            attempt += 1
            await asyncio.sleep(min(2.0, 0.2 * attempt))


class RunCustomers(Customers):
    """The demo's customers, with more of them unhappy and asking to be called back than the
    seed's rates, so every run has a few of each to judge by id."""

    def __init__(self, settings: DemoSettings, ledger: Ledger, web_port: int, call_me_share: float) -> None:
        super().__init__(settings, ledger, web_port)
        self.call_me_share = call_me_share

    def answer_form(self, token: str, language: str) -> dict[str, str]:
        form = super().answer_form(token, language)
        if self.rng.random() < self.call_me_share:
            form["satisfaction"] = str(self.rng.choice([1, 2]))
            form["contact_me"] = "yes"
            form["contact_channel"] = self.rng.choice(["phone", "email"])
        return form


class LedgerPlatform(Platform):
    """The demo platform with the run's customers (tagged ids, a pool large enough that a deceased
    customer and a surveyed one do not meet by chance) and acknowledged publishing."""

    def __init__(self, settings: DemoSettings, producer: AIOKafkaProducer, ledger: Ledger, tag: str) -> None:
        super().__init__(settings, producer, ledger)
        self.tag = tag

    def _customer(self) -> str:
        return f"{self.tag}-c{self.rng.randint(1, self.s.customers):07d}"

    async def _publish(self, env: Envelope) -> None:
        await publish_until_acknowledged(self.producer, topic_for(env.data), encode(env), env.key.encode())


def undecodable(key: str) -> bytes:
    return b"\xff\xfe\x00 not an event: " + key.encode()


def schema_invalid(topic: str, key: str) -> bytes:
    """A well-formed CloudEvent whose data breaks the registered schema (an unknown channel)."""
    from datetime import UTC, datetime

    from hoera_events.common import Channel, Language

    now = datetime.now(UTC)
    event: ContactClosed | ComplaintReceived
    if topic == CONTACT_TOPIC:
        event = ContactClosed(
            contact_id=key,
            customer_id=key,
            channel=Channel.phone,
            agent_id="agent-anna",
            team_id="team-nl-1",
            closed_at=now,
            language=Language.nl,
        )
    else:
        event = ComplaintReceived(
            platform_ref=key,
            customer_id=key,
            channel=Channel.phone,
            category="refund.late",
            language=Language.nl,
            received_at=now,
            summary="poison",
        )
    message = json.loads(encode(make_envelope(event, producer="platform", tenant=TENANT)))
    message["data"]["channel"] = "carrier-pigeon"
    return json.dumps(message).encode()


# ---- what came out ---------------------------------------------------------------------------------


class TopicLog:
    """Every registered topic and its .dlq twin, read from the offsets at the start of the run."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        self.tps: list[TopicPartition] = []
        self.records: dict[str, list[Any]] = defaultdict(list)
        self.events: dict[str, list[Envelope]] = defaultdict(list)

    async def start(self) -> None:
        await self.consumer.start()
        names = [s.topic for s in all_topics()]
        names += [dlq_topic(n) for n in names]
        cluster = await self.consumer._client.fetch_all_metadata()
        for name in names:
            parts = cluster.partitions_for_topic(name)
            if not parts:
                raise RuntimeError(f"topic {name} does not exist on {self.bootstrap}")
            self.tps += [TopicPartition(name, p) for p in parts]
        self.consumer.assign(self.tps)
        for tp, end in (await self.consumer.end_offsets(self.tps)).items():
            self.consumer.seek(tp, end)

    async def catch_up(self, timeout: float = 60.0) -> None:
        """Read up to the end offsets as they are now."""
        deadline = time.monotonic() + timeout
        ends = await self.consumer.end_offsets(self.tps)
        while time.monotonic() < deadline:
            behind = [tp for tp in self.tps if await self.consumer.position(tp) < ends[tp]]
            if not behind:
                return
            batch = await self.consumer.getmany(*behind, timeout_ms=500)
            for tp, recs in batch.items():
                for rec in recs:
                    self.records[tp.topic].append(rec)
                    if not tp.topic.endswith(".dlq"):
                        with suppress(Exception):  # other tests' poison: not ours to judge
                            self.events[tp.topic].append(decode(rec.value or b""))
        raise TimeoutError("could not read the topics up to their end offsets")

    async def stop(self) -> None:
        await self.consumer.stop()


async def consumers_by_topic(bootstrap: str, group_prefix: str) -> dict[str, set[str]]:
    """Which of the run's consumers (service.name) read each topic, from their groups' offsets."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        out: dict[str, set[str]] = defaultdict(set)
        for group, *_ in await admin.list_consumer_groups():
            if not group.startswith(group_prefix + "."):
                continue
            for tp in await admin.list_consumer_group_offsets(group):
                out[tp.topic].add(group.removeprefix(group_prefix + "."))
        return out
    finally:
        await admin.close()


def _unhappy_rule() -> dict[str, Any]:
    """The alerts service's seed rule (R23), so the expectation follows the operator's data."""
    return dict(json.loads((ROOT / "services/alerts/rules/templates/nl/unhappy.json").read_text()))


def is_unhappy(answer: dict[str, Any], rule: dict[str, Any]) -> bool:
    watched = rule.get("attributes")
    attributes = {k: v for k, v in answer["attributes"].items() if watched is None or k in watched}
    return (
        answer["satisfaction"] <= rule["satisfaction_at_most"]
        or answer["effort"] <= rule["effort_at_most"]
        or answer["nps"] <= rule["nps_at_most"]
        or any(v <= rule["attribute_at_most"] for v in attributes.values())
    )


@dataclass
class Verdict:
    """Problems by kind, each with a few examples; lost, doubled and wrong are what the test asserts."""

    lost: Counter[str] = field(default_factory=Counter)
    doubled: Counter[str] = field(default_factory=Counter)
    wrong: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    sent: Counter[str] = field(default_factory=Counter)
    resent: int = 0
    resent_keys: list[str] = field(default_factory=list)

    def _note(self, counter: Counter[str], what: str, example: str, n: int = 1) -> None:
        counter[what] += n
        if len(self.examples[what]) < 5:
            self.examples[what].append(example)

    def once(self, what: str, ident: str, found: int) -> None:
        if found == 0:
            self._note(self.lost, what, ident)
        elif found > 1:
            self._note(self.doubled, what, f"{ident} x{found}", found - 1)

    def never(self, what: str, ident: str, found: int) -> None:
        if found:
            self._note(self.wrong, what, f"{ident} x{found}", found)

    @property
    def clean(self) -> bool:
        return not (self.lost or self.doubled or self.wrong)

    def detail(self) -> str:
        lines = []
        for title, counter in (("lost", self.lost), ("doubled", self.doubled), ("wrong", self.wrong)):
            for what, n in sorted(counter.items()):
                lines.append(f"  {title} {what}: {n} e.g. {', '.join(self.examples[what])}")
        return "\n".join(lines)


@dataclass
class Mine:
    """Which of the ids on the topics this run's services made.

    Other systems on the shared broker (the end-to-end suite's, `make up`, a colleague's tests) read
    the same topics, so they also raise complaints about this run's contacts, invite its customers
    and queue callbacks for its answers, with events of their own. Random ids (complaints,
    callbacks) are asked of this run's services over HTTP: theirs answer 404 here. Deterministic
    ids (surveys, alerts) are the same in every system; they are counted by distinct id, and the
    mails in this run's own sink say what this run's services did.
    """

    complaints: set[str] = field(default_factory=set)
    callbacks: set[str] = field(default_factory=set)


def _answer_of(data: Any) -> dict[str, Any]:
    return {
        "satisfaction": data.satisfaction if data.satisfaction is not None else 5,
        "effort": data.effort if data.effort is not None else 5,
        "nps": data.nps if data.nps is not None else 10,
        "attributes": {str(k): v for k, v in data.attributes.items()},
        "contact_me": data.contact_me is not None,
    }


def _same_answer(ledger: dict[str, Any], data: Any) -> bool:
    got = _answer_of(data)
    return all(ledger[k] == got[k] for k in ("satisfaction", "effort", "nps", "attributes", "contact_me"))


def run_surveys(log: TopicLog, tag: str) -> set[str]:
    """The surveys of this run's customers (survey ids are the same in every system that invites)."""
    return {
        str(e.data.survey_id)  # type: ignore[attr-defined]
        for e in log.events[topic_of("survey.invited")]
        if e.data.customer_id.startswith(tag)  # type: ignore[attr-defined]
    }


def topic_of(event_type: str) -> str:
    return f"hoera.{event_type}.v1"


def judge(
    ledger: list[dict[str, Any]],
    log: TopicLog,
    mails: list[dict[str, Any]],
    consumers: dict[str, set[str]],
    tag: str,
    mine: Mine,
) -> Verdict:
    v = Verdict()

    def of(event_type: str) -> list[Envelope]:
        return log.events[topic_of(event_type)]

    def data(e: Envelope) -> Any:
        return e.data

    # A mail is known by its Message-ID (derived from the idempotency key): the same one received
    # again is a resend after a crash between the SMTP server's accept and the commit (delivery is at
    # least once, docs/architecture.md); a second Message-ID for one thing would be a second mail.
    received = Counter(m["idempotency_key"] for m in mails)
    mail_count = Counter(key for key, _ in {(m["idempotency_key"], m["message_id"]) for m in mails})
    v.resent = sum(received.values()) - sum(mail_count.values())
    v.resent_keys = sorted(k for k in received if received[k] > mail_count[k])
    alert_mails: Counter[str] = Counter()
    for key, n in mail_count.items():
        if key.startswith("alert:"):
            alert_mails[key.split(":")[1]] += n

    # Complaints: raised once, acknowledged once (one event id), one acknowledgement mail (R2).
    raised: dict[str, list[Envelope]] = defaultdict(list)
    for e in of("complaint.raised"):
        if str(data(e).complaint_id) in mine.complaints:
            raised[str(data(e).platform_ref)].append(e)
    acks: dict[str, set[Any]] = defaultdict(set)
    for e in of("complaint.acknowledged"):
        acks[str(data(e).complaint_id)].add(e.id)
    for item in (x for x in ledger if x["kind"] == "complaint.received"):
        v.sent["complaints"] += 1
        v.sent["deceased cases"] += bool(item["deceased"])
        envs = raised[item["platform_ref"]]
        v.once("complaint raised", item["platform_ref"], len({e.id for e in envs}))
        for cid in sorted({str(data(e).complaint_id) for e in envs}):
            v.once("complaint acknowledged (event)", cid, len(acks[cid]))
            v.once("acknowledgement mail", cid, mail_count[f"acknowledgement:{cid}"])

    # Contacts: one survey decision each (R17, R21), one mail per invitation, none about the deceased.
    decisions: dict[str, set[tuple[str, str | None]]] = defaultdict(set)
    for e in of("survey.invited") + of("survey.suppressed"):
        if data(e).contact_id is not None:
            decisions[data(e).contact_id].add((e.type, str(getattr(e.data, "survey_id", "")) or None))
    for item in (x for x in ledger if x["kind"] == "contact.closed"):
        v.sent["contacts"] += 1
        got = decisions[item["contact_id"]]
        v.once("survey decision per contact", item["contact_id"], len(got))
        for kind, survey_id in got:
            if kind != "survey.invited":
                continue
            v.once("invitation mail", str(survey_id), mail_count[f"survey-invitation:{survey_id}"])
            if item["deceased"]:
                v.never("invitation about a deceased customer", item["contact_id"], 1)

    # Answers to this run's surveys: each accepted one (303) recorded once; what they ask for done once.
    surveys = run_surveys(log, tag)
    answered: dict[str, list[Envelope]] = defaultdict(list)
    for e in of("survey.answered"):
        answered[str(data(e).survey_id)].append(e)
    given: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in (x for x in ledger if x["kind"] == "survey.answer" and x["survey_id"] in surveys):
        if item["status"] != 303:
            v.sent["answers refused"] += 1
            continue
        v.sent["answers"] += 1
        given[item["survey_id"]].append(item)
        matching = {e.id for e in answered[item["survey_id"]] if _same_answer(item, e.data)}
        v.once("answer recorded", item["survey_id"], len(matching))
    unhappy_rule = _unhappy_rule()
    alerts: dict[str, set[str]] = defaultdict(set)
    for e in of("alert.raised"):
        if data(e).survey_id is not None and str(data(e).kind) == "unhappy_smiley":
            alerts[str(data(e).survey_id)].add(str(data(e).alert_id))
    callbacks: dict[str, set[Any]] = defaultdict(set)
    for e in of("callback.requested"):
        if data(e).survey_id is not None and str(data(e).callback_id) in mine.callbacks:
            callbacks[str(data(e).survey_id)].add(e.id)
    for survey_id in sorted(surveys):
        # Every answer this system took for the survey counts, whoever gave it: a reply lost when a
        # service died mid-request, or another system's customer answering the same survey id.
        answers = given[survey_id] + [
            _answer_of(e.data)
            for e in answered[survey_id]
            if not any(_same_answer(g, e.data) for g in given[survey_id])
        ]
        if not answers:
            continue
        v.sent["answers without reply"] += len(answers) - len(given[survey_id])
        unhappy = any(is_unhappy(a, unhappy_rule) for a in answers)
        contact_me = any(a["contact_me"] for a in answers)
        v.sent["unhappy answers"] += unhappy
        v.sent["contact-me requests"] += contact_me
        if unhappy:
            v.once("unhappy-smiley alert", survey_id, len(alerts[survey_id]))
            for alert_id in sorted(alerts[survey_id]):
                v.once("mail to the supervisor", alert_id, alert_mails[alert_id])
        else:
            v.never("alert for a happy answer", survey_id, len(alerts[survey_id]))
            v.never(
                "supervisor mail for a happy answer",
                survey_id,
                sum(alert_mails[a] for a in alerts[survey_id]),
            )
        if contact_me:
            v.once("callback per contact-me request", survey_id, len(callbacks[survey_id]))
        else:
            v.never("callback nobody asked for", survey_id, len(callbacks[survey_id]))

    # Poison: in its topic's .dlq, by every consumer of that topic, and nowhere else.
    poison = {x["key"]: x for x in ledger if x["kind"] == "poison"}
    v.sent["poison"] = len(poison)
    prefix = f"{tag}-poison-".encode()
    lettered: dict[str, set[str]] = defaultdict(set)
    for topic, recs in log.records.items():
        for rec in recs:
            key = rec.key or b""
            headers = {k: val.decode("utf-8", "replace") for k, val in rec.headers or []}
            if key.startswith(prefix):
                item = poison.get(key.decode())
                if item is None:
                    continue
                if topic == dlq_topic(item["topic"]):
                    lettered[item["key"]].add(headers.get("hoera-dlq-consumer", "?"))
                elif topic != item["topic"]:
                    v.never("poison outside its topic and .dlq", f"{item['key']} in {topic}", 1)
            elif topic.endswith(".dlq") and tag.encode() in (rec.value or b""):
                v.never(
                    "good event dead-lettered",
                    f"{headers.get('hoera-dlq-topic')}@{headers.get('hoera-dlq-offset')} by "
                    f"{headers.get('hoera-dlq-consumer')}: {headers.get('hoera-dlq-error', '')[:120]}",
                    1,
                )
    for key, item in poison.items():
        for consumer in sorted(consumers.get(item["topic"], set())):
            v.once(f"poison dead-lettered by {consumer}", key, int(consumer in lettered[key]))
    for mail in mails:
        if "-poison-" in " ".join(mail["to"]):
            v.never("mail caused by poison", mail["idempotency_key"], 1)
    return v


# ---- one run ---------------------------------------------------------------------------------------


async def _all_or_first_failure(*steps: Awaitable[None]) -> None:
    """Run the steps together; the first to fail cancels the others (a fault that could not be
    injected or undone must not leave the platform retrying for ever)."""
    tasks = [asyncio.ensure_future(step) for step in steps]
    try:
        for done in asyncio.as_completed(tasks):
            await done
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class RunMailStore(MailStore):
    """The run's sink keeps every mail; its web API (what the customers read) shows only the mail
    to this run's customers, so they do not answer invitations of other systems' traffic."""

    def __init__(self, folder: Path, tag: str) -> None:
        super().__init__(folder)
        self.tag = tag

    def all_entries(self) -> list[dict[str, Any]]:
        return super().entries()

    def entries(self) -> list[dict[str, Any]]:
        return [e for e in super().entries() if any(to.startswith(self.tag) for to in e["to"])]


@dataclass
class Figures:
    kills: int = 0
    restarts: int = 0
    notes: list[str] = field(default_factory=list)


class FaultRun:
    """One system, one stream, one fault, one verdict."""

    def __init__(
        self,
        name: str,
        tag: str,
        system: System,
        sink: SmtpSink,
        store: RunMailStore,
        web_port: int,
        workdir: Path,
        bootstrap: str,
    ) -> None:
        self.name = name
        self.tag = tag
        self.system = system
        self.sink = sink
        self.store = store
        self.web_port = web_port
        self.workdir = workdir
        self.bootstrap = bootstrap
        self.figures = Figures()
        self.ledger_path = workdir / "ledger.jsonl"
        self.log = TopicLog(bootstrap)
        self._known: set[str] = set()  # ids this run's services answered 200 for
        self._foreign: set[str] = set()  # and 404: another system's
        self._consumers: dict[str, set[str]] = {}
        self.timings: dict[str, float] = {}
        token = mint_token(
            subject="faults-supervisor",
            roles=[Role.supervisor],
            teams=["team-nl-1", "team-fr-1"],
            tenant=TENANT,
            secret=DEV_SIGNING_SECRET,
            issuer=DEV_ISSUER,
            audience="hoera",
        )
        self.headers = {"Authorization": f"Bearer {token}"}

    def ledger(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.ledger_path.read_text().splitlines() if line.strip()]

    async def stream(self, fault: Callable[[], Awaitable[None]], plan: StreamPlan | None = None) -> Verdict:
        """The stream with the fault injected while it flows, then the drain and the verdict."""
        plan = plan or StreamPlan()
        settings = DemoSettings(
            rate=plan.rate,
            burst_factor=1.0,
            burst_every_s=1e9,
            complaint_share=plan.complaint_share,
            deceased_share=plan.deceased_share,
            respond_share=plan.respond_share,
            customers=10**6,
            duration_s=plan.seconds,
        )
        try:
            await self.log.start()
        except BaseException:
            await self.log.stop()
            raise
        # Not idempotent: a batch lost while the broker stops leaves aiokafka's idempotent producer
        # ahead of the broker's sequence, and every later batch to that partition is refused for ever
        # (the outbox relay replaces its producer then; the platform here would just stall). Resends
        # carry the same event id, which the consumers' inbox turns into a no-op.
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            acks="all",
            linger_ms=5,
            request_timeout_ms=10000,
            retry_backoff_ms=200,
        )
        await producer.start()
        ledger = Ledger(self.ledger_path)
        customers = RunCustomers(settings, ledger, self.web_port, plan.call_me_share)
        answering = asyncio.Event()
        readers = asyncio.create_task(customers.run(answering))
        try:
            platform = LedgerPlatform(settings, producer, ledger, self.tag)
            began = time.monotonic()
            await _all_or_first_failure(
                platform.run(asyncio.Event()), self._poison(producer, ledger, plan), fault()
            )
            self.timings["stream and fault"] = time.monotonic() - began
            return await self._drain(customers, answering, readers, plan)
        finally:
            answering.set()
            with suppress(Exception):
                await readers
            ledger.close()
            # A producer with unsent messages for a broker that is gone would wait for ever.
            with suppress(Exception):
                await asyncio.wait_for(producer.stop(), 15)
            await self.log.stop()

    async def _poison(self, producer: AIOKafkaProducer, ledger: Ledger, plan: StreamPlan) -> None:
        for i in range(plan.poison_rounds):
            await asyncio.sleep(plan.seconds / (plan.poison_rounds + 1))
            for j, topic in enumerate((CONTACT_TOPIC, COMPLAINT_TOPIC)):
                key = f"{self.tag}-poison-{i}-{j}"
                kind = "undecodable" if (i + j) % 2 == 0 else "schema-invalid"
                value = undecodable(key) if kind == "undecodable" else schema_invalid(topic, key)
                meta = await publish_until_acknowledged(producer, topic, value, key.encode())
                ledger.write("poison", key=key, topic=topic, partition=meta.partition, offset=meta.offset)

    async def _sort_out(self, http: httpx.AsyncClient, service: str, path: str, ids: set[str]) -> set[str]:
        """Ask this run's service about each id; 404 means another system made it. An id it could
        not be asked about (down, say) counts as this run's: a false double beats a missed one."""
        for ident in sorted(ids - self._known - self._foreign):
            try:
                resp = await http.get(f"{self.system.url(service)}{path}/{ident}", headers=self.headers)
            except httpx.HTTPError:
                continue
            if resp.status_code == 200:
                self._known.add(ident)
            elif resp.status_code == 404:
                self._foreign.add(ident)
        return ids - self._foreign

    async def _verdict(self) -> Verdict:
        await self.log.catch_up()
        ledger = self.ledger()
        refs = {x["platform_ref"] for x in ledger if x["kind"] == "complaint.received"}
        complaints = {
            str(e.data.complaint_id)  # type: ignore[attr-defined]
            for e in self.log.events[topic_of("complaint.raised")]
            if getattr(e.data, "platform_ref", None) in refs
        }
        surveys = run_surveys(self.log, self.tag)
        callbacks = {
            str(e.data.callback_id)  # type: ignore[attr-defined]
            for e in self.log.events[topic_of("callback.requested")]
            if str(getattr(e.data, "survey_id", None)) in surveys
        }
        async with httpx.AsyncClient(timeout=10) as http:
            mine = Mine(
                complaints=await self._sort_out(http, "intake", "/complaints", complaints),
                callbacks=await self._sort_out(http, "callback", "/callbacks", callbacks),
            )
        if not self._consumers:
            self._consumers = await consumers_by_topic(self.bootstrap, self.system.group_prefix)
        return judge(ledger, self.log, self.store.all_entries(), self._consumers, self.tag, mine)

    async def _drain(
        self, customers: Customers, answering: asyncio.Event, readers: asyncio.Task[None], plan: StreamPlan
    ) -> Verdict:
        """Wait until nothing is missing any more (customers still answering the last invitations),
        then stop the customers, wait again, and let late doubles show for a few seconds."""
        started = time.monotonic()
        deadline = started + plan.drain_s
        verdict = await self._verdict()
        shown = started
        while time.monotonic() < deadline:
            unread = {m["id"] for m in self.store.entries()} - customers.read
            if not verdict.lost and not unread:
                break
            if time.monotonic() - shown > 10:
                shown = time.monotonic()
                print(f"  [{self.name}] draining: still missing {dict(verdict.lost)}", flush=True)
            await asyncio.sleep(1.0)
            verdict = await self._verdict()
        answering.set()
        await readers
        verdict = await self._verdict()
        while verdict.lost and time.monotonic() < deadline:
            await asyncio.sleep(1.0)
            verdict = await self._verdict()
        await asyncio.sleep(3.0)
        verdict = await self._verdict()
        self.timings["drain"] = time.monotonic() - started
        return verdict

    def report(self, verdict: Verdict) -> str:
        s = verdict.sent
        lost, doubled, wrong = (sum(c.values()) for c in (verdict.lost, verdict.doubled, verdict.wrong))
        events = s["contacts"] + s["complaints"] + s["answers"] + s["poison"]
        text = (
            f"\n[faults] {self.name}: events sent {events} = {s['contacts']} contacts + {s['complaints']} "
            f"complaints ({s['deceased cases']} deceased) + {s['answers']} answers ({s['unhappy answers']} "
            f"unhappy, {s['contact-me requests']} contact-me; {s['answers refused']} refused, "
            f"{s['answers without reply']} taken without reply) + {s['poison']} poison; "
            f"kills {self.figures.kills}, restarts {self.figures.restarts}; "
            f"lost {lost}, doubled {doubled}, wrong {wrong}"
        )
        text += "\n  seconds: " + ", ".join(f"{k} {v:.0f}" for k, v in self.timings.items())
        if verdict.resent:
            text += (
                f"\n  resent: {verdict.resent} mail(s) received twice with the same Message-ID "
                f"(at-least-once delivery after a crash): {', '.join(verdict.resent_keys[:5])}"
            )
        if self.figures.notes:
            text += "\n  fault: " + "; ".join(self.figures.notes)
        if not verdict.clean:
            text += "\n" + verdict.detail() + f"\n  logs and ledger: {self.workdir}"
        return text


def fresh_workdir(workdir: Path) -> None:
    """An empty folder for the run's ledger, mail and logs."""
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)


async def _true() -> bool:
    return True


class _SinkWeb(uvicorn.Server):
    """The sink's web API inside the test process; Ctrl-C stays pytest's."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@asynccontextmanager
async def fault_run(
    name: str, workdir: Path, *, bootstrap: str | None = None, service_bootstrap: str | None = None
) -> AsyncIterator[FaultRun]:
    """The system with its own SMTP sink (SMTP on a free port, the web API the customers read).
    service_bootstrap: what the services are given, when it must differ from the harness's."""
    bootstrap = bootstrap or kafka_bootstrap()
    fresh_workdir(workdir)
    tag = f"f{uuid.uuid4().hex[:6]}"
    store = RunMailStore(workdir / "mail", tag)
    sink = SmtpSink("127.0.0.1", 0, store)
    await sink.up()
    web_port = free_port()
    web = _SinkWeb(uvicorn.Config(web_app(sink), host="127.0.0.1", port=web_port, log_level="warning"))
    serving = asyncio.create_task(web.serve())
    await eventually(_true, lambda _: web.started, timeout=10, interval=0.05)
    env = {
        "HOERA_SMTP_PORT": str(sink.port),
        "HOERA_KAFKA_BOOTSTRAP": service_bootstrap or bootstrap,
    }
    try:
        began = time.monotonic()
        async with running_system(workdir / "logs", extra_env=env) as system:
            async with httpx.AsyncClient(timeout=15) as http:
                await invitations_at_once(http, system.url("survey"))
            run = FaultRun(name, tag, system, sink, store, web_port, workdir, bootstrap)
            run.timings["system start"] = time.monotonic() - began
            yield run
    finally:
        web.should_exit = True
        await serving
        await sink.down()


@pytest.fixture
def faults_dir() -> Path:
    return Path(os.environ.get("HOERA_ARTIFACTS", ROOT / "artifacts")) / "faults"
