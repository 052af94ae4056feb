"""Figures the contract suites print at the end of the run (the conftest's terminal summary)."""

from __future__ import annotations

LINES: list[str] = []
