"""Amounts as people type them on the compensation panel become integer cents, never floats."""

from __future__ import annotations

import pytest
from hoera_compensation.web import _Invalid, money_in, money_out
from hypothesis import given
from hypothesis import strategies as st


@pytest.mark.parametrize(
    ("typed", "cents"),
    [("450", 45000), ("450,00", 45000), ("450.5", 45050), (" 12,34 ", 1234), ("0,01", 1), ("1 000", 100000)],
)
def test_typed_amounts_are_read_as_cents(typed: str, cents: int) -> None:
    assert money_in(typed, "amount").amount_cents == cents


@pytest.mark.parametrize(
    "typed", ["", "0", "0,00", "-5", "4,505", "1e3", "vierhonderd", "450,-", "12.345.678", None]
)
def test_anything_else_is_refused_next_to_its_field(typed: str | None) -> None:
    with pytest.raises(_Invalid) as refused:
        money_in(typed, "damage_amount")
    assert (refused.value.key, refused.value.field) == ("err_amount", "damage_amount")


@given(st.integers(min_value=1, max_value=999_999_999))
def test_what_the_page_shows_reads_back_as_the_same_cents(cents: int) -> None:
    from hoera_events.common import Money

    shown = money_out(Money.eur(cents)).removeprefix("EUR ")
    assert money_in(shown, "amount").amount_cents == cents
