"""Shared fixtures: the real default backbone and detector (no mocks), and the shared data."""

from __future__ import annotations

import pytest

import tommer
from tommer.data.readers import data_root
from tommer.errors import ModelNotFoundError


@pytest.fixture(scope="session")
def detector() -> tommer.MentionDetector:
    return tommer.load()


ZERO_SHOT = "smollm2-135m-types"  # the shipped model with a zero-shot type head


@pytest.fixture(scope="session")
def zero_shot_detector() -> tommer.MentionDetector:
    return tommer.load(ZERO_SHOT)


@pytest.fixture(scope="session")
def backbone(detector):
    """The default's backbone at the probe's layer, loaded on its own: a typed call on the shared
    detector may have replaced ``detector.backbone`` with a deeper one."""
    from tommer.core.backbone import Backbone

    return Backbone.load(detector.config.backbone, detector.config.layer)


@pytest.fixture(scope="session")
def shared_data():
    root = data_root()
    if not (root / "README.md").exists():
        pytest.skip(f"shared data not found at {root}: set TOMMER_DATA to the data folder")
    return root


@pytest.fixture(scope="session")
def live(request):
    """(detector, trained): the shipped default, else the real backbone with an untrained probe."""
    try:
        return request.getfixturevalue("detector"), True
    except ModelNotFoundError:
        import torch

        from tommer.core.backbone import Backbone
        from tommer.core.config import DetectorConfig
        from tommer.core.probe import ProbeConfig, ToMMeRProbe
        from tommer.typed.detector import MentionDetector

        torch.manual_seed(0)
        backbone = Backbone.load("smollm2-135m", 6)
        probe = ToMMeRProbe(ProbeConfig(backbone.hidden_size))
        return MentionDetector(DetectorConfig("smollm2-135m", 6, probe.config), backbone, probe), False
