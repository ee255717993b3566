"""The plain data model: mentions found in a text, and annotated texts for training."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Mention:
    """An entity mention: ``text[start:end] == mention.text`` always holds."""

    start: int
    end: int
    text: str
    score: float
    label: str | None = None  # entity type, set only when a type head or zero-shot labels are used
    label_score: float | None = None

    def to_dict(self) -> dict:
        """JSON-ready dict; ``label`` / ``label_score`` appear only when typed."""
        data = {"start": self.start, "end": self.end, "text": self.text, "score": self.score}
        if self.label is not None:  # built field by field: dataclasses.asdict deep-copies (slow)
            data.update(label=self.label, label_score=self.label_score)
        return data


@dataclass
class AnnotatedText:
    """A text with gold mention spans (character offsets, end-exclusive)."""

    text: str
    spans: list[tuple[int, int]] = field(default_factory=list)
    source: str = ""
    labels: list[str] | None = None  # entity types parallel to ``spans`` (typed readers only)

    def mention_texts(self) -> list[str]:
        return [self.text[s:e] for s, e in self.spans]


def join_consecutive(docs: Sequence[AnnotatedText], size: int, sep: str = "\n") -> list[AnnotatedText]:
    """Groups of ``size`` consecutive texts joined by ``sep``, spans shifted and labels kept.

    Gives each sentence of a sentence-split corpus stored in document order (CoNLL 2003) the
    sentences before and after it as context; scores over the groups count the same mentions.
    """
    if size < 1:
        raise ValueError(f"group size must be >= 1, not {size}")
    return [text for text, _ in join_groups(docs, size, size, sep)[0]]


def join_groups(
    docs: Sequence[AnnotatedText], size: int, stride: int | None = None, sep: str = "\n"
) -> list[list[tuple[AnnotatedText, list[tuple[int, int]]]]]:
    """Texts read in groups of ``size`` consecutive ones joined by ``sep`` (spans shifted, labels
    kept), each with its placement: (index of the text, character offset of the text in the group).

    One list of groups per *phase*: phase r starts its groups at ``r * stride`` (its first group
    holds the texts before that), so with ``stride`` < ``size`` (a divisor of it) every text is read
    ``size // stride`` times, each time with other texts around it. Default: one phase, no overlap.
    """
    stride = size if stride is None else stride
    if size < 1 or stride < 1 or size % stride:
        raise ValueError(f"group size must be >= 1 and the stride a divisor of it, not {size} / {stride}")
    phases = []
    for offset in range(0, size, stride):
        bounds = ([0] if offset else []) + list(range(offset, len(docs), size))
        groups = [range(a, min(b, len(docs))) for a, b in zip(bounds, [*bounds[1:], len(docs)]) if b > a]
        phases.append([_join(docs, group, sep) for group in groups])
    return phases


def _join(
    docs: Sequence[AnnotatedText], group: range, sep: str
) -> tuple[AnnotatedText, list[tuple[int, int]]]:
    text, spans, labels, placed = "", [], [], []
    typed = all(docs[j].labels is not None for j in group)
    for j in group:
        d = docs[j]
        offset = len(text) + (len(sep) if text else 0)
        text = f"{text}{sep}{d.text}" if text else d.text
        spans += [(s + offset, e + offset) for s, e in d.spans]
        labels += d.labels or []
        placed.append((j, offset))
    return AnnotatedText(text, spans, docs[group[0]].source, labels if typed else None), placed


def with_prefix(docs: Sequence[AnnotatedText], prefix: str) -> list[AnnotatedText]:
    """The texts with ``prefix`` in front, spans shifted to match."""
    if not prefix:
        return list(docs)
    n = len(prefix)
    return [
        AnnotatedText(prefix + d.text, [(s + n, e + n) for s, e in d.spans], d.source, d.labels) for d in docs
    ]


def trim_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Strip surrounding whitespace from a character span ``[start, end)``."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
