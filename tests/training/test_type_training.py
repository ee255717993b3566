"""Training type heads: candidates, training items, sentence-level scoring, train-types end to end."""

from __future__ import annotations

import pytest
import torch
from type_heads import TINY, check_offsets, small_head, write_benchmark_json

import tommer
from tommer.cli import main
from tommer.errors import TommerError
from tommer.typed.type_head import load_head

SENTENCE = "Angela Merkel met Emmanuel Macron in Paris."


def test_sentence_predictions_candidate_sweep_and_overlapping_groups(detector):
    """Sentence-level scoring: equal to the window path on plain sentences; the candidate sweep's
    rows equal runs on the probe's own candidates at each threshold; overlapping groups average."""
    from collections import Counter

    from tommer.data.mention import AnnotatedText
    from tommer.training.type_training import (
        best_label_threshold,
        choose_candidate_threshold,
        encode_grouped,
        predict_corpus,
        probe_candidates,
    )
    from tommer.typed.reading import typed_mentions

    def sentence_predictions(head, entries, labels, candidate_threshold, label_threshold):
        return typed_mentions(head, entries, [labels] * len(entries), candidate_threshold, label_threshold)

    texts = [
        SENTENCE,
        "John Smith lives in London near the Thames.",
        "Maria went to Berlin with Peter Miller.",
    ]
    names = [
        ["Angela Merkel", "Emmanuel Macron", "Paris"],
        ["John Smith", "London", "Thames"],
        ["Maria", "Berlin"],
    ]
    docs = [  # labelled "location", the untrained head's usual guess, so that F1 is not 0 everywhere
        AnnotatedText(t, [(t.index(n), t.index(n) + len(n)) for n in ns], "t", ["location"] * len(ns))
        for t, ns in zip(texts, names)
    ]
    head = small_head("supervised")
    head.config.beat_none = False
    labels, layer = head.config.labels, [detector.config.layer]
    plain = encode_grouped(detector, docs, layer, False, prefix=" ")
    low = probe_candidates(detector.probe, plain.plain, 1e-5)
    entries = plain.entries(head, low)
    # one group per sentence: the same mentions as the window path (offsets without the prefix)
    windows = predict_corpus(head, plain.states, low, [(labels, None)], 0.3)
    assert sentence_predictions(head, entries, labels, 1e-5, 0.3) == [
        [(a - 1, b - 1, p, lab, sc) for a, b, p, lab, sc in doc] for doc in windows
    ]
    grid = (0.99, 0.5, 1e-3, 1e-5)
    chosen, rows = choose_candidate_threshold(
        head, plain.states, low, entries, plain.gold, grid, tolerance=0.0
    )
    assert [r["candidate_threshold"] for r in rows] == sorted(grid, reverse=True)
    for row in rows:
        cands = probe_candidates(detector.probe, plain.plain, row["candidate_threshold"])
        pred = sentence_predictions(head, plain.entries(head, cands), labels, row["candidate_threshold"], 0.0)
        f1, label_threshold, extra = best_label_threshold(head, pred, plain.gold)
        assert (f1, label_threshold, extra["val_recall"]) == (
            row["typed_f1"],
            row["label_threshold"],
            row["recall"],
        )
        assert row["candidates_per_sentence"] == sum(map(len, cands)) / len(docs)
    assert rows[0]["candidates_per_sentence"] < rows[-1]["candidates_per_sentence"]
    assert rows[-1]["candidate_recall"] > rows[0]["candidate_recall"] and max(r["typed_f1"] for r in rows) > 0
    assert chosen["typed_f1"] == max(r["typed_f1"] for r in rows)
    assert (
        choose_candidate_threshold(head, plain.states, low, entries, plain.gold, grid, tolerance=1.0)[0]
        == rows[0]
    )
    with pytest.raises(TommerError, match="must be in"):
        choose_candidate_threshold(head, plain.states, low, entries, plain.gold, (0.5, 0.0))

    # pairs of sentences, and pairs shifted by one: every sentence is read twice, in other company
    pairs = encode_grouped(detector, docs, layer, False, join=2, stride=1)
    assert [[j for j, _ in placed] for placed in pairs.placement] == [[0, 1], [2], [0], [1, 2]]
    found = pairs.entries(head, probe_candidates(detector.probe, pairs.plain, 0.5))
    readings = [Counter((a, b) for a, b, _, _ in spans) for spans in found]  # the probe's candidates vary
    assert [max(r.values()) for r in readings] == [2, 2, 2]
    assert all(set(r.values()) <= {1, 2} for r in readings)
    (a, b, _, label, score), *_ = sentence_predictions(head, found, labels, 0.5, 0.0)[1]
    twice = torch.stack([row for x, y, _, row in found[1] if (x, y) == (a, b)])
    assert len(twice) == 2 and not torch.allclose(twice[0], twice[1])  # another context, another reading
    assert score == pytest.approx(float(twice.mean(0)[labels.index(label)]))


def test_cli_train_types_tiny(tmp_path, capsys):
    data = write_benchmark_json(tmp_path / "tiny.json", TINY)
    out = tmp_path / "model"
    argv = [
        "train-types",
        "--data",
        str(data),
        "--val-data",
        str(data),
        "--epochs",
        "1",
        "--out",
        str(out),
        "-q",
    ]
    assert main(argv) == 0
    head = load_head(out)
    assert head.config.kind == "supervised" and head.config.labels == ["location", "person"]
    assert "## Type head" in (out / "README.md").read_text()
    assert main(["train-types", "--data", str(tmp_path / "missing.json"), "--out", str(out)]) == 2
    assert "no such file" in capsys.readouterr().err

    # a zero-shot head trained on the same tiny corpus: label names at inference, no ensembles
    zs_out = tmp_path / "zero-shot"
    assert main(argv[:-3] + ["--zero-shot", "--out", str(zs_out), "-q"]) == 0
    zs = tommer.load(zs_out)
    assert zs.type_head.zero_shot and zs.type_head.config.labels == []
    text = "Yesterday Maria visited Berlin."
    check_offsets(text, zs(text, labels=["person", "location"], label_threshold=0.0))

    # a head on a deeper layer than the probe: saved, and the loaded detector runs that deep
    deep_out = tmp_path / "deep"
    extra = ["--layer", "8", "--extra-layers", "9", "--echo", "--join-sentences", "2", "--bilstm-dim", "16"]
    assert main(argv[:-3] + extra + ["--out", str(deep_out), "-q"]) == 0
    detector = tommer.load(deep_out)
    config = detector.type_head.config
    assert config.layer == 8 and config.echo and config.join_sentences == 2 and not config.beat_none
    card = (deep_out / "README.md").read_text()
    assert config.bilstm_dim == 16 and "BiLSTM of width 16" in card and "layer 8 + 9" in card
    assert config.extra_layers == [9] and config.read_layers(detector.config.layer) == [8, 9]
    assert config.members == 1 and "Ensemble" not in card
    # the operating candidate threshold was chosen on the held-out texts; training used 0.02
    sweep = detector.type_head.config.info["candidate_sweep"]
    assert [r["candidate_threshold"] for r in sweep] == [0.02, 0.002, 1e-3, 1e-4, 1e-5, 1e-6]
    assert config.candidate_threshold in {r["candidate_threshold"] for r in sweep}
    assert "chosen on the held-out texts" in card and "training candidates: >= 0.02" in card
    text = "Angela Merkel visited Paris and London."
    assert detector.backbone.depth == detector.config.layer  # untyped work loads only the probe's layers
    detector.predict_spans([text])
    assert detector.backbone.depth == detector.config.layer
    for m in detector(text, threshold=0.0):  # supervised head: typed on every call, layer 8 loaded now
        assert text[m.start : m.end] == m.text and m.label in {"location", "person"}
    assert detector.backbone.layer == detector.config.layer < detector.backbone.depth == 9
    assert main(argv[:-3] + ["--layer", "2", "--out", str(tmp_path / "shallow"), "-q"]) == 2
    assert main(argv[:-3] + ["--extra-layers", "2", "--out", str(tmp_path / "shallow"), "-q"]) == 2
    assert "must not be below" in capsys.readouterr().err

    # typed eval reads the benchmark the way the head was trained (layer 8, echo, pairs of sentences)
    from tommer.data.readers import data_root

    if not (data_root() / "benchmarks" / "CoNLL 2003" / "test.json").exists():
        pytest.skip(f"shared data not found at {data_root()}: set TOMMER_DATA to the data folder")
    from tommer.evaluation.typed_eval import render_markdown, run_typed_eval

    report = run_typed_eval(str(deep_out), [("CoNLL 2003", str(deep_out))], [], limit=5, log=lambda s: None)
    row = report["rows"][0]
    assert row["sentences"] == 5 and row["head"] == {
        "layer": 8,
        "echo": True,
        "join_sentences": 2,
        "group_stride": 0,
        "candidate_threshold": detector.type_head.config.candidate_threshold,
        "bilstm_dim": 16,
        "extra_layers": [9],
        "members": 1,
        "member_extra_layers": [],
    }
    assert 0.0 <= row["micro"]["f1"] <= 1.0 and row["micro"]["gold"] > 0
    assert "groups of 2 consecutive" in render_markdown(report)
    assert "BiLSTM of width 16" in render_markdown(report) and "reads layer 8 + 9" in render_markdown(report)
    assert "an ensemble" not in render_markdown(report)
