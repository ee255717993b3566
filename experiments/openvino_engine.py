"""OpenVINO as an engine: the default's ONNX export compiled by OpenVINO's CPU plugin (issue #20).

Each variant runs in its own process (so its peak RSS is its own): the default model on dev
sentences (the first ``--limit`` with an entity of each benchmark), through ``detector(texts)``
with the engine swapped for one that runs the same ``model.onnx``. Compared with the ``onnx``
engine (ONNX Runtime, whose mentions equal torch-fp32's: results/engines.md): DICE of the
(sentence, start, end) sets, recall and precision against gold, words/s in process (after a
warm-up pass over the same texts, so each engine has seen every shape), and the peak RSS.

    python experiments/openvino_engine.py --limit 100 --out results/tried/openvino
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
from int8_exclusions import dev_texts, dice, spans

import tommer
from tommer.core.engines import cpu_flags, native_bf16, thread_count
from tommer.core.engines.onnx_engine import MODEL_FP32, SHAPES_INPUT, OnnxEngine

# name: (OpenVINO inference precision, CPU_RUNTIME_CACHE_CAPACITY or None for OpenVINO's default)
VARIANTS = {
    "openvino fp32": ("f32", None),
    "openvino bf16": ("bf16", None),
    "openvino bf16, shape cache 0": ("bf16", 0),
}


class OpenVinoEngine(OnnxEngine):
    """The ``onnx`` engine's export, tokenizer and decoding, with OpenVINO running the graph."""

    def __init__(self, directory: Path, precision: str, cache: int | None) -> None:
        import openvino as ov

        super().__init__(directory, "onnx")
        del self.session
        core = ov.Core()
        model = core.read_model(str(self.directory / MODEL_FP32))
        config = {
            "INFERENCE_PRECISION_HINT": precision,
            "INFERENCE_NUM_THREADS": thread_count(),
            "PERFORMANCE_HINT": "LATENCY",
            "NUM_STREAMS": 1,
        }
        if cache is not None:
            config["CPU_RUNTIME_CACHE_CAPACITY"] = cache
        self.request = core.compile_model(model, "CPU", config).create_infer_request()
        self.lock = threading.Lock()
        self.name = f"openvino-{precision}"

    def span_logits(self, ids: np.ndarray, mask: np.ndarray, shapes: np.ndarray | None = None) -> np.ndarray:
        feed = {
            "input_ids": np.ascontiguousarray(ids, dtype=np.int64),
            "attention_mask": np.ascontiguousarray(mask, dtype=np.int64),
        }
        if self.reads_shapes:
            feed[SHAPES_INPUT] = np.ascontiguousarray(shapes, dtype=np.int64)
        with self.lock:
            return np.array(self.request.infer(feed)["logits"], copy=True)


def run_one(variant: str, limit: int) -> dict:
    """One variant in this process: its spans, seconds of the timed pass, load seconds, peak RSS."""
    texts, _ = dev_texts(limit)
    start = time.perf_counter()
    detector = tommer.load(engine="onnx")
    if variant != "onnx":
        detector._engine = OpenVinoEngine(detector.engine.directory, *VARIANTS[variant])
    load_s = time.perf_counter() - start
    detector(texts)  # warm-up: every shape once
    start = time.perf_counter()
    found = detector(texts)
    seconds = time.perf_counter() - start
    return {
        "variant": variant,
        "spans": sorted(spans(found)),
        "seconds": seconds,
        "load_s": load_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1000,
    }


def render(run: dict, out: Path) -> None:
    lines = [
        "# OpenVINO as an engine (issue #20)",
        "",
        f"Written by `python experiments/openvino_engine.py --limit {run['limit']} --out {out}` (OpenVINO "
        f"{run['openvino']}): the default's ONNX export",
        "compiled by OpenVINO's CPU plugin, against the `onnx` engine (ONNX Runtime) on the same export, "
        f"{run['sentences']} dev",
        f"sentences ({run['words']:,} words; the first {run['limit']} with an entity of each benchmark), "
        f"{run['threads']} threads, one process per",
        "row. words/s: `detector(texts)` in process after a warm-up pass over the same texts; peak RSS of "
        "that process.",
        f"CPU flags: {' '.join(run['cpu_flags'])}; native bf16: {run['native_bf16']}.",
        "",
        "| engine | DICE vs onnx | recall | precision | words/s | × onnx | load (s) | peak RSS (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    base = run["rows"][0]["words_per_s"]
    for r in run["rows"]:
        lines.append(
            f"| {r['variant']} | {r['dice_vs_onnx']:.4f} | {r['recall']:.2f} | {r['precision']:.2f} | "
            f"{r['words_per_s']} | {r['words_per_s'] / base:.2f} | {r['load_s']:.2f} | "
            f"{r['peak_rss_mb']:.0f} |"
        )
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--out", type=Path, default=Path("results/tried/openvino"))
    ap.add_argument("--run", help=argparse.SUPPRESS)  # one variant, in a child process
    args = ap.parse_args()
    if args.run:
        print(json.dumps(run_one(args.run, args.limit)))
        return 0
    import openvino

    texts, gold = dev_texts(args.limit)
    gold_set = {(k, s, e) for k, g in enumerate(gold) for s, e in g}
    words = sum(len(t.split()) for t in texts)
    rows, reference = [], None
    for variant in ["onnx", *VARIANTS]:
        child = subprocess.run(
            [sys.executable, __file__, "--run", variant, "--limit", str(args.limit)],
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(child.stdout.strip().splitlines()[-1])
        found = {tuple(s) for s in result.pop("spans")}
        reference = found if reference is None else reference
        row = {
            "variant": variant,
            "dice_vs_onnx": round(dice(found, reference), 4),
            "recall": round(100 * len(found & gold_set) / len(gold_set), 2),
            "precision": round(100 * len(found & gold_set) / max(len(found), 1), 2),
            "words_per_s": round(words / result["seconds"]),
            "load_s": round(result["load_s"], 2),
            "peak_rss_mb": round(result["peak_rss_mb"]),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    flags = sorted(f for f in cpu_flags() if f.startswith(("avx", "amx", "fma", "f16c")))
    run = {
        "limit": args.limit,
        "sentences": len(texts),
        "words": words,
        "threads": thread_count(),
        "openvino": openvino.__version__.split("-")[0],
        "cpu_flags": flags,
        "native_bf16": native_bf16(),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(run, indent=2) + "\n")
    render(run, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
