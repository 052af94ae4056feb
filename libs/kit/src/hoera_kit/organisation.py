"""Questions every service asks of a tenant's organisation, answered the same way everywhere (pure).

The organisation itself (people, teams, ordered deputies, absences, calendar) is owned by intake and
reaches every service as OrganisationChanged snapshots (hoera_kit.tenants keeps the replica). Whoever
escalates an overdue complaint, mails an unhappy smiley's supervisor or plans a callback asks here.
"""

from __future__ import annotations

from datetime import date

from hoera_events.organisation import Organisation, Person, Team

from hoera_kit.calendar import BusinessCalendar


def person(org: Organisation, person_id: str) -> Person | None:
    return next((p for p in org.people if p.id == person_id), None)


def team(org: Organisation, team_id: str) -> Team | None:
    return next((t for t in org.teams if t.id == team_id), None)


def is_absent(org: Organisation, person_id: str, day: date) -> bool:
    return any(a.person == person_id and a.starts_on <= day <= a.ends_on for a in org.absences)


def leads(org: Organisation, team_id: str) -> list[Person]:
    """The team's supervisor, then its deputies in their order (R3)."""
    found = team(org, team_id)
    if found is None:
        return []
    chain = [person(org, who) for who in (found.supervisor, *found.deputies)]
    return [p for p in chain if p is not None]


def stand_in(org: Organisation, team_id: str, day: date) -> Person | None:
    """R3: who acts for the team's supervisor on `day`: the supervisor, else the first deputy who is
    not absent, else the first of management who is not; None when nobody is there."""
    for candidate in leads(org, team_id):
        if not is_absent(org, candidate.id, day):
            return candidate
    for who in org.management:
        manager = person(org, who)
        if manager is not None and not is_absent(org, manager.id, day):
            return manager
    return None


def teams_led_by(org: Organisation, person_id: str) -> list[str]:
    """The teams a person leads as supervisor or deputy (the scope of their dashboards)."""
    return [t.id for t in org.teams if person_id == t.supervisor or person_id in t.deputies]


def calendar(org: Organisation) -> BusinessCalendar:
    return BusinessCalendar(org.calendar)
