"""The OpenVINO engine: the detector's ONNX export, compiled by OpenVINO's CPU plugin.

It runs ``model.ov-V.xml`` (:func:`~tommer.core.engines.build.openvino_model`: the export in OpenVINO's
format, fp16 weights, memory-mapped) in bf16 where the CPU computes it natively (AMX, AVX512-BF16),
else in fp32. OpenVINO compiles kernels per input shape and keeps them, so a batch is padded up to a
shape bucket (:func:`bucket`) and the padding cut off again: one shape per bucket instead of one per
batch, of which the last ``SHAPE_CACHE`` used stay compiled (kernels compiled less often, memory
bounded). Like the ONNX Runtime engine, it needs numpy, openvino and tokenizers only.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from . import native_bf16, thread_count
from .onnx_engine import MODEL_OPENVINO, SHAPES_INPUT, ExportEngine

TOKEN_STEP = 8
"""Window lengths are padded up to a multiple of this. Finer steps pad less but compile more shapes
and hold more buffers: on the bench's corpus, on an AVX512-BF16 EPYC, a step of 16 padded 20.4% of
the tokens of openvino's passes (24.5 s, 368 MB), 8 10.8% (20.1 s, 389 MB), 1 1.1% (20.7 s, 495 MB:
past the 400 MB target); the same mentions at every step (``python scripts/pass_tokens.py --engines
openvino --bounds 512 --token-steps 16,8,1 --repeats 3``, results/pass_tokens_amd-epyc.md)."""
ROW_STEP = 8  # batches of more rows than this are padded up to a multiple of it; smaller ones to 1, 2, 4, 8
SHAPE_CACHE = 32  # compiled shapes kept (OpenVINO's CPU_RUNTIME_CACHE_CAPACITY, default 5000): peak memory
# stays under the 400 MB target on a 100k-word corpus, a few percent slower than with the default


def bucket(rows: int, tokens: int) -> tuple[int, int]:
    """The padded (rows, tokens) a batch of ``rows`` windows of ``tokens`` tokens runs as."""
    rows = 1 << (rows - 1).bit_length() if rows <= ROW_STEP else -(-rows // ROW_STEP) * ROW_STEP
    return rows, -(-tokens // TOKEN_STEP) * TOKEN_STEP


class OpenVinoEngine(ExportEngine):
    """An export compiled by OpenVINO for this CPU (``threads``: default :func:`thread_count`; ``config``:
    OpenVINO properties that override the defaults below).

    One inference request serves every call, under a lock (a request runs one batch at a time)."""

    def __init__(
        self, directory: Path, threads: int | None = None, config: dict[str, object] | None = None
    ) -> None:
        import openvino as ov

        precision = "bf16" if native_bf16() else "f32"
        super().__init__(directory, f"openvino-{'bf16' if precision == 'bf16' else 'fp32'}")
        core = ov.Core()
        model = core.read_model(str(self.directory / MODEL_OPENVINO))
        self.reads_shapes = SHAPES_INPUT in {name for port in model.inputs for name in port.get_names()}
        properties = {
            "INFERENCE_PRECISION_HINT": precision,
            "INFERENCE_NUM_THREADS": threads or thread_count(),
            "PERFORMANCE_HINT": "LATENCY",  # one stream: the detector sends one batch at a time
            "NUM_STREAMS": 1,
            "CPU_RUNTIME_CACHE_CAPACITY": SHAPE_CACHE,
            **(config or {}),
        }
        self._request = core.compile_model(model, "CPU", properties).create_infer_request()
        self._lock = threading.Lock()

    def padded_shape(self, rows: int, tokens: int) -> tuple[int, int]:
        """A batch runs padded up to its shape bucket (:func:`bucket`)."""
        return bucket(rows, tokens)

    def span_logits(self, ids: np.ndarray, mask: np.ndarray, shapes: np.ndarray | None = None) -> np.ndarray:
        rows, tokens = np.shape(ids)
        padded = self.padded_shape(rows, tokens)
        if padded != (rows, tokens):  # padding tokens: masked out, their spans invalid, cut off below
            ids, mask = _pad(ids, padded, self.pad_id), _pad(mask, padded, 0)
            shapes = None if shapes is None else _pad(shapes, padded, 0)
        feed = self.feed(ids, mask, shapes)
        with self._lock:
            logits = self._request.infer(feed)["logits"]
            return np.array(logits[:rows, :tokens, :tokens], copy=True)  # the request reuses its buffer


def _pad(array: np.ndarray, shape: tuple[int, int], value: int) -> np.ndarray:
    out = np.full(shape, value, dtype=np.int64)
    out[: array.shape[0], : array.shape[1]] = array
    return out


__all__ = ["ROW_STEP", "SHAPE_CACHE", "TOKEN_STEP", "OpenVinoEngine", "bucket"]
