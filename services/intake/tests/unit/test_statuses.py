"""R1/R7: the status transitions of a dossier: no resolve without a root cause from the operator's
list, nothing out of closed except reopen, close only what is resolved."""

from __future__ import annotations

import pytest
from hoera_intake import domain
from hoera_intake.domain import Status
from hoera_kit.refusals import Refusal
from hypothesis import given
from hypothesis import strategies as st

ROOT_CAUSES = ["claims-processing", "billing"]
statuses = st.sampled_from(list(Status))


def test_resolving_without_a_root_cause_is_refused_naming_the_field() -> None:
    with pytest.raises(Refusal) as refused:
        domain.check_resolve(Status.in_progress, None, ROOT_CAUSES)
    assert refused.value.field == "root_cause_department" and refused.value.status == 422
    with pytest.raises(Refusal):
        domain.check_resolve(Status.in_progress, "", ROOT_CAUSES)


def test_a_root_cause_outside_the_operator_list_is_refused() -> None:
    with pytest.raises(Refusal) as refused:
        domain.check_resolve(Status.open, "marketing", ROOT_CAUSES)
    assert "marketing" in refused.value.message


@given(current=st.sampled_from(sorted(domain.WORKING)))
def test_every_working_status_resolves_with_a_known_root_cause(current: Status) -> None:
    domain.check_resolve(current, "billing", ROOT_CAUSES)


@given(target=statuses)
def test_nothing_moves_a_closed_complaint_except_reopen(target: Status) -> None:
    with pytest.raises(Refusal):
        domain.check_step(Status.closed, target)
    with pytest.raises(Refusal):
        domain.check_resolve(Status.closed, "billing", ROOT_CAUSES)
    with pytest.raises(Refusal):
        domain.check_close(Status.closed)
    with pytest.raises(Refusal):
        domain.check_acting(Status.closed)
    domain.check_reopen(Status.closed)


@given(current=statuses)
def test_only_a_resolved_complaint_can_be_closed(current: Status) -> None:
    if current is Status.resolved:
        domain.check_close(current)
    else:
        with pytest.raises(Refusal):
            domain.check_close(current)


@given(current=statuses)
def test_only_resolved_or_closed_complaints_reopen(current: Status) -> None:
    if current in (Status.resolved, Status.closed):
        domain.check_reopen(current)
    else:
        with pytest.raises(Refusal):
            domain.check_reopen(current)


@given(current=statuses, target=statuses)
def test_a_step_moves_only_between_different_working_statuses(current: Status, target: Status) -> None:
    allowed = current in domain.WORKING and target in domain.STEP_TARGETS and current is not target
    if allowed:
        domain.check_step(current, target)
    else:
        with pytest.raises(Refusal):
            domain.check_step(current, target)
