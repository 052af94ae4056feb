"""R14 on its boundary: the mandate is inclusive, for every role limit of every template and any
limit at all."""

from __future__ import annotations

from pathlib import Path

import pytest
from hoera_compensation import domain
from hoera_compensation.domain import (
    AbuseWatchRule,
    CatalogueEntry,
    Mandates,
    ProposalRequest,
    Route,
    Situation,
    Texts,
)
from hoera_events.common import Currency, Money
from hoera_events.compensation import CompensationKind
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

TEMPLATES = Path(__file__).parents[2] / "rules" / "templates"


def template(name: str) -> Mandates:
    return Mandates.model_validate_json((TEMPLATES / name / "mandates.json").read_text())


SEEDED_LIMITS = sorted(
    {(role, limit.amount_cents) for name in ("nl", "fr") for role, limit in template(name).by_role().items()}
)
TEXTS = Texts(nl="x", fr="x", en="x")
BIG = 10_000_000


def entry(maximum: int = BIG) -> CatalogueEntry:
    return CatalogueEntry(
        code="test-entry",
        title=TEXTS,
        categories=["test.category"],
        answer=TEXTS,
        apology=TEXTS,
        financial_allowed=True,
        suggested_amount_cents=min(100, maximum),
        max_amount_cents=maximum,
    )


def situation(limit: int | None, *, flagged: bool = False, damage: int = BIG) -> Situation:
    return Situation(
        apologised=True,
        live_compensation=None,
        entry=entry(),
        category="test.category",
        damage=Money.eur(damage),
        mandate=Money.eur(limit) if limit is not None else None,
        flagged=flagged,
        rule=AbuseWatchRule(),
    )


def financial(cents: int) -> ProposalRequest:
    return ProposalRequest(kind=CompensationKind.financial, amount=Money.eur(cents))


def test_an_agent_decides_eur_300_at_a_dutch_speaking_insurer_and_eur_150_at_a_french_one() -> None:
    assert template("nl").agent == Money.eur(30000)
    assert template("fr").agent == Money.eur(15000)


@pytest.mark.parametrize(("role", "limit"), SEEDED_LIMITS)
def test_every_seeded_role_decides_its_limit_and_sends_one_cent_more_to_approval(
    role: str, limit: int
) -> None:
    mandate = domain.mandate_for([role], {role: Money.eur(limit)})
    assert mandate is not None
    at_limit = domain.assess_proposal(financial(limit), situation(mandate.amount_cents))
    above = domain.assess_proposal(financial(limit + 1), situation(mandate.amount_cents))
    assert at_limit.route is Route.decide
    assert above.route is Route.approval
    assert above.approval_reason is not None and "mandate" in above.approval_reason


@given(limit=st.integers(min_value=1, max_value=BIG - 1), amount=st.integers(min_value=1, max_value=BIG))
def test_an_amount_is_decided_at_once_exactly_when_it_is_within_the_mandate(limit: int, amount: int) -> None:
    proposal = domain.assess_proposal(financial(amount), situation(limit))
    assert (proposal.route is Route.decide) == (amount <= limit)


@given(limit=st.integers(min_value=0, max_value=BIG - 1))
def test_any_limit_is_inclusive_and_one_cent_more_needs_an_approver(limit: int) -> None:
    if limit > 0:
        assert domain.assess_proposal(financial(limit), situation(limit)).route is Route.decide
    assert domain.assess_proposal(financial(limit + 1), situation(limit)).route is Route.approval


@given(
    limits=st.dictionaries(
        st.sampled_from(["agent", "supervisor", "approver"]),
        st.integers(min_value=0, max_value=BIG),
        min_size=1,
    ),
    roles=st.sets(st.sampled_from(["agent", "supervisor", "approver", "admin"]), min_size=1),
)
def test_a_person_with_several_roles_has_the_highest_of_their_mandates(
    limits: dict[str, int], roles: set[str]
) -> None:
    mandate = domain.mandate_for(roles, {r: Money.eur(c) for r, c in limits.items()})
    held = [c for r, c in limits.items() if r in roles]
    assert (mandate.amount_cents if mandate else None) == (max(held) if held else None)


def test_without_a_mandate_every_amount_goes_to_an_approver() -> None:
    proposal = domain.assess_proposal(financial(1), situation(None))
    assert proposal.route is Route.approval
    assert "no mandate" in (proposal.approval_reason or "")


def test_a_mandate_in_another_currency_sends_the_amount_to_an_approver() -> None:
    s = situation(30000)
    in_chf = Situation(**{**s.__dict__, "mandate": Money(amount_cents=30000, currency=Currency.CHF)})
    assert domain.assess_proposal(financial(100), in_chf).route is Route.approval


def test_a_flagged_customer_s_financial_compensation_goes_to_an_approver_even_within_the_mandate() -> None:
    assert domain.assess_proposal(financial(100), situation(30000, flagged=True)).route is Route.approval
    assert domain.assess_proposal(financial(100), situation(30000)).route is Route.decide


def test_a_rule_document_offering_to_let_a_flagged_customer_s_money_skip_the_approver_is_refused() -> None:
    for value in (False, True):
        with pytest.raises(ValidationError) as refused:
            AbuseWatchRule.model_validate(
                {"threshold": 2, "window_days": 365, "flagged_needs_approval": value}
            )
        assert refused.value.errors()[0]["loc"] == ("flagged_needs_approval",)


def test_every_role_s_mandate_is_in_one_currency() -> None:
    mixed = Mandates(agent=Money.eur(30000), supervisor=Money(amount_cents=50000, currency=Currency.CHF))
    assert [f for f, _ in domain.mandates_problems(mixed)] == ["supervisor.currency"]
    assert domain.mandates_problems(template("nl")) == []


@given(cents=st.integers(1, 30000), cleared=st.booleans(), flagged=st.booleans())
def test_who_cleared_the_flag_never_decides_the_customer_s_money_alone(
    cents: int, cleared: bool, flagged: bool
) -> None:
    s = situation(30000, flagged=flagged)
    s = Situation(**{**s.__dict__, "proposer_cleared_the_flag": cleared})
    proposal = domain.assess_proposal(financial(cents), s)
    assert (proposal.route is Route.approval) == (cleared or flagged)
    if cleared and not flagged:
        assert "you cleared this customer's flag" in (proposal.approval_reason or "")
