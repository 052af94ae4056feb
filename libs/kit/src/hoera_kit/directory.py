"""Where a service finds how to reach a customer: the contact-centre platform owns contact details.

Events carry ids, never e-mail addresses or phone numbers (DESIGN.md). When a service must write to a
customer (an acknowledgement, a survey invitation), it asks the platform's customer directory by id, at
send time, and keeps nothing it does not need. HttpDirectory calls the platform's API
(HOERA_CUSTOMER_DIRECTORY_URL, a template with {tenant} and {customer_id}); in development and tests,
without that setting, DemoDirectory stands in for the platform and derives stable demo addresses from
the id (customer-42 → customer-42@customers.hoera.test), so mail lands in the local SMTP sink.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import httpx

from hoera_kit.settings import KitSettings


@dataclass(frozen=True)
class CustomerContact:
    customer_id: str
    email: str | None
    phone: str | None
    language: str | None = None
    deceased: bool = False
    next_of_kin_email: str | None = None


class CustomerDirectory(Protocol):
    async def lookup(self, tenant: str, customer_id: str) -> CustomerContact | None: ...


class DemoDirectory:
    """The development stand-in for the platform's directory: stable, obviously-fake addresses."""

    domain = "customers.hoera.test"

    async def lookup(self, tenant: str, customer_id: str) -> CustomerContact | None:
        digits = "".join(ch for ch in customer_id if ch.isdigit())[-8:].rjust(8, "0")
        return CustomerContact(
            customer_id=customer_id,
            email=f"{customer_id}@{self.domain}",
            phone=f"+3247{digits}",
            next_of_kin_email=f"kin-of-{customer_id}@{self.domain}",
        )


class HttpDirectory:
    """The platform's customer API: GET the template URL; 404 means unknown; JSON fields as above.

    One client for the life of the process, so lookups reuse their connections (keep-alive, TLS
    sessions) instead of opening one per customer; `aclose` at shutdown."""

    def __init__(
        self,
        url_template: str,
        *,
        token: str | None = None,
        timeout: float = 5.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url_template = url_template
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.timeout = timeout
        self._owns_client = client is None
        self.client = client or httpx.AsyncClient(
            timeout=timeout, limits=httpx.Limits(max_connections=20, max_keepalive_connections=20)
        )

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()

    async def lookup(self, tenant: str, customer_id: str) -> CustomerContact | None:
        url = self.url_template.format(tenant=tenant, customer_id=customer_id)
        resp = await self.client.get(url, headers=self.headers)
        if resp.status_code == 404:
            return None
        resp.raise_for_status()
        body = resp.json()
        return CustomerContact(
            customer_id=customer_id,
            email=body.get("email"),
            phone=body.get("phone"),
            language=body.get("language"),
            deceased=bool(body.get("deceased", False)),
            next_of_kin_email=body.get("next_of_kin_email"),
        )


def directory_from_settings(settings: KitSettings) -> CustomerDirectory:
    if settings.customer_directory_url:
        token = settings.customer_directory_token
        return HttpDirectory(
            settings.customer_directory_url,
            token=token.get_secret_value() if token else None,
        )
    if not settings.is_dev:
        raise ValueError("HOERA_CUSTOMER_DIRECTORY_URL is required outside development and test")
    return DemoDirectory()
