"""Demo traffic: behaves like a contact-centre platform serving two organisations, their customers
and their agents.

- the tenants: at start, as the platform's operator, it creates the two organisations modelled on the
  seeds if intake does not serve them yet: Partena (Dutch-speaking, template nl, a EUR 300 mandate) and
  Partenamut (French-speaking, template fr, its own catalogue and caps), each naming the demo platform's
  public key, with which it signs every event it publishes for them;
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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from hoera_devkit.testing import demo_platform_key
from hoera_events.common import AgeBand, Channel, Language
from hoera_events.envelope import Envelope, encode, make_envelope
from hoera_events.platform import ComplaintReceived, ContactClosed
from hoera_events.registry import topic_for
from hoera_kit.signing import public_key_of, signature_header

from hoera_local.config import load

PLATFORM_KID = "demo-platform"
INTAKE = os.environ.get("HOERA_DEMO_INTAKE_URL", "http://127.0.0.1:8101")
COMPENSATION = os.environ.get("HOERA_DEMO_COMPENSATION_URL", "http://127.0.0.1:8102")


@dataclass
class DemoTenant:
    """One organisation the demo platform serves: its teams (from its template's organisation), the
    complaint categories intake knows for it, and the people who work its complaints."""

    id: str
    share: float
    """Of the contacts."""
    teams: dict[str, Language]
    agents: dict[str, list[str]]
    approver: str
    categories: list[str] = field(default_factory=list)


DEMO_TENANTS = [
    DemoTenant(
        "partena",
        0.6,
        {"team-nl-1": Language.nl, "team-fr-1": Language.fr},
        {"team-nl-1": ["agent-anna", "agent-bram", "agent-chris"], "team-fr-1": ["agent-luc", "agent-manon"]},
        approver="appr-eva",
    ),
    DemoTenant(
        "partenamut",
        0.4,
        {"team-fr-1": Language.fr, "team-fr-2": Language.fr},
        {"team-fr-1": ["agent-luc", "agent-manon"], "team-fr-2": ["agent-sophie", "agent-thomas"]},
        approver="appr-jules",
    ),
]
FALLBACK_CATEGORIES = ["refund.late", "invoice.wrong", "information.unclear", "waiting.too_long"]
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
    def __init__(
        self,
        settings: DemoSettings,
        producer: AIOKafkaProducer,
        ledger: Ledger,
        tenants: list[DemoTenant] | None = None,
    ) -> None:
        self.s = settings
        self.producer = producer
        self.ledger = ledger
        self.rng = random.Random(settings.seed)
        self.sent = 0
        self.tenants = tenants or [
            DemoTenant(
                "demo",
                1.0,
                {"team-nl-1": Language.nl, "team-fr-1": Language.fr},
                {"team-nl-1": ["agent-anna"], "team-fr-1": ["agent-luc"]},
                approver="appr-eva",
                categories=FALLBACK_CATEGORIES,
            )
        ]

    def _customer(self) -> str:
        return f"customer-{self.rng.randint(1, self.s.customers):05d}"

    async def _publish(self, env: Envelope) -> None:
        value = encode(env)
        # Signed with the key its tenants name: without it, the services refuse the event.
        headers = [signature_header(value, demo_platform_key(), PLATFORM_KID)]
        await self.producer.send(topic_for(env.data), value, key=env.key.encode(), headers=headers)

    async def one_contact(self) -> None:
        tenant = self.rng.choices(self.tenants, [t.share for t in self.tenants])[0]
        team = self.rng.choice(list(tenant.teams))
        language = tenant.teams[team]
        channel = self.rng.choices([Channel.phone, Channel.email, Channel.chat], [0.7, 0.2, 0.1])[0]
        deceased = self.rng.random() < self.s.deceased_share
        customer = self._customer()
        contact_id = f"ct-{uuid.uuid4().hex[:16]}"
        now = datetime.now(UTC)
        contact = ContactClosed(
            contact_id=contact_id,
            customer_id=customer,
            channel=channel,
            agent_id=self.rng.choice(tenant.agents[team]),
            team_id=team,
            closed_at=now,
            language=language,
            reason_code=self.rng.choice(REASONS),
            age_band=self.rng.choice(list(AgeBand)),
            recording_ref=f"rec/{contact_id}" if channel is Channel.phone else None,
            about_deceased=deceased,
            first_contact_resolved=self.rng.random() < 0.65,
        )
        env = make_envelope(contact, producer="platform", tenant=tenant.id)
        await self._publish(env)
        self.ledger.write(
            "contact.closed",
            tenant=tenant.id,
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
                category="deceased.handling"
                if deceased
                else self.rng.choice(tenant.categories or FALLBACK_CATEGORIES),
                language=language,
                received_at=now,
                summary=SUMMARIES[language],
                contact_id=contact_id,
                agent_id=contact.agent_id,
                team_id=team,
                about_deceased=deceased,
            )
            cenv = make_envelope(complaint, producer="platform", tenant=tenant.id)
            await self._publish(cenv)
            self.ledger.write(
                "complaint.received",
                tenant=tenant.id,
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
    """Agents working the complaints in intake, per tenant: resolve with a root cause (R7), close (R5),
    and in about 2% of complaints a financial compensation through compensation, above the agent's
    mandate now and then so that an approver decides (R14)."""

    def __init__(self, settings: DemoSettings, ledger: Ledger, tenants: list[DemoTenant]) -> None:
        self.s = settings
        self.ledger = ledger
        self.rng = random.Random(None if settings.seed is None else settings.seed + 2)
        self.tenants = tenants
        self.tokens = {t.id: demo_tokens(t.id) for t in tenants}
        self.worked: set[str] = set()

    def _auth(self, tenant: str, subject: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[tenant][subject]}"}

    async def run(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=15) as http:
            while not stop.is_set():
                for tenant in self.tenants:
                    try:
                        await self.work(http, tenant)
                    except Exception as exc:  # a demo keeps going; the services may be restarting
                        print(f"demo agents ({tenant.id}): {exc!r}", flush=True)
                try:
                    await asyncio.wait_for(stop.wait(), timeout=self.s.agent_interval_s)
                except TimeoutError:
                    pass

    def _worker(self, tenant: DemoTenant, team: str) -> str | None:
        """The team's agent the demo can sign in as."""
        return next((a for a in tenant.agents[team] if a in self.tokens[tenant.id]), None)

    async def work(self, http: httpx.AsyncClient, tenant: DemoTenant) -> None:
        now = datetime.now(UTC)
        for team in tenant.teams:
            agent = self._worker(tenant, team)
            if agent is None:
                continue
            causes = (await http.get(f"{INTAKE}/root-causes", headers=self._auth(tenant.id, agent))).json()
            codes = [c["code"] for c in causes] or ["customer-service"]
            page = await http.get(
                f"{INTAKE}/complaints",
                params={"team_id": team, "status": "open", "limit": 50},
                headers=self._auth(tenant.id, agent),
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
                    await self.compensate(http, tenant, cid, agent)
                resolved = await http.post(
                    f"{INTAKE}/complaints/{cid}/resolve",
                    json={
                        "root_cause_department": self.rng.choice(codes),
                        "first_contact_resolution": self.rng.random() < 0.65,
                    },
                    headers=self._auth(tenant.id, agent),
                )
                closed = await http.post(
                    f"{INTAKE}/complaints/{cid}/close", json={}, headers=self._auth(tenant.id, agent)
                )
                self.ledger.write(
                    "complaint.worked",
                    tenant=tenant.id,
                    complaint_id=cid,
                    resolved=resolved.status_code,
                    closed=closed.status_code,
                )

    async def compensate(
        self, http: httpx.AsyncClient, tenant: DemoTenant, complaint_id: str, agent: str
    ) -> None:
        base = f"{COMPENSATION}/complaints/{complaint_id}"
        auth = self._auth(tenant.id, agent)
        mandate = await http.get(f"{COMPENSATION}/rules/mandates", headers=auth)
        limit = 30_000
        if mandate.status_code == 200:
            limit = int(mandate.json().get("agent", {}).get("amount_cents", limit))
        above_mandate = self.rng.random() < 0.2
        cents = self.rng.randint(limit + 1, 2 * limit) if above_mandate else self.rng.randint(2_500, limit)
        money = {"amount_cents": cents, "currency": "EUR"}
        await http.post(f"{base}/apology", json={}, headers=auth)
        await http.post(f"{base}/damage", json={"amount": money}, headers=auth)
        proposal = await http.post(
            f"{base}/proposals", json={"kind": "financial", "amount": money}, headers=auth
        )
        self.ledger.write(
            "compensation.proposed",
            tenant=tenant.id,
            complaint_id=complaint_id,
            amount_cents=cents,
            status=proposal.status_code,
        )
        if proposal.status_code in (200, 201) and above_mandate:
            compensation_id = proposal.json()["compensation"]["compensation_id"]
            decided = await http.post(
                f"{COMPENSATION}/approvals/{compensation_id}/approve",
                json={"reason": "Damage confirmed by the invoices the member sent."},
                headers=self._auth(tenant.id, tenant.approver),
            )
            self.ledger.write(
                "compensation.approved",
                tenant=tenant.id,
                complaint_id=complaint_id,
                status=decided.status_code,
            )


def demo_tokens(tenant: str) -> dict[str, str]:
    from hoera_devkit.tokens import DEMO_TENANTS, mint_demo_tokens
    from hoera_kit.settings import KitSettings

    _, users = DEMO_TENANTS[tenant]
    return mint_demo_tokens(KitSettings(service_name="demo"), tenant=tenant, users=users)


async def ensure_tenants(tenants: list[DemoTenant], stop: asyncio.Event) -> None:
    """As the platform's operator: the demo's organisations exist in intake, naming the demo platform's
    key; then the complaint categories intake knows for each (its template's)."""
    from hoera_devkit.tokens import DEMO_TENANTS, OPERATOR, mint_demo_tokens
    from hoera_kit.settings import KitSettings

    settings = KitSettings(service_name="demo")
    operator = mint_demo_tokens(settings, tenant="platform", users=(OPERATOR,))[OPERATOR.subject]
    headers = {"Authorization": f"Bearer {operator}"}
    key = {"kid": PLATFORM_KID, "public_key": public_key_of(demo_platform_key())}
    names = {"partena": "Partena Ziekenfonds", "partenamut": "Partenamut"}
    async with httpx.AsyncClient(timeout=30) as http:
        while not stop.is_set():
            try:
                for tenant in tenants:
                    template, _ = DEMO_TENANTS[tenant.id]
                    name = names.get(tenant.id, tenant.id)
                    found = await http.get(f"{INTAKE}/tenants/{tenant.id}", headers=headers)
                    if found.status_code == 404:
                        created = await http.post(
                            f"{INTAKE}/tenants",
                            json={
                                "id": tenant.id,
                                "name": name,
                                "template": template,
                                "language": template,
                                "mail_from": f"{name} <klachten@{tenant.id}.hoera.test>",
                                "platform_keys": [key],
                            },
                            headers=headers,
                        )
                        created.raise_for_status()
                    else:
                        found.raise_for_status()
                    agent = next(u.subject for u in DEMO_TENANTS[tenant.id][1] if "agent" in u.roles)
                    auth = {"Authorization": f"Bearer {demo_tokens(tenant.id)[agent]}"}
                    categories = await http.get(f"{INTAKE}/categories", headers=auth)
                    categories.raise_for_status()
                    tenant.categories = [
                        c["code"] for c in categories.json() if c["code"] != "deceased.handling"
                    ]
                return
            except httpx.HTTPError as exc:
                print(f"demo: waiting for intake to create the tenants ({exc!r})", flush=True)
                try:
                    await asyncio.wait_for(stop.wait(), timeout=2.0)
                except TimeoutError:
                    pass


def print_where_to_look() -> None:
    from hoera_devkit.tokens import DEMO_TENANTS, OPERATOR, mint_demo_tokens
    from hoera_kit.settings import KitSettings

    cfg = load()
    print("\n=== Hoera is up: two organisations, Partena (nl) and Partenamut (fr) ===", flush=True)
    print(f"  mail sink (every e-mail sent):   http://127.0.0.1:{cfg.smtp_web_port}/")
    # Sign-in pages only: a token in a URL would end up in history, logs and traces.
    print("  complaint workspace:  http://127.0.0.1:8101/workspace   (agents, supervisors)")
    print("  approval queue:       http://127.0.0.1:8102/approval-queue   (approvers)")
    print("  supervisor dashboard: http://127.0.0.1:8104/dashboard   (supervisors)")
    print("  callback agent page:  http://127.0.0.1:8105/agent       (agents, supervisors)")
    print("  operator console:     http://127.0.0.1:8101/console     (administrators; each service's rules)")
    if not cfg.keycloak_external:
        from hoera_local import keycloak

        print(
            f"  staff sign in at their organisation's Keycloak realm ({keycloak.issuer(cfg, '<tenant>')}):"
            f" any user below, password {keycloak.DEMO_PASSWORD!r}; one sign-in serves every page"
        )
    print("  survey invitations follow a contact after the delay in the tenant's survey triggers")
    print("  (nl template: 10 minutes, between 08:00 and 21:00; fr template: its own)")
    print(
        "  APIs (OpenAPI): intake :8101/docs  compensation :8102/docs  survey :8103/docs"
        "  alerts :8104/docs  callback :8105/docs"
    )
    print(
        "  users, and tokens for the APIs (Authorization: Bearer <token>; in development pages take one too):"
    )
    settings = KitSettings(service_name="demo")
    for tenant, (_, users) in DEMO_TENANTS.items():
        tokens = mint_demo_tokens(settings, tenant=tenant, users=users)
        print(f"   {tenant}:")
        for user in users:
            roles = ",".join(sorted(str(r) for r in user.roles))
            print(f"    {user.subject:<18} {roles:<12} {tokens[user.subject]}")
    operator = mint_demo_tokens(settings, tenant="platform", users=(OPERATOR,))
    print(f"   the platform's operator (creates tenants): {operator[OPERATOR.subject]}")
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
    await ensure_tenants(DEMO_TENANTS, stop)
    print_where_to_look()
    platform = Platform(settings, producer, ledger, DEMO_TENANTS)
    customers = Customers(settings, ledger, cfg.smtp_web_port)
    readers = asyncio.create_task(customers.run(stop))
    agents = asyncio.create_task(Agents(settings, ledger, DEMO_TENANTS).run(stop))
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
