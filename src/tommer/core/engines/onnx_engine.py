"""The ONNX Runtime engine: backbone + probe as one exported graph, tokenizer from ``tokenizers``.

The export lives in the user cache, ``<cache>/engines/<model>-L<layer>-<key>/``::

    model.onnx        ids, mask -> span logits (fp32), built by :mod:`.onnx_export` (torch) once
    model.int8.onnx   the same with int8 backbone weights (built on first use of ``onnx-int8``)
    tokenizer.json    the backbone's tokenizer, for ``tokenizers.Tokenizer``
    meta.json         BOS / padding ids, layer, what the export was built from

The key hashes the probe's weights, the backbone's source (path, size, mtime), the layer, the probe's
shape and :data:`~tommer.core.engines.ENGINE_VERSION`, so a retrained probe or a new engine version gets
a new export. A directory is built under a temporary name and renamed, the int8 file written to a
temporary file and renamed: a half-built export is never used. Once an export exists, this module runs
it with numpy, onnxruntime and tokenizers only (no torch, no transformers).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from ...errors import ConfigError
from ..config import DetectorConfig
from ..layout import WEIGHTS_NAME
from ..sources import cache_root, resolve_source
from ..windows import Encoding, encode
from . import ENGINE_VERSION, thread_count

MODEL_FP32 = "model.onnx"
MODEL_INT8 = "model.int8.onnx"
TOKENIZER = "tokenizer.json"
META = "meta.json"
COMPLETE = ".tommer-complete"
FILES = {"onnx": MODEL_FP32, "onnx-int8": MODEL_INT8}


def _source_id(backbone: str) -> dict:
    path = resolve_source(backbone).resolve()
    stat = (path / "config.json" if path.is_dir() else path).stat()
    return {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def export_key(model_dir: Path, config: DetectorConfig) -> str:
    """The cache key of a detector's export (see the module docstring)."""
    digest = hashlib.sha256()
    digest.update(
        json.dumps(
            {
                "engine_version": ENGINE_VERSION,
                "backbone": config.backbone,
                "source": _source_id(config.backbone),
                "layer": config.layer,
                "probe": config.probe.to_dict(),
            },
            sort_keys=True,
        ).encode()
    )
    with (Path(model_dir) / WEIGHTS_NAME).open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()[:16]


def export_dir(model_dir: Path, config: DetectorConfig) -> Path:
    """Where a detector's export is (or will be) in the cache."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(model_dir).resolve().name) or "model"
    return cache_root() / "engines" / f"{name}-L{config.layer}-{export_key(model_dir, config)}"


def is_complete(directory: Path) -> bool:
    return (directory / COMPLETE).is_file()


def quantize_int8(directory: Path) -> Path:
    """Write ``model.int8.onnx`` next to the fp32 export (once): the backbone's MatMul weights to int8
    (dynamic quantisation: activations are quantised per call); the probe's nodes stay fp32."""
    target = directory / MODEL_INT8
    if target.is_file():
        return target
    from onnxruntime.quantization import QuantType, quantize_dynamic  # a one-off build (imports onnx)

    meta = json.loads((directory / META).read_text())
    fd, tmp_name = tempfile.mkstemp(prefix=MODEL_INT8 + ".tmp-", dir=directory)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        quantize_dynamic(
            directory / MODEL_FP32,
            tmp,
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            nodes_to_quantize=meta["backbone_matmuls"],
        )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def ensure_export(model_dir: Path, config: DetectorConfig, engine: str = "onnx") -> Path:
    """The export directory of a detector for ``engine`` (``onnx`` or ``onnx-int8``), built if missing."""
    if engine not in FILES:
        raise ConfigError(f"not an ONNX engine: {engine!r}")
    directory = export_dir(model_dir, config)
    if not is_complete(directory):
        from .onnx_export import export_detector  # the one-off export needs torch (heavy path)

        export_detector(model_dir, config, directory)
    if engine == "onnx-int8":
        quantize_int8(directory)
    return directory


class OnnxEngine:
    """An export run by ONNX Runtime on the CPU (``threads``: default :func:`thread_count`)."""

    def __init__(self, directory: Path, engine: str = "onnx", threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.name = engine
        self.directory = Path(directory)
        self.meta = json.loads((self.directory / META).read_text())
        self.bos_id = int(self.meta["bos_id"])
        self.pad_id = int(self.meta["pad_id"])
        self.tokenizer = Tokenizer.from_file(str(self.directory / TOKENIZER))
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or thread_count()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            str(self.directory / FILES[engine]), options, providers=["CPUExecutionProvider"]
        )

    @classmethod
    def load(cls, model_dir: Path, config: DetectorConfig, engine: str = "onnx") -> OnnxEngine:
        """The engine of a saved detector directory, its export built into the cache if missing."""
        return cls(ensure_export(Path(model_dir), config, engine), engine)

    def encode(self, text: str) -> Encoding:
        return encode(self.tokenizer, text)

    def span_logits(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Span logits (B, T_end, T_start), float32; ``NEG_LOGIT`` where a span is not valid."""
        feed = {"input_ids": np.ascontiguousarray(ids, dtype=np.int64)}
        feed["attention_mask"] = np.ascontiguousarray(mask, dtype=np.int64)
        return self.session.run(["logits"], feed)[0]

    def span_probabilities(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        logits = self.span_logits(ids, mask).astype(np.float64)
        return np.exp(-np.logaddexp(0.0, -logits))  # sigmoid, without overflow at -1e4


__all__ = ["OnnxEngine", "ensure_export", "export_dir", "export_key", "quantize_int8"]
