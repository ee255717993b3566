"""Shared pieces of the development-data sweeps (recipe_ablation.py, layer_sweep.py).

Hidden states are encoded once per (backbone, corpus, layer) and kept in a cache folder, so a
sweep can be rerun or extended without running the backbone again.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from tommer.data.metrics import SpanScores
from tommer.training.training import (
    EncodedCorpus,
    encode_corpus_layers,
    evaluate,
    token_digest,
    window_corpus,
)


def concat(corpora: list[EncodedCorpus]) -> EncodedCorpus:
    """Several encoded corpora as one (documents renumbered)."""
    docs, encodings, windows, hidden, gold = [], [], [], [], []
    for c in corpora:
        offset = len(docs)
        docs += c.docs
        encodings += c.encodings
        windows += [replace(w, doc=w.doc + offset) for w in c.windows]
        hidden += c.hidden
        gold += c.gold
    return EncodedCorpus(docs, encodings, windows, hidden, gold)


def encode_cached(backbone, docs, layers, cache: Path, name: str) -> dict[int, EncodedCorpus]:
    """``encode_corpus_layers`` with the states of each layer kept on disk under ``cache``."""
    win = window_corpus(backbone, docs, 512, 64)
    tokens = token_digest(win)  # states depend on the token ids, not only on the texts
    files = {layer: cache / f"{name}-{tokens}-L{layer}.pt" for layer in layers}
    if all(f.exists() for f in files.values()):
        return {
            layer: EncodedCorpus(win.docs, win.encodings, win.windows, torch.load(files[layer]), win.gold)
            for layer in layers
        }
    out = encode_corpus_layers(backbone, docs, layers, desc=name, windowed=win)
    cache.mkdir(parents=True, exist_ok=True)
    for layer, corpus in out.items():
        tmp = files[layer].with_suffix(".tmp")
        torch.save(corpus.hidden, tmp)
        tmp.replace(files[layer])
    return out


def pooled(probe, corpora: dict[str, EncodedCorpus], decoding: str, margin: float = 0.0) -> SpanScores:
    """Exact-match scores pooled over several corpora (candidates above 0.5)."""
    total = SpanScores()
    for corpus in corpora.values():
        s = evaluate(probe, corpus, 0.5, decoding, margin=margin)
        total.tp += s.tp
        total.predicted += s.predicted
        total.gold += s.gold
    return total


def cpu_flags() -> str:
    """The vector-instruction flags of this CPU (speed depends on them)."""
    try:
        flags = next(ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("flags"))
    except (OSError, StopIteration):
        return "unknown"
    return " ".join(f for f in flags.split(":")[1].split() if f.startswith(("avx", "amx", "fma")))


def pct(x: float) -> str:
    return f"{100 * x:.1f}"
