"""Which inference engine may tommer use (issue #20)? Agreement with torch fp32, dev scores and speed.

For every engine (:mod:`tommer.core.engines`: ``torch-fp32``, ``torch-bf16``, ``onnx``, ``onnx-int8``)
the untyped detector runs on the dev split of every benchmark (``<data>/benchmarks/<name>/dev.json``,
``--limit`` sentences each, sentences with at least one gold span, as ``tommer eval``). Measured per
engine, against the reference ``torch-fp32``:

- mention agreement: DICE of the mention sets, a mention being (sentence, start, end, text), pooled over
  all benchmarks, per benchmark too; and how many mentions break ``text[start:end] == mention.text``;
- the change in pooled dev recall and precision (exact span match, :func:`score_spans`), in points;
- words/s (``len(text.split())`` over the wall time of the detector calls, after a warm-up call); the
  threads each engine used are recorded with the CPU flags.

An engine is eligible at DICE >= 0.99 and |delta recall| <= 0.5 points. The rule of
:func:`tommer.core.engines.auto_engine` (which engine ``auto`` picks on this CPU) must pick an eligible
engine; the report says whether it does, and the fastest eligible engine. Writes ``<out>.md`` and
``<out>.json`` (default ``results/engines``).

    python scripts/engine_agreement.py                       # all benchmarks, 200 dev sentences each
    python scripts/engine_agreement.py --limit 5 --out /tmp/engines   # smoke run (numbers meaningless)

The ONNX exports are built into the user cache first (outside the timed calls).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from sweep_common import cpu_flags

from tommer.core.detector import ProbeDetector
from tommer.core.engines import ENGINES, ONNX_ENGINES, auto_engine, native_bf16, thread_count
from tommer.core.engines.build import ensure_export
from tommer.core.engines.onnx_engine import (
    MODEL_FP32,
    MODEL_INT8,
    MODEL_OPENVINO,
    WEIGHTS_FP32,
    WEIGHTS_OPENVINO,
)
from tommer.core.layout import CONFIG_NAME, DEFAULT_MODEL, resolve_model_dir
from tommer.evaluation.evaluation import BENCHMARKS, load_benchmark, score_spans

REFERENCE = "torch-fp32"
MIN_DICE = 0.99
MAX_RECALL_DELTA = 0.5  # points
DEFAULT_ENGINES = ("torch-fp32", "torch-bf16", "onnx", "onnx-int8", "openvino")  # torch-bf16: bf16 CPUs
MODEL_FILES = {  # what each export engine reads from the export
    "onnx": (MODEL_FP32, WEIGHTS_FP32),
    "onnx-int8": (MODEL_INT8,),
    "openvino": (MODEL_OPENVINO, WEIGHTS_OPENVINO),
}


RESULTS = Path(__file__).resolve().parent.parent / "results"  # written here from any cwd


def dice(a: set, b: set) -> float:
    return 2 * len(a & b) / (len(a) + len(b)) if a or b else 1.0


def run_engine(model_dir: Path, engine: str, corpora: dict[str, list], batch_size: int) -> dict:
    """Mentions per benchmark and sentence, the wall time and the words of every call, for one engine."""
    import torch

    if engine in ONNX_ENGINES:
        from tommer.core.config import DetectorConfig

        config = DetectorConfig.from_dict(json.loads((model_dir / CONFIG_NAME).read_text()))
        export = ensure_export(model_dir, config, engine)  # built (once) outside the timed calls
    detector = ProbeDetector.from_pretrained(model_dir, engine=engine)
    timed = time_detector(detector, corpora, batch_size)
    seconds, words = timed["seconds"], timed["words"]
    row = {
        "engine": engine,
        "ran_as": detector.engine.name,
        "threads": thread_count() if engine in ONNX_ENGINES else torch.get_num_threads(),
        "seconds": round(seconds, 3),
        "words": words,
        "words_per_second": round(words / seconds, 1) if seconds else None,
    }
    if engine in ONNX_ENGINES:
        size = sum((export / f).stat().st_size for f in MODEL_FILES[engine])
        row["model_file_mb"] = round(size / 2**20, 1)
    return {"row": row, "mentions": timed["mentions"]}


def time_detector(detector: ProbeDetector, corpora: dict[str, list], batch_size: int) -> dict:
    """One warm-up call, then ``detector`` on every benchmark: mentions per benchmark and sentence, the
    wall time of the detector calls only, and their words."""
    detector(["Angela Merkel met Emmanuel Macron in Paris."] * 2, batch_size=batch_size)  # warm-up
    mentions, seconds, words = {}, 0.0, 0
    for name, docs in corpora.items():
        texts = [d.text for d in docs]
        start = time.perf_counter()
        mentions[name] = detector(texts, batch_size=batch_size)
        seconds += time.perf_counter() - start
        words += sum(len(t.split()) for t in texts)
    return {"mentions": mentions, "seconds": seconds, "words": words}


def keys(corpora: dict[str, list], mentions: dict[str, list], only: str | None = None) -> set:
    out = set()
    for name, found in mentions.items():
        if only is None or name == only:
            for k, ms in enumerate(found):
                out |= {(name, k, m.start, m.end, m.text) for m in ms}
    return out


def pooled_scores(corpora: dict[str, list], mentions: dict[str, list]) -> dict:
    tp = pred = gold = 0
    for name, docs in corpora.items():
        s = score_spans(docs, [[(m.start, m.end) for m in ms] for ms in mentions[name]])
        tp, pred, gold = tp + s["tp"], pred + s["predicted"], gold + s["gold"]
    return {
        "precision": tp / pred if pred else 0.0,
        "recall": tp / gold if gold else 0.0,
        "tp": tp,
        "predicted": pred,
        "gold": gold,
    }


def broken_offsets(corpora: dict[str, list], mentions: dict[str, list]) -> int:
    return sum(
        d.text[m.start : m.end] != m.text
        for name, docs in corpora.items()
        for d, ms in zip(docs, mentions[name])
        for m in ms
    )


def render(report: dict) -> str:
    lines = [
        "# Inference engines: agreement with torch fp32, dev scores, speed",
        "",
        f"Model `{report['model']}`, dev split, {report['sentences']} sentences "
        f"({report['limit']} per benchmark, {len(report['benchmarks'])} benchmarks), "
        f"batch size {report['batch_size']}, decoding flat at the model's threshold.",
        f"CPU: {report['cpu']}; flags `{report['cpu_flags']}`; native bf16: {report['native_bf16']}.",
        "",
        f"Eligible: DICE >= {MIN_DICE} with `{REFERENCE}` and |delta recall| <= {MAX_RECALL_DELTA} points.",
        "",
        "| engine | ran as | threads | DICE | delta recall (pt) | delta precision (pt) | recall | precision "
        "| words/s | offsets broken | model file (MB) | eligible |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in report["engines"]:
        lines.append(
            f"| {r['engine']} | {r['ran_as']} | {r['threads']} | {r['dice']:.4f} | {r['delta_recall']:+.2f} "
            f"| {r['delta_precision']:+.2f} | {100 * r['recall']:.1f} | {100 * r['precision']:.1f} "
            f"| {r['words_per_second']} | {r['offsets_broken']} | {r.get('model_file_mb', '')} "
            f"| {'yes' if r['eligible'] else 'no'} |"
        )
    auto = report["auto"]
    lines += [
        "",
        f"`auto` picks `{auto['engine']}` on this CPU: "
        f"{'eligible' if auto['eligible'] else 'NOT eligible: change auto_engine() in tommer/core/engines'}. "
        f"Fastest eligible engine here: `{report['fastest_eligible']}`.",
        "",
        "DICE per benchmark (engine vs the reference):",
        "",
        "| benchmark | " + " | ".join(r["engine"] for r in report["engines"]) + " |",
        "| --- |" + " --- |" * len(report["engines"]),
    ]
    for name in report["benchmarks"]:
        cells = " | ".join(f"{r['dice_per_benchmark'][name]:.4f}" for r in report["engines"])
        lines.append(f"| {name} | {cells} |")
    lines += ["", f"Command: `{report['command']}`", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument(
        "--engines",
        help="comma-separated (default: torch-fp32, torch-bf16 on native-bf16 CPUs, onnx, onnx-int8)",
    )
    parser.add_argument("--benchmarks", default="all", help="comma-separated names, or all")
    parser.add_argument("--limit", type=int, default=200, help="dev sentences per benchmark")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--data-root", help="default: TOMMER_DATA, else ../shared/data")
    parser.add_argument("--out", default=str(RESULTS / "engines"), help="writes <out>.md and <out>.json")
    args = parser.parse_args(argv)
    default = [e for e in DEFAULT_ENGINES if e != "torch-bf16" or native_bf16()]
    engines = [e.strip() for e in args.engines.split(",") if e.strip()] if args.engines else default
    bad = [e for e in engines if e not in ENGINES]
    if bad:
        parser.error(f"unknown engines {bad}: choose from {', '.join(ENGINES)}")
    if REFERENCE not in engines:
        engines.insert(0, REFERENCE)
    names = list(BENCHMARKS) if args.benchmarks == "all" else [b.strip() for b in args.benchmarks.split(",")]
    corpora = {name: load_benchmark(args.data_root, name, "dev", limit=args.limit) for name in names}
    model_dir = resolve_model_dir(args.model)

    runs = {}
    for engine in engines:
        print(f"[{engine}] running on {sum(len(d) for d in corpora.values())} sentences", file=sys.stderr)
        runs[engine] = run_engine(model_dir, engine, corpora, args.batch_size)
    ref = runs[REFERENCE]["mentions"]
    ref_keys, ref_scores = keys(corpora, ref), pooled_scores(corpora, ref)
    rows = []
    for engine in engines:
        found = runs[engine]["mentions"]
        scores = pooled_scores(corpora, found)
        row = runs[engine]["row"] | {
            "dice": dice(keys(corpora, found), ref_keys),
            "dice_per_benchmark": {n: dice(keys(corpora, found, n), keys(corpora, ref, n)) for n in names},
            "recall": scores["recall"],
            "precision": scores["precision"],
            "delta_recall": 100 * (scores["recall"] - ref_scores["recall"]),
            "delta_precision": 100 * (scores["precision"] - ref_scores["precision"]),
            "mentions": scores["predicted"],
            "offsets_broken": broken_offsets(corpora, found),
        }
        close = row["dice"] >= MIN_DICE and abs(row["delta_recall"]) <= MAX_RECALL_DELTA
        row["eligible"] = close and not row["offsets_broken"]
        rows.append(row)
    auto = auto_engine()
    auto_as = {"torch": "torch-bf16" if native_bf16() else "torch-fp32"}.get(auto, auto)
    measured = {r["ran_as"] if r["engine"] == "torch" else r["engine"]: r for r in rows}
    eligible = [r for r in rows if r["eligible"]]
    fastest = max(eligible, key=lambda r: r["words_per_second"] or 0)["engine"] if eligible else None
    given = argv if argv is not None else sys.argv[1:]
    report = {
        "model": args.model,
        "benchmarks": names,
        "limit": args.limit,
        "sentences": sum(len(d) for d in corpora.values()),
        "batch_size": args.batch_size,
        "cpu": platform.processor() or platform.machine(),
        "cpu_flags": cpu_flags(),
        "native_bf16": native_bf16(),
        "reference": REFERENCE,
        "thresholds": {"min_dice": MIN_DICE, "max_recall_delta_points": MAX_RECALL_DELTA},
        "engines": rows,
        "auto": {
            "engine": auto_as,
            "eligible": bool(measured.get(auto_as, {}).get("eligible")),
            "measured": auto_as in measured,
        },
        "fastest_eligible": fastest,
        "command": " ".join(["python scripts/engine_agreement.py", *given]),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(render(report))
    print(render(report))
    return 0 if report["auto"]["eligible"] else 1


if __name__ == "__main__":
    sys.exit(main())
