"""Helpers shared by the typed tests (tests/typed, tests/training): small type heads, offset checks."""

from __future__ import annotations

import torch

from tommer.typed.type_head import TypeHead, TypeHeadConfig


def check_offsets(text, mentions):
    for m in mentions:
        assert text[m.start : m.end] == m.text
        assert m.label is not None and 0.0 <= m.label_score <= 1.0


def small_head(kind: str, hidden: int = 576, bilstm_dim: int = 0) -> TypeHead:
    torch.manual_seed(0)
    labels = ["person", "location"] if kind == "supervised" else []
    config = TypeHeadConfig(kind, hidden, labels=labels, dim=16, bilstm_dim=bilstm_dim)
    return TypeHead(config).eval()
