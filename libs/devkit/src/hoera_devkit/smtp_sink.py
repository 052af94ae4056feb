"""A local SMTP sink for development and tests: a real SMTP server (aiosmtpd) that keeps every mail.

Mails land as .eml files in a folder (HOERA_MAIL_DIR, default <run dir>/mail) with a JSON line per
mail in index.jsonl, and a small web page lists and shows them (http://127.0.0.1:8025/).
Fault-injection tests take the SMTP port down and up again through POST /control/down and
/control/up on the web port, so the process (and the process runner around it) keeps running while
the server refuses connections.

It is also the local SMS gateway: POST /api/sms takes {to, text, idempotency_key, reference} as JSON
and keeps it as a line of sms.jsonl in the same folder (GET /api/sms lists them), so
HOERA_SMS_GATEWAY_URL can point at http://127.0.0.1:8025/api/sms. Recipients matching the regular
expression HOERA_SMTP_REJECT_RECIPIENTS are refused with 550, those matching
HOERA_SMTP_DEFER_RECIPIENTS with 451, to test permanent and transient refusals.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
import uuid
import weakref
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import uvicorn
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse, PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field


class MailStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.index = folder / "index.jsonl"
        self.sms_index = folder / "sms.jsonl"

    def save(self, mail_from: str, rcpt_tos: list[str], raw: bytes) -> dict[str, Any]:
        msg = message_from_bytes(raw, policy=policy.default)
        mail_id = uuid.uuid4().hex
        (self.folder / f"{mail_id}.eml").write_bytes(raw)
        entry = {
            "id": mail_id,
            "received_at": datetime.now(UTC).isoformat(),
            "from": mail_from,
            "to": rcpt_tos,
            "subject": str(msg.get("Subject", "")),
            "message_id": str(msg.get("Message-ID", "")).strip(),
            "idempotency_key": str(msg.get("X-Hoera-Idempotency-Key", "")).strip(),
        }
        with self.index.open("a") as fh:
            fh.write(json.dumps(entry) + "\n")
        return entry

    def entries(self) -> list[dict[str, Any]]:
        return _read_lines(self.index)

    def save_sms(self, sms: dict[str, Any]) -> dict[str, Any]:
        entry = {"id": uuid.uuid4().hex, "received_at": datetime.now(UTC).isoformat(), **sms}
        with self.sms_index.open("a") as fh:
            fh.write(json.dumps(entry) + "\n")
        return entry

    def sms_entries(self) -> list[dict[str, Any]]:
        return _read_lines(self.sms_index)


def _read_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _pattern(value: str | re.Pattern[str] | None) -> re.Pattern[str] | None:
    return re.compile(value) if isinstance(value, str) else value


class _Handler:
    def __init__(
        self,
        store: MailStore,
        reject: re.Pattern[str] | None = None,
        defer: re.Pattern[str] | None = None,
    ) -> None:
        self.store = store
        self.reject = reject
        self.defer = defer

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if self.reject is not None and self.reject.search(address):
            return f"550 5.1.1 <{address}>: recipient refused"
        if self.defer is not None and self.defer.search(address):
            return f"451 4.3.0 <{address}>: try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if isinstance(envelope.content, bytes) and not raw:
            raw = envelope.content
        self.store.save(str(envelope.mail_from), [str(r) for r in envelope.rcpt_tos], raw)
        return "250 Message accepted for delivery"


class SmtpSink:
    """port 0 takes a free port at the first up(); later up() calls reuse it, so tests can take the
    server down and up again at the same address."""

    def __init__(
        self,
        host: str,
        port: int,
        store: MailStore,
        *,
        reject_recipients: str | re.Pattern[str] | None = None,
        defer_recipients: str | re.Pattern[str] | None = None,
    ) -> None:
        self.host, self.port, self.store = host, port, store
        self.reject_recipients = _pattern(reject_recipients)
        self.defer_recipients = _pattern(defer_recipients)
        self._server: asyncio.base_events.Server | None = None
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()

    @property
    def is_up(self) -> bool:
        return self._server is not None

    async def up(self) -> None:
        if self._server is not None:
            return
        loop = asyncio.get_running_loop()
        handler = _Handler(self.store, self.reject_recipients, self.defer_recipients)

        def session() -> SMTP:
            protocol = SMTP(handler, hostname="hoera-smtp-sink")
            self._sessions.add(protocol)
            return protocol

        self._server = await loop.create_server(session, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def down(self) -> None:
        """As a mail server that goes away: no new connections, and the open sessions dropped (a
        client keeping its session open must not go on delivering through a server that is down)."""
        if self._server is None:
            return
        self._server.close()
        for protocol in list(self._sessions):
            transport = getattr(protocol, "transport", None)
            if transport is not None and not transport.is_closing():
                transport.abort()
        self._sessions.clear()
        await self._server.wait_closed()
        self._server = None


class SmsIn(BaseModel):
    """What the SMS gateway accepts; unknown fields are kept (a real gateway may ignore them)."""

    model_config = ConfigDict(extra="allow")

    to: str = Field(min_length=1)
    text: str
    idempotency_key: str | None = None
    reference: str | None = None


def web_app(sink: SmtpSink) -> FastAPI:
    app = FastAPI(title="Hoera SMTP sink", docs_url=None, redoc_url=None)

    @app.get("/", response_class=HTMLResponse)
    async def index() -> str:
        rows = "".join(
            f"<tr><td>{html.escape(e['received_at'])}</td>"
            f"<td>{html.escape(', '.join(e['to']))}</td>"
            f"<td><a href='/mail/{e['id']}'>{html.escape(e['subject'])}</a></td></tr>"
            for e in reversed(sink.store.entries()[-500:])
        )
        sms_rows = "".join(
            f"<tr><td>{html.escape(s['received_at'])}</td><td>{html.escape(s['to'])}</td>"
            f"<td>{html.escape(s['text'])}</td></tr>"
            for s in reversed(sink.store.sms_entries()[-500:])
        )
        state = "up" if sink.is_up else "DOWN"
        return (
            "<!doctype html><html lang='en'><meta charset='utf-8'><title>Hoera mail sink</title>"
            f"<h1>Hoera mail sink</h1><p>SMTP on port {sink.port} is {state}. "
            f"Folder: {html.escape(str(sink.store.folder))}</p>"
            f"<table><tr><th>received</th><th>to</th><th>subject</th></tr>{rows}</table>"
            f"<h2>SMS</h2><table><tr><th>received</th><th>to</th><th>text</th></tr>{sms_rows}"
            "</table></html>"
        )

    @app.get("/api/mails")
    async def mails() -> list[dict[str, Any]]:
        return sink.store.entries()

    @app.post("/api/sms", status_code=201)
    async def sms_in(sms: SmsIn) -> dict[str, Any]:
        return sink.store.save_sms(sms.model_dump())

    @app.get("/api/sms")
    async def sms_list() -> list[dict[str, Any]]:
        return sink.store.sms_entries()

    @app.get("/mail/{mail_id}", response_class=PlainTextResponse)
    async def mail(mail_id: str) -> str:
        if not mail_id.isalnum():
            raise HTTPException(404)
        path = sink.store.folder / f"{mail_id}.eml"
        if not path.exists():
            raise HTTPException(404)
        msg = message_from_bytes(path.read_bytes(), policy=policy.default)
        body = msg.get_body(preferencelist=("plain", "html"))
        text = body.get_content() if body is not None else ""
        headers = "".join(f"{k}: {v}\n" for k, v in msg.items())
        return f"{headers}\n{text}"

    @app.post("/control/down")
    async def control_down() -> dict[str, str]:
        await sink.down()
        return {"smtp": "down"}

    @app.post("/control/up")
    async def control_up() -> dict[str, str]:
        await sink.up()
        return {"smtp": "up"}

    return app


async def serve(
    host: str,
    port: int,
    web_port: int,
    folder: Path,
    *,
    reject_recipients: str | None = None,
    defer_recipients: str | None = None,
) -> None:
    sink = SmtpSink(
        host,
        port,
        MailStore(folder),
        reject_recipients=reject_recipients,
        defer_recipients=defer_recipients,
    )
    await sink.up()
    print(
        f"smtp sink on {host}:{sink.port}, mails in {folder}, web on http://{host}:{web_port}/",
        flush=True,
    )
    server = uvicorn.Server(uvicorn.Config(web_app(sink), host=host, port=web_port, log_level="warning"))
    await server.serve()
    await sink.down()


def main() -> None:
    run_dir = Path(os.environ.get("HOERA_RUN_DIR", ".run"))
    folder = Path(os.environ.get("HOERA_MAIL_DIR", str(run_dir / "mail")))
    asyncio.run(
        serve(
            "127.0.0.1",
            int(os.environ.get("HOERA_SMTP_PORT", "2525")),
            int(os.environ.get("HOERA_SMTP_WEB_PORT", "8025")),
            folder,
            reject_recipients=os.environ.get("HOERA_SMTP_REJECT_RECIPIENTS") or None,
            defer_recipients=os.environ.get("HOERA_SMTP_DEFER_RECIPIENTS") or None,
        )
    )


if __name__ == "__main__":
    main()
