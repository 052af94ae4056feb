"""The admin routes of a service's rule documents (R8), the same in every service.

An administrator reads and changes the documents of their own tenant only (the tenant comes from
the token, never from the request). Every change names the version it was made against and a
reason; the history shows who changed what, when and why, field by field; a rollback is a new
version with an old document. The JSON Schema of each document is served for the forms of the
operator console.
"""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from hoera_kit.auth import Principal, Role, require_roles
from hoera_kit.db import Conn
from hoera_kit.rules import DEFAULT_TEMPLATE, RuleBook, RuleDocument, Versioned, diff

Reason = Annotated[str, Field(min_length=1, max_length=500, description="why: shown in the history")]
DocumentName = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_-]{0,63}$", description="the document's name")]


class RuleSummary(BaseModel):
    name: str
    description: str
    version: int = Field(description="0: the template's document, not yet changed for this tenant")
    changed_at: datetime | None
    changed_by: str | None


class RuleView(RuleSummary):
    reason: str | None
    document: dict[str, Any]


class RuleWrite(BaseModel):
    model_config = ConfigDict(extra="forbid")

    document: dict[str, Any]
    expected_version: int = Field(ge=0, description="the version this change was made against")
    reason: Reason


class Rollback(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to_version: int = Field(ge=0)
    expected_version: int = Field(ge=0)
    reason: Reason


class FieldChange(BaseModel):
    path: str
    before: Any
    after: Any


class HistoryEntry(BaseModel):
    version: int
    changed_at: datetime
    changed_by: str
    reason: str | None
    changes: list[FieldChange]


def _view(book: RuleBook, current: Versioned[Any]) -> RuleView:
    return RuleView(
        name=current.name,
        description=book.named(current.name).description,
        version=current.version,
        changed_at=current.changed_at,
        changed_by=current.changed_by,
        reason=current.reason,
        document=current.document.model_dump(mode="json"),
    )


async def history_entries(
    book: RuleBook, conn: Conn, tenant: str, doc: RuleDocument[Any]
) -> list[HistoryEntry]:
    """A document's versions, newest first, each with what it changed field by field (the first one
    against the template the tenant started from)."""
    changes = await book.history(conn, tenant, doc)
    first = book.template_document(doc, book.template_of(tenant) or DEFAULT_TEMPLATE).model_dump(mode="json")
    return [
        HistoryEntry(
            version=c.version,
            changed_at=c.changed_at,
            changed_by=c.changed_by,
            reason=c.reason,
            changes=[
                FieldChange(**d) for d in diff(c.previous if c.previous is not None else first, c.document)
            ],
        )
        for c in changes
    ]


def rules_router(book: RuleBook, *, roles: tuple[Role, ...] = (Role.admin,)) -> APIRouter:
    router = APIRouter(prefix="/admin/rules", tags=["rules"])
    Operator = Annotated[Principal, Depends(require_roles(*roles))]

    def pool(request: Request) -> Any:
        return request.app.state.service.pool

    @router.get("", summary="The rule documents of my organisation", response_model=list[RuleSummary])
    async def list_documents(request: Request, principal: Operator) -> list[RuleSummary]:
        async with pool(request).acquire() as conn:
            found = [await book.read(conn, principal.tenant, doc) for doc in book.documents]
        return [_view(book, v) for v in found]

    @router.get("/{name}", summary="One rule document, current version", response_model=RuleView)
    async def read_document(request: Request, name: DocumentName, principal: Operator) -> RuleView:
        doc = book.named(name)
        async with pool(request).acquire() as conn:
            return _view(book, await book.read(conn, principal.tenant, doc))

    @router.get("/{name}/schema", summary="The JSON Schema a document must fit (for forms)")
    async def document_schema(name: DocumentName, principal: Operator) -> dict[str, Any]:
        schema: dict[str, Any] = book.named(name).model.model_json_schema()
        return schema

    @router.put(
        "/{name}",
        summary="Change a rule document (with the version it was made against and a reason)",
        response_model=RuleView,
    )
    async def write_document(
        request: Request, name: DocumentName, change: RuleWrite, principal: Operator
    ) -> RuleView:
        doc = book.named(name)
        async with pool(request).acquire() as conn, conn.transaction():
            written = await book.write(
                conn,
                principal.tenant,
                doc,
                change.document,
                expected_version=change.expected_version,
                changed_by=principal.subject,
                reason=change.reason,
            )
        book.committed(written)
        return _view(book, written)

    @router.get(
        "/{name}/history", summary="Who changed what, when and why", response_model=list[HistoryEntry]
    )
    async def document_history(
        request: Request, name: DocumentName, principal: Operator
    ) -> list[HistoryEntry]:
        async with pool(request).acquire() as conn:
            return await history_entries(book, conn, principal.tenant, book.named(name))

    @router.post("/{name}/rollback", summary="Make an earlier version current again", response_model=RuleView)
    async def rollback_document(
        request: Request, name: DocumentName, rollback: Rollback, principal: Operator
    ) -> RuleView:
        doc = book.named(name)
        async with pool(request).acquire() as conn, conn.transaction():
            written = await book.rollback(
                conn,
                principal.tenant,
                doc,
                to_version=rollback.to_version,
                expected_version=rollback.expected_version,
                changed_by=principal.subject,
                reason=rollback.reason,
            )
        book.committed(written)
        return _view(book, written)

    return router
