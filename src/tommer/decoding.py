"""Decoders: candidate spans (probability > threshold) → the mentions to return.

Spans are inclusive token intervals ``(start, end)`` with a score (probability).

- ``threshold``: every candidate (overlaps allowed).
- ``flat``: the non-overlapping subset of maximum total score (weighted interval scheduling).
- ``nested``: the well-nested subset (any two spans are disjoint or one contains the other)
  of maximum total score.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence

import numpy as np

from .errors import ConfigError

Span = tuple[int, int, float]


def candidates(probs: np.ndarray, threshold: float) -> list[Span]:
    """Spans with probability above ``threshold`` from an (end × start) probability matrix."""
    ends, starts = np.nonzero(probs > threshold)
    return [(int(s), int(e), float(probs[e, s])) for s, e in zip(starts, ends)]


def decode_threshold(spans: Sequence[Span]) -> list[Span]:
    """All candidates, sorted by position."""
    return sorted(spans, key=lambda sp: (sp[0], sp[1]))


def _schedule(spans: list[Span], values: list[float]) -> list[int]:
    """Weighted interval scheduling: indices of the max-value pairwise-disjoint subset."""
    order = sorted(range(len(spans)), key=lambda k: (spans[k][1], spans[k][0]))
    ends = [spans[k][1] for k in order]
    best = [0.0] * (len(order) + 1)
    prev = []
    for pos, k in enumerate(order):
        p = bisect_right(ends, spans[k][0] - 1, 0, pos)  # spans ending before this start
        prev.append(p)
        best[pos + 1] = max(best[pos], values[k] + best[p])
    chosen = []
    pos = len(order)
    while pos > 0:
        k = order[pos - 1]
        if values[k] + best[prev[pos - 1]] > best[pos - 1]:
            chosen.append(k)
            pos = prev[pos - 1]
        else:
            pos -= 1
    return chosen[::-1]


def decode_flat(spans: Sequence[Span]) -> list[Span]:
    """The non-overlapping subset of maximum total score."""
    spans = list(spans)
    chosen = _schedule(spans, [sp[2] for sp in spans])
    return sorted((spans[k] for k in chosen), key=lambda sp: (sp[0], sp[1]))


def decode_nested(spans: Sequence[Span]) -> list[Span]:
    """The well-nested subset of maximum total score.

    ``tree[k]`` is the best value of a well-nested family rooted at span k: its score plus an
    optimal disjoint schedule of the (already solved) spans strictly inside it.
    """
    spans = sorted(set(spans), key=lambda sp: (sp[1] - sp[0], sp[0]))
    tree: list[float] = []
    children: list[list[int]] = []
    for k, (s, e, score) in enumerate(spans):
        inside = [c for c in range(k) if s <= spans[c][0] and spans[c][1] <= e]
        picked = _schedule([spans[c] for c in inside], [tree[c] for c in inside])
        kids = [inside[p] for p in picked]
        children.append(kids)
        tree.append(score + sum(tree[c] for c in kids))
    roots = _schedule(spans, tree)
    out: list[Span] = []
    stack = list(roots)
    while stack:
        k = stack.pop()
        out.append(spans[k])
        stack.extend(children[k])
    return sorted(out, key=lambda sp: (sp[0], -sp[1]))


DECODERS: dict[str, Callable[[Sequence[Span]], list[Span]]] = {
    "threshold": decode_threshold,
    "flat": decode_flat,
    "nested": decode_nested,
}


def get_decoder(name: str) -> Callable[[Sequence[Span]], list[Span]]:
    try:
        return DECODERS[name]
    except KeyError:
        raise ConfigError(f"unknown decoding '{name}'; choose one of {', '.join(DECODERS)}") from None
