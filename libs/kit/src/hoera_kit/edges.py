"""The HTTP edge: what a request may weigh and hold, checked before any route (or sign-in) sees it.

- The body is read here, up to HOERA_MAX_REQUEST_BYTES: a larger one is refused with 413 as soon as
  its Content-Length says so, or as soon as the bytes read pass the limit, before anything parses it,
  authenticated or not. (Without this, a 50 MB body with no token was read whole before its 401.)
- A form may post at most HOERA_MAX_FORM_FIELDS fields (413 beyond); the operator console's forms,
  an input per value of a rule document, at most HOERA_MAX_CONSOLE_FORM_FIELDS.
- Text may not hold a NUL character anywhere: in the path, a query parameter, a JSON body (key or
  value, at any depth) or a form field. PostgreSQL cannot store one, so instead of a 500 from deep
  inside a transaction the caller gets a 422 naming the field, and nothing changes.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI

from hoera_kit.console import HOME as CONSOLE
from hoera_kit.errors import FieldError, error_response
from hoera_kit.settings import KitSettings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

NUL = "\x00"


class TooLarge(Exception):
    pass


def nul_in(value: Any, where: str) -> str | None:
    """The path of the first string (object key or value) that holds a NUL character."""
    if isinstance(value, str):
        return where if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{where}.{key}"
            if NUL in str(key):
                return path
            found = nul_in(item, path)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = nul_in(item, f"{where}.{index}")
            if found is not None:
                return found
    return None


def _nul_in_pairs(pairs: list[tuple[str, str]], where: str) -> str | None:
    for key, value in pairs:
        if NUL in key or NUL in value:
            return f"{where}.{key.replace(NUL, '?')}"
    return None


def _media_type(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return str(value.decode("latin-1").split(";")[0].strip().lower())
    return ""


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _nul_refusal(field: str) -> Any:
    message = "text may not contain a NUL character (\\u0000)"
    return error_response(
        422,
        f"{field}: {message}",
        field=field,
        errors=[FieldError(field=field, message=message, type="nul_character")],
    )


class EdgeGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_form_fields: int,
        wide_forms: Mapping[str, int] | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_form_fields = max_form_fields
        self.wide_forms = dict(wide_forms or {})
        """Path prefixes whose forms may post more fields, and how many."""

    def _form_fields(self, path: str) -> int:
        for prefix, limit in self.wide_forms.items():
            if path.startswith(prefix):
                return limit
        return self.max_form_fields

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if NUL in scope.get("path", ""):
            await _nul_refusal("path")(scope, receive, send)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        if query:
            where = _nul_in_pairs(parse_qsl(query, keep_blank_values=True), "query")
            if where is not None:
                await _nul_refusal(where)(scope, receive, send)
                return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await self._too_large(scope, receive, send)
            return
        try:
            body, more = await self._read(receive)
        except TooLarge:
            await self._too_large(scope, receive, send)
            return
        refusal = self._check_body(_media_type(scope), body, self._form_fields(scope.get("path", "")))
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self.app(scope, self._replay(body, more, receive), send)

    async def _read(self, receive: Receive) -> tuple[bytes, list[Message]]:
        """The whole body, or TooLarge as soon as it passes the limit; messages after it are kept."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks), [message]
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise TooLarge()
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), []

    def _check_body(self, media_type: str, body: bytes, max_fields: int) -> Any:
        if not body:
            return None
        if media_type == "application/x-www-form-urlencoded":
            if body.count(b"&") + 1 > max_fields:
                return error_response(413, f"a form may have at most {max_fields} fields", field="body")
            if b"%00" in body or b"\x00" in body:
                pairs = parse_qsl(body.decode("latin-1"), keep_blank_values=True)
                where = _nul_in_pairs(pairs, "body")
                if where is not None:
                    return _nul_refusal(where)
        elif media_type.endswith("json") and b"\\u0000" in body:
            # Rare, so the body is walked only when an escaped NUL may be in it.
            try:
                where = nul_in(json.loads(body), "body")
            except (ValueError, RecursionError):
                return None  # not JSON: the route's own validation answers 422
            if where is not None:
                return _nul_refusal(where)
        return None

    def _too_large(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        response = error_response(
            413,
            f"the request body is larger than {self.max_body_bytes} bytes",
            field="body",
            headers={"Connection": "close"},
        )
        return response(scope, receive, send)

    @staticmethod
    def _replay(body: bytes, after: list[Message], receive: Receive) -> Receive:
        sent = False
        queued = list(after)

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            if queued:
                return queued.pop(0)
            return await receive()

        return replay


def install(app: FastAPI, settings: KitSettings) -> None:
    app.add_middleware(
        EdgeGuard,
        max_body_bytes=settings.max_request_bytes,
        max_form_fields=settings.max_form_fields,
        wide_forms={f"{CONSOLE}/": settings.max_console_form_fields},
    )
