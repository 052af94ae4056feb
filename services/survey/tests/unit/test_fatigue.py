"""R10, R21, R30: the contact budget, pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hoera_events.common import Channel, MessageChannel
from hoera_events.surveys import SuppressionReason
from hoera_survey.domain import (
    Allow,
    BudgetKind,
    Cap,
    Spend,
    Standing,
    Suppress,
    TriggerFacts,
    choose_delivery,
    may_contact,
    screen_trigger,
)
from hypothesis import given, settings
from hypothesis import strategies as st

T0 = datetime(2025, 3, 3, 9, 30, tzinfo=UTC)
SURVEYS = Cap(name="surveys", kinds=frozenset({BudgetKind.survey}), max_contacts=1, period_days=30)
CONTACTS = Cap(
    name="contacts",
    kinds=frozenset({BudgetKind.survey, BudgetKind.proactive}),
    max_contacts=4,
    period_days=365,
)

caps_strategy = st.lists(
    st.builds(
        Cap,
        name=st.sampled_from(["a", "b", "c", "d"]),
        kinds=st.frozensets(st.sampled_from(list(BudgetKind)), min_size=1),
        max_contacts=st.integers(0, 5),
        period_days=st.integers(1, 60),
    ),
    min_size=1,
    max_size=3,
)
requests_strategy = st.lists(
    st.tuples(st.sampled_from(list(BudgetKind)), st.integers(0, 20 * 24 * 60)), max_size=60
)


def _simulate(caps: list[Cap], requests: list[tuple[BudgetKind, int]]) -> tuple[list[Spend], list[Suppress]]:
    spent: list[Spend] = []
    refused: list[Suppress] = []
    now = T0
    for kind, gap_minutes in requests:
        now += timedelta(minutes=gap_minutes)
        verdict = may_contact(Standing(), caps, spent, kind, now)
        if isinstance(verdict, Allow):
            spent.append(Spend(kind, now))
        else:
            refused.append(verdict)
    return spent, refused


def _in_window(cap: Cap, spent: list[Spend], at: datetime) -> int:
    since = at - timedelta(days=cap.period_days)
    return sum(1 for s in spent if s.kind in cap.kinds and since < s.at <= at)


@settings(max_examples=300, deadline=None)
@given(caps_strategy, requests_strategy)
def test_no_cap_is_ever_exceeded_for_any_sequence_of_contacts(
    caps: list[Cap], requests: list[tuple[BudgetKind, int]]
) -> None:
    spent, _ = _simulate(caps, requests)
    for cap in caps:
        for spend in spent:
            # A rolling window holds the most contacts when it ends at a contact.
            assert _in_window(cap, spent, spend.at) <= cap.max_contacts


@settings(max_examples=300, deadline=None)
@given(caps_strategy, requests_strategy)
def test_a_contact_is_refused_only_when_a_cap_counting_it_is_full(
    caps: list[Cap], requests: list[tuple[BudgetKind, int]]
) -> None:
    spent: list[Spend] = []
    now = T0
    for kind, gap_minutes in requests:
        now += timedelta(minutes=gap_minutes)
        verdict = may_contact(Standing(), caps, spent, kind, now)
        full = [c for c in caps if kind in c.kinds and _in_window(c, spent, now) >= c.max_contacts]
        assert isinstance(verdict, Allow) == (not full)
        if isinstance(verdict, Allow):
            spent.append(Spend(kind, now))
        else:
            assert verdict.reason is SuppressionReason.fatigue_cap
            assert verdict.detail == f"cap:{full[0].name}"


def test_one_survey_in_30_days_allows_the_next_one_after_the_window() -> None:
    history = [Spend(BudgetKind.survey, T0)]
    day_29 = may_contact(Standing(), [SURVEYS], history, BudgetKind.survey, T0 + timedelta(days=29))
    day_30 = may_contact(Standing(), [SURVEYS], history, BudgetKind.survey, T0 + timedelta(days=30))
    assert day_29 == Suppress(SuppressionReason.fatigue_cap, "cap:surveys")
    assert day_30 == Allow()


def test_proactive_messages_and_surveys_share_one_yearly_budget() -> None:
    history = [Spend(BudgetKind.proactive, T0 + timedelta(days=d)) for d in (0, 40, 80)]
    history.append(Spend(BudgetKind.survey, T0 + timedelta(days=120)))
    # The survey cap has room (the last survey is 60 days old), the yearly budget has not.
    verdict = may_contact(
        Standing(), [SURVEYS, CONTACTS], history, BudgetKind.survey, T0 + timedelta(days=180)
    )
    assert verdict == Suppress(SuppressionReason.fatigue_cap, "cap:contacts")


def test_a_deceased_customer_is_never_contacted_whatever_the_budget() -> None:
    verdict = may_contact(Standing(deceased=True, opted_out=True), [], [], BudgetKind.survey, T0)
    assert verdict == Suppress(SuppressionReason.deceased, "customer_deceased")


def test_a_customer_who_opted_out_is_not_surveyed() -> None:
    verdict = may_contact(Standing(opted_out=True), [CONTACTS], [], BudgetKind.survey, T0)
    assert verdict == Suppress(SuppressionReason.opted_out, "opted_out")


def test_a_cap_of_zero_pauses_that_kind_of_contact() -> None:
    pause = Cap(name="pause", kinds=frozenset({BudgetKind.proactive}), max_contacts=0, period_days=1)
    assert isinstance(may_contact(Standing(), [pause], [], BudgetKind.proactive, T0), Suppress)
    assert may_contact(Standing(), [pause], [], BudgetKind.survey, T0) == Allow()


def test_a_contact_about_a_deceased_customer_is_never_surveyed() -> None:
    verdict = screen_trigger(TriggerFacts(Channel.phone, about_deceased=True))
    assert verdict == Suppress(SuppressionReason.deceased, "contact_about_deceased")


def test_a_channel_the_rules_do_not_survey_is_suppressed_with_that_reason() -> None:
    verdict = screen_trigger(TriggerFacts(Channel.chat, channel_surveyed=False))
    assert verdict == Suppress(SuppressionReason.channel_not_surveyed, "channel:chat")
    assert screen_trigger(TriggerFacts(Channel.chat)) is None


def test_the_preferred_delivery_is_used_where_the_customer_can_be_reached_on_it() -> None:
    sms = choose_delivery(MessageChannel.sms, email="a@b.test", phone="+32470000000", sms_available=True)
    assert sms is not None and sms.channel is MessageChannel.sms
    no_gateway = choose_delivery(
        MessageChannel.sms, email="a@b.test", phone="+32470000000", sms_available=False
    )
    assert no_gateway is not None and no_gateway.channel is MessageChannel.email
    no_mail = choose_delivery(MessageChannel.email, email=None, phone="+32470000000", sms_available=True)
    assert no_mail is not None and no_mail.recipient == "+32470000000"
    assert choose_delivery(MessageChannel.email, email=None, phone=None, sms_available=True) is None
