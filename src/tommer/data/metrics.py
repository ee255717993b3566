"""Mention scores: exact match of character spans (untyped), or of spans and types (strict typed);
and how the reports print a score."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

TypedSpanKey = tuple[int, int, str]  # (char start, char end, label)


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


@dataclass
class TypedScores:
    """Micro and per-type precision / recall / F1 over (start, end, label) triples."""

    micro: SpanScores = field(default_factory=SpanScores)
    per_type: dict[str, SpanScores] = field(default_factory=dict)

    def add(self, predicted: Iterable[TypedSpanKey], gold: Iterable[TypedSpanKey]) -> None:
        pred, ref = set(predicted), set(gold)
        self.micro.add(pred, ref)
        for label in {lab for _, _, lab in pred | ref}:
            scores = self.per_type.setdefault(label, SpanScores())
            scores.add({t for t in pred if t[2] == label}, {t for t in ref if t[2] == label})

    @property
    def f1(self) -> float:
        return self.micro.f1

    def to_dict(self) -> dict:
        return {
            "micro": self.micro.to_dict(),
            "per_type": {k: v.to_dict() for k, v in sorted(self.per_type.items())},
        }


def pct(x: float | None) -> str:
    """A score (0–1) as a percentage with one decimal, as the reports print it; ``–`` for None."""
    return "–" if x is None else f"{100 * x:.1f}"
