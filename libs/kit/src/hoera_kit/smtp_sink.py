"""A local SMTP sink for development and tests: a real SMTP server (aiosmtpd) that keeps every mail.

Mails land as .eml files in a folder (HOERA_MAIL_DIR, default <run dir>/mail) with a JSON line per mail in
index.jsonl, and a small web page lists and shows them (http://127.0.0.1:8025/). Fault-injection tests take
the SMTP port down and up again through POST /control/down and /control/up on the web port, so the process
(and the process runner around it) keeps running while the server refuses connections.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import uuid
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import uvicorn
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse, PlainTextResponse


class MailStore:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.index = folder / "index.jsonl"

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
            "message_id": str(msg.get("Message-ID", "")),
            "idempotency_key": str(msg.get("X-Hoera-Idempotency-Key", "")),
        }
        with self.index.open("a") as fh:
            fh.write(json.dumps(entry) + "\n")
        return entry

    def entries(self) -> list[dict[str, Any]]:
        if not self.index.exists():
            return []
        return [json.loads(line) for line in self.index.read_text().splitlines() if line.strip()]


class _Handler:
    def __init__(self, store: MailStore) -> None:
        self.store = store

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        raw = envelope.original_content or b""
        if isinstance(envelope.content, bytes) and not raw:
            raw = envelope.content
        self.store.save(str(envelope.mail_from), [str(r) for r in envelope.rcpt_tos], raw)
        return "250 Message accepted for delivery"


class SmtpSink:
    def __init__(self, host: str, port: int, store: MailStore) -> None:
        self.host, self.port, self.store = host, port, store
        self._server: asyncio.base_events.Server | None = None

    @property
    def is_up(self) -> bool:
        return self._server is not None

    async def up(self) -> None:
        if self._server is not None:
            return
        loop = asyncio.get_running_loop()
        handler = _Handler(self.store)
        self._server = await loop.create_server(
            lambda: SMTP(handler, hostname="hoera-smtp-sink"), self.host, self.port
        )

    async def down(self) -> None:
        if self._server is None:
            return
        self._server.close()
        await self._server.wait_closed()
        self._server = None


def web_app(sink: SmtpSink) -> FastAPI:
    app = FastAPI(title="Hoera SMTP sink", docs_url=None, redoc_url=None)

    @app.get("/", response_class=HTMLResponse)
    async def index() -> str:
        rows = "".join(
            f"<tr><td>{html.escape(e['received_at'])}</td><td>{html.escape(', '.join(e['to']))}</td>"
            f"<td><a href='/mail/{e['id']}'>{html.escape(e['subject'])}</a></td></tr>"
            for e in reversed(sink.store.entries()[-500:])
        )
        state = "up" if sink.is_up else "DOWN"
        return (
            "<!doctype html><html lang='en'><meta charset='utf-8'><title>Hoera mail sink</title>"
            f"<h1>Hoera mail sink</h1><p>SMTP on port {sink.port} is {state}. "
            f"Folder: {html.escape(str(sink.store.folder))}</p>"
            f"<table><tr><th>received</th><th>to</th><th>subject</th></tr>{rows}</table></html>"
        )

    @app.get("/api/mails")
    async def mails() -> list[dict[str, Any]]:
        return sink.store.entries()

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


async def serve(host: str, port: int, web_port: int, folder: Path) -> None:
    sink = SmtpSink(host, port, MailStore(folder))
    await sink.up()
    print(f"smtp sink on {host}:{port}, mails in {folder}, web on http://{host}:{web_port}/", flush=True)
    server = uvicorn.Server(
        uvicorn.Config(web_app(sink), host=host, port=web_port, log_level="warning")
    )
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
        )
    )


if __name__ == "__main__":
    main()
