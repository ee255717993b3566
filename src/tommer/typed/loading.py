"""Which detector class a saved model loads as (``tommer.load``), decided before torch is imported.

A model with a type head, or any model on a torch engine, loads as a
:class:`~tommer.typed.detector.MentionDetector` (torch); an untyped model on an ONNX engine as the
core :class:`~tommer.core.detector.ProbeDetector`, which then imports neither torch nor transformers.
"""

from __future__ import annotations

import os

from ..core.detector import ProbeDetector
from ..core.engines import ONNX_ENGINES, resolve_engine
from ..core.layout import DEFAULT_MODEL, HEAD_CONFIG_NAME, resolve_model_dir


def load_detector(name_or_path: str | os.PathLike = DEFAULT_MODEL, engine: str | None = None):
    """The detector saved at ``name_or_path`` (a shipped model's name or a directory) on ``engine``."""
    directory = resolve_model_dir(name_or_path)
    if resolve_engine(engine) in ONNX_ENGINES and not (directory / HEAD_CONFIG_NAME).is_file():
        return ProbeDetector.from_pretrained(directory, engine=engine)
    from .detector import MentionDetector  # torch: only for typed models and torch engines

    return MentionDetector.from_pretrained(directory, engine=engine)


__all__ = ["load_detector"]
