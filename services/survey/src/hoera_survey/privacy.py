"""What survey holds about a customer, and how erasure anonymises it (GDPR art. 15 and 17).

Surveys and answers stay with their smileys, scores, trigger, team and agent, so the figures, the
response rates and the customer's contact budget (R21) are the same after an erasure; the customer's
words go (the comment), and so do the survey link (a link that still opened would show their answer)
and the reference to the recording of their call. The reason chosen after an unhappy smiley and the
topics the words were tagged with are the tenant's codes, not the customer's words: they stay, as the
smileys do, and the export shows them. The kit blanks the invitations mailed to them.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from hoera_events.organisation import Retention
from hoera_kit.db import Conn, count_changed
from hoera_kit.retention import cutoff


async def erase(conn: Conn, tenant: str, customer_id: str) -> dict[str, int]:
    comments = await count_changed(
        conn,
        "update survey_answers a set comment = null from surveys s "
        "where a.tenant = s.tenant and a.survey_id = s.survey_id and s.tenant = $1 "
        "and s.customer_id = $2 and a.comment is not null",
        tenant,
        customer_id,
    )
    links = await count_changed(
        conn,
        "update surveys set link_nonce = null, recording_ref = null "
        "where tenant = $1 and customer_id = $2 and (link_nonce is not null or recording_ref is not null) ",
        tenant,
        customer_id,
    )
    return {"survey_comments": comments, "survey_links": links}


async def export(conn: Conn, tenant: str, customer_id: str) -> dict[str, Any]:
    surveys = await conn.fetch(
        "select s.survey_id, s.trigger, s.channel, s.language, s.contact_id, s.complaint_id, "
        "s.callback_id, s.agent_id, s.team_id, s.age_band, s.recording_ref, s.state, s.requested_at, "
        "s.delivery_channel, s.invited_at, s.expires_at, a.answered_at, a.satisfaction, a.effort, a.nps, "
        "a.attributes::text as attributes, a.comment, a.reason, a.topics, "
        "a.contact_me::text as contact_me "
        "from surveys s left join survey_answers a on a.tenant = s.tenant and a.survey_id = s.survey_id "
        "where s.tenant = $1 and s.customer_id = $2 order by s.requested_at",
        tenant,
        customer_id,
    )
    suppressions = await conn.fetch(
        "select kind, trigger, reason, detail, survey_id, channel, team_id, suppressed_at "
        "from suppressions where tenant = $1 and customer_id = $2 order by suppressed_at",
        tenant,
        customer_id,
    )
    customer = await conn.fetchrow(
        "select deceased_at, opted_out_at, opted_out_by from customers "
        "where tenant = $1 and customer_id = $2",
        tenant,
        customer_id,
    )
    return {
        "surveys": [
            {
                **dict(r),
                "attributes": json.loads(r["attributes"]) if r["attributes"] else None,
                "contact_me": json.loads(r["contact_me"]) if r["contact_me"] else None,
                "topics": list(r["topics"]) if r["topics"] is not None else None,
            }
            for r in surveys
        ],
        "suppressions": [dict(r) for r in suppressions],
        "customer": dict(customer) if customer else None,
    }


async def purge_comments(conn: Conn, tenant: str, rules: Retention, now: datetime) -> dict[str, int]:
    """Retention: the words of answers older than the tenant keeps survey comments."""
    n = await count_changed(
        conn,
        "update survey_answers set comment = null where tenant = $1 and answered_at < $2 "
        "and comment is not null",
        tenant,
        cutoff(now, rules.survey_comments_days),
    )
    return {"survey_comments": n}
