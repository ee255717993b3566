"""A saved detector directory's file names, where the shipped models live and how a model name or
path resolves to its directory (no heavy imports)."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import ModelNotFoundError

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
PRETRAINED_DIR = Path(__file__).parents[1] / "pretrained"
DEFAULT_MODEL = "smollm2-135m"


def resolve_model_dir(path: str | os.PathLike) -> Path:
    """A detector directory, or the name of a model shipped inside the package."""
    directory = Path(path).expanduser()
    if not directory.exists() and (PRETRAINED_DIR / str(path)).is_dir():
        directory = PRETRAINED_DIR / str(path)
    if not (directory / CONFIG_NAME).is_file() or not (directory / WEIGHTS_NAME).is_file():
        shipped = sorted(p.name for p in PRETRAINED_DIR.glob("*") if p.is_dir())
        raise ModelNotFoundError(
            f"no tommer model at '{path}' (expected {CONFIG_NAME} and {WEIGHTS_NAME} there; "
            f"shipped models: {', '.join(shipped) or 'none'})"
        )
    return directory


HEAD_CONFIG_NAME = "types.json"
"""A type head's config next to the probe (``tommer.typed.type_head.HEAD_CONFIG``): a directory with
one loads as a typed detector."""

# the shipped untyped probe of each backbone preset (``tommer compare`` compares them)
BACKBONE_MODELS = ("smollm2-135m", "gemma3-270m", "qwen2.5-0.5b", "minilm-l6")
