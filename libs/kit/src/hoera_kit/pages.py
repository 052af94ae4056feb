"""Staff pages: one look, one navigation, one sign-in page and one set of security headers.

Every service serves its own staff pages (the complaint workspace in intake, the approval queue in
compensation, the dashboard in alerts, the callback queue in callback), behind one sign-in: the
identity provider's session and the host-wide organisation cookie (hoera_kit.sessions) sign a person
in to the next service's pages without asking again. A page lives beside the data and rules it shows,
so no service reads another's tables and each keeps working when another is down; the navigation
makes them one product.

    PAGES = StaffPages(service="compensation", directory=Path(__file__).parent / "pages",
                       roles=(Role.approver, Role.agent), home="/approval-queue")
    router.include_router(PAGES.router())
    Session = Annotated[StaffSession, Depends(PAGES.sessions.page)]
    ...
    return PAGES.render(request, "queue.html", session=session, lang=lang, items=...)

Templates: the service's own directory first, then the kit's (base.html, sign_in.html), so a page
`{% extends "base.html" %}` and fills `title`, `heading` and `main`. Texts: the kit's texts.json
(sign-in, navigation, language) under the service's own (one level deep: a service may word one
sign-in note its own way). Assets (the stylesheet, the dashboard's live script) are files served
from /staff-assets/, so the Content-Security-Policy allows no inline script or style at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from hoera_kit.auth import SUPPORTED_LANGUAGES, Principal, Role, TokenVerifier
from hoera_kit.refusals import NotFound
from hoera_kit.sessions import CSRF_FIELD, MAX_FORM_FIELDS, SignInView, StaffSession, StaffSessions

KIT_PAGES: Final = Path(__file__).parent / "pages"
ASSETS_PATH: Final = "/staff-assets"
LANGUAGE_NAMES: Final = {"nl": "Nederlands", "fr": "Français", "en": "English"}

PageLanguage = Annotated[str | None, Query(pattern="^(nl|fr|en)$", description="the page's language")]
PageMessage = Annotated[
    str | None,
    Query(pattern="^[a-z_]{1,40}$", description="what the form before this page did (its text's key)"),
]


@dataclass(frozen=True, slots=True)
class NavItem:
    """One entry of the staff navigation: a page of a service, for the people holding one of `roles`."""

    service: str
    path: str
    text: str  # its key under "pages" in the texts
    roles: frozenset[Role]


NAVIGATION: Final = (
    NavItem("intake", "/workspace", "workspace", frozenset({Role.agent, Role.supervisor})),
    NavItem("compensation", "/approval-queue", "approvals", frozenset({Role.approver})),
    NavItem("alerts", "/dashboard", "dashboard", frozenset({Role.supervisor})),
    NavItem("callback", "/agent", "callbacks", frozenset({Role.agent, Role.supervisor})),
    NavItem("callback", "/recovery", "recovery", frozenset({Role.agent, Role.supervisor})),
    NavItem("callback", "/recovery/departments", "departments", frozenset({Role.supervisor})),
    # The operator console is in every service (hoera_kit.console); its menu leads to the others'.
    NavItem("intake", "/console", "console", frozenset({Role.admin})),
    NavItem("intake", "/customer-data", "customer_data", frozenset({Role.admin})),
)


def _merged(base: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in own.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


def _texts_of(directory: Path) -> dict[str, dict[str, Any]]:
    path = directory / "texts.json"
    if not path.exists():
        return {}
    texts: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return texts


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


class StaffPages:
    """A service's staff pages: their sessions, templates, texts, navigation and headers."""

    def __init__(
        self,
        *,
        service: str,
        directory: Path,
        roles: Sequence[Role],
        home: str,
        navigation: Iterable[NavItem] = NAVIGATION,
        max_form_fields: int = MAX_FORM_FIELDS,
    ) -> None:
        self.service = service
        self.directory = directory
        self.navigation = tuple(navigation)
        self.sessions = StaffSessions(
            service=service,
            roles=roles,
            home=home,
            render_sign_in=self.sign_in,
            max_form_fields=max_form_fields,
        )
        kit_texts = _texts_of(KIT_PAGES)
        own = _texts_of(directory)
        self.texts = {lang: _merged(kit_texts[lang], own.get(lang, {})) for lang in SUPPORTED_LANGUAGES}
        self.environment = Environment(
            loader=ChoiceLoader([FileSystemLoader(directory), FileSystemLoader(KIT_PAGES)]),
            autoescape=select_autoescape(["html"]),
        )

    # --- assets -----------------------------------------------------------------------------------

    @cached_property
    def _assets(self) -> dict[str, Path]:
        """The files under /staff-assets/: the service's own `assets` beside the kit's (its own win)."""
        found: dict[str, Path] = {}
        for folder in (KIT_PAGES / "assets", self.directory / "assets"):
            if folder.is_dir():
                found.update({path.name: path for path in folder.iterdir() if path.is_file()})
        return found

    async def _asset(self, name: str) -> Response:
        path = self._assets.get(name)
        if path is None:
            raise NotFound("asset")
        return FileResponse(
            path,
            headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
        )

    def router(self) -> APIRouter:
        """The sign-in routes and the assets; the service adds its pages to its own router."""
        router = APIRouter(include_in_schema=False)
        router.include_router(self.sessions.router())
        router.add_api_route(f"{ASSETS_PATH}/{{name}}", self._asset, methods=["GET"])
        return router

    # --- what every page needs --------------------------------------------------------------------

    def language(self, requested: str | None, principal: Principal | None, request: Request) -> str:
        """The asked-for language, else the person's, else the browser's, else Dutch."""
        if requested in SUPPORTED_LANGUAGES:
            return requested
        if principal is not None and principal.language in SUPPORTED_LANGUAGES:
            return principal.language
        for part in request.headers.get("accept-language", "").split(","):
            primary = part.split(";")[0].strip().lower()[:2]
            if primary in SUPPORTED_LANGUAGES:
                return primary
        return "nl"

    def headers(self, request: Request) -> dict[str, str]:
        """No inline script or style anywhere; forms post here, or (sign-out) on to the provider."""
        verifier = getattr(request.app.state, "token_verifier", None)
        providers = verifier.providers if isinstance(verifier, TokenVerifier) else None
        issuers = sorted({_origin(p.issuer) for p in providers.by_tenant.values()}) if providers else []
        form_action = " ".join(["'self'", *issuers])
        return {
            "Content-Security-Policy": (
                "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; "
                f"img-src 'self' data:; form-action {form_action}; base-uri 'none'; frame-ancestors 'none'"
            ),
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
        }

    def links(self, request: Request, principal: Principal | None, lang: str) -> list[dict[str, Any]]:
        """The navigation this person may use: this service's pages here, the others' where they are
        reached (HOERA_STAFF_PAGES); a page of a service without an address is left out."""
        if principal is None:
            return []
        settings = getattr(request.app.state, "settings", None)
        addresses: Mapping[str, str] = getattr(settings, "staff_pages", {}) or {}
        here = request.url.path
        links = []
        for item in self.navigation:
            if not principal.has_role(*item.roles):
                continue
            if item.service == self.service:
                base = ""
            elif item.service in addresses:
                base = addresses[item.service].rstrip("/")
            else:
                continue
            links.append(
                {
                    "href": f"{base}{item.path}?{urlencode({'lang': lang})}",
                    "label": self.texts[lang]["pages"][item.text],
                    "current": item.service == self.service and here.startswith(item.path),
                }
            )
        return links

    @staticmethod
    def language_link(request: Request, code: str) -> str:
        """This page in another language: its own path and query, `lang` replaced."""
        query = [(k, v) for k, v in parse_qsl(request.url.query) if k not in ("lang", "msg")]
        return f"{request.url.path}?{urlencode([*query, ('lang', code)])}"

    def render(
        self,
        request: Request,
        template: str,
        *,
        lang: str,
        session: StaffSession | None,
        status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        principal = session.principal if session else None
        values: dict[str, Any] = {
            "lang": lang,
            "t": self.texts[lang],
            "languages": LANGUAGE_NAMES,
            "language_link": lambda code: self.language_link(request, code),
            "assets": ASSETS_PATH,
            "nav": self.links(request, principal, lang),
            "csrf_field": CSRF_FIELD,
            "csrf": session.csrf if session else None,
            "who": (principal.name or principal.subject) if principal else None,
            "sign_out": self.sessions.sign_out_path,
        }
        html = self.environment.get_template(template).render({**values, **context})
        return HTMLResponse(html, status_code=status_code, headers=self.headers(request))

    def sign_in(self, request: Request, view: SignInView, status_code: int) -> Response:
        """The kit's sign-in page in this service's look and words (hoera_kit.sessions renders it)."""
        lang = self.language(view.lang, None, request)
        return self.render(
            request,
            "sign_in.html",
            lang=lang,
            session=None,
            status_code=status_code,
            view=view,
            note=view.note.value if view.note else None,
            problem=view.note is not None and view.note.is_problem,
            language_link=lambda code: f"{view.action}?{view.query(lang=code)}",
        )


class PageView:
    """One page request: the person, the page's language and words, the tenant's clock, and links to
    the other services' pages. A service's page helpers extend it with what their templates need."""

    def __init__(self, pages: StaffPages, request: Request, session: StaffSession, lang: str | None) -> None:
        self.pages = pages
        self.request = request
        self.session = session
        self.lang = pages.language(lang, session.principal, request)
        self.t: dict[str, Any] = pages.texts[self.lang]
        service = getattr(request.app.state, "service", None)
        self.zone: tzinfo | None = (
            service.tenants.calendar(session.principal.tenant).zone if service is not None else None
        )

    def when(self, moment: datetime | None) -> str:
        """A moment on the tenant's clock, as staff read it."""
        if moment is None:
            return "–"
        return (moment.astimezone(self.zone) if self.zone else moment).strftime("%Y-%m-%d %H:%M")

    def elsewhere(self, service: str, path: str, **query: str) -> str | None:
        """A page of another service, where its pages are reached (HOERA_STAFF_PAGES), in this language."""
        settings = getattr(self.request.app.state, "settings", None)
        base = (getattr(settings, "staff_pages", {}) or {}).get(service)
        return f"{base.rstrip('/')}{path}?{urlencode({**query, 'lang': self.lang})}" if base else None

    def message(self, key: str | None) -> str | None:
        """The words for what the last form did (`?msg=`), if the page knows the key."""
        return self.t.get("messages", {}).get(key) if key else None

    def context(self) -> dict[str, Any]:
        """What every template of the service gets beside the kit's own values."""
        return {"when": self.when, "me": self.session.principal.subject}

    def render(self, template: str, *, status_code: int = 200, **context: Any) -> HTMLResponse:
        return self.pages.render(
            self.request,
            template,
            lang=self.lang,
            session=self.session,
            status_code=status_code,
            **{**self.context(), **context},
        )

    def redirect(self, path: str, **query: str) -> Response:
        """After a form: 303 to a page (in this language), so a reload does not post again."""
        location = f"{path}?{urlencode({'lang': self.lang, **query})}"
        return RedirectResponse(location, status_code=303, headers=self.pages.headers(self.request))


__all__ = ["ASSETS_PATH", "NAVIGATION", "NavItem", "PageLanguage", "PageMessage", "PageView", "StaffPages"]
