"""Fixtures of the callback service's integration tests (see tests/support)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "support"))

from callback_support import start_service  # noqa: F401
