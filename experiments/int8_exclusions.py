"""Which backbone MatMuls can be int8 without drift? (issue #20: the int8 engine's DICE is 0.87).

Dynamic int8 quantisation (ONNX Runtime ``quantize_dynamic``: int8 weights per channel, activations
quantised per tensor at run time) of subsets of the default export's 42 backbone MatMuls (7 a layer,
in the order q, k, v, o, gate, up, down). Each variant's mentions on dev sentences (the first
``--limit`` of each benchmark's dev split with an entity) are compared with the fp32 export's:
DICE of the (sentence, start, end) sets, recall against gold, and words/s in this process
(``--threads``, one pass each, after a warm-up).

    python experiments/int8_exclusions.py --limit 100 --set 1 --out build/int8_exclusions_1.json
    python experiments/int8_exclusions.py --limit 100 --set 2 --out build/int8_exclusions_2.json
    python experiments/int8_exclusions.py --render build/int8_exclusions_1.json build/int8_exclusions_2.json
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import tommer
from tommer.core.engines.onnx_engine import META, MODEL_FP32, MODEL_INT8, OnnxEngine
from tommer.data.readers import data_root, read_benchmark_json

PER_LAYER = ("q", "k", "v", "o", "gate", "up", "down")


def dev_texts(limit: int):
    texts, gold = [], []
    for folder in sorted((data_root() / "benchmarks").iterdir()):
        if not (folder / "dev.json").is_file():
            continue
        docs = [d for d in read_benchmark_json(folder / "dev.json") if d.spans][:limit]
        for d in docs:
            texts.append(d.text)
            gold.append(set(d.spans))
    return texts, gold


def spans(results) -> set:
    return {(k, m.start, m.end) for k, ms in enumerate(results) for m in ms}


def dice(a: set, b: set) -> float:
    return 2 * len(a & b) / (len(a) + len(b)) if a or b else 1.0


def scratch_beside(source: Path, prefix: str) -> Path:
    """A temporary export folder linking ``source``'s files but its int8 model, for variants of it."""
    scratch = Path(tempfile.mkdtemp(prefix=prefix))
    for item in source.iterdir():
        if item.name != MODEL_INT8:
            (scratch / item.name).symlink_to(item)
    return scratch


def timed_spans(detector, engine, texts: list[str]) -> tuple[set, float]:
    """The (sentence, start, end) set of ``engine`` on ``texts`` and its seconds, after a warm-up."""
    detector._engine = engine
    detector(texts[:20])  # warm-up
    start = time.perf_counter()
    found = detector(texts)
    return spans(found), time.perf_counter() - start


def scores(found: set, reference: set, gold_set: set, words: int, seconds: float) -> dict:
    """A variant's row: DICE with the reference's spans, recall and precision against gold, words/s."""
    return {
        "dice_vs_fp32": round(dice(found, reference), 4),
        "recall": round(100 * len(found & gold_set) / len(gold_set), 2),
        "precision": round(100 * len(found & gold_set) / max(len(found), 1), 2),
        "words_per_s": round(words / seconds),
    }


def render(paths: list[str], out: str) -> None:
    """One markdown table of the runs' rows (the fp32 reference row once)."""
    runs = [json.loads(Path(p).read_text()) for p in paths]
    first = runs[0]
    lines = [
        "# int8 MatMuls against drift (issue #20)",
        "",
        "Written by `python experiments/int8_exclusions.py --render " + " ".join(paths) + "` from the runs",
        "in its docstring: dynamic int8 (ONNX Runtime `quantize_dynamic`, weights per channel, activations",
        "per tensor) of subsets of the default export's backbone MatMuls, on "
        f"{first['sentences']} dev sentences ({first['words']:,} words, the first 100 with an entity of each",
        f"benchmark's dev split), {first['threads']} thread. DICE: the (sentence, start, end) sets against",
        "the fp32 export; words/s: in process, one pass, after a warm-up (a noisy, single figure).",
        "",
        "| variant | int8 MatMuls | DICE vs fp32 | recall | precision | words/s | × fp32 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    seen = set()
    for run in runs:
        base = run["rows"][0]["words_per_s"]
        for r in run["rows"]:
            if r["variant"] in seen:
                continue
            seen.add(r["variant"])
            lines.append(
                f"| {r['variant']} | {r['int8_matmuls']} | {r['dice_vs_fp32']:.4f} | {r['recall']:.2f} | "
                f"{r['precision']:.2f} | {r['words_per_s']} | {r['words_per_s'] / base:.2f} |"
            )
    lines += [
        "",
        '`onnx-int8` now quantises "all but down_proj" (`tommer.core.engines.build.int8_matmuls`).',
        "No variant with a real speed-up reaches the eligibility rule of results/engines.md (DICE >= 0.99).",
        "",
    ]
    Path(out).write_text("\n".join(lines))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--render", nargs="+", metavar="JSON", help="write --md from these runs, and stop")
    ap.add_argument("--md", default="results/int8_exclusions.md")
    ap.add_argument("--limit", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="build/int8_exclusions.json")
    ap.add_argument("--set", type=int, default=1, help="1: by layer and kind; 2: by kind only")
    args = ap.parse_args()
    if args.render:
        render(args.render, args.md)
        return 0
    from onnxruntime.quantization import QuantType, quantize_dynamic

    texts, gold = dev_texts(args.limit)
    words = sum(len(t.split()) for t in texts)
    detector = tommer.load(engine="onnx")
    source = detector.engine.directory
    names = json.loads((source / META).read_text())["backbone_matmuls"]
    layers = len(names) // len(PER_LAYER)
    scratch = scratch_beside(source, "int8-")

    def kind(name: str) -> str:
        return PER_LAYER[names.index(name) % len(PER_LAYER)]

    def layer(name: str) -> int:
        return names.index(name) // len(PER_LAYER)

    variants = {"fp32 (no int8)": None, "all 42 int8": names}
    if args.set == 2:
        for kinds in ("gate up", "up", "gate up o", "gate up v o", "v o", "gate up v o down"):
            variants[f"only {kinds.replace(' ', '/')}"] = [n for n in names if kind(n) in kinds.split()]
        variants = {k: v for k, v in variants.items() if k != "all 42 int8"}
    variants["all but down_proj"] = [n for n in names if kind(n) != "down"]
    if args.set == 1:
        variants["all but gate/up/down (attention only)"] = [n for n in names if kind(n) in "qkvo"]
        for skip in range(layers):
            variants[f"all but layer {skip}'s down_proj"] = [
                n for n in names if not (kind(n) == "down" and layer(n) == skip)
            ]
        variants["all but layer 0"] = [n for n in names if layer(n) != 0]

    rows = []
    reference = None
    for name, nodes in variants.items():
        if nodes is None:
            engine = OnnxEngine(source, "onnx", threads=args.threads)
        else:
            target = scratch / MODEL_INT8
            target.unlink(missing_ok=True)
            quantize_dynamic(
                source / MODEL_FP32,
                target,
                weight_type=QuantType.QInt8,
                per_channel=True,
                op_types_to_quantize=["MatMul"],
                nodes_to_quantize=nodes,
            )
            engine = OnnxEngine(scratch, "onnx-int8", threads=args.threads)
        found, seconds = timed_spans(detector, engine, texts)
        reference = found if reference is None else reference
        gold_set = {(k, s, e) for k, g in enumerate(gold) for s, e in g}
        row = {
            "variant": name,
            "int8_matmuls": 0 if nodes is None else len(nodes),
            **scores(found, reference, gold_set, words, seconds),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    shutil.rmtree(scratch)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps({"sentences": len(texts), "words": words, "threads": args.threads, "rows": rows}, indent=2)
        + "\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
