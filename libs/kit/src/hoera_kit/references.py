"""References that the owning service resolves: free text stays out of events, because Kafka's log
cannot be erased, and a consumer that needs the words asks their owner for them at consume time.

`SurveyAnswered` says `commented: true` instead of carrying the customer's comment; alerts and callback
ask the survey service (POST /internal/survey-comments, as a service: hoera_kit.service_tokens) for the
comments of a batch's surveys, one call per tenant, keep their own copy and erase it with the rest.
After an erasure the survey service has no words left to give, so a late event brings none back.

A call that cannot be answered now (the survey service unreachable, slow, failing, or refusing this
service's token) raises ReferenceUnavailable, a ConnectionError: the kit's consumers retry the batch
with backoff (hoera_kit.retry) and never dead-letter a good event for it. A survey service nobody
configured (HOERA_SERVICE_URLS or HOERA_STAFF_PAGES) is a RuntimeError at the first call that needs it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final
from uuid import UUID

import httpx

from hoera_kit.service_tokens import ServiceTokens
from hoera_kit.settings import KitSettings

SURVEY_COMMENTS_PATH: Final = "/internal/survey-comments"
MAX_IDS_PER_CALL: Final = 1000
"""What the survey route takes in one call; a larger batch is asked for in parts."""

# The owner is away, overloaded, not yet deployed with the route, or refuses our credentials for now:
# none of that is the event's fault, so the consumer waits rather than dead-letters.
_RETRIED_STATUSES: Final = frozenset({401, 403, 404, 408, 425, 429})


class ReferenceUnavailable(ConnectionError):
    """The owning service did not resolve the reference now; the consumer retries (a transient fault)."""


class ReferenceRefused(Exception):
    """The owning service refused the request itself (a 4xx other than the retried ones): a bug here,
    handled as any other unknown fault (a few tries, then the event is dead-lettered with it)."""


class SurveyComments:
    """The survey service's comments, by survey id. One HTTP client for the life of the process
    (keep-alive, TLS sessions); `aclose` at shutdown."""

    def __init__(
        self,
        settings: KitSettings,
        tokens: ServiceTokens,
        *,
        client: httpx.AsyncClient | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.settings = settings
        self.tokens = tokens
        self._owns_client = client is None
        self.client = client or httpx.AsyncClient(
            timeout=timeout, limits=httpx.Limits(max_connections=20, max_keepalive_connections=20)
        )

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()

    def _url(self) -> str:
        base = self.settings.service_url("survey")
        if not base:
            raise RuntimeError(
                f"{self.settings.service_name} needs the survey service's address to read survey comments: "
                'set HOERA_SERVICE_URLS (JSON, {"survey": "http://..."}) or HOERA_STAFF_PAGES'
            )
        return base.rstrip("/") + SURVEY_COMMENTS_PATH

    async def resolve(self, tenant: str, survey_ids: Sequence[UUID]) -> dict[UUID, str]:
        """The comments of these surveys of the tenant; a survey without one (none written, or erased)
        is absent. No ids: no call."""
        ids = list(dict.fromkeys(survey_ids))
        if not ids:
            return {}
        url = self._url()
        found: dict[UUID, str] = {}
        for start in range(0, len(ids), MAX_IDS_PER_CALL):
            found |= await self._ask(url, tenant, ids[start : start + MAX_IDS_PER_CALL])
        return found

    async def _ask(self, url: str, tenant: str, ids: list[UUID]) -> dict[UUID, str]:
        headers = await self.tokens.header()
        body = {"tenant": tenant, "survey_ids": [str(i) for i in ids]}
        try:
            resp = await self.client.post(url, json=body, headers=headers)
        except httpx.HTTPError as exc:  # connection refused or reset, a timeout, a broken answer
            raise ReferenceUnavailable(f"the survey service cannot be reached: {exc!r}") from exc
        if resp.status_code == 401:
            self.tokens.forget()  # a key rotated, or the token was revoked: the next try gets a new one
        if resp.status_code >= 500 or resp.status_code in _RETRIED_STATUSES:
            raise ReferenceUnavailable(f"the survey service answered {resp.status_code} for survey comments")
        if resp.status_code != 200:
            raise ReferenceRefused(
                f"the survey service refused the request for survey comments: {resp.status_code}"
            )
        return _comments(resp, set(ids))


def _comments(resp: httpx.Response, asked: set[UUID]) -> dict[UUID, str]:
    """{"comments": {"<survey id>": "<words>"}}, kept to the surveys asked about."""
    try:
        payload: Any = resp.json()
        comments = payload["comments"]
        found = {UUID(key): value for key, value in comments.items() if isinstance(value, str)}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ReferenceUnavailable("the survey service's answer is not a map of comments") from exc
    return {key: value for key, value in found.items() if key in asked}
