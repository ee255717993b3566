"""Fixtures of the engine tests."""

from __future__ import annotations

import pytest

from tommer.core.sources import cache_root


@pytest.fixture(scope="module")
def engine_cache(tmp_path_factory):
    """A fresh TOMMER_CACHE for the module (its exports are built there); the converted backbones of
    the user cache are linked in, so only the export is built."""
    real = cache_root()
    cache = tmp_path_factory.mktemp("tommer-cache")
    for sub in ("backbones", "gguf"):
        if (real / sub).is_dir():
            (cache / sub).symlink_to(real / sub, target_is_directory=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TOMMER_CACHE", str(cache))
        mp.delenv("TOMMER_ENGINE", raising=False)
        yield cache
