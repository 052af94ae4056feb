"""OpenAPI documents that tell the truth about errors: the body as sent, and every status a route answers.

FastAPI documents a 422 whose `detail` is a list and nothing else; Hoera sends `ErrorBody` (hoera_kit.errors)
for every 4xx, and its edges answer more than 422. After FastAPI has built a document, each operation
gets what it can really answer:

- 413 and 422 everywhere: the edge guard reads every request's body and query (hoera_kit.edges);
- 401 and 403 where the operation takes a bearer token (403: a role it does not hold);
- 404 where a path names an object, and on every secured operation (a team or object filter the
  caller may not see answers as an unknown one would);
- 409 for a secured operation that changes something (a rule refusing the current state);
and every error response's content is `ErrorBody`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from hoera_kit.errors import ErrorBody

ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
_MUTATING = {"post", "put", "patch", "delete"}
_DESCRIPTIONS = {
    "401": "No bearer token, or one that is expired, malformed or not signed by the identity provider",
    "403": "The caller's role may not do this",
    "404": "No such object, or not one the caller may see (another team's or organisation's)",
    "409": "A rule refuses this in the object's current state (or an expected version is stale)",
    "413": "The request body (or the number of form fields) is over the limit; it was not read",
    "422": "The request does not fit its schema, or a value is refused (e.g. text with a NUL character)",
}


def _error_content() -> dict[str, Any]:
    return {"application/json": {"schema": ERROR_REF}}


def _components(schema: dict[str, Any]) -> None:
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    body = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in body.pop("$defs", {}).items():
        schemas[name] = definition
    schemas["ErrorBody"] = body


def _operations(schema: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for item in schema.get("paths", {}).values():
        for method, op in item.items():
            if method in {"get", "put", "post", "delete", "patch", "head", "options"}:
                found.append((method, op))
    return found


def truthful(schema: dict[str, Any]) -> dict[str, Any]:
    """Rewrite a FastAPI OpenAPI document in place (and return it)."""
    _components(schema)
    for method, op in _operations(schema):
        responses: dict[str, Any] = op.setdefault("responses", {})
        statuses = {"413", "422"}
        if op.get("security"):
            statuses |= {"401", "403", "404"}
            if method in _MUTATING:
                statuses.add("409")
        if any(p.get("in") == "path" for p in op.get("parameters", [])):
            statuses.add("404")
        for status in statuses:
            responses.setdefault(status, {"description": _DESCRIPTIONS[status]})
        html = any(
            "text/html" in r.get("content", {})
            for code, r in responses.items()
            if code.startswith(("2", "3"))
        )
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                # A page answers its own refusals as a page; the edge guard's (413, 422) are ErrorBody.
                response["content"] = (
                    {"text/html": {"schema": {"type": "string"}}, **_error_content()}
                    if html
                    else _error_content()
                )
                if status in _DESCRIPTIONS and response.get("description") in ("", "Validation Error"):
                    response["description"] = _DESCRIPTIONS[status]
    schemas = schema["components"]["schemas"]
    text = repr(schema.get("paths", {}))
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused in schemas and f"/{unused}'" not in text:
            del schemas[unused]
    return schema


def install(app: FastAPI) -> None:
    """Build the document once, on first request, from every route registered by then."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = truthful(FastAPI.openapi(app))
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
