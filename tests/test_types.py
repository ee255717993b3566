"""Typed NER: type heads (supervised and zero-shot), typed readers, typed scores, CLI options."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

import tommer
from tommer.cli import main
from tommer.data.metrics import TypedScores
from tommer.data.readers import read_annotated, read_benchmark_json, read_bio
from tommer.errors import ConfigError, DataFormatError, TommerError
from tommer.typed.detector import MentionDetector
from tommer.typed.type_head import (
    TypeHead,
    TypeHeadConfig,
    check_labels,
    decode_typed,
    ensemble,
    join_layers,
    load_head,
    rms_norm,
    save_head,
    span_features,
)

SENTENCE = "Angela Merkel met Emmanuel Macron in Paris."


def check_offsets(text, mentions):
    for m in mentions:
        assert text[m.start : m.end] == m.text
        assert m.label is not None and 0.0 <= m.label_score <= 1.0


def small_head(kind: str, hidden: int = 576, bilstm_dim: int = 0, label_encoder: str = "mlp") -> TypeHead:
    torch.manual_seed(0)
    labels = ["person", "location"] if kind == "supervised" else []
    config = TypeHeadConfig(
        kind, hidden, labels=labels, dim=16, bilstm_dim=bilstm_dim, label_encoder=label_encoder
    )
    return TypeHead(config).eval()


# -- head ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kind,bilstm_dim,label_encoder",
    [
        ("supervised", 0, "mlp"),
        ("zero-shot", 0, "mlp"),
        ("supervised", 6, "mlp"),
        ("zero-shot", 0, "linear"),
        ("zero-shot", 0, "identity"),
    ],
)
def test_head_save_load_round_trip(tmp_path, kind, bilstm_dim, label_encoder):
    head = small_head(kind, hidden=8, bilstm_dim=bilstm_dim, label_encoder=label_encoder)
    head.config.info = {"note": "round trip"}
    save_head(head, tmp_path)
    loaded = load_head(tmp_path)
    assert loaded.config == head.config
    for name, value in head.state_dict().items():  # stored as float16
        assert torch.equal(loaded.state_dict()[name], value.half().float()), name


def test_load_head_absent_and_broken(tmp_path):
    assert load_head(tmp_path) is None
    (tmp_path / "types.json").write_text(json.dumps({"kind": "zero-shot", "hidden_size": 8}))
    with pytest.raises(Exception, match="types.safetensors"):
        load_head(tmp_path)
    with pytest.raises(ConfigError, match="kind"):
        TypeHeadConfig("typed", 8)
    with pytest.raises(ConfigError, match="label set"):
        TypeHeadConfig("supervised", 8)
    with pytest.raises(ConfigError, match="extra_layers"):
        TypeHeadConfig("zero-shot", 8, extra_layers=[9])
    with pytest.raises(ConfigError, match="bilstm_dim"):
        TypeHeadConfig("zero-shot", 8, bilstm_dim=5)
    with pytest.raises(ConfigError, match="label_encoder"):
        TypeHeadConfig("zero-shot", 8, label_encoder="attention")


@pytest.mark.parametrize("label_encoder", ["mlp", "linear", "identity"])
def test_zero_shot_label_encoders_score_span_label_pairs(label_encoder):
    head = small_head("zero-shot", hidden=8, label_encoder=label_encoder)
    labels = head.encode_labels(torch.randn(3, 16))  # label_states: (L, 2 * hidden)
    assert torch.allclose(labels.norm(dim=-1), torch.ones(3))
    size = 16 if label_encoder == "identity" else head.config.dim  # identity: the prompt states' space
    assert labels.shape == (3, size)
    scores = head.class_probs(torch.randn(6, 8), torch.tensor([[1, 2], [3, 3]]), labels)
    assert scores.shape == (2, 3) and ((scores > 0) & (scores < 1)).all()


def test_unseen_type_set_every_fifth_by_frequency():
    from tommer.data.mention import AnnotatedText
    from tommer.training.type_training import unseen_type_set

    counts = {f"t{k:02d}": 20 - k for k in range(12)}  # t00 most frequent
    docs = [AnnotatedText("x", [], "t", [lab] * n) for lab, n in counts.items()]
    assert unseen_type_set(docs, 0) == []
    assert unseen_type_set(docs, 1) == ["t04"]
    assert unseen_type_set(docs, 2) == ["t04", "t09"]
    with pytest.raises(TommerError, match="at least 15"):
        unseen_type_set(docs, 3)
    with pytest.raises(TommerError, match=">= 0"):
        unseen_type_set(docs, -1)


def test_ensemble_averages_its_members_and_round_trips(tmp_path):
    members = [small_head("supervised", hidden=8, bilstm_dim=6) for _ in range(3)]
    for k, member in enumerate(members[1:], start=1):  # small_head seeds 0: make the members differ
        torch.manual_seed(k)
        member.load_state_dict(TypeHead(member.config).state_dict())
    head = ensemble(members)
    assert head.config.members == 3 and head.num_parameters() == 3 * members[0].num_parameters()
    hidden, spans = torch.randn(10, 8), torch.tensor([[1, 2], [4, 4], [5, 8]])
    with torch.no_grad():
        each = [m.class_probs(hidden, spans) for m in members]
        mean = head.class_probs(hidden, spans)
    assert not torch.allclose(each[0], each[1])
    assert torch.allclose(mean, torch.stack(each).mean(0)) and torch.allclose(mean.sum(-1), torch.ones(3))
    with pytest.raises(ConfigError, match="members"):
        head.encode_spans(hidden, spans)
    save_head(head, tmp_path)
    loaded = load_head(tmp_path)
    assert loaded.config == head.config
    with torch.no_grad():
        assert torch.allclose(loaded.class_probs(hidden, spans), mean, atol=2e-3)  # float16 weights
    assert ensemble(members[:1]) is members[0]
    other = small_head("supervised", hidden=8, bilstm_dim=6)  # operating thresholds may differ
    other.config.candidate_threshold, other.config.label_threshold = 1e-5, 0.3
    assert ensemble([members[0], other]).config.members == 2
    with pytest.raises(ConfigError, match="same configuration"):
        ensemble([members[0], small_head("supervised", hidden=8)])
    with pytest.raises(ConfigError, match="members"):
        TypeHeadConfig("zero-shot", 8, members=2)
    with pytest.raises(ConfigError, match="members"):
        TypeHeadConfig("supervised", 8, labels=["person"], members=0)


def test_ensemble_of_heads_reading_different_layers():
    """Each member reads its own layers: the ensemble reads their union and hands each its columns."""
    torch.manual_seed(0)
    config = TypeHeadConfig("supervised", 8, labels=["person"], dim=16, layer=4, bilstm_dim=6)
    members = [TypeHead(replace(config, extra_layers=x)).eval() for x in ([6], [5, 6], [])]
    head = ensemble(members)
    assert head.config.extra_layers == [5, 6] and head.config.read_layers(2) == [4, 5, 6]
    assert head.config.member_extra_layers == [[6], [5, 6], []]
    states = {m: torch.randn(10, 8) for m in (4, 5, 6)}  # one window's states per layer
    spans = torch.tensor([[1, 2], [4, 4], [5, 8]])
    with torch.no_grad():
        own = [join_layers([states[k] for k in m.config.read_layers(2)]) for m in members]
        each = [m.class_probs(x, spans) for m, x in zip(members, own)]
        mean = head.class_probs(join_layers([states[k] for k in (4, 5, 6)]), spans)
    assert torch.allclose(mean, torch.stack(each).mean(0), atol=1e-5)
    assert not torch.allclose(each[0], each[1])
    assert ensemble([head, members[0]]).config.members == 4  # an ensemble given is read as its members
    two = dict(labels=["person"], extra_layers=[6], members=2)
    with pytest.raises(ConfigError, match="union"):
        TypeHeadConfig("supervised", 8, **two, member_extra_layers=[[5], []])
    with pytest.raises(ConfigError, match="lists 1 members"):
        TypeHeadConfig("supervised", 8, **two, member_extra_layers=[[6]])


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
        sentence_predictions,
    )

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
        [(a - 1, b - 1, lab, sc) for a, b, lab, sc in doc] for doc in windows
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
    (a, b, label, score), *_ = sentence_predictions(head, found, labels, 0.5, 0.0)[1]
    twice = torch.stack([row for x, y, _, row in found[1] if (x, y) == (a, b)])
    assert len(twice) == 2 and not torch.allclose(twice[0], twice[1])  # another context, another reading
    assert score == pytest.approx(float(twice.mean(0)[labels.index(label)]))


def test_bilstm_head_reads_context_beyond_its_fixed_features():
    """The fixed features stop three rows after a span; a BiLSTM head also sees farther rows."""
    hidden = torch.randn(12, 8)
    changed = hidden.clone()
    changed[10] += 5.0  # far right of the span (rows 2-3)
    spans = torch.tensor([[2, 3]])
    for bilstm_dim, moves in [(0, False), (6, True)]:
        head = small_head("supervised", hidden=8, bilstm_dim=bilstm_dim)
        with torch.no_grad():
            a, b = head.encode_spans(hidden, spans), head.encode_spans(changed, spans)
        assert (not torch.allclose(a, b)) == moves, bilstm_dim


def test_span_features_first_last_mean():
    hidden = torch.randn(6, 4)
    x = hidden * torch.rsqrt(hidden.pow(2).mean(-1, keepdim=True) + 1e-6)
    assert torch.allclose(rms_norm(hidden), x)
    feats, width = span_features(x, torch.tensor([[2, 4], [5, 5]]), max_width=2)
    first, last, mean, before, after, right = feats[0].split(4)
    assert torch.allclose(first, x[2]) and torch.allclose(last, x[4]) and torch.allclose(before, x[1])
    assert torch.allclose(mean, x[2:5].mean(0), atol=1e-6) and torch.allclose(after, x[5])
    assert torch.equal(right, torch.zeros(4))  # row 7 is past the window's end
    assert torch.equal(feats[1][16:], torch.zeros(8))  # nothing after the window's last token
    assert width.tolist() == [1, 0]  # widths 3 and 1, clamped to max_width - 1


def test_decode_typed_keeps_best_non_overlapping():
    spans = [(0, 1, 0.9, "person", 0.8), (1, 2, 0.9, "location", 0.95), (3, 3, 0.5, "person", 0.4)]
    assert decode_typed(spans) == [(1, 2, 0.9, "location", 0.95), (3, 3, 0.5, "person", 0.4)]


def test_supervised_keep_rule_beat_none_or_threshold():
    head = small_head("supervised", hidden=8)
    with torch.no_grad():  # "none" (last column) always wins the argmax
        head.classifier.bias.copy_(torch.tensor([0.0, 0.0, 3.0]))
        head.classifier.weight.zero_()
    hidden, spans = torch.randn(5, 8), [(1, 1), (2, 3)]
    assert head.label_spans(hidden, spans, head.config.labels, None, 0.0) == [None, None]
    head.config.beat_none = False  # a label scoring >= the threshold is kept even under "none"
    kept = head.label_spans(hidden, spans, head.config.labels, None, 0.04)
    assert [k[0] for k in kept] == ["person", "person"] and kept[0][1] == pytest.approx(0.0452, abs=1e-3)
    assert head.label_spans(hidden, spans, head.config.labels, None, 0.05) == [None, None]


def test_text_prefix_is_whitespace_and_shifts_spans():
    from tommer.data.mention import AnnotatedText, with_prefix

    with pytest.raises(ConfigError, match="whitespace only"):
        TypeHeadConfig("zero-shot", 8, text_prefix="Text: ")
    docs = with_prefix([AnnotatedText("Paris and Rome.", [(0, 5), (10, 14)], "a", ["city", "city"])], "\n")
    assert docs[0].text == "\nParis and Rome." and [docs[0].text[s:e] for s, e in docs[0].spans] == [
        "Paris",
        "Rome",
    ]


def test_typed_call_with_text_prefix_reports_offsets_in_the_given_text(detector):
    if detector.type_head is None or not detector.type_head.zero_shot:
        pytest.skip("the shipped default has no zero-shot type head")
    config = detector.type_head.config
    saved = config.text_prefix
    try:
        for prefix in ("", "\n", "  "):
            config.text_prefix = prefix
            mentions = detector(SENTENCE, labels=["person", "location"], label_threshold=0.0)
            check_offsets(SENTENCE, mentions)
            assert mentions and all(m.start >= 0 for m in mentions)
    finally:
        config.text_prefix = saved


def test_join_consecutive_shifts_spans_and_keeps_labels():
    from tommer.data.mention import AnnotatedText, join_consecutive

    docs = [
        AnnotatedText("Angela Merkel spoke.", [(0, 13)], "a", ["person"]),
        AnnotatedText("", [], "a", []),
        AnnotatedText("Paris and Rome.", [(0, 5), (10, 14)], "a", ["location", "location"]),
    ]
    joined = join_consecutive(docs, 2)
    assert [d.text for d in joined] == ["Angela Merkel spoke.\n", "Paris and Rome."]
    whole = join_consecutive(docs, 3)[0]
    assert [whole.text[s:e] for s, e in whole.spans] == ["Angela Merkel", "Paris", "Rome"]
    assert whole.labels == ["person", "location", "location"]
    assert join_consecutive(docs, 1) == docs
    with pytest.raises(ValueError, match=">= 1"):
        join_consecutive(docs, 0)


@pytest.mark.parametrize(
    "labels, message",
    [
        ([], "empty"),
        ("person", "list of strings"),
        ([1], "not a str"),
        (["person", " "], "empty"),
        (["a", "a"], "twice"),
        (None, "list of strings"),
    ],
)
def test_check_labels_errors(labels, message):
    with pytest.raises(ConfigError, match=message):
        check_labels(labels)


# -- detector ------------------------------------------------------------------------------
def test_detector_save_load_with_and_without_head(detector, tmp_path):
    plain = MentionDetector(detector.config, detector.backbone, detector.probe)
    plain.save_pretrained(tmp_path / "plain")
    assert not (tmp_path / "plain" / "types.json").exists()
    reloaded = MentionDetector.from_pretrained(tmp_path / "plain", backbone=detector.backbone)
    assert reloaded.type_head is None
    assert reloaded(SENTENCE) == plain(SENTENCE)  # untyped, exactly as before
    with pytest.raises(ConfigError, match="no type head"):
        reloaded(SENTENCE, labels=["person"])

    typed = MentionDetector(detector.config, detector.backbone, detector.probe, small_head("supervised"))
    typed.save_pretrained(tmp_path / "typed")
    again = MentionDetector.from_pretrained(tmp_path / "typed", backbone=detector.backbone)
    assert again.type_head.config.labels == ["person", "location"]
    mentions = again(SENTENCE, label_threshold=0.0)  # a supervised head types every call
    check_offsets(SENTENCE, mentions)
    with pytest.raises(ConfigError, match="supervised"):
        again(SENTENCE, labels=["person"])


def test_default_zero_shot_labels(detector):
    if detector.type_head is None or not detector.type_head.zero_shot:
        pytest.skip("the shipped default has no zero-shot type head")
    # mentions that open a text are typed badly by this head (results/typed/NOTES.md), so the
    # sentence starts with another word; the text-initial case is checked with a prefix below
    text = "Yesterday " + SENTENCE
    mentions = detector(text, labels=["person", "location"])
    check_offsets(text, mentions)
    found = {(m.text, m.label) for m in mentions}
    assert ("Angela Merkel", "person") in found
    assert ("Paris", "location") in found
    spans = sorted((m.start, m.end) for m in mentions)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))  # non-overlapping
    batch = detector([text, "", "No names here."], labels=["person", "location"])
    assert batch[0] == mentions and batch[1] == []
    config = detector.type_head.config
    saved, config.text_prefix = config.text_prefix, "\n"
    try:
        found = {(m.start, m.text, m.label) for m in detector(SENTENCE, labels=["person", "location"])}
        assert (0, "Angela Merkel", "person") in found
    finally:
        config.text_prefix = saved
    before = detector.label_vectors(["person"])  # prompt states are cached per prompt and layer
    saved, config.prompt = config.prompt, "Type: '{label}'"
    try:
        assert not torch.allclose(detector.label_vectors(["person"]), before)
    finally:
        config.prompt = saved
    assert torch.equal(detector.label_vectors(["person"]), before)
    with pytest.raises(ConfigError, match="zero-shot"):
        detector.predict_typed([SENTENCE])
    with pytest.raises(ConfigError, match="not a str"):
        detector(SENTENCE, labels=["person", 3])
    with pytest.raises(ConfigError, match="label_threshold"):
        detector(SENTENCE, labels=["person"], label_threshold=1.5)
    assert detector(SENTENCE)[0].label is None  # no labels: untyped as before


def test_cli_detect_labels(detector, capsys, tmp_path):
    if detector.type_head is None or not detector.type_head.zero_shot:
        pytest.skip("the shipped default has no zero-shot type head")
    assert main(["detect", "--json", "--labels", "person,location", SENTENCE]) == 0
    mentions = json.loads(capsys.readouterr().out)
    # not "Angela Merkel": the shipped head types text-initial mentions badly (results/typed/NOTES.md)
    assert {"text": "Emmanuel Macron", "label": "person"}.items() <= next(
        m for m in mentions if m["text"] == "Emmanuel Macron"
    ).items()
    assert main(["detect", "--labels", "person,,location", SENTENCE]) == 2
    assert "empty" in capsys.readouterr().err
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text(json.dumps({"id": 7, "text": SENTENCE}) + "\n")
    assert main(["detect", "-q", "--labels", "person,location", "-i", str(source), "-o", str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["id"] == 7 and all(m["label"] in ("person", "location") for m in record["mentions"])
    assert any(m["text"] == "Paris" and m["label"] == "location" for m in record["mentions"])


# -- readers and scores --------------------------------------------------------------------
def test_read_bio_typed(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("New\tB-city\nYork\tI-city\nTimes\tI-organization\nsays\tO\nhi\tI-greeting\n\nA\tO\n")
    untyped = read_bio(path)
    assert untyped[0].spans == [(0, 14), (20, 22)] and untyped[0].labels is None
    typed = read_bio(path, typed=True)
    doc = typed[0]
    assert [doc.text[s:e] for s, e in doc.spans] == ["New York", "Times", "hi"]
    assert doc.labels == ["city", "organization", "greeting"]
    assert typed[1].spans == [] and typed[1].labels == []


def test_read_benchmark_json_typed(tmp_path):
    path = tmp_path / "b.json"
    ents = [
        {"name": "Paris", "type": "location", "pos": [37, 42]},
        {"name": "Angela", "type": "person", "pos": [0, 6]},
    ]
    path.write_text(json.dumps([{"sentence": SENTENCE, "entities": ents}]))
    doc = read_annotated(path, typed=True)[0]
    assert doc.spans == [(0, 6), (37, 42)] and doc.labels == ["person", "location"]
    assert read_annotated(path)[0].spans == doc.spans
    path.write_text(json.dumps([{"sentence": SENTENCE, "entities": [{"pos": [0, 6]}]}]))
    assert read_benchmark_json(path)[0].labels is None
    with pytest.raises(DataFormatError, match=r"b\.json:record 1: entity without a string 'type'"):
        read_benchmark_json(path, typed=True)


def test_typed_report_names_duplicate_rows_and_compares_only_test_with_targets():
    from tommer.evaluation.typed_eval import render_markdown

    def row(model, f1):
        micro = {"precision": f1, "recall": f1, "f1": f1}
        return {
            "benchmark": "CoNLL 2003",
            "setting": "supervised",
            "model": model,
            "sentences": 3,
            "micro": micro,
            "candidate_recall": 1.0,
            "per_type": {},
            "head": {},
        }

    report = {
        "command": "tommer eval --typed",
        "split": "dev",
        "limit": None,
        "label_names": {},
        "gold_aliases": {},
        "rows": [row("old", 0.91), row("new", 0.93)],
    }
    text = render_markdown(report)
    assert "| CoNLL 2003 (`old`) |" in text and "| CoNLL 2003 (`new`) |" in text
    assert "not compared" in text and "met" not in text
    report.update(split="test", rows=[row("new", 0.93)])
    text = render_markdown(report)
    assert "| CoNLL 2003 |" in text and "Supervised CoNLL 2003 test F1 >= 90: 93.0, met." in text

    # zero-shot rows and their LM-relabelled twins: one name per benchmark, an average per setting
    from tommer.evaluation.typed_eval import CROSSNER, LM_SETTING

    rows = []
    for name in CROSSNER:
        rows += [
            dict(row("m", 0.2), benchmark=name, setting="zero-shot"),
            dict(row("m", 0.4), benchmark=name),
        ]
        rows[-1]["setting"] = LM_SETTING
    report.update(rows=rows, crossner_average_f1=0.2, crossner_average_f1_lm_labels=0.4)
    text = render_markdown(report)
    assert f"| CrossNER_AI | {LM_SETTING} | 3 | 40.0 | 40.0 | **40.0** | 100.0 | 57.2 |" in text
    assert f"| **CrossNER average** | {LM_SETTING} | | | | **40.0** | | 65.3 |" in text
    assert "average F1 >= 65 (zero-shot): 20.0, missed by 45.0 points." in text
    assert f"average F1 >= 65 ({LM_SETTING}): 40.0, missed by 25.0 points." in text
    assert f"- {LM_SETTING} rows:" in text and "(`m`)" not in text


def test_typed_scores_strict():
    scores = TypedScores()
    scores.add([(0, 5, "person"), (6, 9, "location"), (10, 12, "person")], [(0, 5, "person"), (6, 9, "org")])
    assert (scores.micro.tp, scores.micro.predicted, scores.micro.gold) == (1, 3, 2)
    assert scores.per_type["person"].precision == 0.5 and scores.per_type["person"].recall == 1.0
    assert scores.per_type["org"].recall == 0.0 and scores.per_type["location"].precision == 0.0
    assert scores.f1 == pytest.approx(2 * (1 / 3) * 0.5 / (1 / 3 + 0.5))


# -- train-types end to end on a tiny corpus (real backbone) -------------------------------
def write_benchmark_json(path, sentences):
    """A typed benchmark file: (sentence, [(mention, type), ...]) pairs, each mention's first occurrence."""
    records = []
    for text, ents in sentences:
        entities = [{"name": n, "type": t, "pos": [text.index(n), text.index(n) + len(n)]} for n, t in ents]
        records.append({"sentence": text, "entities": entities})
    path.write_text(json.dumps(records))
    return path


def test_cli_train_types_tiny(tmp_path, capsys):
    texts = [
        ("Angela Merkel visited Paris.", [("Angela Merkel", "person"), ("Paris", "location")]),
        ("John Smith lives in London.", [("John Smith", "person"), ("London", "location")]),
        ("Maria went to Berlin yesterday.", [("Maria", "person"), ("Berlin", "location")]),
    ]
    data = write_benchmark_json(tmp_path / "tiny.json", texts)
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
    assert main(argv[:-3] + ["--zero-shot", "--members", "2", "--out", str(zs_out), "-q"]) == 2
    assert "--members" in capsys.readouterr().err

    # a head on a deeper layer than the probe: saved, and the loaded detector runs that deep
    deep_out = tmp_path / "deep"
    extra = ["--layer", "8", "--extra-layers", "9", "--echo", "--join-sentences", "2", "--bilstm-dim", "16"]
    extra += ["--members", "2"]
    assert main(argv[:-3] + extra + ["--out", str(deep_out), "-q"]) == 0
    detector = tommer.load(deep_out)
    config = detector.type_head.config
    assert config.layer == 8 and config.echo and config.join_sentences == 2 and not config.beat_none
    card = (deep_out / "README.md").read_text()
    assert config.bilstm_dim == 16 and "BiLSTM of width 16" in card and "layer 8 + 9" in card
    assert config.extra_layers == [9] and config.read_layers(detector.config.layer) == [8, 9]
    assert config.members == 2 and len(detector.type_head.members) == 2
    assert "Ensemble of 2 heads (seeds 0, 1)" in card
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

    # combine-types: the 2-member head (layers 8 + 9) and a head reading layer 8 alone, on the same probe
    alone_out, mixed_out = tmp_path / "alone", tmp_path / "mixed"
    assert main(argv[:-3] + extra[:2] + extra[4:-2] + ["--seed", "7", "--out", str(alone_out), "-q"]) == 0
    combine = ["combine-types", str(deep_out), str(alone_out), "--val-data", str(data)]
    assert main(combine + ["--candidate-grid", "0.5,1e-3", "--out", str(mixed_out), "-q"]) == 0
    mixed = tommer.load(mixed_out)
    config = mixed.type_head.config
    sweep = config.info["candidate_sweep"]  # the given grid plus the members' training threshold
    assert [r["candidate_threshold"] for r in sweep] == [0.5, 0.02, 1e-3]
    assert config.candidate_threshold in {0.5, 0.02, 1e-3}
    # read in pairs of sentences and in pairs shifted by one (the heads were trained on pairs)
    assert main(combine + ["--group-stride", "1", "--out", str(tmp_path / "overlap"), "-q"]) == 0
    overlap = tommer.load(tmp_path / "overlap").type_head.config
    assert overlap.group_stride == 1 and overlap.join_sentences == 2
    assert "shifted by every multiple of 1" in (tmp_path / "overlap" / "README.md").read_text()
    assert main(combine + ["--group-stride", "3", "--out", str(tmp_path / "overlap")]) == 2
    assert "must divide the head's group size (2)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as bad:  # argparse's usage error
        main(combine + ["--candidate-grid", "0.5,0", "--out", str(mixed_out)])
    assert bad.value.code == 2
    assert "strictly between 0 and 1" in capsys.readouterr().err
    assert config.members == 3 and config.member_extra_layers == [[9], [9], []] and config.extra_layers == [9]
    card = (mixed_out / "README.md").read_text()
    assert "Ensemble of 3 heads (seed 0 (layers 8 + 9), seed 1 (layers 8 + 9), seed 7 (layer 8))" in card
    assert (
        f"combine-types {deep_out}" in card
        and f"Members from `{alone_out}`, trained by: `tommer train-types" in card
    )
    for m in mixed(text, threshold=0.0):
        assert text[m.start : m.end] == m.text and m.label in {"location", "person"}
    assert main(["combine-types", str(deep_out), str(zs_out), "--val-data", str(data), "--out", "x"]) == 2
    assert "has no supervised type head" in capsys.readouterr().err
    assert main(["combine-types", str(deep_out), "--val-data", str(data), "--out", "x"]) == 2
    assert "at least two" in capsys.readouterr().err
    # a head trained on another probe scores other candidates: refused
    import shutil

    from safetensors.torch import load_file, save_file

    other = tmp_path / "other-probe"
    shutil.copytree(alone_out, other)
    weights = load_file(other / "model.safetensors")
    first = next(iter(weights))
    weights[first] = weights[first] + 0.01
    save_file(weights, other / "model.safetensors")
    assert main(["combine-types", str(deep_out), str(other), "--val-data", str(data), "--out", "x"]) == 2
    assert f"{other} has another probe or backbone than {deep_out}" in capsys.readouterr().err

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
        "members": 2,
        "member_extra_layers": [],
    }
    assert 0.0 <= row["micro"]["f1"] <= 1.0 and row["micro"]["gold"] > 0
    assert "groups of 2 consecutive" in render_markdown(report)
    assert "BiLSTM of width 16" in render_markdown(report) and "reads layer 8 + 9" in render_markdown(report)
    assert "an ensemble of 2 heads" in render_markdown(report)


def test_gold_renaming_aliases_and_unknown_types():
    from tommer.data.mention import AnnotatedText
    from tommer.evaluation.typed_eval import gold_renaming

    docs = [AnnotatedText("Sony and EMI", [(0, 4), (9, 12)], labels=["organisation", "misc"])]
    rename = gold_renaming(docs, ["organization", "else"], "music/test.json")
    assert rename == {"organisation": "organization", "misc": "miscellaneous"}
    bad = [AnnotatedText("Sony", [(0, 4)], labels=["company"])]
    with pytest.raises(DataFormatError, match="music/test.json: gold type 'company'"):
        gold_renaming(bad, ["organization", "else"], "music/test.json")


def test_training_items_leave_out_ignored_types(detector):
    from tommer.data.mention import AnnotatedText
    from tommer.training.type_training import encode_grouped, probe_candidates, training_items

    text = "John Smith lives in London near the Thames."
    spans = [(text.index(n), text.index(n) + len(n)) for n in ("John Smith", "London", "Thames")]
    docs = [AnnotatedText(text, spans, "t", ["person", "location", "river"])]
    corpus = encode_grouped(detector, docs, [detector.config.layer], False).states
    cands = probe_candidates(detector.probe, corpus, 0.5)
    ((_, all_spans, all_gold, _),) = training_items(corpus, cands)
    ((_, kept_spans, kept_gold, _),) = training_items(corpus, cands, ignore=("river",))
    assert sorted(g for g in all_gold if g) == ["location", "person", "river"]
    assert sorted(g for g in kept_gold if g) == ["location", "person"]
    river = all_spans[all_gold.index("river")]
    assert river not in kept_spans  # left out, not turned into a negative
    assert set(kept_spans) == set(all_spans) - {river}


def test_cli_train_types_zero_shot_unseen_types(tmp_path, capsys):
    """--unseen-types leaves types out of training and scores them alone; --label-encoder, --prompt."""
    sentences = [
        (
            "Angela Merkel visited Paris in May.",
            [("Angela Merkel", "person"), ("Paris", "city"), ("May", "date")],
        ),
        ("Siemens sells the Simatic S7.", [("Siemens", "company"), ("Simatic S7", "product")]),
        (
            "John Smith joined Siemens in June.",
            [("John Smith", "person"), ("Siemens", "company"), ("June", "date")],
        ),
        ("Maria flew to Berlin.", [("Maria", "person"), ("Berlin", "city")]),
    ]
    data = write_benchmark_json(tmp_path / "five-types.json", sentences)
    base = ["train-types", "--zero-shot", "--data", str(data), "--val-data", str(data), "--epochs", "1", "-q"]
    out = tmp_path / "zs"
    extra = ["--unseen-types", "1", "--label-encoder", "linear", "--prompt", "Type: {label}"]
    assert main(base + extra + ["--out", str(out)]) == 0
    head = load_head(out)
    assert head.config.label_encoder == "linear" and head.config.prompt == "Type: {label}"
    info = head.config.info
    assert info["train_config"]["ignore_labels"] == ["product"]  # 5th by count (ties by name)
    assert "4 types" in info["training_data"] and "held_out_val_unseen_f1" in info
    assert all("val_unseen_f1" in row for row in info["history"])
    assert main(base[:1] + base[2:] + ["--unseen-types", "1", "--out", str(out)]) == 2
    assert "--unseen-types needs a zero-shot head" in capsys.readouterr().err
    assert main(base + ["--unseen-types", "2", "--out", str(out)]) == 2
    assert "at least 10 training types" in capsys.readouterr().err


# -- LM labels: the whole backbone names the type ------------------------------------------
@pytest.fixture(scope="module")
def lm_labeler():
    from tommer.typed.lm_labels import LMLabeler

    return LMLabeler("smollm2-135m")


def test_lm_labeler_types_mentions(lm_labeler):
    text = "Tolkien wrote The Hobbit while teaching at Oxford University in England."
    names = ["writer", "book", "university", "country"]
    spans = [
        (text.index(n), text.index(n) + len(n))
        for n in ("Tolkien", "The Hobbit", "Oxford University", "England")
    ]
    found = lm_labeler.label(text, spans, names)
    assert [label for label, _ in found] == names
    assert all(0.25 < share <= 1.0 for _, share in found)  # softmax share of the best of 4 labels
    with pytest.raises(ConfigError, match="not inside"):
        lm_labeler.label(text, [(5, len(text) + 1)], names)
    with pytest.raises(ConfigError, match="label names"):
        lm_labeler.label(text, spans, [])


def test_lm_labeler_reads_the_shared_prompt_cache_exactly(lm_labeler):
    """A mention's scores continue the text's cached prompt, and the labels' later tokens a cache
    repeated per label: equal to scoring each whole sequence in one pass."""
    tok, model = lm_labeler.tokenizer, lm_labeler.model
    text = "Jimi Hendrix played a Fender Stratocaster."
    labels = ["musical instrument", "band", "programming language"]
    shared, rest = lm_labeler.prompt_ids(text, "Fender Stratocaster")
    assert tok.decode(shared + rest) == text + "\nIn the text above, Fender Stratocaster is a"
    prefix = lm_labeler.run(shared).cache
    got = lm_labeler.label_log_probs(rest, labels, prefix)
    for label, value in zip(labels, got):
        tail = tok(" " + label, add_special_tokens=False).input_ids
        with torch.no_grad():
            logp = model(input_ids=torch.tensor([shared + rest + tail])).logits[0].float().log_softmax(-1)
        at = len(shared) + len(rest) - 1
        expected = sum(float(logp[at + j, t]) for j, t in enumerate(tail))
        assert value == pytest.approx(expected, abs=0.05), label
    assert max(len(tok(" " + lab, add_special_tokens=False).input_ids) for lab in labels) > 1
    assert labels[int(got.argmax())] == "musical instrument"
    # calibrated against the neutral prompt, cached per label list
    shared, rest = lm_labeler.prompt_ids("", "N/A")
    assert tok.decode(shared + rest) == "In the text above, N/A is a"
    assert lm_labeler.neutral(labels) is lm_labeler.neutral(labels)


def test_detector_lm_labels_relabel_the_zero_shot_mentions(detector, capsys):
    if detector.type_head is None or not detector.type_head.zero_shot:
        pytest.skip("the shipped default has no zero-shot type head")
    text = "In 1937 Tolkien wrote The Hobbit while teaching at Oxford University in England."
    names = ["writer", "book", "university", "country", "person", "organization"]
    head_only = detector(text, labels=names)
    relabelled = detector(text, labels=names, lm_labels=True)
    check_offsets(text, relabelled)
    assert [(m.start, m.end, m.score) for m in relabelled] == [(m.start, m.end, m.score) for m in head_only]
    found = {m.text: m.label for m in relabelled}
    assert found == {
        "Tolkien": "writer",
        "The Hobbit": "book",
        "Oxford University": "university",
        "England": "country",
    }
    assert {m.text: m.label for m in head_only}["Tolkien"] == "person"  # the head alone: the generic type
    assert detector.lm_labeler() is detector.lm_labeler()  # loaded once
    config = detector.type_head.config
    saved, config.text_prefix = config.text_prefix, "\n"  # offsets stay those of the given text
    try:
        check_offsets(text, detector(text, labels=names, lm_labels=True))
    finally:
        config.text_prefix = saved
    assert main(["detect", "--json", "--labels", ",".join(names), "--lm-labels", text]) == 0
    assert {m["text"]: m["label"] for m in json.loads(capsys.readouterr().out)} == found
    assert main(["detect", "--lm-labels", text]) == 2
    assert "--lm-labels needs --labels" in capsys.readouterr().err


def test_lm_labels_need_a_zero_shot_head(tmp_path):
    head = small_head("supervised", hidden=576)
    detector = tommer.load("smollm2-135m")
    detector.type_head = head
    with pytest.raises(ConfigError, match="supervised"):
        detector(SENTENCE, lm_labels=True)
