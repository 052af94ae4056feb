"""Tenants: a platform operator creates and changes the organisations this deployment serves (and
reads their definitions, never their data).

A tenant's own administrators change its organisation (teams, deputies, absences, calendar) through the
rule documents under /admin/rules/organisation, like every other rule (R8).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path
from hoera_events.common import Language
from hoera_events.organisation import MailFrom, Name, PlatformKey, Template, TenantId
from pydantic import BaseModel, ConfigDict, Field

from hoera_intake.api.deps import Operator, Uses
from hoera_intake.handlers import tenants
from hoera_intake.store import TenantRow

router = APIRouter(prefix="/tenants", tags=["tenants"])
TenantPath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$", examples=["partenamut"])]
_REFUSALS: dict[int | str, dict[str, Any]] = {
    403: {"description": "not a platform operator"},
    503: {"description": "saved, but not yet published to the other services: try again shortly"},
}


class NewTenant(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: TenantId
    name: Name
    template: Template = Field(description="what its rules and organisation start from: nl or fr")
    language: Language
    mail_from: MailFrom = Field(description="the sender of mail on the tenant's behalf")
    platform_keys: list[PlatformKey] = Field(
        default_factory=list, max_length=20, description="platforms that may publish events for it"
    )


class TenantChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expected_version: int = Field(ge=1)
    name: Name | None = None
    mail_from: MailFrom | None = None
    platform_keys: list[PlatformKey] | None = Field(default=None, max_length=20)
    active: bool | None = Field(default=None, description="false: events and tokens for it are refused")


class TenantView(BaseModel):
    id: str
    name: str
    template: Template
    language: Language
    mail_from: str
    platform_keys: list[PlatformKey]
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime
    updated_by: str


def _view(row: TenantRow) -> TenantView:
    return TenantView(
        id=row.id,
        name=row.name,
        template=Template(row.template),
        language=Language(row.language),
        mail_from=row.mail_from,
        platform_keys=[PlatformKey.model_validate(k) for k in row.platform_keys],
        active=row.active,
        version=row.version,
        created_at=row.created_at,
        updated_at=row.updated_at,
        updated_by=row.updated_by,
    )


@router.post(
    "",
    status_code=201,
    summary="Create a tenant from a template",
    description="Its definition and its organisation (copied from the template: nl or fr) are "
    "published to every service before the answer, so its platforms may publish at once.",
    response_model=TenantView,
    responses={409: {"description": "a tenant of that id exists already"}, **_REFUSALS},
)
async def create_tenant(new: NewTenant, principal: Operator, deps: Uses) -> TenantView:
    row = await tenants.create(
        deps,
        tenant_id=new.id,
        name=new.name,
        template=new.template.value,
        language=new.language.value,
        mail_from=new.mail_from,
        platform_keys=[k.model_dump() for k in new.platform_keys],
        by=principal.subject,
    )
    return _view(row)


@router.get("", summary="Every tenant", response_model=list[TenantView], responses=_REFUSALS)
async def list_tenants(principal: Operator, deps: Uses) -> list[TenantView]:
    return [_view(r) for r in await tenants.every_tenant(deps)]


@router.get(
    "/{tenant_id}",
    summary="One tenant",
    response_model=TenantView,
    responses={404: {"description": "no such tenant"}, **_REFUSALS},
)
async def read_tenant(tenant_id: TenantPath, principal: Operator, deps: Uses) -> TenantView:
    return _view(await tenants.tenant(deps, tenant_id))


@router.patch(
    "/{tenant_id}",
    summary="Change a tenant's definition",
    description="Name, sender, platform keys or active, against the version read (409 otherwise); "
    "kept with the definition before and after, and published to every service before the answer.",
    response_model=TenantView,
    responses={
        404: {"description": "no such tenant"},
        409: {"description": "expected_version is not the tenant's version"},
        **_REFUSALS,
    },
)
async def change_tenant(
    tenant_id: TenantPath, change: TenantChange, principal: Operator, deps: Uses
) -> TenantView:
    fields = change.model_dump(exclude_none=True, exclude={"expected_version"}, mode="json")
    row = await tenants.change(
        deps,
        tenant_id=tenant_id,
        expected_version=change.expected_version,
        changes=fields,
        by=principal.subject,
    )
    return _view(row)
