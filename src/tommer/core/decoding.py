"""Decoders: candidate spans (probability > threshold) → the mentions to return.

Spans are inclusive token intervals ``(start, end)`` with a score (probability). Greedy
decoders rank on the span **logit** (``log p − log(1 − p)``, exact for the float64
probabilities the detector produces): probabilities near 1 saturate, logits do not.

- ``threshold``: every candidate (overlaps allowed), as in the paper.
- ``flat``: greedy non-overlapping: the highest-logit span first, then the best span that
  overlaps nothing chosen, and so on (GLiNER's ``flat_ner``; the reference's flat decoder).
- ``nested``: the same greedy order, but a span may also sit inside (or around) a chosen span;
  only crossing spans are refused.

Both greedy decoders take a ``margin`` (in logits): when an overlapping longer candidate
scores within ``margin`` of the best remaining one, the longer span wins. ``margin=0`` is
plain greedy with ties broken towards the longer span. :func:`check_options` checks a call's
threshold, decoder and batch size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from ..errors import ConfigError

Span = tuple[int, int, float]


def candidates(probs: np.ndarray, threshold: float) -> list[Span]:
    """Spans with probability above ``threshold`` from an (end × start) probability matrix."""
    ends, starts = np.nonzero(probs > threshold)
    return [(int(s), int(e), float(probs[e, s])) for s, e in zip(starts, ends)]


def logit(p: float) -> float:
    """The log-odds of a probability (±inf at 0 and 1)."""
    if p <= 0.0:
        return -math.inf
    if p >= 1.0:
        return math.inf
    return math.log(p) - math.log1p(-p)


def decode_threshold(spans: Sequence[Span], margin: float = 0.0) -> list[Span]:
    """All candidates, sorted by start, a longer span before those inside it (``margin`` is unused)."""
    return sorted(spans, key=lambda sp: (sp[0], -sp[1]))


def _overlap(a: Span, b: Span) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def _crossing(a: Span, b: Span) -> bool:
    """Overlapping without one containing the other."""
    inside = (a[0] <= b[0] and b[1] <= a[1]) or (b[0] <= a[0] and a[1] <= b[1])
    return _overlap(a, b) and not inside


def _greedy(spans: Sequence[Span], margin: float, conflict: Callable[[Span, Span], bool]) -> list[Span]:
    """Greedy selection by logit; within ``margin`` of the best, a longer overlapping span wins.

    Linear in the number of candidates (times the span width): spans are indexed by start, so each
    step looks only at the spans that can overlap the one it takes.
    """
    if margin < 0:
        raise ConfigError(f"margin must be >= 0, not {margin}")
    unique = set(spans)
    score = {sp: logit(sp[2]) for sp in unique}
    order = sorted(unique, key=lambda sp: (-score[sp], sp[0] - sp[1], sp[0]))
    rank = {sp: k for k, sp in enumerate(order)}
    width = max((sp[1] - sp[0] for sp in unique), default=0) + 1
    by_start: dict[int, list[Span]] = {}
    for sp in order:
        by_start.setdefault(sp[0], []).append(sp)
    alive = set(unique)

    def near(span: Span) -> list[Span]:  # the live spans that may overlap ``span``
        return [
            other
            for start in range(span[0] - width + 1, span[1] + 1)
            for other in by_start.get(start, ())
            if other in alive and _overlap(other, span)
        ]

    chosen: list[Span] = []
    k = 0
    while k < len(order):
        best = order[k]  # the best live span (it stays live if a longer one is taken around it)
        if best not in alive:
            k += 1
            continue
        if margin > 0:  # climb to longer overlapping spans while they stay within the margin
            floor = score[best] - margin
            while True:
                length = best[1] - best[0]
                longer = [sp for sp in near(best) if score[sp] >= floor and sp[1] - sp[0] > length]
                if not longer:
                    break
                best = max(longer, key=lambda sp: (sp[1] - sp[0], score[sp], -rank[sp]))
        chosen.append(best)
        alive.discard(best)
        alive.difference_update([sp for sp in near(best) if conflict(sp, best)])
    return sorted(chosen, key=lambda sp: (sp[0], -sp[1]))


def decode_flat(spans: Sequence[Span], margin: float = 0.0) -> list[Span]:
    """Greedy non-overlapping spans, highest logit first (a longer span wins within ``margin``)."""
    return _greedy(spans, margin, _overlap)


def decode_nested(spans: Sequence[Span], margin: float = 0.0) -> list[Span]:
    """Greedy non-crossing spans: like ``flat``, but nested spans are kept."""
    return _greedy(spans, margin, _crossing)


Decoder = Callable[..., list[Span]]

# what detector(), `tommer detect`, the spaCy component, the server and the web app use
# unless told otherwise (chosen on dev data: results/recipe_ablation.md, decoder table)
DEFAULT_DECODING = "flat"

DECODERS: dict[str, Decoder] = {
    "threshold": decode_threshold,
    "flat": decode_flat,
    "nested": decode_nested,
}


def get_decoder(name: str) -> Decoder:
    try:
        return DECODERS[name]
    except KeyError:
        raise ConfigError(f"unknown decoding '{name}'; choose one of {', '.join(DECODERS)}") from None


def check_options(threshold: float, decoding: str, batch_size: int = 1) -> None:
    """Reject a threshold outside [0, 1), an unknown decoder or a batch size below 1."""
    if not 0.0 <= threshold < 1.0:
        raise ConfigError(f"threshold must be in [0, 1), not {threshold}")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be >= 1, not {batch_size}")
    get_decoder(decoding)
