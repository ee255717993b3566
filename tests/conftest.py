"""Shared fixtures: the real default backbone and detector (no mocks), and the shared data."""

from __future__ import annotations

from pathlib import Path

import pytest

import tommer
from tommer.core.sources import cache_root
from tommer.data.readers import data_root
from tommer.errors import ModelNotFoundError


def _fresh_cache(cache: Path) -> Path:
    """``cache`` made a TOMMER_CACHE without exports: the user cache's converted backbones are linked
    in, so a test's exports (of a model it trained, say) are built there, not in the user cache."""
    cache.mkdir(parents=True, exist_ok=True)
    real = cache_root()
    for sub in ("backbones", "gguf"):
        if (real / sub).is_dir():
            (cache / sub).symlink_to(real / sub, target_is_directory=True)
    return cache


@pytest.fixture(scope="session")
def fresh_cache():
    """:func:`_fresh_cache`, for fixtures of a wider scope than a test."""
    return _fresh_cache


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch) -> Path:
    """A TOMMER_CACHE of this test only (see :func:`_fresh_cache`)."""
    cache = _fresh_cache(tmp_path / "tommer-cache")
    monkeypatch.setenv("TOMMER_CACHE", str(cache))
    return cache


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
