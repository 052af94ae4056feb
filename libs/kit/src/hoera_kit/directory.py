"""Where a service finds how to reach a customer: the contact-centre platform owns contact details.

Events carry ids, never e-mail addresses or phone numbers (docs/architecture.md, "Personal data").
When a service must write to a customer (an acknowledgement, a survey invitation), it asks the
platform's customer directory by id, at send time, and keeps nothing it does not need. HttpDirectory
calls the platform's API (HOERA_CUSTOMER_DIRECTORY_URL, a template with {tenant} and {customer_id});
where the platform also answers for many customers at once (HOERA_CUSTOMER_DIRECTORY_BATCH_URL, a
template with {tenant}: POST {"customer_ids": [...]}, answered {"customers": [{"customer_id": ...,
"email": ...}, ...]}, an id left out being unknown), a Kafka batch's customers are asked in requests of
up to 100. In development and tests, without that setting, DemoDirectory stands in for the platform
and derives stable demo addresses from the id (customer-42 → customer-42@customers.hoera.test), so
mail lands in the local SMTP sink.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

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


class CustomerDirectory(ABC):
    """One customer (`lookup`) or many of one tenant (`lookup_many`; by default one lookup each, at
    once: a directory that can do better overrides it)."""

    @abstractmethod
    async def lookup(self, tenant: str, customer_id: str) -> CustomerContact | None: ...

    async def lookup_many(
        self, tenant: str, customer_ids: Sequence[str]
    ) -> dict[str, CustomerContact | None]:
        found = await asyncio.gather(*(self.lookup(tenant, c) for c in customer_ids))
        return dict(zip(customer_ids, found, strict=True))


async def lookup_all(
    directory: CustomerDirectory, customers: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], CustomerContact | None]:
    """(tenant, customer id) → contact details (None: unknown), each tenant's customers asked together,
    the tenants at once. Raises httpx.HTTPError when the platform cannot be asked: the caller says
    whether that is transient for it."""
    by_tenant: dict[str, list[str]] = defaultdict(list)
    for tenant, customer in dict.fromkeys(customers):
        by_tenant[tenant].append(customer)
    answers = await asyncio.gather(*(directory.lookup_many(t, ids) for t, ids in by_tenant.items()))
    return {
        (tenant, customer): answer.get(customer)
        for tenant, answer in zip(by_tenant, answers, strict=True)
        for customer in by_tenant[tenant]
    }


class DemoDirectory(CustomerDirectory):
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


class HttpDirectory(CustomerDirectory):
    """The platform's customer API: GET the template URL; 404 means unknown; JSON fields as above;
    with a batch URL, many customers of a tenant in one POST per BATCH_LIMIT.

    One client for the life of the process, so lookups reuse their connections (keep-alive, TLS
    sessions) instead of opening one per customer; `aclose` at shutdown."""

    BATCH_LIMIT = 100

    def __init__(
        self,
        url_template: str,
        *,
        batch_url_template: str | None = None,
        token: str | None = None,
        timeout: float = 5.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url_template = url_template
        self.batch_url_template = batch_url_template
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
        return _contact(customer_id, resp.json())

    async def lookup_many(
        self, tenant: str, customer_ids: Sequence[str]
    ) -> dict[str, CustomerContact | None]:
        if self.batch_url_template is None or len(customer_ids) < 2:
            return await super().lookup_many(tenant, customer_ids)
        url = self.batch_url_template.format(tenant=tenant)
        chunks = [
            customer_ids[i : i + self.BATCH_LIMIT] for i in range(0, len(customer_ids), self.BATCH_LIMIT)
        ]

        async def ask(chunk: Sequence[str]) -> list[Any]:
            resp = await self.client.post(url, json={"customer_ids": list(chunk)}, headers=self.headers)
            resp.raise_for_status()
            return list(resp.json().get("customers", []))

        found: dict[str, CustomerContact | None] = dict.fromkeys(customer_ids)
        wanted = set(customer_ids)
        for answer in await asyncio.gather(*(ask(chunk) for chunk in chunks)):
            for body in answer:
                customer = body.get("customer_id") if isinstance(body, dict) else None
                if customer in wanted:  # the platform answers for the ids asked, nothing else
                    found[customer] = _contact(customer, body)
        return found


def _contact(customer_id: str, body: dict[str, Any]) -> CustomerContact:
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
            batch_url_template=settings.customer_directory_batch_url,
            token=token.get_secret_value() if token else None,
        )
    if not settings.is_dev:
        raise ValueError("HOERA_CUSTOMER_DIRECTORY_URL is required outside development and test")
    return DemoDirectory()
