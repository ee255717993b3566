"""What the benchmark knows about a shipped model besides its speed: backbone and layer (its config),
cost per token (the layer sweeps) and pooled dev quality at its operating point, all read from files
that other scripts wrote (nothing is measured here).

- ``results/layer_sweep_<backbone>*.json`` (``scripts/layer_sweep.py``): MFLOP per token of the first
  L blocks (2 × their parameters);
- ``results/operating_point.json`` for the default model, ``results/operating_point_<model>.json``
  for the others (``scripts/choose_operating_point.py``): the chosen decoding's pooled dev P / R / F1.
"""

from __future__ import annotations

import json
from typing import Any

from .common import REPO

RESULTS = REPO / "results"


def _mflop(backbone: str, layer: int) -> float | None:
    for path in sorted(RESULTS.glob(f"layer_sweep_{backbone}*.json")):
        for row in json.loads(path.read_text()).get("rows", []):
            if row.get("layer") == layer:
                return row.get("mflop_per_token")
    return None


def _operating_point(model: str, default: str) -> tuple[dict | None, str | None]:
    path = RESULTS / ("operating_point.json" if model == default else f"operating_point_{model}.json")
    if not path.is_file():
        return None, None
    report = json.loads(path.read_text())
    return report.get("chosen"), f"results/{path.name}"


def model_facts(model: str, default: str) -> dict[str, Any]:
    """Backbone, layer, margin, MFLOP per token and the dev operating point of a model (by name)."""
    from tommer.core.layout import CONFIG_NAME, resolve_model_dir

    config = json.loads((resolve_model_dir(model) / CONFIG_NAME).read_text())
    backbone, layer = config["backbone"], int(config["layer"])
    chosen, source = _operating_point(model, default)
    return {
        "backbone": backbone,
        "layer": layer,
        "margin": config.get("margin"),
        "mflop_per_token": _mflop(backbone, layer),
        "dev": chosen,
        "dev_source": source,
    }
