"""Does OpenVINO with int8 (NNCF post-training quantisation) stay within the engine rule? (issue #20)

The ``openvino`` engine runs the default export in bf16 where the CPU has native bf16. This tries NNCF's
post-training quantisation of the same OpenVINO model (weights and activations int8, activation scales
calibrated on ``--calibration`` Pile-NER training passages, the part ``tommer train`` does not hold
out), in ``--variants``:

- ``all``: every MatMul, NNCF's transformer preset (``ModelType.TRANSFORMER``);
- ``smooth``: the same with SmoothQuant (``AdvancedQuantizationParameters(smooth_quant_alpha=0.95)``),
  which moves activation outliers into the weights;
- ``no-down``: like ``all`` but the MLP output projections (``down_proj``) kept in bf16 / fp32 (the
  dynamic int8 engine's choice, results/int8_exclusions.md). The export's MatMuls carry no module
  names, so a down projection is found by its weight: the MatMuls whose input width is the MLP's
  (the largest input width of any constant-weight MatMul);
- ``smooth-no-down``: both;
- ``weights``: weight-only int8 (``nncf.compress_weights``, ``CompressWeightsMode.INT8_ASYM``, per output
  channel): activations stay bf16, so no calibration; OpenVINO decompresses the weights inside each
  MatMul.

Each variant replaces ``model.ov.xml`` in a copy of the export and runs through
:class:`~tommer.core.engines.openvino_engine.OpenVinoEngine`, so the detector, windows and decoding
are the shipped ones. Mentions on the dev sentences of scripts/engine_agreement.py (``--limit`` per
benchmark) are compared with ``torch-fp32`` as there (DICE, change in pooled recall) and timed. NNCF is
an experiment-only dependency: ``.venv/bin/pip install nncf``.

    python experiments/openvino_int8.py                      # writes results/tried/openvino_int8.{md,json}
    python experiments/openvino_int8.py --limit 5 --calibration 20 --out /tmp/ov8   # smoke run
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

import engine_agreement as agreement  # noqa: E402
from sweep_common import cpu_flags  # noqa: E402

from tommer.core.config import DetectorConfig  # noqa: E402
from tommer.core.detector import ProbeDetector  # noqa: E402
from tommer.core.engines import native_bf16, thread_count  # noqa: E402
from tommer.core.engines.build import ensure_export  # noqa: E402
from tommer.core.engines.onnx_engine import MODEL_OPENVINO  # noqa: E402
from tommer.core.engines.openvino_engine import OpenVinoEngine  # noqa: E402
from tommer.core.layout import CONFIG_NAME, DEFAULT_MODEL, resolve_model_dir  # noqa: E402
from tommer.data.readers import PILE_NER_BIO, read_bio  # noqa: E402
from tommer.evaluation.evaluation import BENCHMARKS, load_benchmark  # noqa: E402
from tommer.training.training import split_holdout  # noqa: E402

VARIANTS = ("all", "smooth", "no-down", "smooth-no-down", "weights")


def calibration_feeds(detector: ProbeDetector, texts: list[str], batch_size: int) -> list[dict]:
    """The engine inputs the detector sends for ``texts`` (recorded while it runs on them)."""
    engine, feeds = detector.engine, []
    original = engine.feed

    def record(ids, mask, shapes):
        feed = original(ids, mask, shapes)
        feeds.append({k: v.copy() for k, v in feed.items()})
        return feed

    engine.feed = record
    try:
        detector(texts, batch_size=batch_size)
    finally:
        engine.feed = original
    return feeds


def down_projections(model) -> list[str]:
    """Friendly names of the MatMuls whose constant weight has the largest input width (the MLP's)."""
    weights = {}
    for op in model.get_ops():
        if op.get_type_name() != "MatMul":
            continue
        shape = op.input_value(1).get_partial_shape()
        if shape.rank.get_length() == 2 and shape.is_static:
            weights[op.get_friendly_name()] = shape[0].get_length()
    widest = max(weights.values(), default=0)
    return [name for name, width in weights.items() if width == widest]


def quantise(export: Path, variant: str, feeds: list[dict], into: Path) -> Path:
    """A copy of ``export`` whose OpenVINO model is NNCF int8 of ``variant``."""
    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters

    shutil.copytree(export, into)
    model = ov.Core().read_model(str(export / MODEL_OPENVINO))
    if variant == "weights":
        return save(nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM), into)
    ignored = None
    if variant.endswith("no-down"):
        down = down_projections(model)
        if not down:
            raise SystemExit("openvino_int8: no down projection found in the export")
        ignored = nncf.IgnoredScope(names=down)
    smooth = variant.startswith("smooth")
    advanced = AdvancedQuantizationParameters(smooth_quant_alpha=0.95 if smooth else -1)
    quantised = nncf.quantize(
        model,
        nncf.Dataset(feeds),
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(feeds),
        ignored_scope=ignored,
        advanced_parameters=advanced,
    )
    return save(quantised, into)


def save(model, into: Path) -> Path:
    """Replace the OpenVINO model in the export copy ``into`` with ``model``."""
    import openvino as ov

    target = into / MODEL_OPENVINO
    target.unlink()
    target.with_suffix(".bin").unlink(missing_ok=True)
    ov.save_model(model, str(target), compress_to_fp16=False)
    return into


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=DEFAULT_MODEL)
    ap.add_argument("--limit", type=int, default=200, help="dev sentences per benchmark")
    ap.add_argument("--calibration", type=int, default=300, help="Pile-NER training passages")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--data-root")
    ap.add_argument("--out", default=str(REPO / "results" / "tried" / "openvino_int8"))
    args = ap.parse_args(argv)
    model_dir = resolve_model_dir(args.model)
    config = DetectorConfig.from_dict(json.loads((model_dir / CONFIG_NAME).read_text()))
    export = ensure_export(model_dir, config, "openvino")
    corpora = {n: load_benchmark(args.data_root, n, "dev", limit=args.limit) for n in BENCHMARKS}
    root = Path(args.data_root) if args.data_root else agreement_root()
    train, _ = split_holdout(read_bio(root / PILE_NER_BIO), 0.1, 0)
    calibration = [d.text for d in train[: args.calibration]]

    ref = agreement.run_engine(model_dir, agreement.REFERENCE, corpora, args.batch_size)["mentions"]
    ref_keys, ref_scores = agreement.keys(corpora, ref), agreement.pooled_scores(corpora, ref)
    rows = []
    with tempfile.TemporaryDirectory(prefix="tommer-ov8-") as tmp:
        for variant in ["bf16" if native_bf16() else "fp32", *args.variants.split(",")]:
            detector = ProbeDetector.from_pretrained(model_dir, engine="openvino")
            started = time.perf_counter()
            if variant in VARIANTS:
                calibrated = variant != "weights"
                feeds = calibration_feeds(detector, calibration, args.batch_size) if calibrated else []
                detector._engine = OpenVinoEngine(quantise(export, variant, feeds, Path(tmp) / variant))
            built = time.perf_counter() - started
            print(f"[{variant}] built in {built:.0f} s, running", file=sys.stderr)
            got = agreement.time_detector(detector, corpora, args.batch_size)
            scores = agreement.pooled_scores(corpora, got["mentions"])
            row = {
                "variant": variant,
                "dice": agreement.dice(agreement.keys(corpora, got["mentions"]), ref_keys),
                "delta_recall": 100 * (scores["recall"] - ref_scores["recall"]),
                "delta_precision": 100 * (scores["precision"] - ref_scores["precision"]),
                "words_per_second": got["words"] / got["seconds"],
                "build_seconds": built,
                "offsets_broken": agreement.broken_offsets(corpora, got["mentions"]),
            }
            row["eligible"] = row["dice"] >= agreement.MIN_DICE and abs(row["delta_recall"]) <= 0.5
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
    report = {
        "command": " ".join(["python experiments/openvino_int8.py", *(argv or sys.argv[1:])]),
        "model": args.model,
        "limit": args.limit,
        "calibration_passages": len(calibration),
        "cpu": platform.processor() or platform.machine(),
        "cpu_flags": cpu_flags(),
        "threads": thread_count(),
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(render(report))
    print(render(report))
    return 0


def agreement_root() -> Path:
    from tommer.data.readers import data_root

    return data_root()


def render(report: dict) -> str:
    base = report["rows"][0]["words_per_second"]
    lines = [
        "# OpenVINO int8 (NNCF) against the engine rule (issue #20)",
        "",
        f"Written by `{report['command']}`. Model `{report['model']}`, {report['limit']} dev sentences per "
        f"benchmark (13), static variants calibrated on {report['calibration_passages']} Pile-NER training "
        "passages; "
        f"CPU {report['cpu']}, flags `{report['cpu_flags']}`, {report['threads']} threads. DICE and Δ "
        "against torch-fp32 as in results/engines.md; words/s in process, detector calls only.",
        "",
        "| variant | DICE vs fp32 | Δrecall (pt) | Δprecision (pt) | words/s | × first row | eligible |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in report["rows"]:
        lines.append(
            f"| {r['variant']} | {r['dice']:.4f} | {r['delta_recall']:+.2f} | {r['delta_precision']:+.2f} | "
            f"{r['words_per_second']:.0f} | {r['words_per_second'] / base:.2f} | "
            f"{'yes' if r['eligible'] else 'no'} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
