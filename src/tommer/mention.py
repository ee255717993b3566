"""The plain data model: mentions found in a text, and annotated texts for training."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field


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
        data = asdict(self)
        if self.label is None:
            del data["label"], data["label_score"]
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
    return [text for text, _ in join_groups(docs, size, size, sep)]


def join_groups(
    docs: Sequence[AnnotatedText], size: int, stride: int | None = None, sep: str = "\n"
) -> list[tuple[AnnotatedText, list[tuple[int, int]]]]:
    """Groups of ``size`` consecutive texts, one starting every ``stride`` texts (default
    ``size``: no overlap), each joined by ``sep`` with spans shifted and labels kept, and with
    its placement: (index of the text, character offset of the text in the group).

    With ``stride < size`` a text is read in several groups (``size // stride`` away from the
    corpus's start), each time with other sentences around it.
    """
    stride = size if stride is None else stride
    if size < 1 or not 1 <= stride <= size:
        raise ValueError(f"group size must be >= 1 and the stride in [1, size], not {size} / {stride}")
    starts = range(0, max(1, len(docs) - size + stride), stride) if docs else range(0)
    out = []
    for k in starts:
        text, spans, labels, placed = "", [], [], []
        group = docs[k : k + size]
        typed = all(d.labels is not None for d in group)
        for j, d in enumerate(group, start=k):
            offset = len(text) + (len(sep) if text else 0)
            text = f"{text}{sep}{d.text}" if text else d.text
            spans += [(s + offset, e + offset) for s, e in d.spans]
            labels += d.labels or []
            placed.append((j, offset))
        out.append((AnnotatedText(text, spans, group[0].source, labels if typed else None), placed))
    return out


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
