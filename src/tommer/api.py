"""The public entry points, assembled from the layers: ``tommer.load`` and the detector classes.

``tommer/__init__`` imports this module on first use of ``tommer.load``, ``tommer.MentionDetector``
or ``tommer.DetectorConfig``. Nothing inside the package imports it. ``MentionDetector`` (torch) is
imported on first use too: an untyped model on an ONNX engine loads without torch.
"""

from __future__ import annotations

import os

from .core.config import DetectorConfig
from .core.detector import ProbeDetector
from .core.layout import DEFAULT_MODEL
from .typed.loading import load_detector


def load(name_or_path: str | os.PathLike = DEFAULT_MODEL, engine: str | None = None):
    """Load a detector: the shipped default, a shipped model's name, or a saved directory.

    ``engine`` (default ``$TOMMER_ENGINE``, else ``auto``: picked per CPU) runs untyped detection:
    ``torch``, ``torch-fp32``, ``torch-bf16``, ``onnx``, ``onnx-int8`` or ``openvino``
    (see :mod:`tommer.core.engines`).
    A model with a type head, or any model on a torch engine, loads as a :class:`MentionDetector`; an
    untyped model on an ONNX engine as the core :class:`~tommer.core.detector.ProbeDetector` (the same
    calls, without ``labels``), which imports neither torch nor transformers once its export is cached.
    """
    return load_detector(name_or_path, engine)


def __getattr__(name: str):
    if name == "MentionDetector":
        from .typed.detector import MentionDetector

        return MentionDetector
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DetectorConfig", "ProbeDetector", "load"]  # and MentionDetector, on first use
