"""How much could packing short texts into shared rows save? An upper bound, in one process (issue #20).

The detector runs each text's window in its own row, so a pass of short sentences is padded to its
longest one, then to the engine's shape bucket (results/tried/pass_log.md). Packing several texts into one row
(block-diagonal attention, positions per text, spans kept inside a text) would change the export;
before building it, this times what it could gain at most: the ``openvino`` engine's compiled model
on random token ids (a) in the pass shapes the detector sends on the bench's corpus (recorded through
``forward_batches`` as the detector calls it), against (b) the same number of real tokens in full
packed passes of each of ``--shapes`` (rows × tokens; no padding, no extra attention mask cost
counted). Rounds take (a) and each (b) in turn; best of ``--rounds``.
Writes results/tried/packing_bound.{md,json}.

    python experiments/packing_bound.py [--shapes 8x128,32x40] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from speedbench.common import cpu_flags  # noqa: E402
from speedbench.corpus import DEFAULT_BENCHMARKS, load_sentences  # noqa: E402

import tommer  # noqa: E402
from tommer.core.detector import BATCH_SIZE, forward_batches  # noqa: E402
from tommer.data.readers import data_root  # noqa: E402


def pass_shapes(detector, texts: list[str]) -> tuple[list[tuple[int, int]], int]:
    """The (rows, tokens) of each forward pass the detector makes for ``texts`` in one call (BOS
    included, before the engine's own padding), and the tokens of all its windows."""
    _, windows = detector.preprocess(texts)
    shapes = [
        (len(batch), max(w.length for w in batch))
        for batch in forward_batches(windows, BATCH_SIZE, detector.engine.padded_shape)
    ]
    return shapes, sum(w.length for w in windows)


def random_passes(shapes: list[tuple[int, int]], bos_id: int, rng) -> list[np.ndarray]:
    """One batch of random token ids per (rows, tokens) shape, BOS first in each row."""
    passes = []
    for rows, tokens in shapes:
        ids = rng.integers(100, 20000, (rows, tokens)).astype(np.int64)
        ids[:, 0] = bos_id
        passes.append(ids)
    return passes


def pass_seconds(engine, passes: list[np.ndarray]) -> float:
    """Seconds the engine takes for ``passes`` (nothing masked; padded as the engine pads)."""
    masks = [np.ones_like(ids) for ids in passes]
    started = time.perf_counter()
    for ids, mask in zip(passes, masks, strict=True):
        engine.span_logits(ids, mask)
    return time.perf_counter() - started


def timed(engine, shapes: list[tuple[int, int]], rng) -> float:
    """Seconds the engine takes for one pass of fresh random ids per shape."""
    return pass_seconds(engine, random_passes(shapes, engine.bos_id, rng))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--words", type=int, default=100_000)
    ap.add_argument("--shapes", default="8x128,32x40", help="packed pass shapes, rows x tokens")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--data-root")
    ap.add_argument("--out", default=str(ROOT / "results" / "tried" / "packing_bound"))
    args = ap.parse_args(argv)
    root = Path(args.data_root) if args.data_root else data_root()
    texts, _ = load_sentences(root, DEFAULT_BENCHMARKS, args.words)
    detector = tommer.load(engine="openvino")
    engine = detector.engine
    detector_shapes, real = pass_shapes(detector, texts)
    padded = sum(np.prod(engine.padded_shape(r, t)) for r, t in detector_shapes)
    packed = {}
    for name in args.shapes.split(","):
        rows, tokens = map(int, name.split("x"))
        packed[name] = [(rows, tokens)] * -(-real // (rows * tokens))
    rng = np.random.default_rng(0)
    timed(engine, sorted(set(detector_shapes)) + [p[0] for p in packed.values()], rng)  # compile each once
    best = {name: float("inf") for name in ["detector", *packed]}
    for _ in range(args.rounds):
        best["detector"] = min(best["detector"], timed(engine, detector_shapes, rng))
        for name, shapes in packed.items():
            best[name] = min(best[name], timed(engine, shapes, rng))
    report = {
        "command": " ".join(["python experiments/packing_bound.py", *(argv or sys.argv[1:])]),
        "texts": len(texts),
        "cpu_flags": " ".join(cpu_flags()),
        "engine": engine.name,
        "real_tokens": int(real),
        "detector": {"passes": len(detector_shapes), "tokens_run": int(padded), "seconds": best["detector"]},
        "packed": [
            {
                "passes": len(shapes),
                "shape": list(shapes[0]),
                "tokens_run": len(shapes) * shapes[0][0] * shapes[0][1],
                "seconds": best[name],
            }
            for name, shapes in packed.items()
        ],
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(render(report))
    print(render(report))
    return 0


def render(report: dict) -> str:
    d = report["detector"]
    rows = [("the detector's passes", d)]
    rows += [(f"packed, {p['shape'][0]} × {p['shape'][1]}", p) for p in report["packed"]]
    lines = [
        "# Packing texts into shared rows: the most it could save (issue #20)",
        "",
        f"Written by `{report['command']}`: the `{report['engine']}` engine on random ids, {report['texts']} "
        f"texts of the bench's corpus ({report['real_tokens']} tokens of windows, BOS included); CPU flags "
        f"`{report['cpu_flags']}`. Best of the rounds; an upper bound (packing's own masks and bookkeeping "
        "are not counted).",
        "",
        "| passes | count | tokens run | seconds | real tokens/s | × the detector's |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows:
        lines.append(
            f"| {name} | {r['passes']} | {r['tokens_run']} | {r['seconds']:.2f} | "
            f"{report['real_tokens'] / r['seconds']:.0f} | {d['seconds'] / r['seconds']:.2f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
