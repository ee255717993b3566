"""Property-based tests (hypothesis) of the detector's invariants on arbitrary text.

For any text: offsets index the text (``text[m.start:m.end] == m.text``), lie inside it and come
sorted (by start, a longer span first); a call is deterministic; a text gives the same mentions
alone and inside a batch (on an fp32 backbone; see ``fp32_detector``); and the
only exception a call may raise is a ``TommerError``. ``scripts/fuzz.py`` runs the same checks on
100k generated texts (results/reliability.md).
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tommer.core.backbone import Backbone
from tommer.core.windows import readable
from tommer.typed.detector import MentionDetector

# every code point, lone surrogates, controls and unassigned ones included
ANY_CHAR = st.characters(codec=None, categories=None)
PIECES = st.sampled_from(
    [
        "Angela Merkel met Emmanuel Macron in Paris. ",
        "e\u0301cole ",  # combining mark
        "\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627 ",  # Hebrew, Arabic (RTL)
        "\U0001f469\u200d\U0001f4bb ",  # ZWJ emoji sequence
        "\u6771\u4eac\u3067\u4f1a\u3063\u305f\u3002",  # CJK, no spaces
        "\ud83d\ude00 ",  # a surrogate pair as two lone surrogates
        "\ufeff\x00\x07\u202e",  # BOM, NUL, BEL, bidi override
        "\n\n",
    ]
)
TEXTS = st.one_of(
    st.text(ANY_CHAR, max_size=120),
    st.lists(PIECES | st.text(ANY_CHAR, max_size=8), max_size=12).map("".join),
)
# bounded for CI; no shrinking (a failing example is printed as found: shrinking a model call is slow)
BOUNDED = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)


@pytest.fixture(scope="module")
def fp32_detector(detector) -> MentionDetector:
    """The default model on an fp32 backbone: bf16 matmuls round differently for another batch
    shape (scores move by ~0.01), fp32 ones agree to ~1e-6 (scripts/fuzz.py measures both)."""
    backbone = Backbone.load(detector.config.backbone, detector.config.layer, dtype=torch.float32)
    return MentionDetector(detector.config, backbone, detector.probe)


def check(text: str, mentions) -> None:
    assert all(0 <= m.start < m.end <= len(text) for m in mentions)
    assert all(text[m.start : m.end] == m.text for m in mentions)
    order = [(m.start, -m.end) for m in mentions]  # by start, a longer span before those inside it
    assert order == sorted(order)


@BOUNDED
@given(text=TEXTS)
def test_offsets_sorted_and_deterministic(detector, text):
    mentions = detector(text)
    check(text, mentions)
    assert detector(text) == mentions


@BOUNDED
@given(texts=st.lists(TEXTS, min_size=2, max_size=5))
def test_same_mentions_alone_and_in_a_batch(fp32_detector, texts):
    together = fp32_detector(texts, batch_size=3)
    for batched, alone in zip(together, [fp32_detector(t) for t in texts]):
        assert [(m.start, m.end) for m in batched] == [(m.start, m.end) for m in alone]
        assert [m.score for m in batched] == pytest.approx([m.score for m in alone], abs=1e-4)


@settings(BOUNDED, max_examples=15)
@given(text=TEXTS, decoding=st.sampled_from(["flat", "nested", "threshold"]))
def test_every_decoder_keeps_offsets(detector, text, decoding):
    check(text, detector(text, decoding=decoding))


@BOUNDED
@given(text=st.text(ANY_CHAR, max_size=60))
def test_readable_keeps_length_and_valid_utf8(text):
    clean = readable(text)
    assert len(clean) == len(text)
    clean.encode("utf-8")  # no lone surrogate is left for the tokenizer


@pytest.mark.parametrize(
    "text",
    [
        "x" * 10_000,  # a 10,000-character word without spaces
        "\u6771\u4eac" * 5_000,
        ("Angela Merkel met Emmanuel Macron in Paris. \udcff " * 600),  # many windows
    ],
)
def test_long_inputs_cross_window_boundaries(detector, text):
    mentions = detector(text)
    check(text, mentions)
    flat = [(m.start, m.end) for m in mentions]
    assert all(e1 <= s2 for (_, e1), (s2, _) in zip(flat, flat[1:]))  # flat: no overlaps
