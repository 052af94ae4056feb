"""The committed JSON Schema snapshots are the contract: they match the models, and regenerating
them refuses a breaking change."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hoera_events.registry import all_topics, topic_for
from hoera_events.schemas import (
    check_snapshots,
    default_dir,
    render,
    snapshot_of,
    write_snapshots,
)
from hoera_events.surveys import SurveyAnswered

TOPIC = topic_for(SurveyAnswered)


def test_the_committed_snapshots_match_the_current_models() -> None:
    # Fails when a model changes without `uv run hoera-events schemas`; the message says what.
    assert check_snapshots(default_dir()) == []


def test_there_is_one_committed_snapshot_per_registered_topic() -> None:
    names = {p.name for p in default_dir().glob("*.json")}
    assert names == {f"{spec.topic}.json" for spec in all_topics()}


@pytest.fixture
def snapshots(tmp_path: Path) -> Path:
    copy = tmp_path / "schemas"
    shutil.copytree(default_dir(), copy)
    return copy


def _edit(folder: Path, topic: str, change: Any) -> Path:
    path = folder / f"{topic}.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    change(schema)
    path.write_text(render(schema), encoding="utf-8")
    return path


def _had_a_required_field_the_model_no_longer_has(schema: dict[str, Any]) -> None:
    schema["properties"]["legacy_score"] = {"type": "integer"}
    schema["required"].append("legacy_score")


def test_check_names_a_field_the_model_removed_as_breaking(snapshots: Path) -> None:
    _edit(snapshots, TOPIC, _had_a_required_field_the_model_no_longer_has)
    assert check_snapshots(snapshots) == [f"{TOPIC}: BREAKING legacy_score: field removed"]


def test_regenerating_refuses_a_breaking_change_and_keeps_the_old_snapshot(
    snapshots: Path,
) -> None:
    path = _edit(snapshots, TOPIC, _had_a_required_field_the_model_no_longer_has)
    before = path.read_text(encoding="utf-8")
    report = write_snapshots(snapshots)
    assert not report.ok
    assert [str(c) for c in report.refused[TOPIC]] == ["legacy_score: field removed"]
    assert path.read_text(encoding="utf-8") == before


def test_regenerating_with_allow_breaking_overwrites_the_snapshot(snapshots: Path) -> None:
    path = _edit(snapshots, TOPIC, _had_a_required_field_the_model_no_longer_has)
    assert write_snapshots(snapshots, allow_breaking=True).ok
    assert json.loads(path.read_text(encoding="utf-8")) == snapshot_of_topic(TOPIC)


def snapshot_of_topic(topic: str) -> dict[str, Any]:
    return next(snapshot_of(s) for s in all_topics() if s.topic == topic)


def test_a_compatible_change_is_reported_as_out_of_date_and_regenerated(snapshots: Path) -> None:
    # The snapshot predates the optional `age_band`: adding it was compatible.
    def without_age_band(schema: dict[str, Any]) -> None:
        del schema["properties"]["age_band"]

    _edit(snapshots, TOPIC, without_age_band)
    assert check_snapshots(snapshots) == [
        f"{TOPIC}: snapshot out of date (compatible change); run `uv run hoera-events schemas`"
    ]
    report = write_snapshots(snapshots)
    assert report.ok
    assert report.written == [TOPIC]
    assert check_snapshots(snapshots) == []


def test_a_snapshot_of_a_topic_no_longer_registered_is_breaking(snapshots: Path) -> None:
    (snapshots / "hoera.complaint.vanished.v1.json").write_text("{}\n", encoding="utf-8")
    assert check_snapshots(snapshots) == [
        "hoera.complaint.vanished.v1: BREAKING topic removed (its snapshot is still committed)"
    ]
    assert write_snapshots(snapshots).stale == ["hoera.complaint.vanished.v1"]


def test_a_missing_snapshot_is_reported(snapshots: Path) -> None:
    (snapshots / f"{TOPIC}.json").unlink()
    assert check_snapshots(snapshots) == [f"{TOPIC}: no snapshot yet; run `uv run hoera-events schemas`"]


def test_a_snapshot_records_its_topic_and_partition_key() -> None:
    schema = snapshot_of_topic(TOPIC)
    assert schema["$id"] == f"urn:hoera:schema:{TOPIC}"
    assert schema["x-hoera-key"] == "survey_id"
    assert schema["x-hoera-type"] == "survey.answered"
    assert schema["x-hoera-version"] == 1
