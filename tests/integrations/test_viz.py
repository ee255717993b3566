"""tommer.integrations.viz: highlighting, heatmaps, HTML / Jupyter / displaCy output, on the real backbone.

Tests that need the trained default model skip without it; the others fall back to the real
backbone with an untrained probe (never a mock), which is enough to check the plumbing.
"""

from __future__ import annotations

import html
import json
import math
import random
import re

import numpy as np
import pytest

from tommer.data.mention import Mention
from tommer.errors import ConfigError
from tommer.integrations.viz import (
    Token,
    Visualization,
    heatmap_svg,
    highlight,
    page,
    visualize,
    visualize_many,
)

SENTENCE = "Angela Merkel met Emmanuel Macron in Paris."
GOLD = [(0, 13), (18, 33), (37, 42)]
NEEDS_MODEL = "the shipped default model (src/tommer/pretrained/smollm2-135m) is not built yet"


def strip_tags(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def toy(text: str = SENTENCE, gold=GOLD) -> Visualization:
    """A hand-made visualisation (no model) with 3 tokens."""
    tokens = [Token(0, 6, "Angela"), Token(7, 13, "Merkel"), Token(14, 17, "met")]
    probs = np.array([[0.9, np.nan, np.nan], [0.95, 0.2, np.nan], [0.01, 0.02, 0.03]])
    matching = np.where(np.isnan(probs), np.nan, np.array([[1.0, 0, 0], [2.0, -1.0, 0], [0.5, -0.5, 0.1]]))
    mentions = [Mention(0, 13, text[0:13], 0.95), Mention(0, 6, text[0:6], 0.9)]
    return Visualization(
        text=text,
        mentions=mentions,
        tokens=tokens,
        span_probs=probs,
        matching=matching,
        n_tokens=12,
        gold=gold,
        title="toy <b>",
        mention_tokens=[(0, 1), (0, 0)],
        gold_tokens=[(0, 1)],
    )


# -- rendering, no model --------------------------------------------------------------------
def test_highlight_escapes_and_keeps_text():
    text = 'Tom & <script>alert("x")</script> met Jerry.'
    mentions = [Mention(0, 3, "Tom", 0.9), Mention(6, 33, text[6:33], 0.7)]
    out = highlight(text, mentions, gold=[(38, 43)])
    assert "<script>" not in out and "&lt;script&gt;" in out
    assert strip_tags(out) == text
    assert out.count('class="tm-pred"') == 2 and out.count('class="tm-gold"') == 1
    assert 'data-text="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;"' in out


def test_highlight_nested_and_crossing_spans_stay_well_formed():
    rng = random.Random(0)
    text = "abcdefghij klmnopqrst uvwxyz 0123456789"
    for _ in range(200):
        spans = {tuple(sorted(rng.sample(range(len(text) + 1), 2))) for _ in range(rng.randint(0, 6))}
        mentions = [Mention(s, e, text[s:e], rng.random()) for s, e in spans]
        gold = sorted({tuple(sorted(rng.sample(range(len(text) + 1), 2))) for _ in range(rng.randint(0, 3))})
        out = highlight(text, mentions, gold)
        assert strip_tags(out) == text
        depth = 0
        for tag in re.findall(r"</?mark", out):
            depth += 1 if tag == "<mark" else -1
            assert depth >= 0
        assert depth == 0
        # every character of every span is inside a mark carrying that span's offsets
        for m in mentions:
            pieces = re.findall(rf'data-start="{m.start}" data-end="{m.end}"', out)
            assert pieces


def test_heatmap_svg_draws_valid_cells_only():
    values = np.array([[0.5, np.nan], [0.25, 0.75]])
    svg = heatmap_svg(values, ["a", "<b>"], lambda v: "#ffffff", "{:.2f}", "probs", [(0, 1, "pred")])
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert svg.count('<rect class="c"') == 3
    assert "&lt;b&gt;" in svg and "<b>" not in svg
    assert svg.count('class="tm-mark-pred"') == 1
    skipped = heatmap_svg(values, ["a", "b"], lambda v: "#fff", "{:.2f}", "p", skip_below=0.3)
    assert skipped.count('<rect class="c"') == 2


def test_visualization_html_standalone_and_jupyter():
    view = toy()
    doc = view.to_html()
    assert doc.startswith("<!DOCTYPE html>") and "</html>" in doc
    assert "<script" not in doc.lower()
    assert not re.search(r"(src|href)=\"(https?:)?//", doc)  # no network resources
    assert "toy &lt;b&gt;" in doc
    assert doc.count('class="tm-pred"') >= 2 and 'class="tm-gold"' in doc
    assert "2 mentions · 1 of 3 gold found" in doc and "missed" in doc
    assert "Heatmaps show the first 3 of 12 tokens." in doc
    frag = view._repr_html_()
    assert frag.startswith("<style>") and 'class="tm-viz"' in frag
    assert "<style>" not in view.to_fragment(style=False).split("<svg")[0]
    assert "<svg" not in view.to_fragment(heatmaps=False)


def test_visualization_to_dict_is_json():
    data = json.loads(json.dumps(toy().to_dict()))
    assert data["span_probs"][0] == [0.9, None, None]
    assert data["tokens"][1] == {"start": 7, "end": 13, "text": "Merkel"}
    assert data["truncated"] is True and data["n_tokens"] == 12
    assert data["gold"] == [list(g) for g in GOLD]
    assert "span_probs" not in toy().to_dict(matrices=False)


def test_to_displacy_ent_and_span():
    view = toy()
    ent = view.to_displacy()
    assert ent == {
        "text": SENTENCE,
        "ents": [{"start": 0, "end": 13, "label": "MENTION"}],  # overlap resolved by score
        "title": "toy <b>",
    }
    span = view.to_displacy("span")
    assert span["tokens"][:3] == ["Angela", "Merkel", "met"]
    assert {"start_token": 0, "end_token": 2, "label": "MENTION"} in span["spans"]
    assert {"start_token": 6, "end_token": 7, "label": "GOLD"} in span["spans"]
    with pytest.raises(ConfigError):
        view.to_displacy("dep")
    displacy = pytest.importorskip("spacy.displacy", reason="spaCy is not installed")
    assert "Angela Merkel" in displacy.render(ent, style="ent", manual=True)
    assert "GOLD" in displacy.render(span, style="span", manual=True)


def test_page_and_write_html(tmp_path):
    from tommer.integrations.viz import write_html

    path = write_html(tmp_path / "out.html", [toy(), toy(gold=None)], title="two")
    doc = path.read_text(encoding="utf-8")
    assert doc == page([toy(), toy(gold=None)], title="two")
    assert doc.count('<div class="tm-viz">') == 2


# -- on the real backbone -------------------------------------------------------------------
@pytest.mark.parametrize("decoding", ["threshold", "flat", "nested"])
def test_visualize_matches_detector(live, decoding):
    detector, _ = live
    view = visualize(detector, SENTENCE, gold=GOLD, decoding=decoding)
    assert view.mentions == detector(SENTENCE, decoding=decoding)
    n = view.n_tokens
    assert len(view.tokens) == n and view.span_probs.shape == view.matching.shape == (n, n)
    assert not view.truncated
    assert all(SENTENCE[t.start : t.end] == t.text for t in view.tokens)
    upper = np.triu(np.ones((n, n), dtype=bool), 1)
    assert np.isnan(view.span_probs[upper]).all() and np.isnan(view.matching[upper]).all()
    diag = np.diag(view.span_probs)
    assert np.isfinite(diag).all() and ((diag >= 0) & (diag <= 1)).all()
    for m, (s, e) in zip(view.mentions, view.mention_tokens):
        assert math.isclose(m.score, float(view.span_probs[e, s]), abs_tol=1e-5)
    assert view.gold == GOLD and len(view.gold_tokens) == 3
    doc = view.to_html()
    assert all(f'data-text="{html.escape(m.text)}"' in doc for m in view.mentions)


def test_visualize_long_text_caps_heatmap(live):
    detector, _ = live
    text = " ".join(["Barack Obama visited Berlin and Paris with Angela Merkel."] * 60)
    view = visualize(detector, text, threshold=0.6, decoding="flat", heatmap_tokens=16)
    assert view.n_tokens > detector.config.max_tokens  # several windows
    assert view.mentions == detector(text, threshold=0.6, decoding="flat")
    assert view.span_probs.shape == (16, 16) and view.truncated
    assert f"Heatmaps show the first 16 of {view.n_tokens} tokens." in view.to_html()
    first = visualize(detector, text[:200], threshold=0.6, heatmap_tokens=16)
    # causal backbone: the same rows (up to bf16 noise where the CPU computes in bf16)
    np.testing.assert_allclose(view.span_probs, first.span_probs, atol=0.02)


def test_visualize_edge_cases(live):
    detector, _ = live
    empty = visualize(detector, "")
    assert empty.mentions == [] and empty.tokens == [] and "0 mentions" in empty.to_html()
    assert visualize(detector, " \n ").mentions == []
    assert visualize(detector, SENTENCE, heatmap_tokens=0).span_probs.shape == (0, 0)
    many = visualize_many(detector, [SENTENCE, "Paris."], titles=["a", "b"])
    assert [v.title for v in many] == ["a", "b"]
    for bad in (dict(threshold=1.0), dict(decoding="greedy"), dict(gold=[(5, 100)]), dict(gold=[(1,)])):
        with pytest.raises(ConfigError):
            visualize(detector, SENTENCE, **bad)


def test_trained_model_highlights_expected_mentions(live):
    detector, trained = live
    if not trained:
        pytest.skip(NEEDS_MODEL)
    view = visualize(detector, SENTENCE, gold=GOLD)
    marked = set(re.findall(r'class="tm-pred"[^>]*data-text="([^"]*)"', view.to_fragment()))
    assert {"Angela Merkel", "Emmanuel Macron", "Paris"} <= marked
    assert "3 of 3 gold found" in view.to_html()
