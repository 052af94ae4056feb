"""Demo traffic: behaves like a contact-centre platform, its customers and its agents.

- the platform: closed contacts on phone, e-mail and chat (Kafka, topic contact.closed), complaints
  (complaint.received), and cases about deceased customers, at HOERA_DEMO_RATE contacts per second with
  a burst of HOERA_DEMO_BURST_FACTOR times that rate for 20 s every HOERA_DEMO_BURST_EVERY_S seconds;
- customers: read their survey invitations in the SMTP sink, and about 16% answer, with scores that
  average a CSAT around 8.2/10 and an NPS around 25, some asking to be contacted again;
- agents: resolve and close complaints in intake, and propose compensation in about 2% of them.

Every event and answer it sends is written to a ledger (.run/demo/ledger.jsonl) so that fault tests
can compare what came out with what went in, by id.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from hoera_events.common import AgeBand, Channel, Language
from hoera_events.envelope import Envelope, encode, make_envelope
from hoera_events.platform import ComplaintReceived, ContactClosed
from hoera_events.registry import topic_for

from hoera_local.config import load

TEAMS = {"team-nl-1": Language.nl, "team-fr-1": Language.fr}
AGENTS = {"team-nl-1": ["agent-anna", "agent-bram", "agent-chris"], "team-fr-1": ["agent-luc", "agent-manon"]}
# The complaint categories of intake's seed rules (services/intake/rules/categories.json).
CATEGORIES = [
    "refund.late",
    "reimbursement.refused",
    "invoice.wrong",
    "information.unclear",
    "service.unfriendly",
    "waiting.too_long",
]
REASONS = ["invoice", "reimbursement", "membership", "hospitalisation", "general"]
SUMMARIES = {
    Language.nl: "Terugbetaling van mijn factuur van maart nog altijd niet ontvangen.",
    Language.fr: "Le remboursement de ma facture de mars n'est toujours pas arrivé.",
    Language.en: "The refund of my March invoice has still not arrived.",
}


@dataclass
class DemoSettings:
    rate: float = float(os.environ.get("HOERA_DEMO_RATE", "1.0"))
    burst_factor: float = float(os.environ.get("HOERA_DEMO_BURST_FACTOR", "10"))
    burst_every_s: float = float(os.environ.get("HOERA_DEMO_BURST_EVERY_S", "300"))
    burst_length_s: float = 20.0
    complaint_share: float = float(os.environ.get("HOERA_DEMO_COMPLAINT_SHARE", "0.05"))
    deceased_share: float = 0.003
    agent_delay_s: float = float(os.environ.get("HOERA_DEMO_AGENT_DELAY_S", "60"))
    agent_interval_s: float = 5.0
    compensation_share: float = 0.02
    respond_share: float = float(os.environ.get("HOERA_DEMO_RESPOND_SHARE", "0.16"))
    customers: int = 5000
    duration_s: float | None = (
        float(os.environ["HOERA_DEMO_DURATION_S"]) if os.environ.get("HOERA_DEMO_DURATION_S") else None
    )
    seed: int | None = int(os.environ["HOERA_DEMO_SEED"]) if os.environ.get("HOERA_DEMO_SEED") else None


class Ledger:
    """What the generator sent, one JSON line per item, flushed as it goes."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fh = path.open("a", buffering=1)

    def write(self, kind: str, **fields: Any) -> None:
        self._fh.write(json.dumps({"kind": kind, "at": datetime.now(UTC).isoformat(), **fields}) + "\n")

    def close(self) -> None:
        self._fh.close()


class Platform:
    def __init__(self, settings: DemoSettings, producer: AIOKafkaProducer, ledger: Ledger) -> None:
        self.s = settings
        self.producer = producer
        self.ledger = ledger
        self.rng = random.Random(settings.seed)
        self.sent = 0

    def _customer(self) -> str:
        return f"customer-{self.rng.randint(1, self.s.customers):05d}"

    async def _publish(self, env: Envelope) -> None:
        await self.producer.send(topic_for(env.data), encode(env), key=env.key.encode())

    async def one_contact(self) -> None:
        team = self.rng.choice(list(TEAMS))
        language = TEAMS[team]
        channel = self.rng.choices([Channel.phone, Channel.email, Channel.chat], [0.7, 0.2, 0.1])[0]
        deceased = self.rng.random() < self.s.deceased_share
        customer = self._customer()
        contact_id = f"ct-{uuid.uuid4().hex[:16]}"
        now = datetime.now(UTC)
        contact = ContactClosed(
            contact_id=contact_id,
            customer_id=customer,
            channel=channel,
            agent_id=self.rng.choice(AGENTS[team]),
            team_id=team,
            closed_at=now,
            language=language,
            reason_code=self.rng.choice(REASONS),
            age_band=self.rng.choice(list(AgeBand)),
            recording_ref=f"rec/{contact_id}" if channel is Channel.phone else None,
            about_deceased=deceased,
            first_contact_resolved=self.rng.random() < 0.65,
        )
        env = make_envelope(contact, producer="platform", tenant="demo")
        await self._publish(env)
        self.ledger.write(
            "contact.closed",
            id=str(env.id),
            contact_id=contact_id,
            customer_id=customer,
            deceased=deceased,
            team_id=team,
        )
        self.sent += 1
        if deceased or self.rng.random() < self.s.complaint_share:
            complaint = ComplaintReceived(
                platform_ref=f"pf-{uuid.uuid4().hex[:12]}",
                customer_id=customer,
                channel=channel,
                category="deceased.handling" if deceased else self.rng.choice(CATEGORIES),
                language=language,
                received_at=now,
                summary=SUMMARIES[language],
                contact_id=contact_id,
                agent_id=contact.agent_id,
                team_id=team,
                about_deceased=deceased,
            )
            cenv = make_envelope(complaint, producer="platform", tenant="demo")
            await self._publish(cenv)
            self.ledger.write(
                "complaint.received",
                id=str(cenv.id),
                platform_ref=complaint.platform_ref,
                customer_id=customer,
                deceased=deceased,
                team_id=team,
            )

    def current_rate(self, started: float) -> float:
        phase = (time.monotonic() - started) % self.s.burst_every_s
        in_burst = phase > self.s.burst_every_s - self.s.burst_length_s
        return self.s.rate * (self.s.burst_factor if in_burst else 1.0)

    async def run(self, stop: asyncio.Event) -> None:
        """Open loop: inter-arrival times drawn from the rate, whatever the services' speed."""
        started = time.monotonic()
        while not stop.is_set():
            if self.s.duration_s and time.monotonic() - started > self.s.duration_s:
                break
            await self.one_contact()
            delay = self.rng.expovariate(self.current_rate(started))
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
            except TimeoutError:
                pass
        await self.producer.flush()


SURVEY_LINK = re.compile(r"(https?://[^\s\"'<>]+/s/([0-9a-f-]{36})\?t=([^\s\"'<>&]+))")


class Customers:
    """Customers reading their mail: about 16% answer the survey (R20), CSAT ~8.2/10, NPS ~25."""

    def __init__(self, settings: DemoSettings, ledger: Ledger, web_port: int) -> None:
        self.s = settings
        self.ledger = ledger
        self.rng = random.Random(None if settings.seed is None else settings.seed + 1)
        self.sink = f"http://127.0.0.1:{web_port}"
        self.read: set[str] = set()
        self.answered = 0

    def answer_form(self, token: str, language: str) -> dict[str, str]:
        rng = self.rng
        satisfaction = rng.choices([5, 4, 3, 2, 1], [0.45, 0.35, 0.10, 0.06, 0.04])[0]
        nps = rng.choices([10, 9, 8, 7, 6, 5, 3, 0], [0.25, 0.20, 0.20, 0.15, 0.08, 0.06, 0.04, 0.02])[0]
        form = {
            "t": token,
            "lang": language,
            "satisfaction": str(satisfaction),
            "effort": str(max(1, min(5, satisfaction + rng.choice([-1, 0, 0, 1])))),
            "nps": str(nps),
        }
        for attribute in ("friendly", "helpful", "clear", "expert", "empathetic", "thinking_along"):
            if rng.random() < 0.7:
                form[f"attr_{attribute}"] = str(max(1, min(5, satisfaction + rng.choice([-1, 0, 0, 1]))))
        if (satisfaction <= 2 and rng.random() < 0.6) or rng.random() < 0.03:
            form["contact_me"] = "yes"
            form["contact_channel"] = rng.choice(["phone", "email"])
        if rng.random() < 0.3:
            form["comment"] = rng.choice(
                [
                    "Vriendelijk geholpen, dank u.",
                    "Merci pour votre aide.",
                    "Took far too long.",
                    "Niemand belt terug.",
                    "Très claire, merci.",
                ]
            )
        return form

    async def run(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            while not stop.is_set():
                try:
                    await self.read_new_mail(http)
                except httpx.HTTPError:
                    pass
                try:
                    await asyncio.wait_for(stop.wait(), timeout=2.0)
                except TimeoutError:
                    pass

    async def read_new_mail(self, http: httpx.AsyncClient) -> None:
        mails = (await http.get(f"{self.sink}/api/mails")).json()
        for mail in mails:
            if mail["id"] in self.read:
                continue
            self.read.add(mail["id"])
            text = (await http.get(f"{self.sink}/mail/{mail['id']}")).text
            match = SURVEY_LINK.search(text)
            if not match or self.rng.random() >= self.s.respond_share:
                continue
            url, survey_id, token = match.groups()
            language = "fr" if "lang=fr" in text or "Content-Language: fr" in text else "nl"
            page = await http.get(url)
            if page.status_code != 200:
                continue
            form = self.answer_form(token, language)
            resp = await http.post(url.split("?")[0], data=form, follow_redirects=False)
            self.answered += 1
            self.ledger.write(
                "survey.answer",
                survey_id=survey_id,
                status=resp.status_code,
                satisfaction=int(form["satisfaction"]),
                nps=int(form["nps"]),
                effort=int(form["effort"]),
                attributes={
                    k.removeprefix("attr_"): int(v) for k, v in form.items() if k.startswith("attr_")
                },
                contact_me="contact_me" in form,
            )


class Agents:
    """Agents working the complaints in intake: resolve with a root cause (R7), close (R5), and in
    about 2% of complaints a financial compensation through compensation, above the EUR 300 mandate
    now and then so that an approver decides (R14)."""

    def __init__(self, settings: DemoSettings, ledger: Ledger) -> None:
        from hoera_devkit.tokens import mint_demo_tokens
        from hoera_kit.settings import KitSettings

        self.s = settings
        self.ledger = ledger
        self.rng = random.Random(None if settings.seed is None else settings.seed + 2)
        self.tokens = mint_demo_tokens(KitSettings(service_name="demo"))
        self.team_agent = {"team-nl-1": "agent-anna", "team-fr-1": "agent-luc"}
        self.intake = os.environ.get("HOERA_DEMO_INTAKE_URL", "http://127.0.0.1:8101")
        self.compensation = os.environ.get("HOERA_DEMO_COMPENSATION_URL", "http://127.0.0.1:8102")
        self.worked: set[str] = set()

    def _auth(self, subject: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[subject]}"}

    async def run(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=15) as http:
            while not stop.is_set():
                try:
                    await self.work(http)
                except Exception as exc:  # a demo keeps going; the services may be restarting
                    print(f"demo agents: {exc!r}", flush=True)
                try:
                    await asyncio.wait_for(stop.wait(), timeout=self.s.agent_interval_s)
                except TimeoutError:
                    pass

    async def work(self, http: httpx.AsyncClient) -> None:
        causes = (await http.get(f"{self.intake}/root-causes", headers=self._auth("agent-anna"))).json()
        codes = [c["code"] for c in causes] or ["customer-service"]
        now = datetime.now(UTC)
        for team, agent in self.team_agent.items():
            page = await http.get(
                f"{self.intake}/complaints",
                params={"team_id": team, "status": "open", "limit": 50},
                headers=self._auth(agent),
            )
            if page.status_code != 200:
                continue
            for item in page.json().get("items", []):
                cid = str(item["complaint_id"])
                raised = datetime.fromisoformat(item["raised_at"])
                if cid in self.worked or (now - raised).total_seconds() < self.s.agent_delay_s:
                    continue
                self.worked.add(cid)
                if self.rng.random() < self.s.compensation_share:
                    await self.compensate(http, cid, agent)
                resolved = await http.post(
                    f"{self.intake}/complaints/{cid}/resolve",
                    json={
                        "root_cause_department": self.rng.choice(codes),
                        "first_contact_resolution": self.rng.random() < 0.65,
                    },
                    headers=self._auth(agent),
                )
                closed = await http.post(
                    f"{self.intake}/complaints/{cid}/close", json={}, headers=self._auth(agent)
                )
                self.ledger.write(
                    "complaint.worked",
                    complaint_id=cid,
                    resolved=resolved.status_code,
                    closed=closed.status_code,
                )

    async def compensate(self, http: httpx.AsyncClient, complaint_id: str, agent: str) -> None:
        base = f"{self.compensation}/complaints/{complaint_id}"
        above_mandate = self.rng.random() < 0.2
        cents = self.rng.randint(30_001, 60_000) if above_mandate else self.rng.randint(2_500, 30_000)
        money = {"amount_cents": cents, "currency": "EUR"}
        await http.post(f"{base}/apology", json={}, headers=self._auth(agent))
        await http.post(f"{base}/damage", json={"amount": money}, headers=self._auth(agent))
        proposal = await http.post(
            f"{base}/proposals", json={"kind": "financial", "amount": money}, headers=self._auth(agent)
        )
        self.ledger.write(
            "compensation.proposed",
            complaint_id=complaint_id,
            amount_cents=cents,
            status=proposal.status_code,
        )
        if proposal.status_code in (200, 201) and above_mandate:
            compensation_id = proposal.json()["compensation"]["compensation_id"]
            decided = await http.post(
                f"{self.compensation}/approvals/{compensation_id}/approve",
                json={"reason": "Damage confirmed by the invoices the member sent."},
                headers=self._auth("appr-eva"),
            )
            self.ledger.write("compensation.approved", complaint_id=complaint_id, status=decided.status_code)


def print_where_to_look() -> None:
    from hoera_devkit.tokens import DEMO_USERS, mint_demo_tokens
    from hoera_kit.settings import KitSettings

    cfg = load()
    tokens = mint_demo_tokens(KitSettings(service_name="demo"))
    print("\n=== Hoera is up ===", flush=True)
    print(f"  mail sink (every e-mail sent):   http://127.0.0.1:{cfg.smtp_web_port}/")
    # Sign-in pages only: a token in a URL would end up in history, logs and traces.
    print("  supervisor dashboard: http://127.0.0.1:8104/dashboard/sign-in  (paste sup-sara's token below)")
    print("  callback agent page:  http://127.0.0.1:8105/agent/sign-in      (paste agent-anna's token below)")
    print("  survey invitations follow a contact after the delay in the survey rules (seed: 10 minutes)")
    print(
        "  APIs (OpenAPI): intake :8101/docs  compensation :8102/docs  survey :8103/docs"
        "  alerts :8104/docs  callback :8105/docs"
    )
    print("  demo users' tokens (paste one on a sign-in page, or send it as Authorization: Bearer <token>):")
    for user in DEMO_USERS:
        print(
            f"    {user.subject:<18} {','.join(sorted(str(r) for r in user.roles)):<22} "
            f"{tokens[user.subject]}"
        )
    print(f"  ledger of demo traffic: {cfg.run_dir / 'demo' / 'ledger.jsonl'}\n", flush=True)


async def main_async() -> None:
    settings = DemoSettings()
    cfg = load()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    producer = AIOKafkaProducer(
        bootstrap_servers=cfg.kafka_bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    while not stop.is_set():
        try:
            await producer.start()
            break
        except Exception:
            await asyncio.sleep(1.0)
    ledger = Ledger(cfg.run_dir / "demo" / "ledger.jsonl")
    print_where_to_look()
    platform = Platform(settings, producer, ledger)
    customers = Customers(settings, ledger, cfg.smtp_web_port)
    readers = asyncio.create_task(customers.run(stop))
    agents = asyncio.create_task(Agents(settings, ledger).run(stop))
    try:
        await platform.run(stop)
        stop.set()
        await readers
        await agents
    finally:
        await producer.stop()
        ledger.close()


def main() -> None:
    asyncio.run(main_async())


if __name__ == "__main__":
    main()
