"""The one way a rule says no: a framework-free refusal that the kit maps to HTTP once (hoera_kit.errors).

Domain code and handlers raise these; they know nothing of FastAPI. The status is the HTTP answer a
caller gets: 404 for what the caller may not know exists, 409 for a rule that refuses the current state,
422 for a value that can never be right, 403 for an act the caller's role may not do.
"""

from __future__ import annotations


class Refusal(Exception):
    """A rule refused the request: 409 by default, or the status given (422 for a bad value)."""

    status = 409

    def __init__(self, message: str, *, status: int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        self.field = field


class NotFound(Refusal):
    """Unknown, or not the caller's to know of (another team's or tenant's object): always 404."""

    status = 404

    def __init__(self, what: str, *, field: str | None = None) -> None:
        super().__init__(f"{what} not found", field=field)


class Conflict(Refusal):
    status = 409


class Invalid(Refusal):
    status = 422


class Forbidden(Refusal):
    status = 403
