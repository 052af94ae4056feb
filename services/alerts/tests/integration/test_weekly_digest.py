"""R25's weekly digest: a durable timer per tenant; when it is due, every team's supervisor gets the
week's figures, its least satisfied answers (scores, not words) and the open alerts, in their own
language, once; the next week's digest is planned at the tenant's weekday and hour."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from alerts_support import NL, AlertsService, address, unhappy_answer
from hoera_alerts.handlers import WEEKLY_TIMER
from hoera_devkit.testing import eventually


async def _planned(alerts: AlertsService) -> datetime | None:
    rows = await alerts.fetch(
        "select due_at from kit_timers where kind = $1 and key = $2", WEEKLY_TIMER, f"weekly:{NL}"
    )
    return rows[0]["due_at"] if rows else None


async def test_the_weekly_digest_tells_each_supervisor_their_teams_week_once(alerts: AlertsService) -> None:
    # Planned at start for the tenant, a week ahead at most.
    planned = await eventually(lambda: _planned(alerts), lambda due: due is not None)
    assert planned is not None and planned - datetime.now(UTC) <= timedelta(days=7)

    words = f"Drie keer doorverbonden en niemand wist het ({uuid.uuid4().hex[:6]})"
    answer = unhappy_answer("team-nl-1", satisfaction=1, comment=words)
    await alerts.publish(answer)
    await eventually(
        lambda: alerts.fetch("select 1 from answers where survey_id = $1", answer.survey_id),
        lambda rows: len(rows) == 1,
    )

    # The digest's moment comes (here: made due now; the timer is what fires it).
    before = {m["id"] for m in await alerts.mails_with_key(f"weekly:{NL}:team-nl-1:")}
    await alerts.fetch(
        "update kit_timers set due_at = now() where kind = $1 and key = $2 returning id",
        WEEKLY_TIMER,
        f"weekly:{NL}",
    )

    async def new_digests() -> list[dict[str, object]]:
        return [m for m in await alerts.mails_with_key(f"weekly:{NL}:team-nl-1:") if m["id"] not in before]

    sent = await eventually(new_digests, lambda ms: len(ms) >= 1)
    assert [m["to"] for m in sent] == [[address(NL, "sara.janssens")]]
    text = await alerts.mail_text(str(sent[0]["id"]))
    assert "Content-Language: nl" in text
    assert "Uw week met team" in text and "1/5" in text
    # Scores, not the customer's words: a digest quotes many customers, and erasure cannot reach a sent mail.
    assert words not in text
    assert "/dashboard/teams/team-nl-1?lang=nl" in text

    # The next one is planned at the tenant's weekday and hour (Monday 08:00 in Brussels), and
    # this one is not sent twice.
    following = await eventually(
        lambda: _planned(alerts), lambda due: due is not None and due > datetime.now(UTC)
    )
    assert following is not None
    local = following.astimezone(ZoneInfo("Europe/Brussels"))
    assert (local.isoweekday(), local.hour, local.minute) == (1, 8, 0)
    assert len(await new_digests()) == 1
