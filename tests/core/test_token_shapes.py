"""A probe that reads token shapes (case): the shapes reach it on every path (torch engine, ONNX
export, the typed detector's readings), and case changes its scores where the ids do not say it.

The probe is untrained with random shape vectors, on the real default backbone (smollm2-135m)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tommer.core.backbone import Backbone
from tommer.core.config import DetectorConfig
from tommer.core.detector import ProbeDetector
from tommer.core.probe import ProbeConfig, ToMMeRProbe
from tommer.core.windows import collate_arrays, collate_shapes
from tommer.errors import ConfigError

TEXTS = ["Angela Merkel met Emmanuel Macron in Paris.", "NASA and the ECB met in Frankfurt.", "x"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    backbone = Backbone.load("smollm2-135m", 6)
    probe = ToMMeRProbe(ProbeConfig(backbone.hidden_size, token_shapes=True))
    with torch.no_grad():
        probe.shape_embedding.weight.normal_()
    config = DetectorConfig("smollm2-135m", 6, probe.config, threshold=0.3)
    return ProbeDetector(config, backbone, probe).save_pretrained(tmp_path_factory.mktemp("shapes-model"))


def _batch(detector, texts):
    encodings, windows = detector.preprocess(texts)
    ids, mask = collate_arrays(windows, encodings, detector.engine.bos_id, detector.engine.pad_id)
    return ids, mask, collate_shapes(windows, encodings)


def test_saved_config_and_card_record_token_shapes(model_dir):
    assert '"token_shapes": true' in (model_dir / "config.json").read_text()
    assert "| token shapes (case) | read |" in (model_dir / "README.md").read_text()


def test_case_changes_scores_only_through_shapes(model_dir):
    detector = ProbeDetector.from_pretrained(model_dir, engine="torch-fp32")
    ids, mask, shapes = _batch(detector, TEXTS)
    with pytest.raises(ConfigError, match="token shapes"):
        detector.forward(ids, mask)
    probs = detector.forward(ids, mask, shapes)
    lowered = detector.engine.span_probabilities(ids, mask, np.where(shapes > 0, 3, 0))
    assert not np.allclose(probs, lowered)
    found = detector(TEXTS)
    for text, mentions in zip(TEXTS, found):
        assert all(text[m.start : m.end] == m.text for m in mentions)
    assert sum(map(len, found)) > 0


def test_onnx_export_reads_shapes_like_torch(model_dir, engine_cache):
    pytest.importorskip("onnxruntime")
    onnx = ProbeDetector.from_pretrained(model_dir, engine="onnx")
    fp32 = ProbeDetector.from_pretrained(model_dir, engine="torch-fp32")
    assert onnx.engine.reads_shapes
    ids, mask, shapes = _batch(onnx, TEXTS)
    np.testing.assert_allclose(
        onnx.engine.span_probabilities(ids, mask, shapes),
        fp32.engine.span_probabilities(ids, mask, shapes),
        atol=1e-4,
    )
    with pytest.raises(ConfigError, match="token shapes"):
        onnx.engine.span_probabilities(ids, mask)
    assert [[(m.start, m.end) for m in ms] for ms in onnx(TEXTS)] == [
        [(m.start, m.end) for m in ms] for ms in fp32(TEXTS)
    ]
