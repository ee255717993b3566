"""The public entry points, assembled from the layers: ``tommer.load`` and the detector classes.

``tommer/__init__`` imports this module on first use of ``tommer.load``, ``tommer.MentionDetector``
or ``tommer.DetectorConfig`` (it imports torch). Nothing inside the package imports it.
"""

from __future__ import annotations

import os

from .core.config import DetectorConfig
from .core.layout import DEFAULT_MODEL
from .typed.detector import MentionDetector


def load(name_or_path: str | os.PathLike = DEFAULT_MODEL) -> MentionDetector:
    """Load a detector: the shipped default, a shipped model's name, or a saved directory."""
    return MentionDetector.from_pretrained(name_or_path)


__all__ = ["DetectorConfig", "MentionDetector", "load"]
