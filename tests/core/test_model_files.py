"""Tampered model directories and corrupted caches: a clear error naming the file, or a rebuild;
never wrong output."""

from __future__ import annotations

import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

import tommer
from tommer.cli import main
from tommer.core.backbone import Backbone
from tommer.core.layout import resolve_model_dir
from tommer.core.sources import cache_root, converted_dir, resolve_source
from tommer.errors import ModelFileError, TommerError


def _tamper(path, how: str) -> None:
    if how == "missing":
        path.unlink()
    elif how == "torn":
        path.write_bytes(path.read_bytes()[:1000])
    else:  # every tensor replaced by one of another shape
        save_file({k: torch.zeros(3, 3) for k in load_file(str(path))}, str(path))


@pytest.mark.parametrize("how", ["missing", "torn", "shapes"])
def test_tampered_probe_weights_are_named(tmp_path, capsys, how):
    model = tmp_path / "model"
    shutil.copytree(resolve_model_dir("smollm2-135m"), model)
    _tamper(model / "model.safetensors", how)
    with pytest.raises(TommerError, match="model.safetensors"):  # missing: not a model directory
        tommer.load(model, engine="torch")
    assert main(["detect", "--engine", "torch", "--model", str(model), "Paris"]) == 2
    assert "model.safetensors" in capsys.readouterr().err


@pytest.mark.parametrize("how", ["torn", "shapes"])
def test_tampered_type_head_is_named(tmp_path, how):
    model = tmp_path / "model"
    shutil.copytree(resolve_model_dir("smollm2-135m-types"), model)
    _tamper(model / "types.safetensors", how)
    with pytest.raises(ModelFileError, match="types.safetensors"):
        tommer.load(model, engine="torch")


def test_a_corrupted_bf16_copy_is_converted_again(tmp_path, monkeypatch, caplog):
    """A bf16 copy changed after it was written (here: zeroed bytes in its weights) is converted
    again from the GGUF file, and the backbone's states are those of an intact copy."""
    gguf = resolve_source("smollm2-135m")
    intact = converted_dir(gguf)
    ids, mask = torch.tensor([[1, 2, 3, 4]]), torch.ones(1, 4, dtype=torch.long)
    expected = Backbone.load("smollm2-135m", 2).hidden_states(ids, mask)
    monkeypatch.setenv("TOMMER_CACHE", str(tmp_path))
    copy = converted_dir(gguf)
    assert copy != intact and str(cache_root()) == str(tmp_path)
    shutil.copytree(intact, copy)
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-4096:] = bytes(4096)
    weights.write_bytes(bytes(data))
    with caplog.at_level("WARNING"):
        states = Backbone.load("smollm2-135m", 2).hidden_states(ids, mask)
    assert "converting" in caplog.text
    assert torch.equal(states, expected)
