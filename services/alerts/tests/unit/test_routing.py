"""R23, R3: the supervisor of the agent's team hears of it, or the deputy when they are absent."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from hoera_alerts.domain import (
    Absence,
    AbsenceCalendar,
    Organisation,
    team_lead_on,
)
from hoera_events.alerts import RecipientRole
from pydantic import ValidationError

ORG = Organisation.model_validate(
    json.loads((Path(__file__).parents[2] / "rules" / "organisation.json").read_text())
)
DAY = date(2025, 7, 8)


def away(*people: str, first: date = DAY, last: date = DAY) -> AbsenceCalendar:
    return AbsenceCalendar(absences=tuple(Absence(person=p, first_day=first, last_day=last) for p in people))


def test_the_supervisor_of_the_team_gets_it_when_present() -> None:
    r = team_lead_on(ORG.team("team-fr-1"), ORG, AbsenceCalendar(), DAY)
    assert (r.person.id, r.role, r.person.language.value) == ("sup-marc", RecipientRole.supervisor, "fr")


def test_the_deputy_gets_it_while_the_supervisor_is_absent() -> None:
    r = team_lead_on(ORG.team("team-nl-1"), ORG, away("sup-sara"), DAY)
    assert r.person.id == "sup-dirk"
    assert r.role is RecipientRole.deputy
    assert r.deputy_for is not None and r.deputy_for.id == "sup-sara"


def test_absences_are_whole_days_with_both_ends_included() -> None:
    calendar = away("sup-sara", first=date(2025, 7, 1), last=date(2025, 7, 8))
    team = ORG.team("team-nl-1")
    assert team_lead_on(team, ORG, calendar, date(2025, 7, 1)).person.id == "sup-dirk"
    assert team_lead_on(team, ORG, calendar, date(2025, 7, 8)).person.id == "sup-dirk"
    assert team_lead_on(team, ORG, calendar, date(2025, 7, 9)).person.id == "sup-sara"


def test_when_everyone_is_away_the_supervisor_still_gets_it() -> None:
    r = team_lead_on(ORG.team("team-nl-1"), ORG, away("sup-sara", "sup-dirk"), DAY)
    assert (r.person.id, r.role) == ("sup-sara", RecipientRole.supervisor)


def test_an_unknown_team_goes_to_the_back_office() -> None:
    r = team_lead_on(ORG.team("team-nobody"), ORG, AbsenceCalendar(), DAY)
    assert r.role is RecipientRole.back_office
    assert r.person == ORG.back_office


def test_a_team_led_by_someone_who_is_not_one_of_the_people_is_refused() -> None:
    body = ORG.model_dump(mode="json")
    body["teams"][0]["deputies"] = ["sup-ghost"]
    with pytest.raises(ValidationError, match=r"teams\.0\.deputies\.0"):
        Organisation.model_validate(body)


def test_the_local_day_follows_the_organisations_time_zone() -> None:
    from datetime import UTC, datetime

    late = datetime(2025, 7, 7, 22, 30, tzinfo=UTC)  # 00:30 on the 8th in Brussels
    assert ORG.local_day(late) == date(2025, 7, 8)
