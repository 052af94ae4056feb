"""What compensation holds about a customer, and how erasure anonymises it (GDPR art. 15 and 17).

The ledger stays whole: every compensation keeps its kind, amount, category, team, mandate and
decision, so the costs per period, category, team and root cause (R16) are the same after an
erasure, and the abuse watch keeps counting (R15). What was written about the customer goes: the
apology's text, the description of their damage, the words of a gesture, the notes and reasons on
proposals, decisions and flag reviews.
"""

from __future__ import annotations

from typing import Any

from hoera_kit.db import Conn, count_changed
from hoera_kit.privacy import ERASED


async def erase(conn: Conn, tenant: str, customer_id: str) -> dict[str, int]:
    of_customer = (
        "from complaints c where x.tenant = c.tenant and x.complaint_id = c.complaint_id "
        "and c.tenant = $1 and c.customer_id = $2"
    )
    apologies = await count_changed(
        conn, f"update apologies x set text = $3 {of_customer} and x.text <> $3", tenant, customer_id, ERASED
    )
    damages = await count_changed(
        conn,
        f"update damages x set description = $3 {of_customer} and x.description is not null "
        "and x.description <> $3",
        tenant,
        customer_id,
        ERASED,
    )
    notes = await count_changed(
        conn,
        "update compensations set "
        "note = case when note is null then null else $3 end, "
        "gesture_text = case when gesture_text is null then null else $3 end, "
        "approval_reason = case when approval_reason is null then null else $3 end, "
        "decision_reason = case when decision_reason is null then null else $3 end "
        "where tenant = $1 and customer_id = $2 and ((note is not null and note <> $3) "
        "or (gesture_text is not null and gesture_text <> $3) "
        "or (approval_reason is not null and approval_reason <> $3) "
        "or (decision_reason is not null and decision_reason <> $3))",
        tenant,
        customer_id,
        ERASED,
    )
    flags = await count_changed(
        conn,
        "update customer_flags set "
        "review_note = case when review_note is null then null else $3 end, "
        "confirmation_note = case when confirmation_note is null then null else $3 end "
        "where tenant = $1 and customer_id = $2 and ((review_note is not null and review_note <> $3) "
        "or (confirmation_note is not null and confirmation_note <> $3))",
        tenant,
        customer_id,
        ERASED,
    )
    reviews = await count_changed(
        conn,
        "update flag_reviews set note = $3 where tenant = $1 and customer_id = $2 and note <> $3",
        tenant,
        customer_id,
        ERASED,
    )
    return {
        "apologies": apologies,
        "damage_descriptions": damages,
        "compensation_notes": notes,
        "flag_notes": flags + reviews,
    }


async def export(conn: Conn, tenant: str, customer_id: str) -> dict[str, Any]:
    complaints = await conn.fetch(
        "select c.complaint_id, c.category, c.language, c.team_id, c.agent_id, c.status, "
        "c.root_cause_department, a.text as apology, a.apologised_at, d.amount_cents as damage_cents, "
        "d.currency as damage_currency, d.description as damage_description "
        "from complaints c left join apologies a on a.tenant = c.tenant and a.complaint_id = c.complaint_id "
        "left join damages d on d.tenant = c.tenant and d.complaint_id = c.complaint_id "
        "where c.tenant = $1 and c.customer_id = $2",
        tenant,
        customer_id,
    )
    compensations = await conn.fetch(
        "select compensation_id, complaint_id, kind, status, amount_cents, currency, gesture, "
        "gesture_text, note, catalogue_entry, category, team_id, proposed_by, proposed_at, "
        "approval_reason, decided_by, decided_at, decision_reason from compensations "
        "where tenant = $1 and customer_id = $2 order by proposed_at",
        tenant,
        customer_id,
    )
    flags = await conn.fetch(
        "select flag_id, flagged_at, financial_compensations, total_cents, currency, window_days, "
        "ended_at, end_reason, reviewed_by, review_note, confirmation_note from customer_flags "
        "where tenant = $1 and customer_id = $2 order by flagged_at",
        tenant,
        customer_id,
    )
    reviews = await conn.fetch(
        "select flag_id, act, actor, at, note from flag_reviews where tenant = $1 and customer_id = $2 "
        "order by at",
        tenant,
        customer_id,
    )
    return {
        "complaints": [dict(r) for r in complaints],
        "compensations": [dict(r) for r in compensations],
        "abuse_watch_flags": [dict(r) for r in flags],
        "flag_reviews": [dict(r) for r in reviews],
    }
