"""Untyped mention scores: exact match of character spans."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass


@dataclass
class SpanScores:
    """True positives, predictions and gold counts, with precision / recall / F1."""

    tp: int = 0
    predicted: int = 0
    gold: int = 0

    @property
    def precision(self) -> float:
        return self.tp / self.predicted if self.predicted else 0.0

    @property
    def recall(self) -> float:
        return self.tp / self.gold if self.gold else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def add(self, predicted: Iterable[tuple[int, int]], gold: Iterable[tuple[int, int]]) -> None:
        pred, ref = set(predicted), set(gold)
        self.tp += len(pred & ref)
        self.predicted += len(pred)
        self.gold += len(ref)

    def to_dict(self) -> dict:
        out = asdict(self)
        out.update(precision=self.precision, recall=self.recall, f1=self.f1)
        return out
