"""Export a detector's truncated backbone and probe as one ONNX graph (ids, mask → span logits; a probe
with ``token_shapes`` adds a third input, the token shapes).

Run once per detector into the user cache (:func:`~tommer.core.engines.build.ensure_export`);
it needs torch, transformers, onnx and onnxscript (``torch.onnx.export(dynamo=True)``). The backbone is
loaded in fp32 (never fp16: the BOS state's norm is far beyond fp16's range in these models). The probe
is rewritten with export-friendly ops (:class:`SpanLogits`: ONNX has no cummax / cummin), equal to
:class:`~tommer.core.probe.ToMMeRProbe` on every valid span; the export is checked against the torch
modules with ONNX Runtime before it is renamed into place.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ...errors import TommerError
from ..config import DetectorConfig
from ..layout import probe_weights
from ..probe import NEG_LOGIT, ToMMeRProbe
from ..sources import is_sealed, seal
from ..windows import SHAPES
from . import ENGINE_VERSION
from .onnx_engine import META, MODEL_FP32, SHAPES_INPUT, TOKENIZER, OnnxEngine
from .torch_engine import load_backbone, load_probe

BACKBONE_SCOPE = "SpanLogits/model:"  # the backbone's nodes, by their export ``namespace``
TOLERANCE = 1e-3  # largest |ONNX logit - torch logit| accepted on valid spans at export
# torch.onnx logs that it skips torchvision's operators, which no tommer graph uses
logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)


class SpanLogits(nn.Module):
    """Backbone (truncated, fp32) + probe → span logits (B, T_end, T_start), ``NEG_LOGIT`` where invalid.

    The probe is computed on the band of spans only: (B, T, W) with ``W = max_span_tokens``, entry
    (i, d) the span that ends at i and starts at i - d (ONNX has no cummax / cummin, and the T × T
    matrix costs T / W times more). Its strict right min / max pools are ``W - 1`` shifted minima /
    maxima along d: the scores right of start i - d in row i are those at d' < d, so this equals the
    cumulative pools of :mod:`tommer.core.probe` on every valid span. One gather spreads the band
    into the (end, start) matrix that the engines return.
    """

    def __init__(self, model: nn.Module, probe: ToMMeRProbe, bidirectional: bool) -> None:
        super().__init__()
        self.model = model
        self.probe = probe
        self.kwargs = {} if bidirectional else {"use_cache": False}
        self.window = probe.config.max_span_tokens

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_shapes: torch.Tensor | None = None
    ) -> torch.Tensor:
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask, **self.kwargs)
        probe = self.probe
        x = probe.token_states(hidden.last_hidden_state, token_shapes)
        q, k = probe.w_q(x), probe.w_k(x)
        if probe.config.cosine:
            q = nn.functional.normalize(q, dim=-1)
            k = nn.functional.normalize(k, dim=-1)
        seq, width = input_ids.shape[1], self.window
        idx = torch.arange(seq, device=input_ids.device)
        offsets = torch.arange(width, device=input_ids.device)
        starts = idx[:, None] - offsets[None, :]  # (T, W): the start of span (end i, length d + 1)
        inside = (starts >= 1) & (idx[:, None] >= 1)  # no BOS, no start before the window
        safe = starts.clamp(min=0)
        real = attention_mask > 0
        valid = inside[None] & real[:, :, None] & real[:, safe]  # (B, T, W)
        k_band = k[:, safe]  # (B, T, W, r): the key of each span's start
        s = (q[:, :, None, :] @ k_band.transpose(-1, -2)).squeeze(2) * probe.scale
        s = torch.where(valid, s, 0.0)
        padded = nn.functional.pad(s, (width - 1, 0))  # shift right along d: the scores at d' < d
        lo = torch.zeros_like(s)
        hi = torch.zeros_like(s)
        for d in range(1, width):
            shifted = padded[..., width - 1 - d : 2 * width - 1 - d]
            lo = torch.minimum(lo, shifted)
            hi = torch.maximum(hi, shifted)
        e = probe.end_probe(x).squeeze(-1) * attention_mask.to(x.dtype)
        e_next = nn.functional.pad(e[:, 1:], (0, 1), value=0.0)
        w, b = probe.combine.weight[0], probe.combine.bias[0]
        band = w[0] * s + w[1] * lo + w[2] * hi + (w[3] * e + w[4] * e_next)[:, :, None] + b
        band = torch.where(valid, band, NEG_LOGIT)
        # (end i, start j) ← band (i, i - j) where 0 <= i - j < W, else the extra NEG_LOGIT column W
        band = nn.functional.pad(band, (0, 1), value=NEG_LOGIT)
        length = idx[:, None] - idx[None, :]
        column = torch.where((length >= 0) & (length < width), length, width)
        flat = (idx[:, None] * (width + 1) + column).reshape(-1)
        return band.reshape(band.shape[0], -1)[:, flat].reshape(-1, seq, seq)


def _sample(bos: int, pad: int, vocab: int, shapes: bool) -> tuple[torch.Tensor, ...]:
    """A padded batch to trace and check with (two rows, one shorter): ids, mask (, token shapes)."""
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(100, min(vocab, 20000), (2, 41), generator=generator)
    ids[:, 0] = bos
    mask = torch.ones_like(ids)
    mask[1, 29:] = 0
    ids[1, 29:] = pad
    if not shapes:
        return ids, mask
    token_shapes = torch.randint(1, len(SHAPES), (2, 41), generator=generator) * mask
    token_shapes[:, 0] = 0
    return ids, mask, token_shapes


CHECK_TEXTS = (
    "Angela Merkel met Emmanuel Macron in Paris.",
    "  Zoë Saldaña visited São Paulo; 東京 is in Japan 😀!\n\nLine two\tmentions Microsoft\r\n",
)


def _save_tokenizer(tokenizer, path: Path) -> None:
    """The backbone tokenizer's ``tokenizer.json`` without padding or truncation (a BERT tokenizer's
    backend may carry both), checked to give the same ids and offsets as the transformers tokenizer."""
    from tokenizers import Tokenizer

    from ..windows import encode

    fast = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    fast.no_padding()
    fast.no_truncation()
    for text in CHECK_TEXTS:
        a, b = encode(fast, text), encode(tokenizer, text)
        if not (np.array_equal(a.ids, b.ids) and np.array_equal(a.starts, b.starts)):
            raise TommerError(f"the exported tokenizer of {tokenizer.name_or_path} differs from the original")
    fast.save(str(path))


def _backbone_matmuls(path: Path) -> list[str]:
    """The backbone's MatMul nodes by a weight (what ``onnx-int8`` quantises: not the probe's, not the
    rotary or attention products)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    weights = {init.name for init in graph.initializer}
    return [
        node.name
        for node in graph.node
        if node.op_type == "MatMul"
        and node.input[1] in weights
        and any(p.key == "namespace" and BACKBONE_SCOPE in p.value for p in node.metadata_props)
    ]


def export_detector(model_dir: Path, config: DetectorConfig, target: Path) -> Path:
    """Export a saved detector into ``target`` (built under a temporary name, then renamed)."""
    backbone = load_backbone(config, "torch-fp32")
    probe = load_probe(probe_weights(Path(model_dir)), config)
    module = SpanLogits(backbone.model, probe, backbone.bidirectional).eval()
    vocab = int(backbone.model.get_input_embeddings().num_embeddings)
    sample = _sample(backbone.bos_id, backbone.pad_id, vocab, config.probe.token_shapes)
    ids, mask = sample[:2]
    with torch.inference_mode():
        reference, valid = probe(backbone.hidden_states(ids, mask), *sample[1:])
        mine = module(*sample)
    if not torch.allclose(mine[valid], reference[valid], atol=1e-4, rtol=1e-4):
        raise TommerError("the export-friendly probe does not match ToMMeRProbe (a tommer bug)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=target.parent))
    try:
        batch, seq = torch.export.Dim("batch", min=1), torch.export.Dim("seq", min=2)
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")
            names = ["input_ids", "attention_mask", SHAPES_INPUT][: len(sample)]
            torch.onnx.export(
                module,
                sample,
                str(tmp / MODEL_FP32),
                input_names=names,
                output_names=["logits"],
                dynamic_shapes={name: {0: batch, 1: seq} for name in names},
                dynamo=True,
                optimize=True,
                external_data=True,  # weights in model.onnx.data: memory-mapped, never copied on load
                verbose=False,
            )
        _save_tokenizer(backbone.tokenizer, tmp / TOKENIZER)
        meta = {
            "engine_version": ENGINE_VERSION,
            "backbone": config.backbone,
            "layer": config.layer,
            "probe": config.probe.to_dict(),
            "bos_id": backbone.bos_id,
            "pad_id": backbone.pad_id,
            "backbone_matmuls": _backbone_matmuls(tmp / MODEL_FP32),
            "model_dir": str(Path(model_dir).resolve()),
            "torch": torch.__version__,
        }
        (tmp / META).write_text(json.dumps(meta, indent=2) + "\n")
        engine = OnnxEngine(tmp, "onnx")
        got = torch.from_numpy(engine.span_logits(*(t.numpy() for t in sample)))
        error = float((got[valid] - reference[valid]).abs().max())
        if not error <= TOLERANCE:
            raise TommerError(
                f"the ONNX export of {config.backbone} differs from torch by {error:.3g} logits"
            )
        seal(tmp, str(model_dir))  # every file's SHA-256, checked on each load
        if is_sealed(target):  # another process finished the same export first
            return target
        if target.exists():  # an incomplete leftover of an interrupted export
            shutil.rmtree(target)
        try:
            os.replace(tmp, target)
        except OSError:
            if not is_sealed(target):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


__all__ = ["SpanLogits", "export_detector"]
