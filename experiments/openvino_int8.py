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
- ``weights``: int8 weights (``nncf.compress_weights``, ``CompressWeightsMode.INT8_ASYM``, per output
  channel), no calibration; OpenVINO decompresses the weights inside each MatMul and, by default
  (``DYNAMIC_QUANTIZATION_GROUP_SIZE`` 32 on this OpenVINO), quantises the MatMul inputs at run time;
- ``dynamic-D``: ``CompressWeightsMode.INT8_SYM`` per output channel, inputs quantised at run time per
  token in groups of ``D`` input channels (``DYNAMIC_QUANTIZATION_GROUP_SIZE`` D; 0 turns it off);
- ``group-W[-dqD][-nodown][-qLAYERS]``: symmetric int8 weights per block of ``W`` input channels
  (:func:`int8_groups`; NNCF's int8 modes are per output channel only), inputs quantised at run time in
  groups of ``D`` (default ``W``; ``dq0``: weights only); ``-nodown`` keeps the down projections f16;
  ``-qLAYERS`` (digits, e.g. ``-q1234``) quantises only those backbone layers' seven MatMuls (q, k, v,
  o, gate, up, down, in the export's order) and keeps the other layers and the probe f16, to measure
  where the drift comes from;
- ``grid``: the backbone's weights as the 4-bit codes of their GGUF Q4_1 blocks, with float zero
  points (:func:`gguf_grid`): exact, but OpenVINO does not quantise inputs at run time against them.

Each variant replaces ``model.ov-V.xml`` in a copy of the export and runs through
:class:`~tommer.core.engines.openvino_engine.OpenVinoEngine`, so the detector, windows and decoding
are the shipped ones. Mentions on the dev sentences of scripts/engine_agreement.py (``--limit`` per
benchmark) are compared with ``torch-fp32`` as there (DICE, change in pooled recall) and timed. NNCF is
an experiment-only dependency: ``.venv/bin/pip install nncf``.

    python experiments/openvino_int8.py                      # writes results/tried/openvino_int8.{md,json}
    python experiments/openvino_int8.py --limit 5 --calibration 20 --out /tmp/ov8   # smoke run
    python experiments/openvino_int8.py --offset 200 --variants group-64-q0,group-64-q12345 --out /tmp/l
        # one layer / all but one in int8, on dev sentences 201-400 (apart from the agreement sample)
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

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

import engine_agreement as agreement  # noqa: E402
from packing_bound import pass_seconds, random_passes  # noqa: E402
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

STATIC = ("all", "smooth", "no-down", "smooth-no-down")  # calibrated: nncf.quantize
VARIANTS = (*STATIC, "weights", "grid")  # and the families dynamic-D, group-W[-dqD][-nodown]


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
    """A copy of ``export`` whose OpenVINO model is ``variant``'s (see the module docstring)."""
    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters

    shutil.copytree(export, into)
    model = ov.Core().read_model(str(export / MODEL_OPENVINO))
    if variant == "weights":
        return save(nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_ASYM), into)
    if variant == "grid":
        return save(gguf_grid(model), into)
    if (parts := family(variant)) and parts["block"] is None:  # dynamic-D
        return save(nncf.compress_weights(model, mode=nncf.CompressWeightsMode.INT8_SYM), into)
    if parts:  # group-W[-dqD][-nodown][-qLAYERS]
        skip = set(down_projections(model)) if parts["nodown"] else set()
        if parts["layers"] is not None:
            skip |= outside_layers(model, parts["layers"])
        return save(int8_groups(model, parts["block"], skip), into)
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


def constant_weights(model, group: int, skip: frozenset[str] | set[str] = frozenset()):
    """``(matmul, weight)`` for each MatMul of ``model`` whose second input is a constant f16 weight
    ``[inputs, outputs]`` with ``inputs`` a multiple of ``group`` (and whose name is not in ``skip``)."""
    for op in model.get_ordered_ops():
        if op.get_type_name() != "MatMul" or op.get_attributes()["transpose_b"]:
            continue
        convert = op.input_value(1).get_node()
        const = convert.input_value(0).get_node() if convert.get_type_name() == "Convert" else None
        if const is None or const.get_type_name() != "Constant" or len(const.get_output_shape(0)) != 2:
            continue
        if op.get_friendly_name() not in skip and const.get_output_shape(0)[0] % group == 0:
            yield op, const.data.astype(np.float32)


def replace_weight(op, decoded) -> None:
    """Feed ``op`` the f16 blocks ``decoded`` ``[blocks, group, outputs]``, reshaped and cast to f32."""
    import openvino.opset13 as ops

    rows, cols = op.input_value(1).get_shape()
    flat = ops.reshape(decoded, ops.constant(np.array([rows, cols], dtype=np.int64)), special_zero=False)
    op.input(1).replace_source_output(ops.convert(flat, "f32").output(0))


def gguf_grid(model, group: int = 32, tolerance: float = 0.05):
    """``model`` with each MatMul weight that lies on a GGUF Q4_1 grid (per block of ``group`` input
    channels: ``m + d·q``, q = 0…15) stored as those 4-bit codes, with the block's scale ``d`` and its
    zero point ``-m/d`` as floats: the backbone's weights as the GGUF file holds them (up to the bf16
    copy's rounding), in the form OpenVINO's CPU plugin decompresses inside its FullyConnected.
    Weights off the grid (the probe's) stay as they are."""
    import openvino as ov
    import openvino.opset13 as ops

    on_grid = 0
    for op, w in list(constant_weights(model, group)):
        blocks = w.reshape(w.shape[0] // group, group, w.shape[1])
        low, high = blocks.min(1, keepdims=True), blocks.max(1, keepdims=True)
        scale = np.maximum((high - low) / 15, np.finfo(np.float32).tiny)
        codes = np.clip(np.round((blocks - low) / scale), 0, 15)
        if np.abs(low + scale * codes - blocks).max(initial=0) > tolerance * scale.max():
            continue  # not a Q4_1 grid: left as it is
        codes = ops.convert(ops.constant(codes.astype(np.uint8), dtype=ov.Type.u4), "f16")
        zero = ops.constant((-low / scale).astype(np.float16))
        replace_weight(op, ops.multiply(ops.subtract(codes, zero), ops.constant(scale.astype(np.float16))))
        on_grid += 1
    print(f"gguf_grid: {on_grid} MatMul weights on the Q4_1 grid", file=sys.stderr)
    model.validate_nodes_and_infer_types()
    return model


def outside_layers(model, layers: frozenset[int], per_layer: int = 7) -> set[str]:
    """Friendly names of the constant-weight MatMuls not in backbone ``layers``: the export holds each
    decoder layer's ``per_layer`` linear maps in order, then the probe's."""
    names = [op.get_friendly_name() for op, _ in constant_weights(model, 1)]
    return {name for i, name in enumerate(names) if i // per_layer not in layers}


def int8_groups(model, group: int, skip: frozenset[str] | set[str] = frozenset()):
    """``model`` with each constant MatMul weight stored as symmetric int8 per block of ``group`` input
    channels (one f16 scale per block and output channel), decompressed by OpenVINO's FullyConnected."""
    import openvino as ov
    import openvino.opset13 as ops

    for op, w in list(constant_weights(model, group, skip)):
        blocks = w.reshape(w.shape[0] // group, group, w.shape[1])
        scale = np.maximum(np.abs(blocks).max(1, keepdims=True) / 127, np.finfo(np.float16).tiny)
        codes = np.clip(np.round(blocks / scale), -127, 127).astype(np.int8)
        codes = ops.convert(ops.constant(codes, dtype=ov.Type.i8), "f16")
        replace_weight(op, ops.multiply(codes, ops.constant(scale.astype(np.float16))))
    model.validate_nodes_and_infer_types()
    return model


def family(variant: str) -> dict | None:
    """The parts of a ``dynamic-D`` or ``group-W[-dqD][-nodown]`` variant (``block``: W or None, ``dq``:
    the run-time input quantisation group, ``nodown``); None for the named ones and malformed names."""
    name, *parts = variant.split("-")
    if name not in ("dynamic", "group") or not parts or not parts[0].isdigit():
        return None
    size, flags = int(parts[0]), parts[1:]
    dq = [int(f[2:]) for f in flags if f.startswith("dq") and f[2:].isdigit()]
    nodown = name == "group" and "nodown" in flags
    layers = [frozenset(map(int, f[1:])) for f in flags if f.startswith("q") and f[1:].isdigit()]
    if (
        len(flags) != len(dq) + nodown + len(layers)
        or len(dq) > 1
        or len(layers) > 1
        or (name == "dynamic" and layers)
        or (name == "dynamic" and flags)
        or (name == "group" and not size)
    ):
        return None
    return {
        "block": size if name == "group" else None,
        "dq": dq[0] if dq else size,
        "nodown": nodown,
        "layers": layers[0] if layers else None,
    }


def runtime_config(variant: str) -> dict[str, object] | None:
    """The OpenVINO properties ``variant`` compiles with: the run-time input quantisation's group size
    for ``dynamic-D`` and ``group-W[-dqD]`` (see the module docstring), else None (the plugin's default)."""
    parts = family(variant)
    return None if parts is None else {"DYNAMIC_QUANTIZATION_GROUP_SIZE": parts["dq"]}


def is_variant(variant: str) -> bool:
    return variant in VARIANTS or family(variant) is not None


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
    ap.add_argument(
        "--offset",
        type=int,
        default=0,
        help="skip this many dev sentences per benchmark first (0: the sample of "
        "scripts/engine_agreement.py; 200: a selection sample apart from it)",
    )
    ap.add_argument("--calibration", type=int, default=300, help="Pile-NER training passages")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument(
        "--shape-rounds",
        type=int,
        default=5,
        help="interleaved rounds of the fixed-shape timing (0: none)",
    )
    ap.add_argument("--data-root")
    ap.add_argument("--out", default=str(REPO / "results" / "tried" / "openvino_int8"))
    args = ap.parse_args(argv)
    unknown = [v for v in args.variants.split(",") if not is_variant(v)]
    if unknown:
        known = ", ".join([*VARIANTS, "dynamic-D", "group-W"])
        ap.error(f"unknown --variants {', '.join(unknown)} (known: {known})")
    model_dir = resolve_model_dir(args.model)
    config = DetectorConfig.from_dict(json.loads((model_dir / CONFIG_NAME).read_text()))
    export = ensure_export(model_dir, config, "openvino")
    corpora = {
        n: load_benchmark(args.data_root, n, "dev", limit=args.offset + args.limit)[args.offset :]
        for n in BENCHMARKS
    }
    corpora = {n: docs for n, docs in corpora.items() if docs}
    root = Path(args.data_root) if args.data_root else agreement_root()
    train, _ = split_holdout(read_bio(root / PILE_NER_BIO), 0.1, 0)
    calibration = [d.text for d in train[: args.calibration]]

    ref = agreement.run_engine(model_dir, agreement.REFERENCE, corpora, args.batch_size)["mentions"]
    ref_keys, ref_scores = agreement.keys(corpora, ref), agreement.pooled_scores(corpora, ref)
    rows, engines = [], []
    with tempfile.TemporaryDirectory(prefix="tommer-ov8-") as tmp:
        for variant in ["bf16" if native_bf16() else "fp32", *args.variants.split(",")]:
            detector = ProbeDetector.from_pretrained(model_dir, engine="openvino")
            started = time.perf_counter()
            if is_variant(variant):
                calibrated = variant in STATIC
                feeds = calibration_feeds(detector, calibration, args.batch_size) if calibrated else []
                copy = Path(tempfile.mkdtemp(dir=tmp)) / variant
                detector._engine = OpenVinoEngine(
                    quantise(export, variant, feeds, copy), config=runtime_config(variant)
                )
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
            engines.append(detector.engine)
            print(json.dumps(row), file=sys.stderr)
        if args.shape_rounds:
            for row, rate in zip(rows, fixed_shape_rates(engines, args.shape_rounds), strict=True):
                row["fixed_shape_tokens_per_second"] = rate
    report = {
        "command": " ".join(["python experiments/openvino_int8.py", *(argv or sys.argv[1:])]),
        "model": args.model,
        "limit": args.limit,
        "offset": args.offset,
        "sentences": sum(map(len, corpora.values())),
        "shape_rounds": args.shape_rounds,
        "calibration_passages": len(calibration),
        "cpu": platform.processor() or platform.machine(),
        "cpu_flags": cpu_flags(),
        "threads": thread_count(),
        "openvino": openvino_facts(),
        "rows": rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(render(report))
    print(render(report))
    return 0


FIXED_SHAPE = (32, 40)  # rows x tokens: a full bucket (no padding), about the corpus's mean window
FIXED_PASSES = 6


def fixed_shape_rates(engines: list, rounds: int) -> list[float]:
    """Tokens per second of each engine on the same ``FIXED_PASSES`` passes of ``FIXED_SHAPE`` random
    token ids, best of ``rounds`` rounds that take the engines in turn: on a shared machine the
    in-process words/s of runs minutes apart move by 10-30%, this by a few percent."""
    passes = random_passes([FIXED_SHAPE] * FIXED_PASSES, engines[0].bos_id, np.random.default_rng(0))
    best = [float("inf")] * len(engines)
    for _ in range(rounds):
        for i, engine in enumerate(engines):
            pass_seconds(engine, passes[:1])  # warm: the shape compiled and cached
            best[i] = min(best[i], pass_seconds(engine, passes))
    return [sum(ids.size for ids in passes) / seconds for seconds in best]


def agreement_root() -> Path:
    from tommer.data.readers import data_root

    return data_root()


def openvino_facts() -> dict:
    """OpenVINO's version and its CPU plugin's default run-time input quantisation group (0: off)."""
    import openvino as ov

    group = ov.Core().get_property("CPU", "DYNAMIC_QUANTIZATION_GROUP_SIZE")
    return {"version": ov.get_version(), "dynamic_quantization_group_size": int(group)}


def sample(report: dict) -> str:
    """The dev sentences a report scored, in words."""
    offset, limit = report.get("offset", 0), report["limit"]
    if not offset:
        return f"{limit} dev sentences per benchmark (13)"
    return (
        f"dev sentences {offset + 1}–{offset + limit} of each benchmark with that many "
        f"({report['sentences']} sentences; apart from the agreement sample, the first {offset})"
    )


def render(report: dict) -> str:
    base = report["rows"][0]["words_per_second"]
    fixed = report["rows"][0].get("fixed_shape_tokens_per_second")
    rows, tokens = FIXED_SHAPE
    lines = [
        "# OpenVINO int8 (NNCF) against the engine rule (issue #20)",
        "",
        f"Written by `{report['command']}`. Model `{report['model']}`, {sample(report)}, "
        f"static variants calibrated on {report['calibration_passages']} Pile-NER training "
        "passages; "
        f"CPU {report['cpu']}, flags `{report['cpu_flags']}`, {report['threads']} threads. DICE and Δ "
        "against torch-fp32 as in results/engines.md; words/s in process, detector calls only"
        + (
            f"; tokens/s at a fixed shape: {FIXED_PASSES} passes of {rows} × {tokens} random token ids "
            f"through each variant's engine, best of {report['shape_rounds']} rounds taking the "
            "variants in turn (steadier than words/s on a shared machine)."
            if fixed
            else "."
        ),
        "",
        "Variants as described in the docstring of `experiments/openvino_int8.py`."
        + (
            f" OpenVINO {ov['version']}; its CPU plugin quantises a compressed-weight MatMul's input at run "
            f"time in groups of {ov['dynamic_quantization_group_size']} unless a variant sets it."
            if (ov := report.get("openvino"))
            else ""
        ),
        "",
        "| variant | DICE vs fp32 | Δrecall (pt) | Δprecision (pt) | words/s | × first row | eligible |"
        + (" tokens/s, fixed shape | × first row |" if fixed else ""),
        "|---|---:|---:|---:|---:|---:|---|" + ("---:|---:|" if fixed else ""),
    ]
    for r in report["rows"]:
        lines.append(
            f"| {r['variant']} | {r['dice']:.4f} | {r['delta_recall']:+.2f} | {r['delta_precision']:+.2f} | "
            f"{r['words_per_second']:.0f} | {r['words_per_second'] / base:.2f} | "
            f"{'yes' if r['eligible'] else 'no'} |"
            + (
                f" {r['fixed_shape_tokens_per_second']:.0f} | "
                f"{r['fixed_shape_tokens_per_second'] / fixed:.2f} |"
                if fixed
                else ""
            )
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
