"""One OpenVINO stream on all threads (the ``openvino`` engine) against several streams fed at once.

On the default model's OpenVINO copy, compiled as the engine compiles it (bf16 where native), it
times ``--batches`` passes of ``--rows`` × ``--tokens`` random token ids: one stream of all
threads, one request at a time, against ``--streams`` streams sharing the threads through an
``AsyncInferQueue`` (what a detector that ran several passes at once would get). Best of
``--repeats``. Writes results/tried/openvino_streams.md and .json.

    python experiments/openvino_streams.py [--streams 2] [--rows 32] [--tokens 32]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from tommer.core.engines import cpu_flags, native_bf16, thread_count
from tommer.core.engines.onnx_engine import MODEL_OPENVINO

ROOT = Path(__file__).resolve().parents[1]


def throughput(compiled, feeds: list[dict], streams: int, repeats: int) -> float:
    """Tokens per second of ``feeds`` through ``streams`` requests, best of ``repeats``."""
    import openvino as ov

    queue = ov.AsyncInferQueue(compiled, streams)
    best = float("inf")
    for _ in range(repeats + 1):  # the first run warms up
        started = time.perf_counter()
        for feed in feeds:
            queue.start_async(feed)
        queue.wait_all()
        best = min(best, time.perf_counter() - started)
    return sum(f["input_ids"].size for f in feeds) / best


def main(argv: list[str] | None = None) -> int:
    import openvino as ov

    import tommer

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--streams", type=int, default=2)
    ap.add_argument("--rows", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=32)
    ap.add_argument("--batches", type=int, default=24)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "results" / "tried" / "openvino_streams"))
    args = ap.parse_args(argv)

    directory = tommer.load(engine="openvino").engine.directory
    core = ov.Core()
    model = core.read_model(str(directory / MODEL_OPENVINO))
    rng = np.random.default_rng(0)
    shape = (args.rows, args.tokens)
    feeds = [
        {"input_ids": rng.integers(100, 10_000, shape), "attention_mask": np.ones(shape, dtype=np.int64)}
        for _ in range(args.batches)
    ]
    threads = thread_count()
    precision = "bf16" if native_bf16() else "f32"
    rows = []
    for streams in (1, args.streams):
        properties = {
            "INFERENCE_PRECISION_HINT": precision,
            "INFERENCE_NUM_THREADS": threads,
            "NUM_STREAMS": streams,
            "PERFORMANCE_HINT": "LATENCY" if streams == 1 else "THROUGHPUT",
        }
        compiled = core.compile_model(model, "CPU", properties)
        rows.append({"streams": streams, "tokens_per_s": throughput(compiled, feeds, streams, args.repeats)})
        print(json.dumps(rows[-1]), flush=True)
    flags = sorted(f for f in cpu_flags() if f.startswith(("avx", "amx")))
    report = {
        "argv": sys.argv[1:] if argv is None else argv,
        "threads": threads,
        "precision": precision,
        "rows_per_pass": args.rows,
        "tokens_per_row": args.tokens,
        "passes": args.batches,
        "openvino": ov.get_version(),
        "cpu_flags": flags,
        "rows": rows,
    }
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# One OpenVINO stream against several",
        "",
        f"Command: `{' '.join(['python experiments/openvino_streams.py', *report['argv']])}`",
        "",
        f"{args.batches} passes of {args.rows} × {args.tokens} token ids through the default model's "
        f"OpenVINO copy ({precision}, {threads} threads, OpenVINO {report['openvino']}), best of "
        f"{args.repeats} after a warm-up. CPU flags: `{' '.join(flags)}`.",
        "",
        "| streams | tokens/s | × one stream |",
        "|---|---|---|",
    ]
    lines += [
        f"| {r['streams']} | {r['tokens_per_s']:.0f} | {r['tokens_per_s'] / rows[0]['tokens_per_s']:.2f} |"
        for r in rows
    ]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
