"""Fixtures of the deploy tests: the chart's tools (built once into the cache) and its renderings."""

from __future__ import annotations

from pathlib import Path

import pytest

from .support import VALUES_FILES, Rendering, Tools, documents, find_tools, helm_template

_BUILT: list[Tools] = []


def pytest_collection_finish(session: pytest.Session) -> None:
    """Find (on a fresh machine: build) the chart's tools before the first test starts: building helm and
    promtool from source takes minutes on two cores, longer than one test's timeout, which would
    otherwise count it against the first test that asks for them."""
    if any(item.nodeid.startswith("tests/deploy/") for item in session.items):
        _BUILT.append(find_tools())


@pytest.fixture(scope="session")
def tools() -> Tools:
    return _BUILT[0] if _BUILT else find_tools()


@pytest.fixture(scope="session")
def renderings(tools: Tools, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Rendering]:
    """Each values file rendered once for the whole session."""
    folder: Path = tmp_path_factory.mktemp("rendered")
    out: dict[str, Rendering] = {}
    for values_file in VALUES_FILES:
        done = helm_template(tools, values_file)
        assert done.returncode == 0, done.stderr
        path = folder / values_file.replace("values-", "manifests-")
        path.write_text(done.stdout, encoding="utf-8")
        out[values_file] = Rendering(values_file, path, documents(done.stdout))
    return out


@pytest.fixture(params=VALUES_FILES)
def rendering(request: pytest.FixtureRequest, renderings: dict[str, Rendering]) -> Rendering:
    """Each values file's manifests in turn."""
    return renderings[request.param]
