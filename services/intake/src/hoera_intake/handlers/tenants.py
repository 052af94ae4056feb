"""Tenants and their organisation: intake owns both and tells every service (docs/architecture.md, "Tenants").

- A platform operator creates a tenant from a template (nl: a Dutch-speaking insurer, fr: a French-
  speaking one): its definition (name, language, the sender of its mail, the public keys of the
  contact-centre platforms that may publish for it) and its organisation, copied from the template.
  Both are published as snapshots on compacted topics (TenantDefined, OrganisationChanged); the
  creation is answered only once both are on the broker, so a platform that publishes for the new
  tenant right after is never refused as unknown by a service that has not read them yet.
- The tenant's administrators change the organisation (teams, ordered deputies, people, absences,
  the business calendar) as one of intake's rule documents, with versions, history and rollback like
  every other (R8); each write publishes the new snapshot in the same transaction.
- At start, intake publishes again what the broker lacks (a broker rebuilt from nothing, tenants
  carried over by a migration), so the replicas always follow intake's database.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hoera_events.organisation import Organisation, OrganisationChanged, PlatformKey, TenantDefined
from hoera_kit.db import Conn
from hoera_kit.refusals import Conflict, NotFound, Refusal
from hoera_kit.rules import Versioned
from hoera_kit.signing import relay_platform_keys
from hoera_kit.tenants import ORGANISATIONS_TOPIC, TENANTS_TOPIC

from hoera_intake import store
from hoera_intake.rules import ORGANISATION
from hoera_intake.store import TenantRow

if TYPE_CHECKING:
    from hoera_intake.handlers import Deps

PUBLISH_WAIT_S = 15.0


def definition(row: TenantRow, relay: list[PlatformKey]) -> TenantDefined:
    """As published: the platforms' keys, and intake's relay keys (for contacts reported over HTTP)."""
    ours = {k.kid for k in relay}
    keys = [PlatformKey.model_validate(k) for k in row.platform_keys if k.get("kid") not in ours]
    return TenantDefined(
        tenant_id=row.id,
        name=row.name,
        template=row.template,
        language=row.language,
        mail_from=row.mail_from,
        platform_keys=[*keys, *relay],
        active=row.active,
        defined_at=row.updated_at,
    )


async def _publish_definition(deps: Deps, conn: Conn, row: TenantRow) -> None:
    await deps.emit(conn, definition(row, relay_platform_keys(deps.settings)), tenant=row.id, key=row.id)


def organisation_changed(written: Versioned[Organisation]) -> OrganisationChanged:
    return OrganisationChanged(
        tenant_id=written.tenant,
        version=written.version,
        organisation=written.document,
        changed_at=written.changed_at or datetime.now(UTC),
    )


async def publish_organisation(deps: Deps, conn: Conn, written: Versioned[Organisation]) -> None:
    """Every write of a tenant's organisation, in its transaction: every service's replica follows."""
    await deps.emit(conn, organisation_changed(written), tenant=written.tenant, key=written.tenant)


def organisation_committed(deps: Deps, written: Versioned[Organisation]) -> None:
    """Intake's own replica takes a committed change at once: the next complaint is promised by the
    calendar the operator just saved, not by the one before until the event comes back."""
    deps.tenants.apply(organisation_changed(written))


async def tenant(deps: Deps, tenant_id: str) -> TenantRow:
    async with deps.transaction() as conn:
        found = await store.get_tenant(conn, tenant_id)
    if found is None:
        raise NotFound(f"tenant {tenant_id}")
    return found


async def every_tenant(deps: Deps) -> list[TenantRow]:
    async with deps.transaction() as conn:
        return await store.list_tenants(conn)


async def create(
    deps: Deps,
    *,
    tenant_id: str,
    name: str,
    template: str,
    language: str,
    mail_from: str,
    platform_keys: list[dict[str, str]],
    by: str,
) -> TenantRow:
    """A new tenant and its organisation from the template; answered once both are on the broker."""
    async with deps.transaction() as conn:
        row = await store.insert_tenant(
            conn,
            tenant_id=tenant_id,
            name=name,
            template=template,
            language=language,
            mail_from=mail_from,
            platform_keys=platform_keys,
            by=by,
        )
        if row is None:
            raise Conflict(f"tenant {tenant_id} exists already", field="id")
        await _publish_definition(deps, conn, row)
        organisation = deps.rules.named(ORGANISATION.name)
        start = deps.rules.template_document(organisation, template)
        await deps.rules.write(
            conn,
            tenant_id,
            organisation,
            start,
            expected_version=0,
            changed_by=by,
            reason="from the template",
        )
    await _published(deps, tenant_id)
    return row


async def change(
    deps: Deps, *, tenant_id: str, expected_version: int, changes: dict[str, Any], by: str
) -> TenantRow:
    """A tenant's definition changed (name, sender, platform keys, active), audited, published."""
    async with deps.transaction() as conn:
        current = await store.get_tenant(conn, tenant_id, lock=True)
        if current is None:
            raise NotFound(f"tenant {tenant_id}")
        if current.version != expected_version:
            raise Conflict(
                f"tenant {tenant_id} is at version {current.version}, not {expected_version}",
                field="expected_version",
            )
        row = await store.update_tenant(
            conn,
            tenant_id,
            name=changes.get("name", current.name),
            mail_from=changes.get("mail_from", current.mail_from),
            platform_keys=changes.get("platform_keys", current.platform_keys),
            active=changes.get("active", current.active),
            by=by,
        )
        await store.add_tenant_change(
            conn,
            tenant_id,
            row.version,
            by,
            definition(current, relay_platform_keys(deps.settings)).model_dump_json(),
            definition(row, relay_platform_keys(deps.settings)).model_dump_json(),
        )
        await _publish_definition(deps, conn, row)
    await _published(deps, tenant_id)
    return row


async def _published(deps: Deps, tenant_id: str) -> None:
    """Until the tenant's snapshots have left the outbox (the relay deletes a row once the broker has
    it), then until this replica has read them."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PUBLISH_WAIT_S
    while True:
        async with deps.svc.pool.acquire() as conn:
            waiting = await store.unpublished(conn, tenant_id, [TENANTS_TOPIC, ORGANISATIONS_TOPIC])
        if not waiting:
            break
        if loop.time() > deadline:
            # Saved, and it will be published; a platform must not be told to go ahead yet.
            raise Refusal("saved, but not yet published to the other services: try again shortly", status=503)
        await asyncio.sleep(0.05)
    await deps.tenants.catch_up()


async def republish_missing(deps: Deps) -> None:
    """Publish again every tenant definition and organisation the replica does not hold as intake's
    database does (a start hook)."""
    organisation = deps.rules.named(ORGANISATION.name)
    async with deps.transaction() as conn:
        rows = await store.list_tenants(conn)
        for row in rows:
            if deps.tenants.definition(row.id) != definition(row, relay_platform_keys(deps.settings)):
                await _publish_definition(deps, conn, row)
        for tenant_id in sorted(
            {r.id for r in rows} | set(await store.tenants_with(conn, ORGANISATION.name))
        ):
            current = await deps.rules.read(conn, tenant_id, organisation)
            held = deps.tenants.organisation(tenant_id)
            if current.version and (
                deps.tenants.organisation_version(tenant_id) != current.version or held != current.document
            ):
                await publish_organisation(deps, conn, current)
