"""The texts every system reads: benchmark test sentences (one record each) and documents built from them."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .common import n_words

DEFAULT_BENCHMARKS = (
    "CoNLL 2003",
    "Ontonotes",
    "WikiNeural",
    "MultiNERD",
    "CrossNER_politics",
    "CrossNER_science",
    "GENIA_NER",
    "FabNER",
)


def load_sentences(root: Path, names: Sequence[str], words: int) -> tuple[list[str], list[dict[str, Any]]]:
    """The first test sentences of each benchmark (file order, with or without entities), about
    ``words / len(names)`` words each; and per benchmark how many sentences and words were taken."""
    from tommer.evaluation.evaluation import load_benchmark

    share = max(1, words // len(names))
    texts: list[str] = []
    sources = []
    for name in names:
        taken = count = 0
        for doc in load_benchmark(root, name, "test", only_with_entities=False):
            if count >= share:
                break
            texts.append(doc.text)
            taken, count = taken + 1, count + n_words(doc.text)
        sources.append({"benchmark": name, "sentences": taken, "words": count})
    return texts, sources


def interleave(texts: Sequence[str], sources: Sequence[dict[str, Any]]) -> list[str]:
    """The sentences round-robin over the benchmarks (so any prefix or stride mixes them)."""
    groups, k = [], 0
    for s in sources:
        groups.append(list(texts[k : k + s["sentences"]]))
        k += s["sentences"]
    return [g[i] for i in range(max(map(len, groups), default=0)) for g in groups if i < len(g)]


def make_document(pool: Sequence[str], words: int, offset: int = 0) -> str:
    """Concatenate sentences of ``pool`` (cycling from ``offset``) into a text of exactly ``words`` words."""
    parts: list[str] = []
    count, k = 0, offset
    while count < words:
        sentence = pool[k % len(pool)]
        parts.append(sentence)
        count += n_words(sentence)
        k += 1
    text = " ".join(parts)
    ends = [m.end() for m in re.finditer(r"\S+", text)]
    return text[: ends[words - 1]]


def subsample(texts: Sequence[str], words: int) -> list[str]:
    """Every k-th text, k chosen so that about ``words`` words remain (all texts if fewer)."""
    total = sum(n_words(t) for t in texts)
    step = max(1, round(total / words)) if words else 1
    return list(texts[::step])


def write_jsonl(path: Path, texts: Sequence[str]) -> Path:
    """One ``{"text": ...}`` record per line (the input of ``tommer detect -i`` and the spaCy process)."""
    with path.open("w", encoding="utf-8") as f:
        for text in texts:
            f.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
    return path


def read_texts(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f if line.strip()]


def mention_spans(path: Path) -> list[list[tuple[int, int]]]:
    """The (start, end) of each record's mentions in a ``tommer detect -o`` output, for
    :func:`tommer.evaluation.compare.dice`."""
    with path.open(encoding="utf-8") as f:
        return [[(m["start"], m["end"]) for m in json.loads(line)["mentions"]] for line in f if line.strip()]


def count_mentions(path: Path, field: str = "mentions") -> int:
    """Mentions (or entities) written to an output JSONL, one record per input text."""
    with path.open(encoding="utf-8") as f:
        return sum(len(json.loads(line).get(field, [])) for line in f if line.strip())
