"""DetectorConfig: everything a saved detector's ``config.json`` holds (backbone, layer, probe, windows);
ProbeConfig, the probe's shape. No torch: the ONNX engine reads these too."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from ..errors import ConfigError


@dataclass
class ProbeConfig:
    """Hyper-parameters that define a probe's shape and masks."""

    hidden_size: int
    rank: int = 64
    cosine: bool = False
    max_span_tokens: int = 32
    token_shapes: bool = False  # add a learnt vector per token shape (case) to the states

    def to_dict(self) -> dict:
        data = asdict(self)
        if not self.token_shapes:  # as saved before the option existed: the same files, the same keys
            del data["token_shapes"]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ProbeConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class DetectorConfig:
    """Everything needed to rebuild a detector: backbone, layer, probe and windowing."""

    backbone: str
    layer: int
    probe: ProbeConfig
    max_tokens: int = 512
    context: int = 64
    threshold: float = 0.5  # the model's default operating threshold
    margin: float = 0.0  # greedy decoders: a longer overlapping span wins within this many logits
    info: dict = field(default_factory=dict)  # training data, seed, metrics (model card)

    def to_dict(self) -> dict:
        return {
            "backbone": self.backbone,
            "layer": self.layer,
            "probe": self.probe.to_dict(),
            "max_tokens": self.max_tokens,
            "context": self.context,
            "threshold": self.threshold,
            "margin": self.margin,
            "info": self.info,
        }

    @classmethod
    def from_dict(cls, data: dict) -> DetectorConfig:
        if data.get("echo"):  # written by `tommer train --echo`, removed (results/tried/NOTES.md)
            raise ConfigError("this probe reads echo input, which tommer no longer supports")
        return cls(
            backbone=data["backbone"],
            layer=int(data["layer"]),
            probe=ProbeConfig.from_dict(data["probe"]),
            max_tokens=int(data.get("max_tokens", 512)),
            context=int(data.get("context", 64)),
            threshold=float(data.get("threshold", 0.5)),
            margin=float(data.get("margin", 0.0)),
            info=data.get("info", {}),
        )


__all__ = ["DetectorConfig", "ProbeConfig"]
