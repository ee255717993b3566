"""Where a detector call's engine time goes: every forward pass of the ``openvino`` engine on the
bench's corpus, logged (issue #20).

Loads the default model on the ``openvino`` engine (``tommer.load``), runs it in process over the
bench's corpus (``speedbench.corpus.load_sentences``: test sentences of 8 benchmarks, ``--words``
words, one text each) in ``--calls`` detector calls, and logs each engine pass: its rows × tokens,
the padded shape it ran as (``OpenVinoEngine.padded_shape``) and its wall time. Reports the real and
padded tokens, the engine's share of the calls, its padded tokens/s, the time of each shape's
first pass (compilation) and the most frequent shapes. Compare with the tokens/s at one full shape
in results/tried/openvino_int8_layer_sets_agreement.md. Writes results/tried/pass_log.{md,json}.

    python experiments/pass_log.py [--words 100000] [--calls 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

from speedbench.common import cpu_flags  # noqa: E402
from speedbench.corpus import DEFAULT_BENCHMARKS, load_sentences  # noqa: E402

import tommer  # noqa: E402
from tommer.core.engines import openvino_engine  # noqa: E402
from tommer.data.readers import data_root  # noqa: E402


def logged_passes(texts: list[str], calls: int) -> tuple[list[tuple], float]:
    """``(rows, tokens, padded rows, padded tokens, seconds, window tokens)`` of each engine pass (the
    collated ids' shape, the shape it ran as, its wall time, its unmasked tokens), and the calls' time."""
    log: list[tuple] = []
    original = openvino_engine.OpenVinoEngine.span_logits

    def timed(self, ids, mask, shapes=None):
        started = time.perf_counter()
        out = original(self, ids, mask, shapes)
        rows, tokens = ids.shape
        seconds = time.perf_counter() - started
        log.append((rows, tokens, *self.padded_shape(rows, tokens), seconds, int(mask.sum())))
        return out

    detector = tommer.load(engine="openvino")
    openvino_engine.OpenVinoEngine.span_logits = timed
    try:
        size = -(-len(texts) // calls)
        started = time.perf_counter()
        for k in range(0, len(texts), size):
            detector(texts[k : k + size])
        return log, time.perf_counter() - started
    finally:
        openvino_engine.OpenVinoEngine.span_logits = original


def summary(log: list[tuple], seconds: float) -> dict:
    real = sum(entry[5] for entry in log)
    collated = sum(r * t for r, t, *_ in log)
    padded = sum(pr * pt for _, _, pr, pt, *_ in log)
    engine = sum(entry[4] for entry in log)
    by_shape: dict[tuple[int, int], list[float]] = defaultdict(list)
    for _, _, pr, pt, s, _ in log:
        by_shape[(pr, pt)].append(s)
    common = sorted(by_shape.items(), key=lambda item: -len(item[1]))[:10]
    return {
        "passes": len(log),
        "real_tokens": real,
        "collated_tokens": collated,
        "padded_tokens": padded,
        "call_seconds": seconds,
        "engine_seconds": engine,
        "padded_tokens_per_second": padded / engine,
        "shapes": len(by_shape),
        "first_pass_seconds": sum(times[0] for times in by_shape.values()),
        "common_shapes": [
            {
                "shape": list(shape),
                "passes": len(times),
                "first_seconds": times[0],
                "median_seconds": statistics.median(times),
                "tokens_per_second": shape[0] * shape[1] / statistics.median(times),
            }
            for shape, times in common
        ],
    }


def render(report: dict) -> str:
    s = report["summary"]
    lines = [
        "# The openvino engine's forward passes on the bench's corpus (issue #20)",
        "",
        f"Written by `{report['command']}`: {report['texts']} texts ({report['words']} words) in "
        f"{report['calls']} detector calls of the default model, in process; "
        f"CPU flags `{report['cpu_flags']}`.",
        "",
        f"- {s['passes']} passes, {s['real_tokens']} tokens of windows (BOS included), "
        f"{s['collated_tokens']} as collated (each pass padded to its longest window), "
        f"{s['padded_tokens']} as run (the engine's shape buckets): "
        f"{100 * (1 - s['real_tokens'] / s['padded_tokens']):.1f}% padding in all",
        f"- engine {s['engine_seconds']:.2f} s of the calls' {s['call_seconds']:.2f} s "
        f"({100 * s['engine_seconds'] / s['call_seconds']:.0f}%), "
        f"{s['padded_tokens_per_second']:.0f} padded tokens/s",
        f"- {s['shapes']} shapes; their first passes (compilation included) took "
        f"{s['first_pass_seconds']:.2f} s",
        "",
        "| shape (rows × tokens, padded) | passes | first pass (s) | median pass (s) "
        "| tokens/s at the median |",
        "|---|---:|---:|---:|---:|",
    ]
    for c in s["common_shapes"]:
        rows, tokens = c["shape"]
        lines.append(
            f"| {rows} × {tokens} | {c['passes']} | {c['first_seconds']:.3f} | {c['median_seconds']:.3f} | "
            f"{c['tokens_per_second']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--words", type=int, default=100_000)
    ap.add_argument("--calls", type=int, default=2)
    ap.add_argument("--data-root")
    ap.add_argument("--out", default=str(ROOT / "results" / "tried" / "pass_log"))
    args = ap.parse_args(argv)
    root = Path(args.data_root) if args.data_root else data_root()
    texts, _ = load_sentences(root, DEFAULT_BENCHMARKS, args.words)
    log, seconds = logged_passes(texts, args.calls)
    report = {
        "command": " ".join(["python experiments/pass_log.py", *(argv or sys.argv[1:])]),
        "texts": len(texts),
        "words": sum(len(t.split()) for t in texts),
        "calls": args.calls,
        "cpu_flags": " ".join(cpu_flags()),
        "summary": summary(log, seconds),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(render(report))
    print(render(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
