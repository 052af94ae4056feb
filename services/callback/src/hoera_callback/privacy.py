"""What callback holds about a customer, and how erasure anonymises it (GDPR art. 15 and 17).

Callbacks and their outcomes stay (who called, when, with what outcome: the weekly figures per agent
and team), and so does the context read model's skeleton; what was written about the customer goes:
the note on a request, the agents' notes on their calls, the customer's survey comment kept as
context (R27), the team's note on closing a recovery case. A recovery case keeps its codes, scores and
outcome (the recovery figures count them).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from hoera_events.organisation import Retention
from hoera_kit.db import Conn, count_changed
from hoera_kit.privacy import ERASED
from hoera_kit.retention import cutoff


async def erase(conn: Conn, tenant: str, customer_id: str) -> dict[str, int]:
    requests = await count_changed(
        conn,
        "update callbacks set request_note = $3 where tenant = $1 and customer_id = $2 "
        "and request_note is not null and request_note <> $3",
        tenant,
        customer_id,
        ERASED,
    )
    outcomes = await count_changed(
        conn,
        "update callback_outcomes o set note = $3 from callbacks c "
        "where o.tenant = c.tenant and o.callback_id = c.callback_id and c.tenant = $1 "
        "and c.customer_id = $2 and o.note is not null and o.note <> $3",
        tenant,
        customer_id,
        ERASED,
    )
    comments = await count_changed(
        conn,
        "update ctx_surveys set comment = null where tenant = $1 and customer_id = $2 "
        "and comment is not null",
        tenant,
        customer_id,
    )
    case_notes = await count_changed(
        conn,
        "update recovery_cases set close_note = $3 where tenant = $1 and customer_id = $2 "
        "and close_note is not null and close_note <> $3",
        tenant,
        customer_id,
        ERASED,
    )
    return {
        "request_notes": requests,
        "call_notes": outcomes,
        "survey_comments": comments,
        "recovery_case_notes": case_notes,
    }


async def export(conn: Conn, tenant: str, customer_id: str) -> dict[str, Any]:
    callbacks = await conn.fetch(
        "select callback_id, team_id, source, language, preferred_channel, preferred_moment, "
        "preferred_at, survey_id, complaint_id, contact_id, alert_id, reason_code, request_note, "
        "requested_by, requested_at, due_at, priority, churn_risk, status, outcome, completed_at, "
        "completed_by from callbacks where tenant = $1 and customer_id = $2 order by requested_at",
        tenant,
        customer_id,
    )
    outcomes = await conn.fetch(
        "select o.callback_id, o.attempt, o.agent_id, o.outcome, o.reached, o.note, o.recorded_at "
        "from callback_outcomes o join callbacks c on c.tenant = o.tenant and c.callback_id = o.callback_id "
        "where c.tenant = $1 and c.customer_id = $2 order by o.recorded_at",
        tenant,
        customer_id,
    )
    surveys = await conn.fetch(
        "select survey_id, trigger, channel, language, contact_id, complaint_id, agent_id, team_id, "
        "attributes::text as attributes, comment from ctx_surveys "
        "where tenant = $1 and customer_id = $2",
        tenant,
        customer_id,
    )
    cases = await conn.fetch(
        "select case_id, team_id, agent_id, trigger, opened_at, due_at, survey_id, complaint_id, reason, "
        "topics, first_satisfaction, status, callback_id, callback_outcome, recovery_satisfaction, "
        "root_cause_department, outcome, closed_at, closed_by, close_note from recovery_cases "
        "where tenant = $1 and customer_id = $2 order by opened_at",
        tenant,
        customer_id,
    )
    return {
        "callbacks": [dict(r) for r in callbacks],
        "recovery_cases": [dict(r) for r in cases],
        "call_outcomes": [dict(r) for r in outcomes],
        "survey_context": [{**dict(r), "attributes": json.loads(r["attributes"])} for r in surveys],
    }


async def purge_comments(conn: Conn, tenant: str, rules: Retention, now: datetime) -> dict[str, int]:
    """Retention: the survey comments kept as callback context, older than the tenant keeps them."""
    n = await count_changed(
        conn,
        "update ctx_surveys set comment = null where tenant = $1 and answered_at < $2 "
        "and comment is not null",
        tenant,
        cutoff(now, rules.survey_comments_days),
    )
    return {"survey_comments": n}
