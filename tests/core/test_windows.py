"""Windowing: every span end is owned by exactly one window, with left context and a next token."""

from __future__ import annotations

import pytest

from tommer.core.windows import make_windows
from tommer.errors import ConfigError


@pytest.mark.parametrize("n", [1, 2, 10, 30, 31, 32, 33, 100, 257])
def test_every_end_owned_once(n):
    max_tokens, context = 32, 8
    windows = make_windows(0, n, max_tokens, context)
    owners = [0] * n
    for w in windows:
        assert w.length <= max_tokens
        assert 0 <= w.start <= w.own_from <= w.own_to <= w.stop <= n
        for end in range(w.own_from, w.own_to):
            owners[end] += 1
            if w.start > 0:
                assert end - w.start >= context  # enough left context
            if end + 1 < n:
                assert end + 1 < w.stop  # the next token is inside the window
    assert owners == [1] * n


def test_windowing_rejects_too_small_windows():
    with pytest.raises(ConfigError, match="max_tokens"):
        make_windows(0, 100, 10, 8)


def test_word_boundaries_forbid_mid_word_starts_and_ends():
    import numpy as np

    from tommer.core.windows import word_boundaries

    text = "Angela Merkel (CDU) met-up"
    # tokens: "Ang" "ela" " Merkel" " (" "CDU" ")" " met" "-" "up"
    starts = np.array([0, 3, 7, 14, 15, 18, 20, 23, 24])
    ends = np.array([3, 6, 13, 15, 18, 19, 23, 24, 26])
    word_start, word_end = word_boundaries(text, starts, ends)
    assert word_start.tolist() == [True, False, True, True, True, True, True, True, True]
    assert word_end.tolist() == [False, True, True, True, True, True, True, True, True]
