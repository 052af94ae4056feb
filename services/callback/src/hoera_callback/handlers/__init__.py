"""Use cases of the callback queue. Each opens (or joins) a transaction, loads, asks the domain and
saves state with its outbox events; consumers, timers and HTTP routes only call these.

requests    R26: a request becomes one callback (idempotent), priority from the signals (R29)
claims      R26: take next or a chosen one under a lease; release
outcomes    R28: outcomes, retries, lead-time escalation
read_model  R27: other services' events into our own tables
views       the queue, the context panel, the figures
"""

from hoera_callback.handlers.claims import claim_chosen, held, release, take_next
from hoera_callback.handlers.common import LEAD_TIME_TIMER, RETRY_TIMER, CallbackApp
from hoera_callback.handlers.outcomes import (
    OutcomeCommand,
    OutcomeResult,
    lead_time_missed,
    record_outcome,
    retry_due,
)
from hoera_callback.handlers.read_model import (
    alert_raised,
    complaint_event,
    contact_closed,
    deceased_mark_withdrawn,
    survey_answered,
)
from hoera_callback.handlers.requests import NewRequest, request_by_agent, request_callback
from hoera_callback.handlers.views import (
    CallbackContext,
    CallbackDetail,
    QueueItem,
    WeekFigures,
    detail,
    figures,
    queue,
)

__all__ = [
    "LEAD_TIME_TIMER",
    "RETRY_TIMER",
    "CallbackApp",
    "CallbackContext",
    "CallbackDetail",
    "NewRequest",
    "OutcomeCommand",
    "OutcomeResult",
    "QueueItem",
    "WeekFigures",
    "alert_raised",
    "claim_chosen",
    "complaint_event",
    "contact_closed",
    "deceased_mark_withdrawn",
    "detail",
    "figures",
    "held",
    "lead_time_missed",
    "queue",
    "record_outcome",
    "release",
    "request_by_agent",
    "request_callback",
    "retry_due",
    "survey_answered",
    "take_next",
]
