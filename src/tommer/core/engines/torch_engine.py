"""The torch engine: the truncated backbone (:class:`~tommer.core.backbone.Backbone`) and the probe
(:class:`~tommer.core.probe.ToMMeRProbe`) in torch. Training, type heads and the heatmaps use the same
two modules; this is the only engine module that imports torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from ...errors import ModelFileError
from ..backbone import Backbone
from ..config import DetectorConfig
from ..probe import ToMMeRProbe
from ..windows import Encoding, encode

DTYPES = {"torch": None, "torch-fp32": torch.float32, "torch-bf16": torch.bfloat16}


def load_probe(weights: str | Path, config: DetectorConfig) -> ToMMeRProbe:
    """A saved probe (``model.safetensors``), in eval mode; a missing, corrupted or mismatched file
    is a :class:`~tommer.errors.ModelFileError` naming it."""
    probe = ToMMeRProbe(config.probe)
    probe.load_state_dict(read_weights(weights, probe.state_dict()))
    return probe.eval()


def read_weights(path: str | Path, expected: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, checked against ``expected`` (names and shapes)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path} is missing")
    try:
        state = load_file(str(path))
    except Exception as err:  # safetensors raises its own error types on a torn or foreign file
        raise ModelFileError(f"{path} is not a readable safetensors file ({err})") from None
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    wrong = [
        f"{name} {tuple(state[name].shape)} (config: {tuple(t.shape)})"
        for name, t in expected.items()
        if name in state and state[name].shape != t.shape
    ]
    if missing or extra or wrong:
        parts = [f"missing {', '.join(missing)}"] * bool(missing) + [f"unexpected {', '.join(extra)}"] * bool(
            extra
        )
        raise ModelFileError(f"{path} does not match its config.json: {'; '.join(parts + wrong)}")
    return state


def load_backbone(config: DetectorConfig, engine: str = "torch", depth: int | None = None) -> Backbone:
    """The detector's backbone in the dtype ``engine`` names (``torch``: the CPU's default)."""
    return Backbone.load(config.backbone, config.layer, dtype=DTYPES[engine], depth=depth)


class TorchEngine:
    """Backbone + probe in torch; the probe's layer is read however deep the backbone is loaded."""

    def __init__(self, backbone: Backbone, probe: ToMMeRProbe, layer: int) -> None:
        self.backbone = backbone
        self.probe = probe
        self.layer = layer

    @property
    def name(self) -> str:
        return "torch-bf16" if self.backbone.dtype == torch.bfloat16 else "torch-fp32"

    @property
    def bos_id(self) -> int:
        return self.backbone.bos_id

    @property
    def pad_id(self) -> int:
        return self.backbone.pad_id

    def encode(self, text: str) -> Encoding:
        return encode(self.backbone.tokenizer, text)

    def padded_shape(self, rows: int, tokens: int) -> tuple[int, int]:
        return rows, tokens

    @torch.inference_mode()
    def span_probabilities(
        self, ids: np.ndarray, mask: np.ndarray, shapes: np.ndarray | None = None
    ) -> np.ndarray:
        ids_t, mask_t = torch.as_tensor(np.asarray(ids)), torch.as_tensor(np.asarray(mask))
        hidden = self.backbone.hidden_states(ids_t, mask_t, self.layer)
        return self.probe.probabilities(hidden, mask_t, None if shapes is None else torch.as_tensor(shapes))


__all__ = ["DTYPES", "TorchEngine", "load_backbone", "load_probe"]
