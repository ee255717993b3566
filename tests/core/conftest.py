"""Fixtures of the engine tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def engine_cache(tmp_path_factory, fresh_cache):
    """A fresh TOMMER_CACHE for the module (its exports are built there)."""
    cache = fresh_cache(tmp_path_factory.mktemp("tommer-cache"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TOMMER_CACHE", str(cache))
        mp.delenv("TOMMER_ENGINE", raising=False)
        yield cache
