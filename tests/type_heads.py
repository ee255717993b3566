"""Helpers shared by the typed tests (tests/typed, tests/training, tests/experiments): small type heads,
offset checks, tiny typed benchmark files."""

from __future__ import annotations

import json

import torch

from tommer.typed.type_head import TypeHead, TypeHeadConfig


def check_offsets(text, mentions):
    for m in mentions:
        assert text[m.start : m.end] == m.text
        assert m.label is not None and 0.0 <= m.label_score <= 1.0


def small_head(kind: str, hidden: int = 576, bilstm_dim: int = 0) -> TypeHead:
    torch.manual_seed(0)
    labels = ["person", "location"] if kind == "supervised" else []
    config = TypeHeadConfig.of(kind, hidden, labels=labels, dim=16, bilstm_dim=bilstm_dim)
    return TypeHead(config).eval()


TINY = [  # three typed sentences, two types
    ("Angela Merkel visited Paris.", [("Angela Merkel", "person"), ("Paris", "location")]),
    ("John Smith lives in London.", [("John Smith", "person"), ("London", "location")]),
    ("Maria went to Berlin yesterday.", [("Maria", "person"), ("Berlin", "location")]),
]


def write_benchmark_json(path, sentences):
    """A typed benchmark file: (sentence, [(mention, type), ...]) pairs, each mention's first occurrence."""
    records = []
    for text, ents in sentences:
        entities = [{"name": n, "type": t, "pos": [text.index(n), text.index(n) + len(n)]} for n, t in ents]
        records.append({"sentence": text, "entities": entities})
    path.write_text(json.dumps(records))
    return path
