"""A customer's data on a page, for the organisation's administrators (GDPR art. 15 and 17); nl, fr, en.

The page shows what subject access answers (`GET /customers/{id}/personal-data`: every service's part,
gathered the same way), readable and printable for the customer, and asks for an erasure with a
confirmation; the erasure's progress per service is shown as each one confirms. The administrator's
own session token is what asks the other services, so each of them checks the role and the tenant
itself.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from hoera_kit.auth import Role
from hoera_kit.console import FIELD_WORDS
from hoera_kit.pages import PageLanguage, PageMessage, PageView, StaffPages
from hoera_kit.sessions import SignedForm, StaffSession

from hoera_intake.api.privacy import gather
from hoera_intake.handlers import Deps, erasures

HOME = "/customer-data"
router = APIRouter(include_in_schema=False)
PAGES = StaffPages(
    service="intake", directory=Path(__file__).parent / "pages", roles=(Role.admin,), home=HOME
)
router.include_router(PAGES.router())

Session = Annotated[StaffSession, Depends(PAGES.sessions.page)]
Form = Annotated[SignedForm, Depends(PAGES.sessions.form)]
CUSTOMER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


def _deps(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


class _View(PageView):
    def __init__(self, request: Request, session: StaffSession, lang: str | None) -> None:
        super().__init__(PAGES, request, session, lang)

    def label(self, name: str) -> str:
        """A record's field in the page's words where the vocabulary has it, else its name in words."""
        return str(FIELD_WORDS[self.lang].get(name) or name.replace("_", " ").capitalize())

    def context(self) -> dict[str, Any]:
        return {**super().context(), "label": self.label}


def _bearer(request: Request) -> str:
    """The administrator's session token, to ask the other services as them."""
    return f"Bearer {request.cookies.get(PAGES.sessions.session_cookie(request), '')}"


async def _page(
    view: _View, customer: str | None, *, error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    access = None
    if customer and CUSTOMER_ID.match(customer):
        access = await gather(
            view.request, _deps(view.request), view.session.principal.tenant, customer, _bearer(view.request)
        )
    return view.render(
        "customer_data.html",
        status_code=status_code,
        customer=customer,
        access=access,
        error=error,
        message=view.message(view.request.query_params.get("msg")),
    )


@router.get(HOME, response_class=HTMLResponse)
async def customer_data_page(
    request: Request,
    session: Session,
    lang: PageLanguage = None,
    msg: PageMessage = None,
    customer: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    view = _View(request, session, lang)
    wanted = (customer or "").strip() or None
    if wanted is not None and not CUSTOMER_ID.match(wanted):
        return await _page(view, wanted, error=view.t["customer_data"]["not_a_customer"], status_code=422)
    return await _page(view, wanted)


@router.post(f"{HOME}/erasures")
async def erase(request: Request, posted: Form) -> Response:
    view = _View(request, posted.session, posted.form.get("lang"))
    customer = (posted.form.get("customer") or "").strip()
    words = view.t["customer_data"]
    if not CUSTOMER_ID.match(customer):
        return await _page(view, customer or None, error=words["not_a_customer"], status_code=422)
    if posted.form.get("confirm") != "true":
        return await _page(view, customer, error=words["confirm_needed"], status_code=422)
    await erasures.request(_deps(request), posted.principal, customer)
    return view.redirect(HOME, customer=customer, msg="erase_asked")
