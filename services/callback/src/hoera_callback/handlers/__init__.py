"""Use cases of the callback queue: functions taking `deps` first. Each opens a transaction (or joins
the consumer's or timer's), loads, asks the domain and saves state with its outbox events; consumers,
timers and HTTP routes only turn wire input into a call of one of these.

requests    R26: a request becomes one callback (idempotent), priority from the signals (R29)
claims      R26: take next or a chosen one under a lease; release
outcomes    R28: outcomes, retries, lead-time escalation
read_model  R27: other services' events into our own tables, a Kafka batch at a time
book        what a batch decides on, read in a few statements and written in a few
views       the queue, the context panel, the figures
recovery    R23/R29: a recovery case per unhappy customer, closed with a department and an outcome
outer_loop  R7: recovery figures, the departments' view and their improvement actions
"""

from hoera_kit.deps import ServiceDeps

from hoera_callback.handlers import recovery
from hoera_callback.handlers.claims import claim_chosen, held, release, take_next
from hoera_callback.handlers.common import LEAD_TIME_TIMER, RETRY_TIMER
from hoera_callback.handlers.outcomes import (
    OutcomeCommand,
    OutcomeResult,
    lead_time_missed,
    record_outcome,
    retry_due,
)
from hoera_callback.handlers.read_model import (
    alerts_raised,
    complaint_events,
    contacts_closed,
    deceased_marks_withdrawn,
    surveys_answered,
)
from hoera_callback.handlers.recovery import RECOVERY_TIMER
from hoera_callback.handlers.requests import ManualRequest, NewRequest, request_by_agent, request_callback
from hoera_callback.handlers.views import (
    CallbackContext,
    CallbackDetail,
    QueueItem,
    WeekFigures,
    detail,
    figures,
    queue,
)
from hoera_callback.settings import CallbackSettings


class Deps(ServiceDeps[CallbackSettings]):
    """The callback service's parts as its use cases see them: transactions, the clock, the tenants'
    organisations and calendars, the rule documents, the platform's customer directory (phone
    numbers are asked for at the moment of need, never stored) and the outbox."""


__all__ = [
    "LEAD_TIME_TIMER",
    "RECOVERY_TIMER",
    "RETRY_TIMER",
    "CallbackContext",
    "CallbackDetail",
    "Deps",
    "ManualRequest",
    "NewRequest",
    "OutcomeCommand",
    "OutcomeResult",
    "QueueItem",
    "WeekFigures",
    "alerts_raised",
    "claim_chosen",
    "complaint_events",
    "contacts_closed",
    "deceased_marks_withdrawn",
    "detail",
    "figures",
    "held",
    "lead_time_missed",
    "queue",
    "record_outcome",
    "recovery",
    "release",
    "request_by_agent",
    "request_callback",
    "retry_due",
    "surveys_answered",
    "take_next",
]
