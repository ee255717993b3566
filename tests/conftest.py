"""Shared fixtures: the real default backbone and detector (no mocks), and the shared data."""

from __future__ import annotations

import pytest

import tommer
from tommer.readers import data_root


@pytest.fixture(scope="session")
def detector() -> tommer.MentionDetector:
    return tommer.load()


@pytest.fixture(scope="session")
def backbone(detector):
    return detector.backbone


@pytest.fixture(scope="session")
def shared_data():
    root = data_root()
    if not (root / "README.md").exists():
        pytest.skip(f"shared data not found at {root}: set TOMMER_DATA to the data folder")
    return root
