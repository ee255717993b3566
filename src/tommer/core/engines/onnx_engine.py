"""The ONNX Runtime engine: backbone + probe as one exported graph, tokenizer from ``tokenizers``.

:func:`tommer.core.engines.build.load_onnx_engine` finds (or builds) a detector's export. The export
lives in the user cache, ``<cache>/engines/<model>-L<layer>-<key>/``::

    model.onnx        ids, mask (, token shapes) -> span logits (fp32), built by :mod:`.onnx_export` once
    model.onnx.data   its weights (external data: ONNX Runtime memory-maps them instead of copying)
    model.int8.onnx   the same with int8 backbone weights (built on first use of ``onnx-int8``)
    model.ov-V.xml/.bin  the same in OpenVINO's format, fp16 weights (built on first use of ``openvino``
                      by OpenVINO version V)
    tokenizer.json    the backbone's tokenizer, for ``tokenizers.Tokenizer``
    meta.json         BOS / padding ids, layer, what the export was built from

The key hashes the probe's weights, the backbone's source (path, size, mtime), the layer, the probe's
shape and :data:`~tommer.core.engines.ENGINE_VERSION`, so a retrained probe or a new engine version gets
a new export; the OpenVINO copy is named by the OpenVINO version that built it. A directory is built
under a temporary name and renamed, the int8 file written to a temporary file and renamed: a
half-built export is never used. Once an export exists, this module runs
it with numpy, onnxruntime and tokenizers only (no torch, no transformers).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from ...errors import ConfigError
from ..windows import Encoding, encode
from . import thread_count

MODEL_FP32 = "model.onnx"
MODEL_INT8 = "model.int8.onnx"
WEIGHTS_FP32 = MODEL_FP32 + ".data"


def _openvino_version() -> str:
    """The installed OpenVINO's version as a file-name part (``none`` when it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return re.sub(r"[^A-Za-z0-9.]+", "_", version("openvino"))
    except PackageNotFoundError:
        return "none"


# The openvino engine's copy (fp16 weights), built on its first use and named by the OpenVINO version
# that wrote it: an IR is read back by the version that wrote it (an older OpenVINO need not read a
# newer IR), so another OpenVINO, in another environment sharing the cache, builds its own.
MODEL_OPENVINO = f"model.ov-{_openvino_version()}.xml"
WEIGHTS_OPENVINO = MODEL_OPENVINO.removesuffix(".xml") + ".bin"
TOKENIZER = "tokenizer.json"
META = "meta.json"
COMPLETE = ".tommer-complete"
SHAPES_INPUT = "token_shapes"  # the graph's third input, when the probe reads token shapes
FILES = {"onnx": MODEL_FP32, "onnx-int8": MODEL_INT8}
VALID_FLOOR = -1e3  # logits below are invalid spans (the export writes NEG_LOGIT, -1e4, there)


class ExportEngine:
    """What the engines running the export share: its meta, its tokenizer, a batch's feed, and span
    probabilities from the graph's logits. A subclass runs the graph (:meth:`span_logits`)."""

    def __init__(self, directory: Path, engine: str) -> None:
        from tokenizers import Tokenizer

        self.name = engine
        self.directory = Path(directory)
        self.meta = json.loads((self.directory / META).read_text())
        self.bos_id = int(self.meta["bos_id"])
        self.pad_id = int(self.meta["pad_id"])
        self.tokenizer = Tokenizer.from_file(str(self.directory / TOKENIZER))
        self.tokenizer.no_padding()  # as exported; a text is never padded nor truncated here
        self.tokenizer.no_truncation()
        self.reads_shapes = False  # set by a subclass from its graph's inputs

    def encode(self, text: str) -> Encoding:
        return encode(self.tokenizer, text)

    def padded_shape(self, rows: int, tokens: int) -> tuple[int, int]:
        """A batch runs as given (ONNX Runtime takes any shape)."""
        return rows, tokens

    def feed(self, ids: np.ndarray, mask: np.ndarray, shapes: np.ndarray | None) -> dict[str, np.ndarray]:
        """The graph's inputs for a batch, as contiguous int64 arrays."""
        feed = {"input_ids": np.ascontiguousarray(ids, dtype=np.int64)}
        feed["attention_mask"] = np.ascontiguousarray(mask, dtype=np.int64)
        if self.reads_shapes:
            if shapes is None:
                raise ConfigError("this export reads token shapes: pass the batch's shapes (collate_shapes)")
            feed[SHAPES_INPUT] = np.ascontiguousarray(shapes, dtype=np.int64)
        return feed

    def span_logits(self, ids: np.ndarray, mask: np.ndarray, shapes: np.ndarray | None = None) -> np.ndarray:
        """Span logits (B, T_end, T_start), float32; ``NEG_LOGIT`` where a span is not valid."""
        raise NotImplementedError

    def span_probabilities(
        self, ids: np.ndarray, mask: np.ndarray, shapes: np.ndarray | None = None
    ) -> np.ndarray:
        logits = self.span_logits(ids, mask, shapes)
        probs = np.zeros(logits.shape, dtype=np.float64)  # sigmoid(NEG_LOGIT) is 0.0 in float64
        valid = logits > VALID_FLOOR  # the band of valid spans: a fraction of a long window's T x T
        probs[valid] = np.exp(-np.logaddexp(0.0, -logits[valid].astype(np.float64)))  # no overflow
        return probs


class OnnxEngine(ExportEngine):
    """An export run by ONNX Runtime on the CPU (``threads``: default :func:`thread_count`)."""

    def __init__(self, directory: Path, engine: str = "onnx", threads: int | None = None) -> None:
        import onnxruntime as ort

        super().__init__(directory, engine)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or thread_count()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # no spin-waiting between ops: it burns a core that the tokenizer, the decoders or a server's
        # event loop need (scripts/load_test.py: more requests/s at concurrency 100; bulk detection
        # keeps its wall time and uses less CPU)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            str(self.directory / FILES[engine]), options, providers=["CPUExecutionProvider"]
        )
        self.reads_shapes = SHAPES_INPUT in {i.name for i in self.session.get_inputs()}

    def span_logits(self, ids: np.ndarray, mask: np.ndarray, shapes: np.ndarray | None = None) -> np.ndarray:
        return self.session.run(["logits"], self.feed(ids, mask, shapes))[0]


__all__ = [
    "COMPLETE",
    "FILES",
    "ExportEngine",
    "META",
    "MODEL_FP32",
    "MODEL_INT8",
    "MODEL_OPENVINO",
    "SHAPES_INPUT",
    "TOKENIZER",
    "WEIGHTS_FP32",
    "WEIGHTS_OPENVINO",
    "OnnxEngine",
]
