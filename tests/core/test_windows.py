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


@pytest.mark.parametrize(
    ("piece", "shape"),
    [
        ("paris", "lower"),
        ("Paris", "title"),
        ("I", "title"),
        ("Zoë", "title"),
        ("PARIS", "upper"),
        ("U.S.", "upper"),
        ("iPhone", "mixed"),
        ("McDonald", "mixed"),
        ("1990", "digit"),
        ("1990s", "lower"),
        ("(", "other"),
        ("東京", "other"),
    ],
)
def test_token_shape_reads_case_from_the_characters(piece, shape):
    from tommer.core.windows import SHAPES, token_shape

    assert SHAPES[token_shape(piece)] == shape


def test_collated_shapes_align_with_the_ids():
    import numpy as np

    from tommer.core.windows import SHAPES, Encoding, collate_arrays, collate_shapes

    shapes = np.array([4, 3, 5, 1])  # "Paris is NATO ."
    edges = np.ones(4, bool)
    enc = Encoding(np.arange(10, 14), np.arange(4), np.arange(1, 5), edges, edges, shapes)
    windows = make_windows(0, 4, 3, 0)  # two tokens per window
    ids, mask = collate_arrays(windows, [enc], bos_id=1, pad_id=0)
    got = collate_shapes(windows, [enc])
    assert got.shape == ids.shape
    assert (got[mask == 0] == 0).all() and (got[:, 0] == 0).all()  # BOS and padding: "none"
    for row, w in enumerate(windows):
        assert got[row, 1 : w.length].tolist() == shapes[w.start : w.stop].tolist()
    assert SHAPES[0] == "none"


def test_forward_batches_pad_less_and_cover_every_window_once():
    from tommer.core.detector import CALL_TOKENS, batches, forward_batches
    from tommer.core.windows import Window

    def padded(groups):
        return sum(len(g) * max(w.length for w in g) + CALL_TOKENS for g in groups)

    lengths = [3, 4, 5, 5, 6, 30, 31, 33, 60, 61, 62, 64, 120, 7, 8]
    windows = [Window(k, 0, n - 1, 0, n - 1) for k, n in enumerate(lengths)]
    groups = forward_batches(windows, 4)
    assert sorted(w.doc for g in groups for w in g) == list(range(len(lengths)))
    assert all(1 <= len(g) <= 4 for g in groups)
    flat = [w.length for g in groups for w in g]
    assert flat == sorted(flat)  # contiguous runs of the length order
    assert padded(groups) < padded(list(batches(windows, 4)))
    same = [Window(k, 0, 99, 0, 99) for k in range(10)]  # equal lengths: full passes, as batches()
    assert sorted(len(g) for g in forward_batches(same, 4)) == sorted(len(g) for g in batches(same, 4))
    assert forward_batches([], 8) == []


def test_forward_batches_bound_the_cells_of_a_pass():
    """Long windows go in passes of at most 512 x 512 (window x end x start) cells, whatever the
    batch size; a window longer than the budget still gets a pass of its own."""
    from tommer.core.detector import PASS_TOKENS, forward_batches
    from tommer.core.windows import Window

    lengths = [511] * 5 + [300] * 6 + [200] * 9 + [40] * 20
    windows = [Window(k, 0, n - 1, 0, n - 1) for k, n in enumerate(lengths)]
    groups = forward_batches(windows, 32)
    assert sorted(w.doc for g in groups for w in g) == list(range(len(lengths)))
    for g in groups:
        longest = max(w.length for w in g) + 1  # with the BOS token
        assert len(g) == 1 or len(g) * longest**2 <= 512 * 512
    assert max(len(g) for g in groups) == min(20, PASS_TOKENS // 41)  # short windows still fill a pass
    assert [len(g) for g in groups if g[0].length == 511] == [1] * 5


def test_forward_batches_bound_the_tokens_of_a_pass():
    """Short windows fill a pass up to PASS_TOKENS tokens (with BOS), not beyond, whatever the batch
    size; a window longer than the bound still gets a pass of its own."""
    from tommer.core.detector import PASS_TOKENS, forward_batches
    from tommer.core.windows import Window

    lengths = [127] * 40 + [15] * 200 + [2000]
    windows = [Window(k, 0, n - 1, 0, n - 1) for k, n in enumerate(lengths)]
    groups = forward_batches(windows, 64)
    assert sorted(w.doc for g in groups for w in g) == list(range(len(lengths)))
    for g in groups:
        assert len(g) == 1 or len(g) * (max(w.length for w in g) + 1) <= PASS_TOKENS
    assert max(len(g) for g in groups if g[0].length == 127) == PASS_TOKENS // 128
    assert max(len(g) for g in groups) == min(64, PASS_TOKENS // 16)


def test_forward_batches_weigh_the_engine_padding():
    """With an engine's padded shape (OpenVINO's buckets), the passes cost no more padded tokens
    than the passes cut for unpadded shapes, and each covers every window once."""
    from tommer.core.detector import CALL_TOKENS, forward_batches
    from tommer.core.engines.openvino_engine import bucket
    from tommer.core.windows import Window

    def cost(groups):
        return sum(CALL_TOKENS + int.__mul__(*bucket(len(g), max(w.length for w in g))) for g in groups)

    lengths = [(7 * k) % 23 + 20 for k in range(61)]  # sentence-like lengths, 20 to 42 tokens
    windows = [Window(k, 0, n - 1, 0, n - 1) for k, n in enumerate(lengths)]
    aware = forward_batches(windows, 32, bucket)
    assert sorted(w.doc for g in aware for w in g) == list(range(len(lengths)))
    assert cost(aware) < cost(forward_batches(windows, 32))
    assert all(bucket(len(g), 1)[0] == len(g) for g in aware)  # no rows of padding
