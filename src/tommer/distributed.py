"""Corpora on a Ray cluster: ``tommer.distributed.detect_files`` / ``detect_dataset`` (``pip install
"tommer[ray]"``); see :mod:`tommer.integrations.distributed`."""

from .integrations.corpus import Detection
from .integrations.distributed import DistributedRun, detect_dataset, detect_files, init_ray

__all__ = ["Detection", "DistributedRun", "detect_dataset", "detect_files", "init_ray"]
