"""R25: when the weekly digest goes out, in the tenant's calendar."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hoera_alerts.domain import WeeklyDigest, next_weekly_digest
from hoera_events.organisation import CalendarRules
from hoera_kit.calendar import BusinessCalendar

BRUSSELS = BusinessCalendar(CalendarRules())


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        # Saturday: the coming Monday at 08:00 Brussels (07:00 UTC in winter).
        (datetime(2026, 12, 5, 7, 30, tzinfo=UTC), datetime(2026, 12, 7, 7, 0, tzinfo=UTC)),
        # Monday before 08:00 Brussels: the same morning.
        (datetime(2026, 12, 7, 6, 59, tzinfo=UTC), datetime(2026, 12, 7, 7, 0, tzinfo=UTC)),
        # Monday at 08:00 exactly: a week on, never the moment that just fired.
        (datetime(2026, 12, 7, 7, 0, tzinfo=UTC), datetime(2026, 12, 14, 7, 0, tzinfo=UTC)),
        # Summer time: 08:00 Brussels is 06:00 UTC.
        (datetime(2026, 7, 1, 12, 0, tzinfo=UTC), datetime(2026, 7, 6, 6, 0, tzinfo=UTC)),
    ],
)
def test_the_next_digest_is_the_tenants_weekday_and_hour(now: datetime, expected: datetime) -> None:
    assert next_weekly_digest(BRUSSELS, now, WeeklyDigest()) == expected


def test_a_tenant_chooses_friday_afternoon() -> None:
    rule = WeeklyDigest(weekday=5, hour=16)
    assert next_weekly_digest(BRUSSELS, datetime(2026, 12, 5, 7, 30, tzinfo=UTC), rule) == datetime(
        2026, 12, 11, 15, 0, tzinfo=UTC
    )
