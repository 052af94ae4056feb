"""What intake holds about a customer, and how erasure anonymises it (GDPR art. 15 and 17).

The complaint rows stay, with their category, dates, team and root cause, so the figures (R6, R7, R9)
are the same after an erasure; what the customer or an agent wrote about them goes: the complaint's
summary, the notes and reasons on its timeline, the complainant's contact details and the next of
kin's. The kit blanks the mails intake sent them (acknowledgements, date changes).
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
    summaries = await count_changed(
        conn,
        "update complaints set summary = $3 where tenant = $1 and customer_id = $2 and summary <> $3",
        tenant,
        customer_id,
        ERASED,
    )
    contacts = await count_changed(
        conn,
        "update complainants p set email = null, phone = null, next_of_kin_email = null "
        "from complaints c where p.tenant = c.tenant and p.complaint_id = c.id and c.tenant = $1 "
        "and c.customer_id = $2 and (p.email is not null or p.phone is not null "
        "or p.next_of_kin_email is not null)",
        tenant,
        customer_id,
    )
    # Free text on the timeline: a note's text, a step's or a status change's reason. What happened,
    # who did it and when stay (R1's durations and the audit).
    notes = await count_changed(
        conn,
        "update timeline t set why = case when t.why is null then null else $3 end, "
        "detail = case when t.detail ? 'text' then t.detail || jsonb_build_object('text', $3::text) "
        "else t.detail end "
        "from complaints c where t.tenant = c.tenant and t.complaint_id = c.id and c.tenant = $1 "
        "and c.customer_id = $2 and ((t.why is not null and t.why <> $3) "
        "or (t.detail ? 'text' and t.detail ->> 'text' <> $3))",
        tenant,
        customer_id,
        ERASED,
    )
    deceased = await count_changed(
        conn,
        "update deceased_customers set next_of_kin_email = null, reason = $3 "
        "where tenant = $1 and customer_id = $2 and (next_of_kin_email is not null or reason <> $3)",
        tenant,
        customer_id,
        ERASED,
    )
    deceased_audit = await count_changed(
        conn,
        "update deceased_audit set reason = $3 where tenant = $1 and customer_id = $2 and reason <> $3",
        tenant,
        customer_id,
        ERASED,
    )
    return {
        "complaint_summaries": summaries,
        "complainant_contacts": contacts,
        "timeline_notes": notes,
        "deceased_marks": deceased + deceased_audit,
    }


async def export(conn: Conn, tenant: str, customer_id: str) -> dict[str, Any]:
    complaints = await conn.fetch(
        "select c.id, c.channel, c.category, c.language, c.summary, c.status, c.team_id, "
        "c.agent_id, c.contact_id, c.platform_ref, c.raised_at, c.due_date, c.resolved_at, "
        "c.closed_at, c.root_cause_department, p.email, p.phone, p.next_of_kin_email "
        "from complaints c left join complainants p on p.tenant = c.tenant and p.complaint_id = c.id "
        "where c.tenant = $1 and c.customer_id = $2 order by c.raised_at",
        tenant,
        customer_id,
    )
    timeline = await conn.fetch(
        "select t.complaint_id, t.at, t.what, t.who, t.why, t.detail::text as detail from timeline t "
        "join complaints c on c.tenant = t.tenant and c.id = t.complaint_id "
        "where c.tenant = $1 and c.customer_id = $2 order by t.complaint_id, t.id",
        tenant,
        customer_id,
    )
    contacts = await conn.fetch(
        "select contact_id, channel, agent_id, team_id, language, closed_at from contacts "
        "where tenant = $1 and customer_id = $2 order by closed_at",
        tenant,
        customer_id,
    )
    deceased = await conn.fetch(
        "select owner_agent_id, team_id, marked_at, marked_by, next_of_kin_email, reason "
        "from deceased_customers where tenant = $1 and customer_id = $2",
        tenant,
        customer_id,
    )
    return {
        "complaints": [_json(r) for r in complaints],
        "timeline": [_json(r) for r in timeline],
        "contacts": [_json(r) for r in contacts],
        "deceased_marks": [_json(r) for r in deceased],
    }


def _json(row: Any) -> dict[str, Any]:
    out = dict(row)
    if isinstance(out.get("detail"), str):
        out["detail"] = json.loads(out["detail"])
    return out


async def purge_idempotency(conn: Conn, tenant: str, rules: Retention, now: datetime) -> dict[str, int]:
    """Retention: the answers kept for retried platform calls, older than the tenant keeps them."""
    n = await count_changed(
        conn,
        "delete from idempotency_keys where tenant = $1 and created_at < $2",
        tenant,
        cutoff(now, rules.idempotency_days),
    )
    return {"idempotency": n}
