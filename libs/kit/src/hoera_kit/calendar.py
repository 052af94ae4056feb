"""The business calendar every service computes dates with: one module, so one customer is never
promised different dates by different services.

A tenant's calendar (hoera_events.organisation.CalendarRules) names its time zone, workdays, opening
hours, the country whose public holidays it keeps (the `holidays` library knows them for every year,
so nothing expires at the end of a hand-typed list) and the days its operator closes or opens anyway.

Every span of time in Hoera is a `Span`: business days, or seconds (for tests and very short operator
targets). `after(start, span)` is the one rule: the clock starts at the first business moment at or
after `start` (a complaint received on Friday at 18:00 starts counting on Monday morning, so it is
never due sooner than one received on Monday at 09:00), then moves whole business days keeping the
local time of day; seconds are plain elapsed time. Pure: no I/O, no framework.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import holidays as holiday_data
from hoera_events.organisation import CalendarRules
from pydantic import BaseModel, ConfigDict, Field, model_validator

MINUTES_PER_DAY = 24 * 60


class Span(BaseModel):
    """A span of business days, or of seconds (never both)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    business_days: Annotated[int, Field(ge=0, le=366)] = 0
    seconds: Annotated[int, Field(ge=0, le=366 * 86400)] = 0

    @model_validator(mode="after")
    def _one_unit(self) -> Span:
        if self.business_days and self.seconds:
            raise ValueError("give business_days or seconds, not both")
        return self

    @classmethod
    def days(cls, n: int) -> Span:
        return cls(business_days=n)


@dataclass(frozen=True)
class BusinessCalendar:
    rules: CalendarRules = field(default_factory=CalendarRules)

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.rules.timezone)

    @cached_property
    def _public(self) -> Any:
        if self.rules.holidays_country is None:
            return {}
        return holiday_data.country_holidays(
            self.rules.holidays_country, subdiv=self.rules.holidays_subdivision
        )

    @cached_property
    def _workdays(self) -> frozenset[int]:
        return frozenset(self.rules.workdays)

    @cached_property
    def _closed(self) -> frozenset[date]:
        return frozenset(self.rules.closed_days)

    @cached_property
    def _open(self) -> frozenset[date]:
        return frozenset(self.rules.open_days)

    @property
    def opens_minute(self) -> int:
        return 0 if self.rules.open_all_day else self.rules.opens.hour * 60 + self.rules.opens.minute

    @property
    def closes_minute(self) -> int:
        if self.rules.open_all_day:
            return MINUTES_PER_DAY
        return self.rules.closes.hour * 60 + self.rules.closes.minute

    # ---- days ---------------------------------------------------------------------------------
    def is_holiday(self, day: date) -> bool:
        if day in self._open:
            return False
        return day in self._closed or day in self._public

    def holiday_name(self, day: date) -> str | None:
        if self.is_holiday(day):
            return "closed by the operator" if day in self._closed else str(self._public.get(day))
        return None

    def is_business_day(self, day: date) -> bool:
        return day.isoweekday() in self._workdays and not self.is_holiday(day)

    def next_business_day(self, day: date) -> date:
        """The first business day on or after `day`."""
        for _ in range(3660):  # ten years: a calendar closed for longer is a mistake, not a wait
            if self.is_business_day(day):
                return day
            day += timedelta(days=1)
        raise ValueError("the calendar has no business day in the next ten years")

    def add_business_days(self, day: date, n: int) -> date:
        """The n-th business day after `day` (n=0: `day` if it is one, else the next).

        Never a weekend or holiday, and add(add(d, n), m) == add(d, n + m) for a business day d."""
        if n < 0:
            raise ValueError("n must be >= 0; use subtract_business_days")
        if n == 0:
            return self.next_business_day(day)
        while n:
            day = self.next_business_day(day + timedelta(days=1))
            n -= 1
        return day

    def subtract_business_days(self, day: date, n: int) -> date:
        """The n-th business day before `day` (n=0: `day` if it is one, else the previous one)."""
        if n < 0:
            raise ValueError("n must be >= 0")
        for _ in range(3660 + n):
            if n == 0 and self.is_business_day(day):
                return day
            day -= timedelta(days=1)
            if n and self.is_business_day(day):
                n -= 1
                if n == 0:
                    return day
        raise ValueError("the calendar has no business day in the last ten years")

    def business_days_between(self, start: date, end: date) -> int:
        """Business days d with start <= d < end (0 when end <= start)."""
        count, day = 0, start
        while day < end:
            count += self.is_business_day(day)
            day += timedelta(days=1)
        return count

    # ---- moments ------------------------------------------------------------------------------
    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.zone).date()

    def _at_minute(self, day: date, minute: int) -> datetime:
        if minute >= MINUTES_PER_DAY:
            return datetime.combine(day + timedelta(days=1), time(0), self.zone).astimezone(UTC)
        return datetime.combine(day, time(minute // 60, minute % 60), self.zone).astimezone(UTC)

    def opening(self, day: date) -> datetime:
        return self._at_minute(day, self.opens_minute)

    def closing(self, day: date) -> datetime:
        return self._at_minute(day, self.closes_minute)

    def end_of_day(self, day: date) -> datetime:
        """The first moment after `day` in local time: a promised date has passed from then on."""
        return self._at_minute(day, MINUTES_PER_DAY)

    def in_business_hours(self, moment: datetime) -> bool:
        day = self.local_date(moment)
        return self.is_business_day(day) and self.opening(day) <= moment < self.closing(day)

    def next_business_moment(self, moment: datetime) -> datetime:
        """`moment` if it is within business hours, else the next opening."""
        if self.in_business_hours(moment):
            return moment
        day = self.local_date(moment)
        if self.is_business_day(day) and moment < self.opening(day):
            return self.opening(day)
        return self.opening(self.add_business_days(day, 1))

    def after(self, start: datetime, span: Span) -> datetime:
        """The moment `span` after `start` (see the module docstring). Monotonic in `start`."""
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if not span.business_days:
            return start + timedelta(seconds=span.seconds)
        begun = self.next_business_moment(start).astimezone(self.zone)
        day = self.add_business_days(begun.date(), span.business_days)
        moment = datetime.combine(day, begun.time(), self.zone).astimezone(UTC)
        # A wall-clock time that a DST change skipped or doubled lands within the day's hours.
        return min(max(moment, self.opening(day)), self.closing(day))

    def due_date(self, start: datetime, business_days: int) -> date:
        """R2: the promised date, `business_days` after the first business moment of `start` (0: the
        day of that first business moment, never a holiday)."""
        if business_days == 0:
            return self.local_date(self.next_business_moment(start))
        return self.local_date(self.after(start, Span.days(business_days)))


def calendar_of(rules: CalendarRules | None) -> BusinessCalendar:
    return BusinessCalendar(rules or CalendarRules())
