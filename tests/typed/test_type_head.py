"""Span-type heads (supervised, zero-shot, saved ensembles): features, scores, save and load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from type_heads import small_head

from tommer.errors import ConfigError
from tommer.typed.type_head import (
    FLAT_FIELDS,
    PART_OF,
    HeadArchitecture,
    OperatingPoint,
    ReadingProtocol,
    TypeHead,
    TypeHeadConfig,
    check_labels,
    decode_typed,
    join_layers,
    load_head,
    rms_norm,
    save_head,
    span_features,
)


@pytest.mark.parametrize("kind,bilstm_dim", [("supervised", 0), ("zero-shot", 0), ("supervised", 6)])
def test_head_save_load_round_trip(tmp_path, kind, bilstm_dim):
    head = small_head(kind, hidden=8, bilstm_dim=bilstm_dim)
    head.config.info = {"note": "round trip"}
    save_head(head, tmp_path)
    loaded = load_head(tmp_path)
    assert loaded.config == head.config
    for name, value in head.state_dict().items():  # stored as float16
        assert torch.equal(loaded.state_dict()[name], value.half().float()), name


SHIPPED_HEADS = sorted(
    str(p) for p in Path(__file__).resolve().parents[2].glob("src/tommer/pretrained/*/types.json")
)


def test_config_parts_and_their_flat_names():
    """Shape, reading protocol, operating point and provenance are separate parts; the flat names
    (those of types.json) read and write them."""
    config = TypeHeadConfig.of(
        "supervised", 8, labels=["person"], dim=16, layer=4, echo=True, label_threshold=0.3, info={"seed": 1}
    )
    assert config.architecture == HeadArchitecture("supervised", 8, labels=["person"], dim=16)
    assert config.reading == ReadingProtocol(layer=4, echo=True)
    assert config.operating == OperatingPoint(label_threshold=0.3) and config.info == {"seed": 1}
    assert (config.kind, config.dim, config.echo, config.label_threshold) == ("supervised", 16, True, 0.3)
    config.text_prefix, config.candidate_threshold = "\n", 1e-5
    assert config.reading.text_prefix == "\n" and config.operating.candidate_threshold == 1e-5
    other = config.copy(label_threshold=0.7, members=2)  # every part copied, the changes routed
    other.reading.echo = False
    assert (config.label_threshold, config.members, config.echo) == (0.3, 1, True)
    assert (other.label_threshold, other.members, other.layer) == (0.7, 2, 4)
    assert set(FLAT_FIELDS) == set(PART_OF)  # every part's field is written to types.json
    with pytest.raises(TypeError, match="label_encoder"):
        TypeHeadConfig.of("zero-shot", 8, label_encoder="mlp")
    with pytest.raises(TypeError):  # as for a missing field of a dataclass (load_head names the file)
        TypeHeadConfig.from_dict({"kind": "zero-shot"})


@pytest.mark.parametrize("path", SHIPPED_HEADS)
def test_saved_head_configs_load_and_write_the_same_flat_json(path):
    """The shipped types.json files (older ones too) load into the parts and are written back field
    for field, flat, in the file's order."""
    data = json.loads(Path(path).read_text())
    config = TypeHeadConfig.from_dict(data)
    written = config.to_dict()
    assert list(written) == [*FLAT_FIELDS, "info"]  # older files lack the later fields: their defaults
    assert {k: written[k] for k in data} == data
    assert TypeHeadConfig.from_dict(written) == config


def test_load_head_absent_and_broken(tmp_path):
    assert load_head(tmp_path) is None
    (tmp_path / "types.json").write_text(json.dumps({"kind": "zero-shot", "hidden_size": 8}))
    with pytest.raises(Exception, match="types.safetensors"):
        load_head(tmp_path)
    with pytest.raises(ConfigError, match="kind"):
        TypeHeadConfig.of("typed", 8)
    with pytest.raises(ConfigError, match="label set"):
        TypeHeadConfig.of("supervised", 8)
    with pytest.raises(ConfigError, match="extra_layers"):
        TypeHeadConfig.of("zero-shot", 8, extra_layers=[9])
    with pytest.raises(ConfigError, match="bilstm_dim"):
        TypeHeadConfig.of("zero-shot", 8, bilstm_dim=5)
    # the linear / identity label encoders were removed: such a head is refused, an mlp one loads
    old = {"kind": "zero-shot", "hidden_size": 8, "label_encoder": "mlp"}
    assert TypeHeadConfig.from_dict(old) == TypeHeadConfig.of("zero-shot", 8)
    (tmp_path / "types.json").write_text(json.dumps({**old, "label_encoder": "linear"}))
    (tmp_path / "types.safetensors").write_bytes(b"")
    with pytest.raises(ConfigError, match="label_encoder 'linear' is no longer supported"):
        load_head(tmp_path)


def test_zero_shot_head_scores_span_label_pairs():
    head = small_head("zero-shot", hidden=8)
    labels = head.encode_labels(torch.randn(3, 16))  # label_states: (L, 2 * hidden)
    assert torch.allclose(labels.norm(dim=-1), torch.ones(3))
    assert labels.shape == (3, head.config.dim)
    scores = head.class_probs(torch.randn(6, 8), torch.tensor([[1, 2], [3, 3]]), labels)
    assert scores.shape == (2, 3) and ((scores > 0) & (scores < 1)).all()


def members_of(config: TypeHeadConfig, heads) -> TypeHead:
    """An ensemble head (``members`` > 1) holding the weights of ``heads``, as ``load_head`` builds it."""
    head = TypeHead(config)
    for slot, trained in zip(head.members, heads):
        slot.load_state_dict(trained.state_dict())
    return head.eval()


def test_ensemble_averages_its_members_and_round_trips(tmp_path):
    members = [small_head("supervised", hidden=8, bilstm_dim=6) for _ in range(3)]
    for k, member in enumerate(members[1:], start=1):  # small_head seeds 0: make the members differ
        torch.manual_seed(k)
        member.load_state_dict(TypeHead(member.config).state_dict())
    head = members_of(members[0].config.copy(members=3), members)
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
    with pytest.raises(ConfigError, match="members"):
        TypeHeadConfig.of("zero-shot", 8, members=2)
    with pytest.raises(ConfigError, match="members"):
        TypeHeadConfig.of("supervised", 8, labels=["person"], members=0)


def test_ensemble_of_heads_reading_different_layers(tmp_path):
    """Each member reads its own layers: the ensemble reads their union and hands each its columns."""
    torch.manual_seed(0)
    config = TypeHeadConfig.of("supervised", 8, labels=["person"], dim=16, layer=4, bilstm_dim=6)
    members = [TypeHead(config.copy(extra_layers=x)).eval() for x in ([6], [5, 6], [])]
    layers = dict(extra_layers=[5, 6], members=3, member_extra_layers=[[6], [5, 6], []])
    save_head(members_of(config.copy(**layers), members), tmp_path)
    head = load_head(tmp_path)
    assert head.config.read_layers(2) == [4, 5, 6]
    assert [m.config.extra_layers for m in head.members] == [[6], [5, 6], []]
    states = {m: torch.randn(10, 8) for m in (4, 5, 6)}  # one window's states per layer
    spans = torch.tensor([[1, 2], [4, 4], [5, 8]])
    with torch.no_grad():
        own = [join_layers([states[k] for k in m.config.read_layers(2)]) for m in members]
        each = [m.class_probs(x, spans) for m, x in zip(members, own)]
        mean = head.class_probs(join_layers([states[k] for k in (4, 5, 6)]), spans)
    assert torch.allclose(mean, torch.stack(each).mean(0), atol=2e-3)  # float16 weights
    assert not torch.allclose(each[0], each[1])
    two = dict(labels=["person"], extra_layers=[6], members=2)
    with pytest.raises(ConfigError, match="union"):
        TypeHeadConfig.of("supervised", 8, **two, member_extra_layers=[[5], []])
    with pytest.raises(ConfigError, match="lists 1 members"):
        TypeHeadConfig.of("supervised", 8, **two, member_extra_layers=[[6]])


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
    hidden, spans = torch.randn(5, 8), torch.tensor([(1, 1), (2, 3)])
    with torch.no_grad():
        scores = head.class_probs(hidden, spans)
    assert head.pick_labels(scores, head.config.labels, 0.0) == [None, None]
    head.config.beat_none = False  # a label scoring >= the threshold is kept even under "none"
    kept = head.pick_labels(scores, head.config.labels, 0.04)
    assert [k[0] for k in kept] == ["person", "person"] and kept[0][1] == pytest.approx(0.0452, abs=1e-3)
    assert head.pick_labels(scores, head.config.labels, 0.05) == [None, None]


def test_text_prefix_is_whitespace_and_shifts_spans():
    from tommer.data.mention import AnnotatedText, with_prefix

    with pytest.raises(ConfigError, match="whitespace only"):
        TypeHeadConfig.of("zero-shot", 8, text_prefix="Text: ")
    docs = with_prefix([AnnotatedText("Paris and Rome.", [(0, 5), (10, 14)], "a", ["city", "city"])], "\n")
    assert docs[0].text == "\nParis and Rome." and [docs[0].text[s:e] for s, e in docs[0].spans] == [
        "Paris",
        "Rome",
    ]


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
