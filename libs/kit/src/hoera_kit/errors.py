"""Bad input gets a clear 4xx that names what is wrong; never a 500 for the caller's mistake.

Every error answer of every service has one shape, `ErrorBody`: `detail` (one readable sentence),
`field` (the offending field, when there is one) and, for a request that does not fit its schema,
`errors` (one entry per field). The OpenAPI documents describe exactly this (hoera_kit.openapi).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from hoera_kit.refusals import Conflict, Forbidden, Invalid, NotFound, Refusal
from hoera_kit.retry import TRANSIENT

DomainError = Refusal
"""The name services used before the refusal type moved out of this module; the same class."""

__all__ = [
    "Conflict",
    "DomainError",
    "ErrorBody",
    "FieldError",
    "Forbidden",
    "Invalid",
    "NotFound",
    "Refusal",
    "error_response",
    "install_error_handlers",
]


class FieldError(BaseModel):
    field: str = Field(description="where: body.note, query.reason, path.complaint_id")
    message: str
    type: str = Field(description="a stable code, e.g. missing, string_too_long, nul_character")


class ErrorBody(BaseModel):
    """What every 4xx (and the rare 5xx) of a Hoera service carries."""

    detail: str = Field(description="what is wrong, in one sentence")
    field: str | None = Field(default=None, description="the offending field, when there is one")
    errors: list[FieldError] | None = Field(
        default=None, description="one entry per offending field of a request that does not fit its schema"
    )


def error_response(
    status: int,
    detail: str,
    *,
    field: str | None = None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorBody(detail=detail, field=field, errors=errors).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status, headers=headers)


def _loc(err: dict[str, Any]) -> str:
    return ".".join(str(p) for p in err.get("loc", ()))


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            FieldError(field=_loc(e), message=str(e.get("msg", "")), type=str(e.get("type", "")))
            for e in exc.errors()
        ]
        summary = "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
        return error_response(422, summary or "invalid request", errors=errors)

    @app.exception_handler(Refusal)
    async def _refused(request: Request, exc: Refusal) -> JSONResponse:
        return error_response(exc.status, exc.message, field=exc.field)

    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        # The world's fault, not the caller's: the database, the broker or the customer directory is
        # away for a moment. A 503 with Retry-After tells a client to try again, not to give up.
        return error_response(
            503,
            "a service this one depends on is unavailable; try again shortly",
            headers={"Retry-After": "5"},
        )

    for transient in TRANSIENT:
        app.add_exception_handler(transient, _unavailable)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 400:
            # FastAPI's "There was an error parsing the body": a body that cannot be read is a body
            # that does not fit its schema, answered like every other one.
            return error_response(422, f"body: {detail}", field="body")
        return error_response(exc.status_code, detail, headers=dict(exc.headers or {}))
