"""HTTP API: a supervisor's alerts and acknowledgements (R23) and a team's figures (R25); the kit adds
the operator data (R8) under /admin/rules. A supervisor sees only the teams they lead in their own
tenant: every route that names an alert or a team checks it and answers 404, as for something that
does not exist. Routes only turn the request into a call of a use case (handlers.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from hoera_events.alerts import AlertAction, AlertKind, Severity
from hoera_events.common import Code
from hoera_kit.auth import Principal, Role, require_roles
from pydantic import BaseModel, ConfigDict, Field

from hoera_alerts import handlers, store
from hoera_alerts.domain import AlertStatus, Figures
from hoera_alerts.handlers import AlertView, Deps, RootCauseFigure, TeamDashboard, TrendPoint

router = APIRouter()

Supervisor = Annotated[Principal, Depends(require_roles(Role.supervisor))]
# One alert: its team's supervisor, or for alerts without a team (abuse flags) the back office.
AlertReader = Annotated[Principal, Depends(require_roles(Role.supervisor, Role.approver, Role.admin))]


def _deps(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


Uses = Annotated[Deps, Depends(_deps)]


# --- views ------------------------------------------------------------------------------------------


class RecipientOut(BaseModel):
    recipient_id: str
    role: str
    deputy_for: str | None
    delivered_at: datetime | None
    given_up: bool


class AlertOut(BaseModel):
    alert_id: uuid.UUID
    kind: AlertKind
    severity: Severity
    status: AlertStatus
    raised_at: datetime
    team_id: str | None
    agent_id: str | None
    customer_id: str | None
    complaint_id: uuid.UUID | None
    survey_id: uuid.UUID | None
    contact_id: str | None
    satisfaction: int | None
    recording_link: str | None
    comment: str | None = Field(description="what the customer wrote (unhappy smiley)")
    answers: dict[str, Any] | None = Field(description="the scores the customer gave")
    reading: dict[str, Any] | None = Field(description="the figure behind a threshold alert")
    reason: Code | None = Field(default=None, description="why the customer was unhappy (unhappy smiley)")
    topics: list[Code] = Field(
        default=[], description="the topics of the customer's comment (unhappy smiley)"
    )
    recovery_case_id: uuid.UUID | None = Field(
        default=None, description="the recovery case an overdue-case alert is about (its page: callback)"
    )
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    action: str | None
    note: str | None
    root_cause_department: str | None
    recipients: list[RecipientOut] = []

    @classmethod
    def of(cls, a: store.StoredAlert, recipients: list[store.RecipientView] | None = None) -> AlertOut:
        answer = a.details.get("answer") or {}
        scores = {k: answer.get(k) for k in ("satisfaction", "effort", "nps") if answer.get(k) is not None}
        if answer.get("attributes"):
            scores["attributes"] = answer["attributes"]
        return cls(
            alert_id=a.alert_id,
            kind=a.kind,
            severity=a.severity,
            status=a.status,
            raised_at=a.raised_at,
            team_id=a.team_id,
            agent_id=a.agent_id,
            customer_id=a.customer_id,
            complaint_id=a.complaint_id,
            survey_id=a.survey_id,
            contact_id=a.contact_id,
            satisfaction=a.satisfaction,
            recording_link=a.details.get("recording_link"),
            comment=a.details.get("comment"),
            answers=scores or None,
            reading=a.details.get("reading"),
            reason=a.reason,
            topics=answer.get("topics") or [],
            recovery_case_id=a.recovery_case_id,
            acknowledged_by=a.acknowledged_by,
            acknowledged_at=a.acknowledged_at,
            action=a.action,
            note=a.note,
            root_cause_department=a.root_cause_department,
            recipients=[RecipientOut(**r.__dict__) for r in recipients or []],
        )


class AcknowledgementIn(BaseModel):
    """What the supervisor did about the alert (R23)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "action": "other_department_at_fault",
                    "root_cause_department": "claims-processing",
                    "note": "Listened to the call: the refund was never booked by claims.",
                },
                {"action": "coached", "note": "Went through the call with Anna."},
            ]
        },
    )

    action: AlertAction
    note: Annotated[str, Field(max_length=2000)] | None = None
    root_cause_department: Code | None = Field(
        default=None, description="required with other_department_at_fault (R7)"
    )


class DashboardOut(BaseModel):
    team_id: str
    team_name: str
    period_days: int
    figures: Figures
    trend: list[dict[str, Any]]
    root_causes: list[dict[str, Any]]
    open_alerts: list[AlertOut]
    acknowledged: list[AlertOut]
    open_count: int
    generated_at: datetime
    topics: list[dict[str, Any]] = Field(
        description="the period's answers per topic of their comment (codes)"
    )
    reasons: list[dict[str, Any]] = Field(description="the period's answers per reason for being unhappy")
    topic_reasons: list[dict[str, Any]] = Field(description="the period's answers per topic and reason")

    @classmethod
    def of(cls, d: TeamDashboard) -> DashboardOut:
        def point(p: TrendPoint | RootCauseFigure) -> dict[str, Any]:
            return dict(p.__dict__)

        return cls(
            team_id=d.team_id,
            team_name=d.team_name,
            period_days=d.period_days,
            figures=d.figures,
            trend=[point(p) for p in d.trend],
            root_causes=[point(r) for r in d.root_causes],
            open_alerts=[AlertOut.of(a) for a in d.open_alerts],
            acknowledged=[AlertOut.of(a) for a in d.acknowledged],
            open_count=d.open_count,
            generated_at=d.generated_at,
            topics=[dict(c.__dict__) for c in d.feedback.topics],
            reasons=[dict(c.__dict__) for c in d.feedback.reasons],
            topic_reasons=[dict(c.__dict__) for c in d.feedback.pairs],
        )


# --- supervisors ------------------------------------------------------------------------------------


@router.get(
    "/alerts",
    summary="Alerts of the teams I lead, newest first",
    tags=["alerts"],
)
async def list_alerts(
    principal: Supervisor,
    deps: Uses,
    team_id: Annotated[str | None, Query(description="one team you lead; default: all of them")] = None,
    status: Annotated[list[AlertStatus] | None, Query(description="default: open and acknowledged")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AlertOut]:
    statuses = status or [AlertStatus.open, AlertStatus.acknowledged]
    alerts = await handlers.list_alerts(deps, principal, team_id, statuses, limit)
    return [AlertOut.of(a) for a in alerts]


def _out(view: AlertView) -> AlertOut:
    return AlertOut.of(view.alert, view.recipients)


@router.get("/alerts/{alert_id}", summary="One alert, with who was told", tags=["alerts"])
async def read_alert(alert_id: uuid.UUID, principal: AlertReader, deps: Uses) -> AlertOut:
    return _out(await handlers.read_alert(deps, principal, alert_id))


@router.post(
    "/alerts/{alert_id}/acknowledgement",
    summary="Record what I did about an alert (closing the loop)",
    tags=["alerts"],
    responses={
        404: {"description": "no such alert in the teams you lead"},
        409: {"description": "acknowledged already (by someone else or otherwise), or informative"},
        422: {"description": "a field is wrong; `field` names it"},
    },
)
async def acknowledge(
    alert_id: uuid.UUID,
    principal: AlertReader,
    deps: Uses,
    body: Annotated[AcknowledgementIn, Body()],
) -> AlertOut:
    view = await handlers.acknowledge(
        deps, principal, alert_id, body.action, body.note, body.root_cause_department
    )
    return _out(view)


@router.get(
    "/teams/{team_id}/dashboard",
    summary="A team's figures, trends, root-cause split and alerts (R25)",
    tags=["dashboard"],
)
async def team_dashboard(team_id: str, principal: Supervisor, deps: Uses) -> DashboardOut:
    handlers.led_teams(principal, team_id)
    return DashboardOut.of(await handlers.team_dashboard(deps, principal.tenant, team_id))
