# No `from __future__ import annotations`: the routes are defined in a function, and FastAPI reads
# their dependencies (Session, Form) from the annotations at run time.
"""The operator console (R8): every rule document of this service, changed through a form, per tenant.

Each service serves the console of its own documents at /console, beside the documents themselves
(the same RuleBook as the /admin/rules API, so a page can do nothing the API refuses); the console's
menu links to the other services' consoles (HOERA_STAFF_PAGES). For a document the page shows

- a form generated from the document's JSON Schema (hoera_kit.schema_forms), a refused value named
  next to its field, in the page's language where the problem is the page's own;
- a preview of what the changed document would do, before it is saved, where the service gives one
  (RuleBook.preview: intake shows the date a complaint received now would be promised);
- the audit trail: every version with who, when, why and what changed field by field, and a
  rollback to any of them (which is itself a new version, with its reason).

Every change names the version it was made against: an operator who edited an older version is told
to look again instead of overwriting a colleague's change. Only administrators of the tenant use it.
"""

import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field, ValidationError

from hoera_kit import schema_forms
from hoera_kit.auth import Role
from hoera_kit.pages import KIT_PAGES, PageLanguage, PageMessage, PageView, StaffPages
from hoera_kit.refusals import Conflict, Invalid, NotFound
from hoera_kit.rules import RuleBook, RuleDocument, RuleProblem
from hoera_kit.rules_api import DocumentName, history_entries
from hoera_kit.sessions import SignedForm, StaffSession

HOME = "/console"
FIELD_WORDS: dict[str, dict[str, str]] = json.loads((KIT_PAGES / "fields.json").read_text(encoding="utf-8"))
"""The rule documents' field names in nl, fr and en: one vocabulary for every service's forms (a field
without words here shows its schema title; tests/contract/test_console_forms.py asks for all)."""
MAX_FIELDS = 100_000
"""A rule document's form has an input per value (an organisation of a few hundred people is thousands);
the edge holds it to HOERA_MAX_CONSOLE_FORM_FIELDS before this parses it (hoera_kit.edges)."""
SERVICES = ("intake", "compensation", "survey", "alerts", "callback")


class _Change(BaseModel):
    expected_version: int = Field(ge=0)
    reason: str = Field(min_length=1, max_length=500)


class _Rollback(_Change):
    to_version: int = Field(ge=0)


def _problems(exc: ValidationError) -> dict[str, str]:
    return {str(e["loc"][0]) if e["loc"] else "reason": e["msg"] for e in exc.errors()}


def console_router(book: RuleBook, *, service: str, pages_dir: Path | None = None) -> APIRouter:
    """The console's pages for `book`; `pages_dir` the service's own pages (for its assets), if any."""
    pages = StaffPages(
        service=service,
        directory=pages_dir or KIT_PAGES,
        roles=(Role.admin,),
        home=HOME,
        max_form_fields=MAX_FIELDS,
    )
    router = APIRouter(include_in_schema=False)
    router.include_router(pages.router())
    Session = Annotated[StaffSession, Depends(pages.sessions.page)]
    Form = Annotated[SignedForm, Depends(pages.sessions.form)]

    def pool(request: Request) -> Any:
        return request.app.state.service.pool

    class View(PageView):
        def __init__(self, request: Request, session: StaffSession, lang: str | None) -> None:
            super().__init__(pages, request, session, lang)

        def context(self) -> dict[str, Any]:
            consoles = [(name, HOME if name == service else self.elsewhere(name, HOME)) for name in SERVICES]
            return {
                **super().context(),
                "service": service,
                "consoles": [(name, href) for name, href in consoles if href],
                "home": HOME,
            }

    async def document_page(
        view: View,
        doc: RuleDocument[Any],
        *,
        shown: Any = None,
        errors: dict[str, str] | None = None,
        problem: str | None = None,
        preview: list[tuple[str, str]] | None = None,
        reason: str = "",
        status_code: int = 200,
    ) -> HTMLResponse:
        tenant = view.session.principal.tenant
        async with pool(view.request).acquire() as conn:
            current = await book.read(conn, tenant, doc)
            history = await history_entries(book, conn, tenant, doc)
        document = current.document.model_dump(mode="json") if shown is None else shown
        form = schema_forms.build(
            doc.model.model_json_schema(), document, errors=errors, words=FIELD_WORDS[view.lang]
        )
        return view.render(
            "console_document.html",
            status_code=status_code,
            doc=doc,
            current=current,
            form=form,
            history=history,
            problem=problem,
            preview=preview,
            can_preview=doc.name in book.previews,
            reason=reason,
            errors=errors or {},
            message=view.message(view.request.query_params.get("msg")),
        )

    @router.get(HOME, response_class=HTMLResponse)
    async def console(request: Request, session: Session, lang: PageLanguage = None) -> HTMLResponse:
        view = View(request, session, lang)
        async with pool(request).acquire() as conn:
            documents = [await book.read(conn, session.principal.tenant, doc) for doc in book.documents]
        return view.render(
            "console.html",
            documents=[(book.named(d.name), d) for d in documents],
        )

    @router.get(HOME + "/{name}", response_class=HTMLResponse)
    async def document(
        request: Request,
        name: DocumentName,
        session: Session,
        lang: PageLanguage = None,
        msg: PageMessage = None,
    ) -> HTMLResponse:
        return await document_page(View(request, session, lang), book.named(name))

    @router.post(HOME + "/{name}")
    async def change(request: Request, name: DocumentName, posted: Form) -> Response:
        doc = book.named(name)
        principal = posted.principal
        view = View(request, posted.session, posted.form.get("lang"))
        t = view.t["console"]
        reading = schema_forms.read(doc.model.model_json_schema(), posted.form)
        reason = (posted.form.get("reason") or "").strip()

        async def again(
            problem: str | None,
            errors: dict[str, str],
            status: int,
            preview: list[tuple[str, str]] | None = None,
        ) -> HTMLResponse:
            return await document_page(
                view,
                doc,
                shown=reading.document,
                errors=errors,
                problem=problem,
                preview=preview,
                reason=reason,
                status_code=status,
            )

        if reading.problems:
            return await again(t["problems"], reading.problems, 422)
        try:
            value = doc.validate(reading.document)
        except RuleProblem as exc:
            errors: dict[str, str] = {}
            unplaced = []
            for location, text in exc.problems:
                place = reading.place(location)
                if place is None or place in errors:
                    unplaced.append(f"{location}: {text}" if location else text)
                else:
                    errors[place] = text
            problem = t["problems"] + (" " + "; ".join(unplaced) if unplaced else "")
            return await again(problem, errors, 422)
        if posted.form.get("action") == "preview":
            lines = (
                list(await book.previews[name](principal.tenant, value, view.lang))
                if name in book.previews
                else []
            )
            return await again(None, {}, 200, preview=lines)
        try:
            wanted = _Change.model_validate(
                {"expected_version": posted.form.get("expected_version"), "reason": reason}
            )
        except ValidationError as exc:
            return await again(t["problems"], {k: t["reason_missing"] for k in _problems(exc)}, 422)
        try:
            async with pool(request).acquire() as conn, conn.transaction():
                written = await book.write(
                    conn,
                    principal.tenant,
                    doc,
                    value,
                    expected_version=wanted.expected_version,
                    changed_by=principal.subject,
                    reason=wanted.reason,
                )
        except Conflict:
            return await again(t["conflict"], {}, 409)
        book.committed(written)
        return view.redirect(f"{HOME}/{name}", msg="saved")

    @router.post(HOME + "/{name}/rollback")
    async def rollback(request: Request, name: DocumentName, posted: Form) -> Response:
        doc = book.named(name)
        principal = posted.principal
        view = View(request, posted.session, posted.form.get("lang"))
        t = view.t["console"]
        try:
            wanted = _Rollback.model_validate(
                {
                    "to_version": posted.form.get("to_version"),
                    "expected_version": posted.form.get("expected_version"),
                    "reason": (posted.form.get("reason") or "").strip(),
                }
            )
        except ValidationError:
            return await document_page(view, doc, problem=t["rollback_reason"], status_code=422)
        try:
            async with pool(request).acquire() as conn, conn.transaction():
                written = await book.rollback(
                    conn,
                    principal.tenant,
                    doc,
                    to_version=wanted.to_version,
                    expected_version=wanted.expected_version,
                    changed_by=principal.subject,
                    reason=wanted.reason,
                )
        except Conflict:
            return await document_page(view, doc, problem=t["conflict"], status_code=409)
        except (NotFound, Invalid) as exc:
            return await document_page(view, doc, problem=exc.message, status_code=exc.status)
        book.committed(written)
        return view.redirect(f"{HOME}/{name}", msg="rolled_back")

    return router


__all__ = ["HOME", "console_router"]
