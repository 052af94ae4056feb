"""The HTTP edge refuses what is too large or holds a NUL before any route sees it, and documents it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Form
from hoera_kit import edges, openapi
from hoera_kit.errors import install_error_handlers
from hoera_kit.settings import KitSettings
from pydantic import BaseModel

LIMIT = 4096


class Note(BaseModel):
    text: str
    tags: list[str] = []


def _app(seen: list[Any]) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    openapi.install(app)
    edges.install(
        app,
        KitSettings(
            service_name="edge",
            environment="test",
            max_request_bytes=LIMIT,
            max_form_fields=5,
            max_console_form_fields=100,
        ),
    )

    @app.post("/console/{name}")
    async def console(name: str) -> dict[str, str]:
        seen.append(name)
        return {"name": name}

    @app.post("/notes/{note_id}")
    async def add(note_id: str, note: Note, reason: str = "") -> dict[str, str]:
        seen.append((note_id, note, reason))
        return {"ok": note_id}

    @app.post("/form")
    async def form(name: str = Form()) -> dict[str, str]:
        seen.append(name)
        return {"name": name}

    @app.get("/plain")
    async def plain() -> dict[str, str]:
        seen.append("plain")
        return {"ok": "yes"}

    return app


@pytest.fixture
def seen() -> list[Any]:
    return []


@pytest.fixture
async def http(seen: list[Any]) -> Any:
    transport = httpx.ASGITransport(app=_app(seen))
    async with httpx.AsyncClient(transport=transport, base_url="http://edge") as client:
        yield client


async def test_a_body_over_the_limit_gets_413_and_no_route_runs(
    http: httpx.AsyncClient, seen: list[Any]
) -> None:
    resp = await http.post("/notes/n1", json={"text": "x" * (LIMIT + 1)})
    assert resp.status_code == 413
    assert resp.json()["detail"].startswith("the request body is larger than")
    assert seen == []


async def test_a_chunked_body_over_the_limit_is_refused_while_reading(
    http: httpx.AsyncClient, seen: list[Any]
) -> None:
    async def chunks() -> Any:
        for _ in range(10):
            yield b"x" * 1000

    resp = await http.post("/notes/n1", content=chunks(), headers={"content-type": "application/json"})
    assert resp.status_code == 413
    assert seen == []


@pytest.mark.parametrize(
    ("request_kwargs", "field"),
    [
        ({"json": {"text": "a\u0000b"}}, "body.text"),
        ({"json": {"text": "ok", "tags": ["fine", "bad\u0000"]}}, "body.tags.1"),
        ({"json": {"text": "ok", "tags": []}, "params": {"reason": "because\u0000"}}, "query.reason"),
    ],
)
async def test_text_with_a_nul_character_gets_422_naming_the_field(
    http: httpx.AsyncClient, seen: list[Any], request_kwargs: dict[str, Any], field: str
) -> None:
    resp = await http.post("/notes/n1", **request_kwargs)
    assert resp.status_code == 422
    body = resp.json()
    assert body["field"] == field
    assert body["errors"][0]["type"] == "nul_character"
    assert seen == []


async def test_a_nul_in_the_path_or_a_form_field_gets_422(http: httpx.AsyncClient, seen: list[Any]) -> None:
    assert (await http.post("/notes/a%00b", json={"text": "x"})).status_code == 422
    resp = await http.post("/form", data={"name": "a\u0000b"})
    assert resp.status_code == 422 and resp.json()["field"] == "body.name"
    assert seen == []


async def test_a_form_with_too_many_fields_gets_413(http: httpx.AsyncClient, seen: list[Any]) -> None:
    resp = await http.post(
        "/form",
        content="&".join(f"f{i}=1" for i in range(6)).encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert resp.status_code == 413
    assert seen == []


async def test_the_operator_consoles_forms_may_post_more_fields_up_to_their_own_limit(
    http: httpx.AsyncClient, seen: list[Any]
) -> None:
    def form(n: int) -> dict[str, Any]:
        body = "&".join(f"doc/f{i}=1" for i in range(n)).encode()
        return {"content": body, "headers": {"content-type": "application/x-www-form-urlencoded"}}

    assert (await http.post("/console/categories", **form(100))).status_code == 200
    assert (await http.post("/console/categories", **form(101))).status_code == 413
    assert (await http.post("/form", **form(6))).status_code == 413  # elsewhere the page limit holds
    assert seen == ["categories"]


async def test_good_requests_pass_untouched(http: httpx.AsyncClient, seen: list[Any]) -> None:
    resp = await http.post(
        "/notes/n1", json={"text": "an escaped backslash \\u0000 is text"}, params={"reason": "r"}
    )
    assert resp.status_code == 200
    assert (await http.post("/form", data={"name": "Anna"})).json() == {"name": "Anna"}
    assert (await http.get("/plain")).status_code == 200
    assert len(seen) == 3


async def test_a_schema_error_has_the_documented_shape(http: httpx.AsyncClient) -> None:
    resp = await http.post("/notes/n1", json={"tags": "not a list"})
    body = resp.json()
    assert resp.status_code == 422
    assert isinstance(body["detail"], str)
    assert {e["field"] for e in body["errors"]} == {"body.text", "body.tags"}


async def test_the_openapi_document_names_every_error_status_with_the_body_as_sent(
    http: httpx.AsyncClient,
) -> None:
    doc = (await http.get("/openapi.json")).json()
    responses = doc["paths"]["/notes/{note_id}"]["post"]["responses"]
    assert {"404", "413", "422"} <= set(responses)
    for status in ("404", "413", "422"):
        schema = responses[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorBody"}
    error_body = doc["components"]["schemas"]["ErrorBody"]
    assert error_body["properties"]["detail"]["type"] == "string"
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert "404" not in doc["paths"]["/plain"]["get"]["responses"]
