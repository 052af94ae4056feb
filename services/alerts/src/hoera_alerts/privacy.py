"""What alerts holds about a customer, and how erasure anonymises it (GDPR art. 15 and 17).

Answers and alerts stay with their scores, team, agent and times, and the customer's reason and the
topics of their comment (codes of the tenant's vocabulary, not their words), so every figure and count
on the dashboard is the same after an erasure; the customer's words go (the answer's comment, the copy
in the alert's details) and so does the supervisor's note about what was done for them. The kit blanks
the alert mails about the customer.
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
    comments = await count_changed(
        conn,
        "update answers set comment = null where tenant = $1 and customer_id = $2 and comment is not null",
        tenant,
        customer_id,
    )
    alerts = await count_changed(
        conn,
        "update alerts set "
        "details = (details - 'comment') || case when details ? 'answer' "
        "then jsonb_build_object('answer', (details -> 'answer') - 'comment') else '{}'::jsonb end, "
        "note = case when note is null then null else $3 end "
        "where tenant = $1 and customer_id = $2 and (details ? 'comment' "
        "or (details -> 'answer') ? 'comment' or (note is not null and note <> $3))",
        tenant,
        customer_id,
        ERASED,
    )
    return {"answer_comments": comments, "alert_details": alerts}


async def export(conn: Conn, tenant: str, customer_id: str) -> dict[str, Any]:
    answers = await conn.fetch(
        "select survey_id, answered_at, team_id, agent_id, contact_id, complaint_id, channel, "
        "satisfaction, effort, nps, unhappy, comment, reason, topics from answers "
        "where tenant = $1 and customer_id = $2 order by answered_at",
        tenant,
        customer_id,
    )
    alerts = await conn.fetch(
        "select alert_id, kind, severity, status, raised_at, team_id, agent_id, complaint_id, "
        "survey_id, contact_id, reason, recovery_case_id, details::text as details, acknowledged_by, "
        "action, note "
        "from alerts where tenant = $1 and customer_id = $2 order by raised_at",
        tenant,
        customer_id,
    )
    return {
        "answers": [{**dict(r), "topics": list(r["topics"])} for r in answers],
        "alerts": [{**dict(r), "details": json.loads(r["details"])} for r in alerts],
    }


async def purge_comments(conn: Conn, tenant: str, rules: Retention, now: datetime) -> dict[str, int]:
    """Retention: the customer's words kept with answers and unhappy alerts older than the tenant
    keeps survey comments."""
    before = cutoff(now, rules.survey_comments_days)
    answers = await count_changed(
        conn,
        "update answers set comment = null where tenant = $1 and answered_at < $2 and comment is not null",
        tenant,
        before,
    )
    alerts = await count_changed(
        conn,
        "update alerts set details = (details - 'comment') || case when details ? 'answer' "
        "then jsonb_build_object('answer', (details -> 'answer') - 'comment') else '{}'::jsonb end "
        "where tenant = $1 and raised_at < $2 "
        "and (details ? 'comment' or (details -> 'answer') ? 'comment')",
        tenant,
        before,
    )
    return {"survey_comments": answers + alerts}
