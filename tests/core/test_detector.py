"""The shipped default detector end to end, on the real backbone."""

from __future__ import annotations

import json

import pytest
import torch

import tommer
from tommer.core.layout import PRETRAINED_DIR
from tommer.errors import ConfigError, ModelNotFoundError
from tommer.typed.detector import MentionDetector

SENTENCE = "Angela Merkel met Emmanuel Macron in Paris."

VARIED = [
    SENTENCE,
    "  Leading and trailing spaces around Berlin.  ",
    "Zoë Saldaña and Björk visited São Paulo, Zürich and Kraków.",
    "東京 is the capital of Japan; 北京 is in China.",
    "Emoji 😀 between Barack Obama 🇺🇸 and Michelle Obama 👍🏽!",
    "Line one mentions Google.\n\nLine two\tmentions Microsoft\r\nand Apple.",
    "x",
    "!!!",
]


def check_offsets(text, mentions):
    for m in mentions:
        assert 0 <= m.start < m.end <= len(text)
        assert text[m.start : m.end] == m.text
        assert m.text == m.text.strip()
        assert 0.0 <= m.score <= 1.0


def test_readme_example_gives_exactly_the_two_people_and_the_place(detector):
    mentions = detector(SENTENCE)  # the default decoding
    found = [(m.text, m.start, m.end) for m in mentions]
    assert found == [("Angela Merkel", 0, 13), ("Emmanuel Macron", 18, 33), ("Paris", 37, 42)]


def test_threshold_decoding_is_one_option_away(detector):
    spans = {(m.start, m.end) for m in detector(SENTENCE, decoding="threshold")}
    assert {(0, 13), (18, 33), (37, 42)} <= spans


@pytest.mark.parametrize("decoding", ["threshold", "flat", "nested"])
def test_offsets_invariant_on_varied_text(detector, decoding):
    # a low threshold yields many spans, stressing the offset mapping
    results = detector(VARIED, threshold=0.05, decoding=decoding)
    assert len(results) == len(VARIED)
    for text, mentions in zip(VARIED, results):
        check_offsets(text, mentions)
    assert sum(len(r) for r in results) > 20


def test_empty_and_whitespace_texts_give_no_mentions(detector):
    assert detector("") == []
    assert detector(["", "   ", "\n\t"]) == [[], [], []]


def test_single_text_and_batches_agree(detector):
    texts = VARIED[:5]
    one_by_one = [detector(t) for t in texts]
    batched = detector(texts, batch_size=4)
    tolerance = 1e-4 if detector.backbone.dtype == torch.float32 else 0.03  # bf16: padding changes rounding
    for a, b in zip(one_by_one, batched):
        assert [(m.start, m.end) for m in a] == [(m.start, m.end) for m in b]
        assert [m.score for m in a] == pytest.approx([m.score for m in b], abs=tolerance)


def test_long_input_is_never_truncated(detector):
    text = " ".join([SENTENCE] * 200)  # ~2,200 tokens: several windows
    n_tokens = len(detector.backbone.tokenizer(text)["input_ids"])
    assert n_tokens > 3 * detector.config.max_tokens
    mentions = detector(text)
    check_offsets(text, mentions)
    paris = [m for m in mentions if m.text == "Paris"]
    assert len(paris) == 200
    assert paris[-1].end == len(text) - 1


def test_flat_mentions_do_not_overlap_and_nested_are_well_nested(detector):
    flat = detector(SENTENCE, threshold=0.05, decoding="flat")
    for a, b in zip(flat, flat[1:]):
        assert a.end <= b.start
    nested = detector(SENTENCE, threshold=0.05, decoding="nested")
    for a in nested:
        for b in nested:
            disjoint = a.end <= b.start or b.end <= a.start
            inside = (a.start <= b.start and b.end <= a.end) or (b.start <= a.start and a.end <= b.end)
            assert disjoint or inside


def test_save_load_round_trip_gives_identical_scores(detector, tmp_path):
    out = detector.save_pretrained(tmp_path / "model")
    assert {p.name for p in out.iterdir()} >= {"config.json", "model.safetensors", "README.md"}
    config = json.loads((out / "config.json").read_text())
    assert config["layer"] == detector.config.layer
    reloaded = MentionDetector.from_pretrained(out, backbone=detector.backbone)  # torch, this backbone
    same = MentionDetector(detector.config, detector.backbone, detector.probe)  # the default, on torch
    texts = VARIED[:4]
    assert reloaded(texts, threshold=0.1) == same(texts, threshold=0.1)


def test_shipped_model_is_small_and_documented(detector):
    assert detector.probe.num_parameters() < 300_000
    info = detector.config.info
    assert {"precision", "recall", "f1"} <= set(info["metrics"])
    assert info["command"].startswith("tommer train")
    card = (PRETRAINED_DIR / tommer.DEFAULT_MODEL / "README.md").read_text()
    assert "Held-out metrics" in card and "train cpu seconds" in card


def test_default_threshold_is_the_models(detector, tmp_path):
    texts = VARIED[:3]
    assert detector(texts) == detector(texts, threshold=detector.config.threshold)
    out = detector.save_pretrained(tmp_path / "m")
    reloaded = MentionDetector.from_pretrained(out, backbone=detector.backbone)
    reloaded.config.threshold = 0.2
    same = MentionDetector(detector.config, detector.backbone, detector.probe)
    assert reloaded(texts) == same(texts, threshold=0.2)
    point = detector.config.info["operating_point"]
    assert point["split"] == "dev" and "choose_operating_point.py" in point["command"]
    assert point["chosen"]["margin"] == detector.config.margin
    assert "combine weights" in (PRETRAINED_DIR / tommer.DEFAULT_MODEL / "README.md").read_text()


def test_the_margin_is_the_models(detector):
    texts = VARIED[:3]
    saved = detector.config.margin
    try:
        with_margin = detector(texts)
        detector.config.margin = 0.0
        plain = detector(texts)
    finally:
        detector.config.margin = saved
    # the margin only ever replaces a span by a longer overlapping one
    assert sum(len(m) for m in with_margin) <= sum(len(m) for m in plain)


def test_bad_arguments_are_clear_errors(detector):
    with pytest.raises(ConfigError, match="text #1 is a int"):
        detector(["ok", 3])
    with pytest.raises(ConfigError, match="threshold"):
        detector("x", threshold=1.5)
    with pytest.raises(ConfigError, match="unknown decoding"):
        detector("x", decoding="best")
    with pytest.raises(ConfigError, match="batch_size"):
        detector("x", batch_size=0)


def test_missing_model_path_is_named(tmp_path):
    with pytest.raises(ModelNotFoundError, match="nowhere"):
        tommer.load(tmp_path / "nowhere")


def test_package_import_is_light_and_lazy():
    """`import tommer` (and so spaCy's entry point) does not load the detector until it is used."""
    import subprocess
    import sys

    code = (
        "import sys, tommer, tommer.integrations.spacy_component\n"
        "assert 'tommer.core.detector' not in sys.modules, 'detector imported eagerly'\n"
        "assert 'tommer.api' not in sys.modules and 'tommer.typed.detector' not in sys.modules\n"
        "assert tommer.DEFAULT_MODEL == 'smollm2-135m'\n"
        "assert tommer.load.__module__ == 'tommer.api'\n"
        "try:\n"
        "    tommer.nothing\n"
        "except AttributeError as err:\n"
        "    assert 'nothing' in str(err)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("name, layer", [("smollm2-135m-l12", 12), ("smollm2-135m-l4", 4)])
def test_the_other_smollm2_layers_load_by_name_and_read_their_layer(name, layer):
    """smollm2-135m-l12 (the more accurate SmolLM2 model) and smollm2-135m-l4 (the faster one) are
    shipped names: each reads its layer and finds the README sentence's two people and the place."""
    import tommer

    detector = tommer.load(name)
    assert detector.config.layer == layer and detector.config.backbone == "smollm2-135m"
    found = [(m.text, m.start, m.end) for m in detector(SENTENCE)]
    assert found == [("Angela Merkel", 0, 13), ("Emmanuel Macron", 18, 33), ("Paris", 37, 42)]
