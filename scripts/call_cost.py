"""The fixed cost of one engine call, in padded tokens: what ``tommer.core.detector.CALL_TOKENS`` is.

Times ``engine.span_probabilities`` on padded batches of B windows of T tokens (median of
``--repeats`` calls each) and fits ``seconds = a + b · (B · T)`` by least squares: ``a`` is the cost
of a call, ``b`` the cost of a padded token, and ``a / b`` the call's cost in tokens, the constant
``forward_batches`` weighs calls against padding with. Writes results/call_cost.md and .json.

    python scripts/call_cost.py [--model smollm2-135m] [--engine onnx]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

import tommer
from tommer.core.detector import CALL_TOKENS
from tommer.core.engines import cpu_flags, thread_count

ROOT = Path(__file__).resolve().parents[1]
SIZES = [(b, t) for t in (8, 16, 32, 64, 128) for b in (1, 2, 4, 8)]


def time_call(engine, batch: int, tokens: int, repeats: int) -> float:
    ids = np.full((batch, tokens), 1000, dtype=np.int64)
    ids[:, 0] = engine.bos_id
    mask = np.ones_like(ids)
    shapes = np.zeros_like(ids)
    engine.span_probabilities(ids, mask, shapes)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        engine.span_probabilities(ids, mask, shapes)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--engine", default="onnx")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--out", default=str(ROOT / "results" / "call_cost"))
    args = ap.parse_args(argv)

    engine = tommer.load(args.model, engine=args.engine).engine
    rows = [{"batch": b, "tokens": t, "seconds": time_call(engine, b, t, args.repeats)} for b, t in SIZES]
    x = np.array([r["batch"] * r["tokens"] for r in rows], dtype=float)
    y = np.array([r["seconds"] for r in rows])
    slope, intercept = np.polyfit(x, y, 1)
    flags = sorted(cpu_flags() & {"avx2", "avx512f", "avx512_bf16", "amx_bf16"})
    report = {
        "model": args.model,
        "engine": engine.name,
        "threads": thread_count(),
        "cpu_flags": flags,
        "rows": rows,
        "call_ms": intercept * 1e3,
        "token_ms": slope * 1e3,
        "call_tokens": intercept / slope,
        "shipped_call_tokens": CALL_TOKENS,
    }
    out = Path(args.out)
    out.with_name(out.name + ".json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# The cost of one engine call, in padded tokens",
        "",
        f"Written by `python scripts/call_cost.py --model {args.model} --engine {args.engine}`: "
        f"`span_probabilities` on B windows of T tokens, median of {args.repeats} calls each, "
        f"{report['threads']} threads, CPU flags {', '.join(flags) or 'none of avx2 / avx512'}.",
        "",
        "| B | T | padded tokens | ms per call | ms per padded token |",
        "|---:|---:|---:|---:|---:|",
        *(
            f"| {r['batch']} | {r['tokens']} | {r['batch'] * r['tokens']} | {r['seconds'] * 1e3:.2f} "
            f"| {r['seconds'] * 1e3 / (r['batch'] * r['tokens']):.3f} |"
            for r in rows
        ),
        "",
        f"Least-squares fit `ms = {report['call_ms']:.2f} + {report['token_ms']:.3f} × padded tokens`: "
        f"one call costs as much as **{report['call_tokens']:.0f} padded tokens** "
        f"(`tommer.core.detector.CALL_TOKENS` = {CALL_TOKENS}).",
        "",
    ]
    out.with_name(out.name + ".md").write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
