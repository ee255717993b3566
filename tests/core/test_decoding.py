"""Decoders on hand-made candidates: flat is greedy and non-overlapping, nested is greedy and
well-nested; both rank on logits and let a longer span win within the margin."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from tommer.core.decoding import candidates, decode_flat, decode_nested, decode_threshold, get_decoder
from tommer.errors import ConfigError


def overlaps(a, b) -> bool:
    return not (a[1] < b[0] or b[1] < a[0])


def nested_ok(a, b) -> bool:
    return not overlaps(a, b) or (a[0] <= b[0] and b[1] <= a[1]) or (b[0] <= a[0] and a[1] <= b[1])


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


def greedy_reference(spans, ok):
    """Plain greedy by probability (ties: longer first), the textbook definition."""
    chosen = []
    for sp in sorted(spans, key=lambda t: (-t[2], t[0] - t[1], t[0])):
        if all(ok(sp, c) for c in chosen):
            chosen.append(sp)
    return sorted(chosen)


def test_flat_keeps_the_best_span_not_the_best_sum():
    # one long span (0.9) vs two short ones (0.6 + 0.6): greedy keeps the best span
    spans = [(0, 3, 0.9), (0, 1, 0.6), (2, 3, 0.6)]
    assert decode_flat(spans) == [(0, 3, 0.9)]


@pytest.mark.parametrize("seed", range(25))
def test_flat_is_greedy_and_disjoint(seed):
    spans = random_spans(random.Random(seed))
    chosen = decode_flat(spans)
    assert all(not overlaps(a, b) for a, b in itertools.combinations(chosen, 2))
    assert sorted(chosen) == greedy_reference(spans, lambda a, b: not overlaps(a, b))


@pytest.mark.parametrize("seed", range(25))
def test_nested_is_greedy_and_well_nested(seed):
    spans = random_spans(random.Random(100 + seed))
    chosen = decode_nested(spans)
    assert all(nested_ok(a, b) for a, b in itertools.combinations(chosen, 2))
    assert sorted(chosen) == greedy_reference(spans, nested_ok)


def test_nested_keeps_nested_pair_and_drops_crossing():
    spans = [(0, 3, 0.9), (1, 2, 0.8), (2, 5, 0.7)]
    assert sorted(decode_nested(spans)) == [(0, 3, 0.9), (1, 2, 0.8)]


def test_greedy_ranks_on_logits_of_saturated_probabilities():
    # 1 - 1e-12 and 1 - 1e-11 differ by 2.3 logits; both are distinct float64 probabilities
    spans = [(0, 0, 1 - 1e-11), (0, 1, 1 - 1e-12)]
    assert decode_flat(spans) == [(0, 1, 1 - 1e-12)]


def test_tie_goes_to_the_longer_span():
    assert decode_flat([(1, 1, 0.8), (0, 1, 0.8), (1, 2, 0.7)]) == [(0, 1, 0.8)]


def test_margin_lets_a_longer_span_win_a_near_tie():
    # the sub-span "Merkel" (0.986) narrowly beats its gold span "Angela Merkel" (0.985)
    spans = [(1, 1, 0.986), (0, 1, 0.985), (3, 3, 0.9)]
    assert decode_flat(spans) == [(1, 1, 0.986), (3, 3, 0.9)]
    assert decode_flat(spans, margin=0.5) == [(0, 1, 0.985), (3, 3, 0.9)]
    # outside the margin the better span stays: logit(0.986) - logit(0.5) is about 4.3
    assert decode_flat([(1, 1, 0.986), (0, 1, 0.5)], margin=0.5) == [(1, 1, 0.986)]


def test_negative_margin_is_a_clear_error():
    with pytest.raises(ConfigError, match="margin"):
        decode_flat([(0, 0, 0.9)], margin=-1)


def test_empty_input():
    for name in ("threshold", "flat", "nested"):
        assert get_decoder(name)([]) == []


def test_unknown_decoder_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown decoding 'greedy'"):
        get_decoder("greedy")


def _reference_greedy(spans, margin, conflict):
    """The plain quadratic greedy (each step rescans every remaining span): what the indexed
    decoders must reproduce exactly."""
    from tommer.core.decoding import logit

    scored = sorted(
        ((logit(sp[2]), sp) for sp in set(spans)), key=lambda t: (-t[0], t[1][0] - t[1][1], t[1][0])
    )
    remaining, score, chosen = [sp for _, sp in scored], {sp: lg for lg, sp in scored}, []
    overlap = lambda a, b: a[0] <= b[1] and b[0] <= a[1]  # noqa: E731
    while remaining:
        best = remaining[0]
        if margin > 0:
            floor = score[best] - margin
            while True:
                longer = [
                    sp
                    for sp in remaining
                    if score[sp] >= floor and overlap(sp, best) and sp[1] - sp[0] > best[1] - best[0]
                ]
                if not longer:
                    break
                best = max(longer, key=lambda sp: (sp[1] - sp[0], score[sp]))
        chosen.append(best)
        remaining = [sp for sp in remaining if sp != best and not conflict(sp, best)]
    return sorted(chosen, key=lambda sp: (sp[0], -sp[1]))


@pytest.mark.parametrize("seed", range(40))
def test_indexed_greedy_equals_the_quadratic_reference(seed):
    from tommer.core.decoding import _crossing, _overlap

    rng = random.Random(seed)
    n_tokens, width = rng.randint(1, 200), rng.randint(1, 12)
    spans = []
    for _ in range(rng.randint(0, 300)):
        s = rng.randrange(n_tokens)
        e = min(n_tokens - 1, s + rng.randrange(width))
        spans.append((s, e, rng.choice([0.51, 0.6, 0.9, 0.99, 0.999999, 1.0, rng.random()])))
    margin = rng.choice([0.0, 0.5, 2.0, 6.0])
    assert decode_flat(spans, margin) == _reference_greedy(spans, margin, _overlap)
    assert decode_nested(spans, margin) == _reference_greedy(spans, margin, _crossing)
