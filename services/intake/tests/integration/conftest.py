"""Fixtures of the intake service's integration tests (see tests/support)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))

from intake_support import running  # noqa: F401
