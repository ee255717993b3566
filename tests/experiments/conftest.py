"""The experiment scripts (experiments/, outside the package) import each other by file name, as
they do when run as ``python experiments/<name>.py``: their folder goes on sys.path."""

from __future__ import annotations

import sys
from pathlib import Path

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
if str(EXPERIMENTS) not in sys.path:
    sys.path.insert(0, str(EXPERIMENTS))
