"""A saved detector directory's file names, and where the shipped models live (no heavy imports)."""

from __future__ import annotations

from pathlib import Path

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
CARD_NAME = "README.md"
PRETRAINED_DIR = Path(__file__).parents[1] / "pretrained"
DEFAULT_MODEL = "smollm2-135m"
