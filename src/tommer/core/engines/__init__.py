"""Inference engines: a batch of padded windows (ids, mask) → span probabilities, one small interface.

An :class:`Engine` tokenizes (:meth:`Engine.encode`) and runs the truncated backbone plus the probe
(:meth:`Engine.span_probabilities`); the detector does the rest (windows, decoding, offsets) in numpy.

- ``torch``: the backbone in :func:`tommer.core.backbone.default_dtype` (bf16 where the CPU computes it
  natively, else fp32), the probe in fp32 (:mod:`.torch_engine`); ``torch-fp32`` / ``torch-bf16`` force
  the dtype. The reference for the others is ``torch-fp32``.
- ``onnx``: backbone and probe exported once into one ONNX graph (fp32) that returns span logits, run by
  ONNX Runtime; the tokenizer is ``tokenizers`` on the exported ``tokenizer.json`` (:mod:`.onnx_engine`).
  Once the export is in the cache, this engine imports neither torch nor transformers.
- ``onnx-int8``: the same graph with the backbone's weights quantised to int8
  (``onnxruntime.quantization.quantize_dynamic``; the probe stays fp32).
- ``openvino``: the same graph saved in OpenVINO's format (fp16 weights), compiled by OpenVINO's CPU
  plugin in bf16 where the CPU computes it natively, else fp32 (:mod:`.openvino_engine`).

The engine is picked per CPU (``auto``, :func:`auto_engine`) unless ``TOMMER_ENGINE`` or an ``engine=``
argument names one. The auto rule comes from ``scripts/engine_agreement.py`` (``results/engines.md``):
an engine is eligible only when its mentions agree with ``torch-fp32`` on dev data (DICE >= 0.99) and
pooled dev recall moves by at most 0.5 points; among those, the fastest on each kind of CPU is chosen.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Protocol

import numpy as np

from ...errors import ConfigError
from ..cpu import cpu_flags, native_bf16  # noqa: F401  (re-exported)
from ..windows import Encoding

ENV = "TOMMER_ENGINE"
AUTO = "auto"
ENGINES = ("torch", "torch-fp32", "torch-bf16", "onnx", "onnx-int8", "openvino")
ONNX_ENGINES = ("onnx", "onnx-int8", "openvino")  # the engines that run the ONNX export
OPENVINO_ENGINES = ("openvino",)
ENGINE_VERSION = 5  # 2: the completion marker lists every file's SHA-256; 3: int8 keeps down_proj fp32;
# 4: fp32 weights as external data (model.onnx.data), which ONNX Runtime memory-maps; 5: the probe on the
# band of spans (B, T, max_span_tokens), not the T x T matrix
"""Part of every export's cache key: bump it when the exported graph changes."""


class Engine(Protocol):
    """What the detector needs from an engine."""

    name: str  # one of ENGINES (torch, openvino: with the precision they run, e.g. "torch-bf16")
    bos_id: int  # the token opening each window
    pad_id: int

    def encode(self, text: str) -> Encoding:
        """A text's tokens with character offsets (no special tokens)."""
        ...

    def padded_shape(self, rows: int, tokens: int) -> tuple[int, int]:
        """The (rows, tokens) a batch of ``rows`` windows of at most ``tokens`` tokens costs (the
        engine may pad it further): what :func:`~tommer.core.detector.forward_batches` weighs."""
        ...

    def span_probabilities(
        self, ids: np.ndarray, mask: np.ndarray, shapes: np.ndarray | None = None
    ) -> np.ndarray:
        """Span probabilities (B, T_end, T_start), float64, for right-padded int64 ids and mask (B, T);
        0 where a span is not valid (start after end, too long, BOS or padding). ``shapes``: the token
        shapes (:func:`~tommer.core.windows.collate_shapes`), read only by a probe with ``token_shapes``."""
        ...


def onnx_available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def openvino_available() -> bool:
    return importlib.util.find_spec("openvino") is not None


def auto_engine() -> str:
    """The engine for this CPU: ``openvino`` (bf16) where the CPU computes bf16 natively, else ``onnx``,
    else ``torch``.

    Measured (results/engines*.md, results/bench.md): ``onnx`` gives exactly the fp32 mentions (DICE
    1.000) on any CPU and the same result alone or in a batch, starts in about a second without torch,
    and needs about half the memory of torch. Without native bf16 it is the fastest eligible engine
    (OpenVINO in fp32 is no faster: results/tried/openvino.md; on an AMD EPYC with AVX2 only, onnx 1914
    dev words/s, torch fp32 1850, OpenVINO fp32 1588: results/engines_amd-epyc-avx2.md).
    With native bf16, ``openvino`` computes in bf16 within the eligibility rule (DICE >= 0.99 with
    fp32, recall within 0.5 points), starting in about a second and within the memory target: about
    2.6x ``onnx`` on an Intel Xeon with AMX
    (results/engines.md) and 1.5x on an AMD EPYC with AVX512-BF16 but no AMX
    (results/engines_amd-epyc.md). ``torch`` (bf16) agrees less and starts in about 5 s.
    ``onnx-int8`` is never picked: dynamic int8 quantises activations per tensor, outlier channels
    leave the other values few levels, and its mentions drift (DICE 0.975; results/tried/bos_int8.md).
    """
    if not onnx_available():
        return "torch"
    return "openvino" if native_bf16() and openvino_available() else "onnx"


def resolve_engine(name: str | None = None) -> str:
    """The engine to use: ``name`` if given, else ``$TOMMER_ENGINE``, else ``auto`` (:func:`auto_engine`)."""
    source = "engine"
    if name is None:
        name, source = os.environ.get(ENV) or AUTO, ENV
    if not isinstance(name, str):
        raise ConfigError(f"{source} must be a string naming an engine, not {type(name).__name__}")
    wanted = name.strip().lower()
    if wanted == AUTO:
        return auto_engine()
    if wanted not in ENGINES:
        raise ConfigError(f"unknown {source} {name!r}: choose one of {AUTO}, {', '.join(ENGINES)}")
    if wanted in OPENVINO_ENGINES and not openvino_available():
        raise ConfigError(f"engine {wanted!r} needs OpenVINO: pip install openvino")
    if wanted in ONNX_ENGINES and not onnx_available():  # the export is checked and built with onnx
        raise ConfigError(f"engine {wanted!r} needs ONNX Runtime: pip install onnxruntime onnx onnxscript")
    return wanted


def thread_count() -> int:
    """Threads an engine may use: ``$OMP_NUM_THREADS`` if set, else the CPUs this process may run on."""
    try:
        allowed = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        allowed = os.cpu_count() or 1
    env = os.environ.get("OMP_NUM_THREADS", "")
    return min(allowed, int(env)) if env.isdigit() and int(env) > 0 else allowed


__all__ = [
    "AUTO",
    "ENGINES",
    "ENGINE_VERSION",
    "ENV",
    "ONNX_ENGINES",
    "OPENVINO_ENGINES",
    "Engine",
    "auto_engine",
    "cpu_flags",
    "native_bf16",
    "onnx_available",
    "openvino_available",
    "resolve_engine",
    "thread_count",
]
