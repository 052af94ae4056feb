"""`hoera-events`: the commands the Makefile, CI and deploy scripts run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hoera_events.asyncapi import build, default_path
from hoera_events.cli import main
from hoera_events.registry import all_topics
from hoera_events.schemas import default_dir


def test_check_passes_on_the_committed_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check"]) == 0
    assert f"{len(all_topics())} topics" in capsys.readouterr().out


def test_check_exits_one_and_prints_what_broke(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "schemas"
    shutil.copytree(default_dir(), folder)
    path = folder / "hoera.complaint.raised.v1.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    schema["properties"]["category"]["type"] = "integer"
    path.write_text(json.dumps(schema), encoding="utf-8")

    assert main(["check", "--dir", str(folder)]) == 1
    assert (
        "hoera.complaint.raised.v1: BREAKING category: type narrowed from integer to string"
        in capsys.readouterr().err
    )


def test_check_exits_one_when_the_asyncapi_document_is_stale(tmp_path: Path) -> None:
    stale = tmp_path / "asyncapi.json"
    stale.write_text(json.dumps({**build(), "asyncapi": "2.6.0"}), encoding="utf-8")
    assert main(["check", "--asyncapi", str(stale)]) == 1


def test_schemas_writes_one_snapshot_per_topic_into_an_empty_folder(tmp_path: Path) -> None:
    assert main(["schemas", "--dir", str(tmp_path)]) == 0
    assert sorted(p.read_text() for p in tmp_path.iterdir()) == sorted(
        p.read_text() for p in default_dir().iterdir()
    )


def test_asyncapi_writes_the_committed_document(tmp_path: Path) -> None:
    out = tmp_path / "asyncapi.json"
    assert main(["asyncapi", "--out", str(out)]) == 0
    assert out.read_text() == default_path().read_text()


def test_topics_prints_every_topic_and_dead_letter_twin_with_partitions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["topics"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "hoera.complaint.raised.v1 6" in lines
    assert "hoera.complaint.raised.v1.dlq 1" in lines
    assert len(lines) == 2 * len(all_topics())


def test_topics_main_only_leaves_out_the_dead_letter_twins(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["topics", "--main-only"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [spec.topic for spec in all_topics()]
