"""Find or build a detector's ONNX export in the user cache, and load the engine that runs it.

Layout and cache key: :mod:`.onnx_engine`. The fp32 export (:mod:`.onnx_export`, torch) and the int8
copy (``onnxruntime.quantization``, onnx) are one-off builds, imported only when a file is missing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ...errors import ConfigError, ModelFileError
from ..config import DetectorConfig
from ..layout import probe_weights
from ..sources import cache_root, is_sealed, resolve_source, seal
from . import ENGINE_VERSION, ONNX_ENGINES, OPENVINO_ENGINES
from .onnx_engine import (
    META,
    MODEL_FP32,
    MODEL_INT8,
    MODEL_OPENVINO,
    TOKENIZER,
    WEIGHTS_FP32,
    WEIGHTS_OPENVINO,
    ExportEngine,
    OnnxEngine,
)

log = logging.getLogger(__name__)


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
    weights = probe_weights(Path(model_dir))
    if not weights.is_file():
        raise ModelFileError(f"{weights} is missing")
    with weights.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()[:16]


def export_dir(model_dir: Path, config: DetectorConfig) -> Path:
    """Where a detector's export is (or will be) in the cache."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", config.backbone) or "backbone"  # copies of a probe share it
    return cache_root() / "engines" / f"{name}-L{config.layer}-{export_key(model_dir, config)}"


EXPORT_FILES = (MODEL_FP32, WEIGHTS_FP32, META, TOKENIZER)  # what the export writes; the onnx engine reads
ENGINE_FILES = {
    "onnx": EXPORT_FILES,
    "onnx-int8": (MODEL_INT8, META, TOKENIZER),
    "openvino": (MODEL_OPENVINO, WEIGHTS_OPENVINO, META, TOKENIZER),
}
"""The files of the export that each engine reads: a load checks those (their SHA-256), not the others."""


def is_complete(directory: Path, engine: str | None = None) -> bool:
    """A finished export whose files ``engine`` reads (None: all its files) are unchanged (their
    SHA-256 against its marker)."""
    return is_sealed(directory, None if engine is None else ENGINE_FILES[engine])


def int8_matmuls(model: Path, names: list[str]) -> list[str]:
    """The backbone MatMuls that ``onnx-int8`` quantises: all but the MLP output projections
    (``down_proj``; BERT's ``output.dense``). Their inputs hold the outlier activations that one
    int8 scale per tensor cannot resolve: quantising them moved mentions most (DICE with fp32 0.87
    with them, 0.97 without; experiments/int8_exclusions.py, results/int8_exclusions.md)."""
    import onnx  # a one-off build

    wanted = set(names)
    keep = []
    for node in onnx.load(str(model), load_external_data=False).graph.node:
        if node.name not in wanted:
            continue
        scope = " ".join(p.value for p in node.metadata_props if p.key == "namespace")
        if "down_proj" in scope or (".output.dense" in scope and "attention" not in scope):
            continue
        keep.append(node.name)
    return keep


def quantize_int8(directory: Path) -> Path:
    """Write ``model.int8.onnx`` next to the fp32 export (once): the backbone's MatMul weights but
    the MLP output projections to int8 (:func:`int8_matmuls`; dynamic quantisation: activations are
    quantised per call); the probe's nodes stay fp32."""
    target = directory / MODEL_INT8
    if is_sealed(directory, [MODEL_INT8]):
        return target
    from onnxruntime.quantization import QuantType, quantize_dynamic  # a one-off build (imports onnx)

    meta = json.loads((directory / META).read_text())
    fd, tmp_name = tempfile.mkstemp(prefix=MODEL_INT8 + ".tmp-", dir=directory)
    os.close(fd)
    tmp = Path(tmp_name)
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))  # quantize_dynamic logs advice on the root logger
    try:
        quantize_dynamic(
            directory / MODEL_FP32,
            tmp,
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            nodes_to_quantize=int8_matmuls(directory / MODEL_FP32, meta["backbone_matmuls"]),
        )
        os.replace(tmp, target)
        seal(directory, meta["model_dir"], [MODEL_INT8])  # the marker now covers the int8 file too
    finally:
        root.setLevel(level)
        tmp.unlink(missing_ok=True)
    return target


def openvino_model(directory: Path) -> Path:
    """Write ``model.ov-V.xml`` / ``.bin`` next to the fp32 export (once per OpenVINO version V): the
    same graph in OpenVINO's format with fp16 weights (the backbone's weights are bf16 values; OpenVINO
    memory-maps the file and computes in bf16 or fp32), so the engine neither reads the fp32 file nor
    holds a second copy of the weights. Another OpenVINO version's copy is left as it is (a process
    of that version may be using it)."""
    target = directory / MODEL_OPENVINO
    if is_sealed(directory, [MODEL_OPENVINO, WEIGHTS_OPENVINO]):
        return target
    import openvino as ov

    meta = json.loads((directory / META).read_text())
    tmp = Path(tempfile.mkdtemp(prefix="openvino.tmp-", dir=directory))
    try:
        model = ov.Core().read_model(str(directory / MODEL_FP32))
        ov.save_model(model, str(tmp / MODEL_OPENVINO), compress_to_fp16=True)
        os.replace(tmp / WEIGHTS_OPENVINO, directory / WEIGHTS_OPENVINO)
        os.replace(tmp / MODEL_OPENVINO, target)  # the graph last: it names the weights file
        seal(directory, meta["model_dir"], [WEIGHTS_OPENVINO, MODEL_OPENVINO])  # and now these two
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


@contextmanager
def build_lock(directory: Path) -> Iterator[None]:
    """Held while an export is checked and built (``<directory>.lock``, an advisory ``flock``): two
    processes loading the same model on a cold cache (server workers, Ray actors) build it once."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock (the builds still write and rename atomically)
        yield
        return
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(directory.with_name(directory.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_export(model_dir: Path, config: DetectorConfig, engine: str = "onnx") -> Path:
    """The export directory of a detector for ``engine`` (one of ``ONNX_ENGINES``), built if missing."""
    if engine not in ONNX_ENGINES:
        raise ConfigError(f"not an ONNX engine: {engine!r}")
    directory = export_dir(model_dir, config)
    if is_complete(directory, engine):  # what this engine reads is there and unchanged
        return directory
    with build_lock(directory):
        if is_complete(directory, engine):  # another process built it while this one waited
            return directory
        if not is_complete(directory, "onnx"):
            if directory.exists():  # interrupted, truncated or corrupted since: built again
                log.warning("the ONNX export %s is incomplete or corrupted: exporting again", directory)
            from .onnx_export import export_detector  # the one-off export needs torch (heavy path)

            log.warning(
                "tommer: exporting %s for the %s engine, once (under a minute): %s",
                config.backbone,
                engine,
                directory,
            )
            export_detector(model_dir, config, directory)
        if engine == "onnx-int8":
            quantize_int8(directory)
        if engine in OPENVINO_ENGINES:
            openvino_model(directory)
    return directory


def load_onnx_engine(model_dir: Path, config: DetectorConfig, engine: str = "onnx") -> ExportEngine:
    """The engine running a saved detector's export (ONNX Runtime or OpenVINO), the export built into
    the cache if missing."""
    directory = ensure_export(Path(model_dir), config, engine)
    if engine in OPENVINO_ENGINES:
        from .openvino_engine import OpenVinoEngine

        return OpenVinoEngine(directory)
    return OnnxEngine(directory, engine)


__all__ = [
    "ENGINE_FILES",
    "EXPORT_FILES",
    "build_lock",
    "ensure_export",
    "export_dir",
    "export_key",
    "int8_matmuls",
    "is_complete",
    "load_onnx_engine",
    "openvino_model",
    "quantize_int8",
]
