"""A saved detector directory's file names, where the shipped models live and how a model name or
path resolves to its directory (no heavy imports)."""

from __future__ import annotations

import json
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
    if not (directory / CONFIG_NAME).is_file() or not probe_weights(directory).is_file():
        shipped = sorted(p.name for p in PRETRAINED_DIR.glob("*") if p.is_dir())
        raise ModelNotFoundError(
            f"no tommer model at '{path}' (expected {CONFIG_NAME} and {WEIGHTS_NAME} there; "
            f"shipped models: {', '.join(shipped) or 'none'})"
        )
    return directory


PROBE_FROM = "probe_from"
"""A ``config.json`` key: the shipped model whose ``model.safetensors`` this model's probe is (a typed
model shipped on the default's probe stores no copy of it)."""


def probe_weights(directory: Path) -> Path:
    """The probe's weights file of a model directory: its own ``model.safetensors``, else the one of
    the shipped model its ``config.json`` names under ``probe_from``."""
    own = directory / WEIGHTS_NAME
    if own.is_file() or not (directory / CONFIG_NAME).is_file():
        return own
    try:
        shared = json.loads((directory / CONFIG_NAME).read_text()).get(PROBE_FROM)
    except (OSError, ValueError, AttributeError):
        return own
    if not isinstance(shared, str) or not (PRETRAINED_DIR / shared / WEIGHTS_NAME).is_file():
        return own
    return PRETRAINED_DIR / shared / WEIGHTS_NAME


HEAD_CONFIG_NAME = "types.json"
"""A type head's config next to the probe (``tommer.typed.type_head.HEAD_CONFIG``): a directory with
one loads as a typed detector."""

# the shipped untyped probe of each backbone preset (``tommer compare`` compares them)
BACKBONE_MODELS = ("smollm2-135m", "gemma3-270m", "qwen2.5-0.5b", "minilm-l6")
