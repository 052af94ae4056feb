"""The survey service's use cases: functions taking `deps` first. Each runs in the caller's
transaction (a consumer's, a timer's) or opens its own, asks the domain, and saves state, outbox
events and outgoing messages together; consumers, timers and routes only turn wire input into a call.

Routing, in one place:
- ContactClosed, ComplaintClosed, CallbackCompleted → invitations.request_surveys (R17); the survey's
  moment (the rules' delay and send window) → timer ``survey.invite`` → invitations.invitation_due
- CustomerMarkedDeceased, CustomerDeceasedMarkWithdrawn → standing.deceased_marks (R10)
- the survey page → answers.open_link, answers.asked, answers.submit_answer (the reason after an
  unhappy smiley, the comment's topics), answers.opt_out_by_link (R18, R19, R22)
- another service (alerts, callback) → answers.comments: the customers' words, which events leave out
- the API → standing.request_proactive_contact (R30), standing.opt_out / opt_in / standing,
  figures.figures and figures.suppressions (R20, R21), link_keys.rotate and link_keys.keys
"""

from hoera_kit.deps import ServiceDeps

from hoera_survey.handlers.answers import (
    Asked,
    LinkCheck,
    Opened,
    UnknownReason,
    asked,
    comments,
    open_answered,
    open_link,
    opt_out_by_link,
    submit_answer,
    trigger_rule,
    unknown_survey,
)
from hoera_survey.handlers.figures import figures, suppressions
from hoera_survey.handlers.invitations import (
    INVITE_TIMER,
    SurveyRequest,
    decide_invitation,
    invitation_due,
    invitation_message,
    request_surveys,
    survey_request,
    timer_key,
)
from hoera_survey.handlers.link_keys import keys as link_keys
from hoera_survey.handlers.link_keys import rotate as rotate_link_keys
from hoera_survey.handlers.link_keys import signing_key
from hoera_survey.handlers.standing import (
    deceased_marks,
    opt_in,
    opt_out,
    request_proactive_contact,
    standing,
)
from hoera_survey.settings import SurveySettings


class Deps(ServiceDeps[SurveySettings]):
    """The survey service's parts as its use cases see them: transactions, the clock, the tenants
    (their names, languages and business calendars), the rule documents, the platform's customer
    directory (addresses are asked for at the moment of sending, never stored) and the outbox."""


__all__ = [
    "INVITE_TIMER",
    "Asked",
    "Deps",
    "LinkCheck",
    "Opened",
    "SurveyRequest",
    "UnknownReason",
    "asked",
    "comments",
    "deceased_marks",
    "decide_invitation",
    "figures",
    "invitation_due",
    "invitation_message",
    "link_keys",
    "open_answered",
    "open_link",
    "opt_in",
    "opt_out",
    "opt_out_by_link",
    "request_proactive_contact",
    "request_surveys",
    "rotate_link_keys",
    "signing_key",
    "standing",
    "submit_answer",
    "suppressions",
    "survey_request",
    "timer_key",
    "trigger_rule",
    "unknown_survey",
]
