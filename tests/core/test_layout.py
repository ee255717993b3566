"""Saved model directories: what makes one, where a probe's weights are, the shipped models."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from tommer.core.layout import (
    CONFIG_NAME,
    PRETRAINED_DIR,
    PROBE_FROM,
    WEIGHTS_NAME,
    probe_weights,
    resolve_model_dir,
)
from tommer.errors import ModelNotFoundError


def test_shipped_models_store_no_copy_of_another_probe():
    files = sorted(PRETRAINED_DIR.glob(f"*/{WEIGHTS_NAME}"))
    digests = [hashlib.sha256(f.read_bytes()).hexdigest() for f in files]
    assert len(set(digests)) == len(digests), files
    conll = resolve_model_dir("smollm2-135m-conll03")
    assert probe_weights(conll) == PRETRAINED_DIR / "smollm2-135m" / WEIGHTS_NAME


def test_probe_from_must_name_a_shipped_model(tmp_path):
    model = tmp_path / "m"
    shutil.copytree(resolve_model_dir("smollm2-135m-conll03"), model)
    assert probe_weights(model) == PRETRAINED_DIR / "smollm2-135m" / WEIGHTS_NAME
    config = json.loads((model / CONFIG_NAME).read_text())
    (model / CONFIG_NAME).write_text(json.dumps({**config, PROBE_FROM: "no-such-model"}))
    with pytest.raises(ModelNotFoundError, match=WEIGHTS_NAME):
        resolve_model_dir(model)
