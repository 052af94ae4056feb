"""The audit trail's diff: what changed between two versions of a rule document, field by field."""

from __future__ import annotations

from hoera_kit.rules import diff


def test_a_changed_field_deep_in_a_list_is_named_by_its_path() -> None:
    before = {"categories": [{"code": "a", "sla": {"days": 5}}, {"code": "b", "sla": {"days": 3}}]}
    after = {"categories": [{"code": "a", "sla": {"days": 5}}, {"code": "b", "sla": {"days": 20}}]}
    assert diff(before, after) == [{"path": "categories[1].sla.days", "before": 3, "after": 20}]


def test_a_row_added_or_removed_at_the_end_is_one_change_not_the_whole_list() -> None:
    rows = [{"code": "a"}, {"code": "b"}]
    assert diff({"c": rows}, {"c": [*rows, {"code": "z"}]}) == [
        {"path": "c[2]", "before": None, "after": {"code": "z"}}
    ]
    assert diff({"c": rows}, {"c": rows[:1]}) == [{"path": "c[1]", "before": {"code": "b"}, "after": None}]


def test_nothing_changed_is_no_change() -> None:
    doc = {"a": [1, 2], "b": {"c": None}}
    assert diff(doc, doc) == []
