"""The plain data model: mentions found in a text, and annotated texts for training."""

from __future__ import annotations

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


def trim_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Strip surrounding whitespace from a character span ``[start, end)``."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
