"""The torch engine: the truncated backbone (:class:`~tommer.core.backbone.Backbone`) and the probe
(:class:`~tommer.core.probe.ToMMeRProbe`) in torch. Training, type heads and the heatmaps use the same
two modules; this is the only engine module that imports torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from ..backbone import Backbone
from ..config import DetectorConfig
from ..probe import ToMMeRProbe
from ..windows import Encoding, encode

DTYPES = {"torch": None, "torch-fp32": torch.float32, "torch-bf16": torch.bfloat16}


def load_probe(weights: str | Path, config: DetectorConfig) -> ToMMeRProbe:
    """A saved probe (``model.safetensors``), in eval mode."""
    probe = ToMMeRProbe(config.probe)
    probe.load_state_dict(load_file(str(weights)))
    return probe.eval()


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

    @torch.inference_mode()
    def span_probabilities(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        ids_t, mask_t = torch.as_tensor(np.asarray(ids)), torch.as_tensor(np.asarray(mask))
        hidden = self.backbone.hidden_states(ids_t, mask_t, self.layer)
        return self.probe.probabilities(hidden, mask_t)


__all__ = ["DTYPES", "TorchEngine", "load_backbone", "load_probe"]
