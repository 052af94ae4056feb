"""The recovery loop's rules (R7, R23, R29), pure: which signals open a case, by when it is due, what
the callback and the recovery survey say about its outcome, and when a case may close.

A case is about a customer, not a signal: one open case per customer and tenant, which later signals
join. It closes only with the department at fault and an outcome; the recovery rate counts closed
cases whose outcome says something about the customer (recovered, not recovered, left), leaving out
"no action needed".
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from hoera_events.recovery import RecoveryOutcome, RecoveryTrigger
from hoera_kit.calendar import BusinessCalendar, Span
from hoera_kit.refusals import Conflict, Invalid
from pydantic import BaseModel, ConfigDict, Field

RATED = (RecoveryOutcome.recovered, RecoveryOutcome.not_recovered, RecoveryOutcome.customer_left)
"""The outcomes the recovery rate counts: "no action needed" says nothing about winning anyone back."""
LOST = (RecoveryOutcome.not_recovered, RecoveryOutcome.customer_left)


class RecoveryRules(BaseModel):
    """Operator data (R8): when a case opens, its target time and what counts as recovered."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    unhappy_max_smiley: Annotated[int, Field(ge=1, le=5)] = 2
    """An answer with this satisfaction or lower opens a case."""
    detractor_max_nps: Annotated[int, Field(ge=0, le=10)] | None = None
    """An answer with this NPS or lower also opens one; none: NPS alone never does."""
    on_sla_breach: bool = True
    """A complaint that missed its promised date opens a case."""
    on_reopened: bool = True
    """A complaint the customer came back on opens a case."""
    target: Span = Span(business_days=2)
    """From opening to closing, on the tenant's business calendar; past it the case escalates once."""
    recovered_from_smiley: Annotated[int, Field(ge=1, le=5)] = 4
    """A recovery survey answered with this smiley or higher says: recovered."""


def recovery_problems(rules: RecoveryRules) -> list[tuple[str, str]]:
    """What the document's fields cannot say together (the kit answers 422)."""
    problems = []
    if not (rules.target.business_days or rules.target.seconds):
        problems.append(("target", "give business_days or seconds above zero"))
    if rules.recovered_from_smiley <= rules.unhappy_max_smiley:
        problems.append(("recovered_from_smiley", "must be above unhappy_max_smiley"))
    return problems


def case_due_at(calendar: BusinessCalendar, opened_at: datetime, target: Span) -> datetime:
    """The case's target time: the target span after the first business moment at or after opening."""
    return calendar.after(opened_at, target)


def answer_opens_case(satisfaction: int | None, nps: int | None, rules: RecoveryRules) -> bool:
    """R23: an unhappy smiley (or, where the rules say so, a detractor's NPS) is a customer to win back."""
    if satisfaction is not None and satisfaction <= rules.unhappy_max_smiley:
        return True
    return rules.detractor_max_nps is not None and nps is not None and nps <= rules.detractor_max_nps


def complaint_opens_case(trigger: RecoveryTrigger, rules: RecoveryRules) -> bool:
    if trigger is RecoveryTrigger.sla_breach:
        return rules.on_sla_breach
    if trigger is RecoveryTrigger.complaint_reopened:
        return rules.on_reopened
    return False


class Status(StrEnum):
    open = "open"
    closed = "closed"


def suggested_outcome(recovery_satisfaction: int | None, rules: RecoveryRules) -> RecoveryOutcome | None:
    """What the customer's own word says, if anything: the recovery survey after the callback decides.
    A callback's outcome alone does not (a pleasant call can leave an unhappy customer); it stays on
    the case for the team, and "considering leaving" marks the case as a churn signal."""
    if recovery_satisfaction is not None:
        if recovery_satisfaction >= rules.recovered_from_smiley:
            return RecoveryOutcome.recovered
        if recovery_satisfaction <= rules.unhappy_max_smiley:
            return RecoveryOutcome.not_recovered
        return None  # a middling answer: the team judges
    return None


def check_may_close(status: str, outcome: RecoveryOutcome | None, department: str | None) -> None:
    """A case closes once, and only with an outcome and the department at fault (R7)."""
    if status != Status.open:
        raise Conflict("this recovery case is already closed")
    if outcome is None:
        raise Invalid("choose how the case ended", field="outcome")
    if not department:
        raise Invalid("choose the department at fault (R7)", field="root_cause_department")


def recovery_rate(recovered: int, rated: int) -> float | None:
    """Recovered among the closed cases that say something about the customer; None without any."""
    return recovered / rated if rated else None
