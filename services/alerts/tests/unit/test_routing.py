"""R23, R3, R4, R15: who is told, from the tenant's organisation. The stand-in for an absent
supervisor is hoera_kit.organisation.stand_in's, the rule intake follows as well."""

from __future__ import annotations

from datetime import date, timedelta

from hoera_alerts.domain import back_office, mailbox, management, team_recipient
from hoera_events.alerts import RecipientRole
from hoera_events.organisation import Absence, Organisation, Person, Team
from hoera_kit.organisation import stand_in
from hypothesis import given
from hypothesis import strategies as st

DAY = date(2026, 7, 8)


def person(pid: str, name: str, language: str = "nl") -> Person:
    return Person(id=pid, name=name, email=f"{pid}@acme.staff.hoera.test", language=language)


PEOPLE = [
    person("sup-sara", "Sara Janssens"),
    person("sup-dirk", "Dirk Claes"),
    person("sup-ines", "Ines Maes"),
    person("sup-marc", "Marc Lambert", "fr"),
    person("mgmt-lena", "Lena Wouters", "en"),
    person("back-office", "Back office"),
]


def organisation(*away: str, first: date = DAY, last: date = DAY, **changes: object) -> Organisation:
    values: dict[str, object] = {
        "people": PEOPLE,
        "teams": [
            Team(
                id="team-nl-1",
                name="Klantendienst NL 1",
                language="nl",
                supervisor="sup-sara",
                deputies=["sup-dirk", "sup-ines"],
            ),
            Team(id="team-fr-1", name="Service clientèle FR 1", language="fr", supervisor="sup-marc"),
        ],
        "management": ["mgmt-lena"],
        "back_office": "back-office",
        "absences": [Absence(person=p, starts_on=first, ends_on=last) for p in away],
    }
    values.update(changes)
    return Organisation.model_validate(values)


Told = tuple[str, RecipientRole, str | None]


def told(org: Organisation, team: str | None = "team-nl-1", day: date = DAY) -> Told:
    r = team_recipient(org, team, day)
    assert r is not None
    return r.person.id, r.role, r.deputy_for.id if r.deputy_for else None


def test_the_supervisor_of_the_team_gets_it_when_present() -> None:
    r = team_recipient(organisation(), "team-fr-1", DAY)
    assert r is not None
    assert (r.person.id, r.role, r.person.language.value) == ("sup-marc", RecipientRole.supervisor, "fr")


def test_the_first_deputy_gets_it_while_the_supervisor_is_absent() -> None:
    assert told(organisation("sup-sara")) == ("sup-dirk", RecipientRole.deputy, "sup-sara")


def test_the_deputies_stand_in_in_their_order() -> None:
    assert told(organisation("sup-sara", "sup-dirk")) == ("sup-ines", RecipientRole.deputy, "sup-sara")


def test_management_stands_in_when_every_lead_of_the_team_is_away() -> None:
    away = organisation("sup-sara", "sup-dirk", "sup-ines")
    assert told(away) == ("mgmt-lena", RecipientRole.management, "sup-sara")


def test_when_everyone_is_away_the_supervisor_still_gets_it() -> None:
    everyone = organisation("sup-sara", "sup-dirk", "sup-ines", "mgmt-lena")
    assert told(everyone) == ("sup-sara", RecipientRole.supervisor, None)


def test_absences_are_whole_days_with_both_ends_included() -> None:
    org = organisation("sup-sara", first=date(2026, 7, 1), last=date(2026, 7, 8))
    assert told(org, day=date(2026, 7, 1))[0] == "sup-dirk"
    assert told(org, day=date(2026, 7, 8))[0] == "sup-dirk"
    assert told(org, day=date(2026, 7, 9))[0] == "sup-sara"
    assert told(org, day=date(2026, 6, 30))[0] == "sup-sara"


def test_an_unknown_team_goes_to_the_back_office() -> None:
    assert told(organisation(), "team-nobody") == ("back-office", RecipientRole.back_office, None)
    assert told(organisation(), None) == ("back-office", RecipientRole.back_office, None)


def test_an_organisation_without_a_back_office_tells_nobody_of_an_unknown_team() -> None:
    assert team_recipient(organisation(back_office=None), "team-nobody", DAY) is None
    assert back_office(organisation(back_office=None)) is None


def test_an_empty_organisation_tells_nobody() -> None:
    assert team_recipient(Organisation(), "team-nl-1", DAY) is None
    assert management(Organisation()) == []


def test_management_and_the_back_office_are_the_tenants_own() -> None:
    org = organisation()
    assert [(r.person.id, r.role) for r in management(org)] == [("mgmt-lena", RecipientRole.management)]
    office = back_office(org)
    assert office is not None
    assert (office.person.id, office.role) == ("back-office", RecipientRole.back_office)


def test_a_name_that_needs_quoting_stays_inside_the_address() -> None:
    assert mailbox(person("p-1", "Claes, Dirk")) == '"Claes, Dirk" <p-1@acme.staff.hoera.test>'
    assert mailbox(person("p-2", "Sara Janssens")) == "Sara Janssens <p-2@acme.staff.hoera.test>"
    # A line break in a name cannot start a header of its own: the name is one quoted phrase.
    injected = mailbox(person("p-3", "Inès\r\nBcc: x@evil.test"))
    assert injected == '"Inès Bcc: x@evil.test" <p-3@acme.staff.hoera.test>'
    assert "\n" not in injected


LEADS = ["sup-sara", "sup-dirk", "sup-ines", "mgmt-lena"]


@given(
    st.dictionaries(
        st.sampled_from(LEADS),
        st.tuples(st.integers(-3, 3), st.integers(0, 3)),
    )
)
def test_whoever_is_told_is_the_kits_stand_in_for_the_team(absences: dict[str, tuple[int, int]]) -> None:
    """Intake escalates to the same person: both ask hoera_kit.organisation.stand_in."""
    org = organisation(
        absences=[
            Absence(person=p, starts_on=DAY + timedelta(days=s), ends_on=DAY + timedelta(days=s + n))
            for p, (s, n) in absences.items()
        ]
    )
    expected = stand_in(org, "team-nl-1", DAY)
    who, role, deputy_for = told(org)
    if expected is None:
        assert (who, role, deputy_for) == ("sup-sara", RecipientRole.supervisor, None)
    else:
        assert who == expected.id
        assert (deputy_for is None) == (who == "sup-sara")
