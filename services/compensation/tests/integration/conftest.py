"""Fixtures of the compensation service's integration tests (see tests/support)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))

from compensation_support import running  # noqa: F401
