"""How a type head reads sentences: the one typed path, on live or cached states.

1. :func:`group_texts` joins consecutive sentences into the texts the head reads (its
   ``join_sentences`` / ``group_stride``, with its ``text_prefix``), and records where each
   sentence sits in them.
2. Each window of a group text becomes a :class:`Reading`: the head's states there and the
   probe's candidate spans. :class:`~tommer.typed.detector.MentionDetector` makes them from a live
   backbone pass; training validation from cached states (:mod:`tommer.training.type_training`).
3. :func:`sentence_entries` scores every candidate with the head and places it in its sentence.
4. :func:`typed_mentions` pools a span's readings, labels it and keeps the non-overlapping set.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

from ..core.windows import Encoding
from ..data.mention import AnnotatedText, join_groups
from .type_head import TypeHead, decode_typed

Placement = list[tuple[int, int]]  # per group text: (sentence index, char offset of the sentence)
Entry = tuple[int, int, float, torch.Tensor]  # char start, end, probe probability, class probabilities
TypedMention = tuple[int, int, float, str, float]  # char start, end, probe probability, label, label score
SENTENCE_SEPARATOR = "\n"


@dataclass(frozen=True)
class Reading:
    """One window of a group text as the head reads it."""

    doc: int  # index of the group text
    start: int  # the window's first token in the group text (window row 1; row 0 is BOS)
    encoding: Encoding  # the group text's tokens
    states: torch.Tensor  # the head's states of the window's rows
    candidates: list[tuple[int, int, float]]  # the probe's spans (group text tokens, inclusive)


def group_texts(
    sentences: Sequence[str], join: int = 1, stride: int = 0, prefix: str = ""
) -> tuple[list[str], list[Placement]]:
    """The texts a head reads: ``sentences`` in groups of ``join`` consecutive ones starting every
    ``stride`` (0: ``join``; see :func:`~tommer.data.mention.join_groups`), ``prefix`` in front of
    each; with each group's placement of its sentences (offsets after the prefix)."""
    docs = [AnnotatedText(s) for s in sentences]
    texts, placement = [], []
    for phase in join_groups(docs, join, stride or join, SENTENCE_SEPARATOR):
        for group, placed in phase:
            texts.append(prefix + group.text)
            placement.append(placed)
    return texts, placement


@torch.no_grad()
def sentence_entries(
    head: TypeHead,
    readings: Iterable[Reading],
    placement: Sequence[Placement],
    lengths: Sequence[int],
    prefix: int = 0,
    label_vectors: Sequence[torch.Tensor] | None = None,
) -> list[list[Entry]]:
    """Per sentence, every candidate span of every reading of it, in the sentence's characters,
    with its probe probability and the head's class probabilities there.

    ``lengths``: the sentences' lengths; ``prefix``: the characters fed before each group text;
    ``label_vectors``: a zero-shot head's label vectors per group text. A span across two
    sentences is dropped.
    """
    out: list[list[Entry]] = [[] for _ in lengths]
    for r in readings:
        if not r.candidates:
            continue
        off = r.start - 1  # window row = token index - off
        rows = torch.tensor([(s - off, e - off) for s, e, _ in r.candidates], dtype=torch.long)
        probs = [p for _, _, p in r.candidates]
        vectors = None if label_vectors is None else label_vectors[r.doc]
        scores = head.class_probs(r.states, rows, vectors, probs)
        for (s, e, p), row in zip(r.candidates, scores):
            a, b = int(r.encoding.starts[s]) - prefix, int(r.encoding.ends[e]) - prefix
            if b <= a:
                continue
            for j, offset in placement[r.doc]:
                if offset <= a and b <= offset + lengths[j]:
                    out[j].append((a - offset, b - offset, p, row))
                    break
    return out


def typed_mentions(
    head: TypeHead,
    entries: Sequence[list[Entry]],
    labels: Sequence[Sequence[str]],
    candidate_threshold: float,
    label_threshold: float,
) -> list[list[TypedMention]]:
    """Typed mentions per sentence: the class probabilities of a span's readings with probe
    probability >= ``candidate_threshold`` averaged, labelled by the head's rule with the
    sentence's ``labels`` (one list per sentence), and the non-overlapping set kept greedily by
    label score (:func:`~tommer.typed.type_head.decode_typed`)."""
    out = []
    for spans, names in zip(entries, labels):
        pooled: dict[tuple[int, int], list] = {}
        for a, b, p, row in spans:
            if p >= candidate_threshold:
                pooled.setdefault((a, b), []).append((p, row))
        if not pooled:
            out.append([])
            continue
        mean = torch.stack([torch.stack([row for _, row in v]).mean(0) for v in pooled.values()])
        picked = head.pick_labels(mean, names, label_threshold)
        typed = [
            (a, b - 1, max(p for p, _ in v), *hit)  # decode_typed reads inclusive ends
            for ((a, b), v), hit in zip(pooled.items(), picked)
            if hit is not None
        ]
        out.append([(a, e + 1, p, label, score) for a, e, p, label, score in decode_typed(typed)])
    return out


__all__ = ["Entry", "Reading", "TypedMention", "group_texts", "sentence_entries", "typed_mentions"]
