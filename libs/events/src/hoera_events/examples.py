"""Fixed, fictitious example values shared by the models' ``example()`` methods.

The same fictitious customer, agent, team and complaint appear in every example (a customer phones
about a late refund, complains, gets EUR 25, answers a survey unhappily and asks to be called back),
so the AsyncAPI examples read as one case. Fixed values, never random: the generated AsyncAPI
document must be the same on every run.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID

TENANT = "partena"
CUSTOMER = "CUST-0012345"
AGENT = "AGT-0042"
SUPERVISOR = "AGT-0007"
APPROVER = "AGT-0100"
TEAM = "TEAM-REFUNDS-NL"
CONTACT = "CNT-20250303-000981"
RECORDING = "rec:2025/03/03/CNT-20250303-000981"
PLATFORM_REF = "PLT-CMP-77812"
CATEGORY = "refund.late"
CONTACT_REASON = "refund.status"
ROOT_CAUSE = "claims-processing"
CATALOGUE_ENTRY = "refund-late-over-30-days"

COMPLAINT = UUID("0b8c6a52-4b9e-4b0c-9d5e-3f6a1d2c7e01")
COMPENSATION = UUID("5f0e2f4a-2c1d-4e3b-8a7f-6b5c4d3e2f02")
SURVEY = UUID("9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c03")
ALERT = UUID("c4d5e6f7-0819-4a2b-9c3d-4e5f6a7b8c04")
CALLBACK = UUID("e1f2a3b4-c5d6-4e7f-8091-a2b3c4d5e605")
ERASURE = UUID("7d3e9f10-5a6b-4c7d-8e9f-0a1b2c3d4e06")
RECOVERY_CASE = UUID("3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e07")

AT = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)
"""The moment the story starts: the phone contact closes."""


def later(*, days: int = 0, hours: int = 0, minutes: int = 0) -> datetime:
    return AT + timedelta(days=days, hours=hours, minutes=minutes)


def day(offset: int) -> date:
    return (AT + timedelta(days=offset)).date()
