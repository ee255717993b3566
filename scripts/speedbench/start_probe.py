"""A new process's way to its first mentions, split (``time.perf_counter``) into steps:

- import: the CLI's modules (what ``tommer detect`` imports before it loads a model);
- runtime: the engine's runtime, which the CLI imports lazily while loading (torch engines: torch and
  transformers; ONNX engines: onnxruntime and tokenizers; openvino: openvino and tokenizers), imported
  here on its own to be seen apart;
- load: ``load_detector(model, engine=...)`` (files, weights, session);
- first call: ``detector(sentence)`` and printing its mentions.

    python -m speedbench.start_probe --engine ENGINE --stats stats.json [--model NAME]

It does what ``python -m tommer.cli detect "<sentence>"`` does, with a clock between the steps.
Interpreter start-up and exit are outside it: the parent's wall time of this process minus the steps.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time

T0 = time.perf_counter()

import tommer.cli.main  # noqa: E402, F401  (the CLI's imports: what `tommer detect` pays before loading)
from tommer.core.layout import DEFAULT_MODEL  # noqa: E402
from tommer.typed.loading import load_detector  # noqa: E402

T_IMPORT = time.perf_counter()

from speedbench.common import SENTENCE  # noqa: E402

RUNTIMES = {
    "torch": ("torch", "transformers"),
    "onnx": ("onnxruntime", "tokenizers"),
    "openvino": ("openvino", "tokenizers"),
}
HEAVY = ("torch", "transformers", "onnxruntime", "openvino", "tokenizers")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", required=True)
    ap.add_argument("--stats", required=True)
    ap.add_argument("--model", default=DEFAULT_MODEL)
    args = ap.parse_args()
    t0 = time.perf_counter()
    from tommer.core.engines import resolve_engine

    engine = resolve_engine(args.engine)
    for module in RUNTIMES[next((r for r in ("onnx", "openvino") if engine.startswith(r)), "torch")]:
        importlib.import_module(module)
    t1 = time.perf_counter()
    detector = load_detector(args.model, engine=args.engine)
    t2 = time.perf_counter()
    mentions = detector(SENTENCE)
    for m in mentions:
        print(m.start, m.end, f"{m.score:.3f}", m.text)
    t3 = time.perf_counter()
    stats = {
        "import_s": T_IMPORT - T0,
        "runtime_s": t1 - t0,
        "load_s": t2 - t1,
        "first_call_s": t3 - t2,
        "mentions": [m.text for m in mentions],
        "ran_as": getattr(getattr(detector, "engine", None), "name", args.engine),
        "imported_torch": "torch" in sys.modules,
        "imported": [m for m in HEAVY if m in sys.modules],
    }
    with open(args.stats, "w") as f:
        json.dump(stats, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
