"""R10: who may mark a customer deceased (the teams of their open complaints), which team the case
goes to, and what a withdrawn marking puts back."""

from __future__ import annotations

import uuid

from hoera_intake import domain
from hoera_intake.domain import Holding, Move, Status
from hypothesis import given
from hypothesis import strategies as st

NL, FR = "team-nl-1", "team-fr-1"
TEAMS = st.sampled_from([NL, FR, "team-de-1"])


def test_a_customer_is_the_callers_only_when_every_open_complaint_is_of_their_teams() -> None:
    assert domain.sees_customer({NL}, [NL, NL], known_teams=[NL])
    assert not domain.sees_customer({NL}, [NL, FR], known_teams=[NL, FR])
    assert domain.sees_customer({NL, FR}, [NL, FR], known_teams=[])
    assert domain.sees_customer({NL}, [None, NL], known_teams=[])


def test_without_open_complaints_a_customer_is_the_callers_when_their_team_dealt_with_them() -> None:
    assert domain.sees_customer({NL}, [], known_teams=[FR, NL])
    assert not domain.sees_customer({NL}, [], known_teams=[FR])
    assert not domain.sees_customer({NL}, [], known_teams=[])


@given(mine=st.frozensets(TEAMS), open_teams=st.lists(TEAMS, min_size=1))
def test_a_caller_never_sees_a_customer_with_an_open_complaint_of_a_team_they_are_not_in(
    mine: frozenset[str], open_teams: list[str]
) -> None:
    assert domain.sees_customer(mine, open_teams, known_teams=open_teams) == (set(open_teams) <= mine)


def test_the_case_team_is_the_one_named_else_the_complaints_one_else_the_callers_only_one() -> None:
    assert domain.case_team(FR, [NL], {NL}) == FR
    assert domain.case_team(None, [NL, None, NL], {NL, FR}) == NL
    assert domain.case_team(None, [], {FR}) == FR
    assert domain.case_team(None, [NL, FR], {NL, FR}) is None
    assert domain.case_team(None, [NL, FR], {NL}) is None
    assert domain.case_team(None, [], {NL, FR}) is None


def test_a_withdrawal_gives_back_only_what_still_stands_with_the_owner() -> None:
    moved, closed, handed_on, unowned, gone = (uuid.uuid4() for _ in range(5))
    moves = [
        Move(moved, "agent-bram", NL, "agent-anna", NL),
        Move(closed, "agent-chris", NL, "agent-anna", NL),
        Move(handed_on, "agent-chris", FR, "agent-anna", NL),
        Move(unowned, None, NL, "agent-anna", NL),
        Move(gone, "agent-bram", NL, "agent-anna", NL),
    ]
    now = {
        moved: Holding(Status.in_progress, "agent-anna", NL),
        closed: Holding(Status.closed, "agent-anna", NL),
        handed_on: Holding(Status.open, "agent-bram", NL),
        unowned: Holding(Status.open, "agent-anna", NL),
    }
    assert domain.undo_moves(moves, now, "agent-anna") == [Move(moved, "agent-anna", NL, "agent-bram", NL)]


def test_a_withdrawal_puts_a_complaint_back_in_the_team_it_came_from() -> None:
    cid = uuid.uuid4()
    back = domain.undo_moves(
        [Move(cid, "agent-luc", FR, "agent-anna", NL)],
        {cid: Holding(Status.open, "agent-anna", NL)},
        "agent-anna",
    )
    assert back == [Move(cid, "agent-anna", NL, "agent-luc", FR)]
