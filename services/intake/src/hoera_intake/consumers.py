"""Kafka subscribers: the platform's complaints and contacts, and other services' events about a
dossier (for its timeline). Each turns envelopes into use cases, in the inbox's transaction."""

from __future__ import annotations

from hoera_events.callbacks import CallbackCompleted
from hoera_events.compensation import (
    CompensationApprovalRequested,
    CompensationDecided,
    CompensationProposed,
)
from hoera_events.envelope import Envelope
from hoera_events.platform import ComplaintReceived, ContactClosed
from hoera_events.privacy import ErasureConfirmed
from hoera_events.registry import all_topics
from hoera_kit.db import Conn
from hoera_kit.service import Service

from hoera_intake.handlers import Deps, complaints, erasures, timeline, webhooks
from hoera_intake.settings import IntakeSettings


def register(svc: Service[IntakeSettings], deps: Deps) -> None:
    platform_complaints(svc, deps)
    platform_contacts(svc, deps)
    dossier_events(svc, deps)
    erasure_confirmations(svc, deps)
    webhook_dispatch(svc, deps)


def platform_complaints(svc: Service[IntakeSettings], deps: Deps, *, topic: str | None = None) -> None:
    """topic: read the platform's complaints from another topic (the benchmark's own)."""

    @svc.consumer(topic or ComplaintReceived, name="platform-complaints", batch=True)
    async def complaints_received(conn: Conn, envelopes: list[Envelope]) -> None:
        # Not strict: an unknown category takes the default SLA; a complaint is never refused.
        await complaints.submit_many(
            deps, conn, [submission_of(env) for env in envelopes], via="kafka", strict=False
        )


def submission_of(env: Envelope) -> complaints.Submission:
    """The platform's ComplaintReceived, as a complaint to submit in its producer's name."""
    data = env.data_as(ComplaintReceived)
    cmd = complaints.NewComplaint(
        tenant=env.tenant,
        customer_id=data.customer_id,
        channel=data.channel,
        category=data.category,
        language=data.language,
        summary=data.summary,
        received_at=data.received_at,
        platform_ref=data.platform_ref,
        contact_id=data.contact_id,
        agent_id=data.agent_id,
        team_id=data.team_id,
        about_deceased=data.about_deceased,
    )
    return complaints.Submission(cmd, actor=env.producer, cause=env)


def platform_contacts(svc: Service[IntakeSettings], deps: Deps) -> None:
    @svc.consumer(ContactClosed, name="platform-contacts", batch=True)
    async def contacts_closed(conn: Conn, envelopes: list[Envelope]) -> None:
        contacts = [(env.tenant, env.data_as(ContactClosed), env) for env in envelopes]
        await complaints.record_contacts(deps, conn, contacts, via="kafka")


def dossier_events(svc: Service[IntakeSettings], deps: Deps) -> None:
    @svc.consumer(
        CompensationProposed,
        CompensationApprovalRequested,
        CompensationDecided,
        CallbackCompleted,
        name="timeline",
        batch=True,
    )
    async def about_a_dossier(conn: Conn, envelopes: list[Envelope]) -> None:
        await timeline.on_related_events(deps, conn, envelopes)


def erasure_confirmations(svc: Service[IntakeSettings], deps: Deps) -> None:
    @svc.consumer(ErasureConfirmed, name="erasure-confirmations", batch=True)
    async def confirmed(conn: Conn, envelopes: list[Envelope]) -> None:
        await erasures.confirmed_many(deps, conn, envelopes)


def webhook_dispatch(svc: Service[IntakeSettings], deps: Deps) -> None:
    """Every event of every tenant, to the partners' endpoints that take it (handlers.webhooks). The
    tenant and organisation snapshots are read by the replica, not forwarded."""
    topics = [spec.topic for spec in all_topics() if not spec.compacted]

    @svc.consumer(*topics, name="webhooks", batch=True)
    async def forward(conn: Conn, envelopes: list[Envelope]) -> None:
        await webhooks.dispatch(deps, conn, envelopes)
