"""Decoders on hand-made candidates: flat is optimal and non-overlapping, nested is well-nested."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from tommer.decoding import candidates, decode_flat, decode_nested, decode_threshold, get_decoder
from tommer.errors import ConfigError


def overlaps(a, b) -> bool:
    return not (a[1] < b[0] or b[1] < a[0])


def nested_ok(a, b) -> bool:
    return not overlaps(a, b) or (a[0] <= b[0] and b[1] <= a[1]) or (b[0] <= a[0] and a[1] <= b[1])


def brute_force(spans, ok):
    best, best_set = 0.0, []
    for r in range(len(spans) + 1):
        for subset in itertools.combinations(spans, r):
            if all(ok(a, b) for a, b in itertools.combinations(subset, 2)):
                total = sum(s[2] for s in subset)
                if total > best + 1e-12:
                    best, best_set = total, subset
    return best, best_set


def random_spans(rng, n=9, length=12):
    out = set()
    while len(out) < n:
        s = rng.randrange(length)
        e = min(length - 1, s + rng.randrange(4))
        out.add((s, e, round(rng.uniform(0.5, 1.0), 3)))
    return list({(s, e): (s, e, p) for s, e, p in out}.values())


def test_candidates_reads_end_by_start_matrix():
    probs = np.zeros((5, 5))
    probs[3, 1] = 0.9  # end 3, start 1
    probs[2, 2] = 0.4
    assert candidates(probs, 0.5) == [(1, 3, pytest.approx(0.9))]


def test_threshold_keeps_everything_sorted():
    spans = [(3, 4, 0.6), (0, 2, 0.9), (1, 1, 0.7)]
    assert decode_threshold(spans) == [(0, 2, 0.9), (1, 1, 0.7), (3, 4, 0.6)]


def test_flat_prefers_heavier_combination():
    # one long span (0.9) vs two short ones (0.6 + 0.6): the pair wins on total score
    spans = [(0, 3, 0.9), (0, 1, 0.6), (2, 3, 0.6)]
    assert decode_flat(spans) == [(0, 1, 0.6), (2, 3, 0.6)]


@pytest.mark.parametrize("seed", range(25))
def test_flat_is_optimal_and_disjoint(seed):
    spans = random_spans(random.Random(seed))
    chosen = decode_flat(spans)
    assert all(not overlaps(a, b) for a, b in itertools.combinations(chosen, 2))
    best, _ = brute_force(spans, lambda a, b: not overlaps(a, b))
    assert sum(s[2] for s in chosen) == pytest.approx(best)


@pytest.mark.parametrize("seed", range(25))
def test_nested_is_optimal_and_well_nested(seed):
    spans = random_spans(random.Random(100 + seed))
    chosen = decode_nested(spans)
    assert all(nested_ok(a, b) for a, b in itertools.combinations(chosen, 2))
    best, _ = brute_force(spans, nested_ok)
    assert sum(s[2] for s in chosen) == pytest.approx(best)


def test_nested_keeps_nested_pair_and_drops_crossing():
    spans = [(0, 3, 0.9), (1, 2, 0.8), (2, 5, 0.7)]
    assert sorted(decode_nested(spans)) == [(0, 3, 0.9), (1, 2, 0.8)]


def test_empty_input():
    for name in ("threshold", "flat", "nested"):
        assert get_decoder(name)([]) == []


def test_unknown_decoder_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown decoding 'greedy'"):
        get_decoder("greedy")
