"""R11-R12: apology first, financial only for a recorded damage, never above the damage or the
catalogue's maximum; emotional gestures from the catalogue."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hoera_compensation import domain
from hoera_compensation.domain import (
    AbuseWatchRule,
    CatalogueEntry,
    Gesture,
    ProposalRequest,
    Route,
    Situation,
    Texts,
)
from hoera_events.common import Currency, Money
from hoera_events.compensation import CompensationKind
from hoera_kit.refusals import Conflict, Forbidden, Invalid, Refusal
from hypothesis import given
from hypothesis import strategies as st

TEXTS = Texts(nl="x", fr="x", en="x")


def entry(*, maximum: int | None = 15000, financial: bool = True) -> CatalogueEntry:
    return CatalogueEntry(
        code="refund-late",
        title=TEXTS,
        categories=["refund.late"],
        answer=TEXTS,
        apology=TEXTS,
        gestures=[
            Gesture(code="flowers", label=TEXTS, value_cents=3500),
            Gesture(code="personal-call", label=TEXTS),
        ],
        financial_allowed=financial,
        suggested_amount_cents=min(2500, maximum or 0) if financial else None,
        max_amount_cents=maximum if financial else None,
    )


SITUATION = Situation(
    apologised=True,
    live_compensation=None,
    entry=entry(),
    category="refund.late",
    damage=Money.eur(10000),
    mandate=Money.eur(30000),
    flagged=False,
    rule=AbuseWatchRule(),
)


def financial(cents: int, currency: Currency = Currency.EUR) -> ProposalRequest:
    return ProposalRequest(
        kind=CompensationKind.financial, amount=Money(amount_cents=cents, currency=currency)
    )


def refusal(request: ProposalRequest, situation: Situation) -> Refusal:
    with pytest.raises(Refusal) as caught:
        domain.assess_proposal(request, situation)
    return caught.value


def test_no_proposal_before_the_apology() -> None:
    r = refusal(financial(100), replace(SITUATION, apologised=False))
    assert (type(r), r.status, r.field) == (Conflict, 409, "apology")
    assert "apologise first" in r.message


def test_no_financial_compensation_without_a_recorded_damage() -> None:
    r = refusal(financial(100), replace(SITUATION, damage=None))
    assert (type(r), r.status, r.field) == (Conflict, 409, "damage")


@given(damage=st.integers(1, 10**7), maximum=st.integers(1, 10**7), amount=st.integers(1, 10**7))
def test_a_financial_amount_never_exceeds_the_damage_nor_the_catalogue_maximum(
    damage: int, maximum: int, amount: int
) -> None:
    s = replace(SITUATION, entry=entry(maximum=maximum), damage=Money.eur(damage), mandate=Money.eur(10**7))
    try:
        proposal = domain.assess_proposal(financial(amount), s)
    except Invalid as r:
        assert amount > min(damage, maximum)
        assert (r.status, r.field) == (422, "amount.amount_cents")
        return
    assert proposal.amount is not None
    assert proposal.amount.amount_cents == amount <= min(damage, maximum)


def test_the_refusal_names_the_bound_that_was_exceeded() -> None:
    assert "recorded damage" in refusal(financial(10001), SITUATION).message
    above_max = replace(SITUATION, damage=Money.eur(50000))
    assert "maximum of refund-late (EUR 150.00)" in refusal(financial(15001), above_max).message


def test_a_currency_other_than_the_damage_s_is_refused() -> None:
    r = refusal(financial(100, Currency.GBP), SITUATION)
    assert (type(r), r.field) == (Invalid, "amount.currency")


def test_an_entry_without_financial_compensation_refuses_money() -> None:
    r = refusal(financial(100), replace(SITUATION, entry=entry(financial=False)))
    assert r.field == "kind"


def test_financial_compensation_needs_a_catalogue_entry() -> None:
    r = refusal(financial(100), replace(SITUATION, entry=None))
    assert r.field == "catalogue_entry"


def test_one_compensation_per_complaint() -> None:
    r = refusal(financial(100), replace(SITUATION, live_compensation="granted"))
    assert type(r) is Conflict


def test_a_catalogue_gesture_is_granted_at_once_with_its_value() -> None:
    p = domain.assess_proposal(ProposalRequest(kind=CompensationKind.emotional, gesture="flowers"), SITUATION)
    assert (p.route, p.gesture, p.amount) == (Route.decide, "flowers", Money.eur(3500))


def test_a_gesture_described_in_words_needs_no_catalogue_and_has_no_amount() -> None:
    request = ProposalRequest(kind=CompensationKind.emotional, gesture_text="A box of chocolates")
    p = domain.assess_proposal(request, replace(SITUATION, entry=None, damage=None))
    assert (p.route, p.amount, p.gesture_text) == (Route.decide, None, "A box of chocolates")


def test_an_unknown_gesture_is_refused_listing_what_the_catalogue_offers() -> None:
    r = refusal(ProposalRequest(kind=CompensationKind.emotional, gesture="cruise"), SITUATION)
    assert r.field == "gesture"
    assert "flowers, personal-call" in r.message


def test_a_financial_compensation_with_a_gesture_is_refused() -> None:
    request = ProposalRequest(kind=CompensationKind.financial, amount=Money.eur(100), gesture="flowers")
    assert refusal(request, SITUATION).field == "gesture"


def test_an_emotional_compensation_with_an_amount_is_refused() -> None:
    request = ProposalRequest(kind=CompensationKind.emotional, gesture="flowers", amount=Money.eur(100))
    assert refusal(request, SITUATION).field == "amount"


def test_the_damage_stays_put_once_a_compensation_is_live() -> None:
    domain.damage_change_allowed(None)
    for live in ("granted", "awaiting_approval"):
        with pytest.raises(Conflict):
            domain.damage_change_allowed(live)


def test_the_approver_cannot_be_the_requester_and_decides_once() -> None:
    with pytest.raises(Forbidden):
        domain.check_approver("appr-eva", "appr-eva", "awaiting_approval")
    with pytest.raises(Conflict):
        domain.check_approver("appr-eva", "agent-anna", "approved")
    domain.check_approver("appr-eva", "agent-anna", "awaiting_approval")


def test_an_approver_who_cleared_the_customer_s_flag_does_not_decide_their_money() -> None:
    clearers = frozenset({"sup-sara", "appr-eva"})
    with pytest.raises(Forbidden):
        domain.check_approver(
            "appr-eva", "agent-anna", "awaiting_approval", kind=CompensationKind.financial, clearers=clearers
        )
    domain.check_approver(
        "appr-jan", "agent-anna", "awaiting_approval", kind=CompensationKind.financial, clearers=clearers
    )
    # The flag is about money: a gesture is not decided on the strength of clearing it.
    domain.check_approver(
        "appr-eva", "agent-anna", "awaiting_approval", kind=CompensationKind.emotional, clearers=clearers
    )


def test_money_is_shown_without_floats() -> None:
    assert domain.show(Money.eur(30000)) == "EUR 300.00"
    assert domain.show(Money.eur(5)) == "EUR 0.05"
