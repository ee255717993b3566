"""Weight-only quantisation of the backbone (ONNX Runtime ``MatMulNBits``) against drift (issue #20).

``onnx-int8`` quantises activations with one scale per tensor, and the BOS state's outliers leave the
other tokens few levels (results/int8_exclusions.md). ``MatMulNBits`` with ``accuracy_level`` 4
quantises activations per block of ``block`` values instead, and its weights to ``bits`` bits per
block (``onnxruntime.quantization.matmul_nbits_quantizer``). Each variant quantises the default
export's 42 backbone MatMuls; its mentions on dev sentences (the first ``--limit`` with an entity of
each benchmark's dev split) are compared with the fp32 export's: DICE of the (sentence, start, end)
sets, recall against gold, and words/s in this process (``--threads``, one pass, after a warm-up).
A variant is ``bits-block-accuracy_level-symmetric``.

    python experiments/matmul_nbits.py --limit 30 --variants 8-32-4-1,8-64-4-0,8-128-4-1,8-32-0-1,4-32-4-0
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from int8_exclusions import dev_texts, scores, scratch_beside, timed_spans

import tommer
from tommer.core.engines.onnx_engine import META, MODEL_FP32, MODEL_INT8, OnnxEngine


def quantize(source: Path, target: Path, variant: str) -> None:
    """Write the export with its backbone MatMuls as ``MatMulNBits`` (the probe's stay fp32)."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import (
        DefaultWeightOnlyQuantConfig,
        MatMulNBitsQuantizer,
    )

    bits, block, level, symmetric = (int(x) for x in variant.split("-"))
    names = set(json.loads((source / META).read_text())["backbone_matmuls"])
    model = onnx.load(str(source / MODEL_FP32))
    others = [n.name for n in model.graph.node if n.op_type == "MatMul" and n.name not in names]
    config = DefaultWeightOnlyQuantConfig(
        block_size=block, is_symmetric=bool(symmetric), accuracy_level=level, bits=bits
    )
    quantizer = MatMulNBitsQuantizer(
        model,
        bits=bits,
        block_size=block,
        is_symmetric=bool(symmetric),
        accuracy_level=level,
        nodes_to_exclude=others,
        algo_config=config,
    )
    quantizer.process()
    quantizer.model.save_model_to_file(str(target), False)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--limit", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--variants", default="8-32-4-1,8-64-4-0,8-128-4-1,8-32-0-1,4-32-4-0")
    ap.add_argument("--out", default="results/tried/matmul_nbits")
    args = ap.parse_args()
    texts, gold = dev_texts(args.limit)
    words = sum(len(t.split()) for t in texts)
    detector = tommer.load(engine="onnx")
    source = detector.engine.directory
    scratch = scratch_beside(source, "nbits-")
    gold_set = {(k, s, e) for k, g in enumerate(gold) for s, e in g}
    rows, reference = [], None
    try:
        for variant in ["fp32", *args.variants.split(",")]:
            if variant == "fp32":
                engine = OnnxEngine(source, "onnx", threads=args.threads)
            else:
                target = scratch / MODEL_INT8
                target.unlink(missing_ok=True)
                quantize(source, target, variant)
                engine = OnnxEngine(scratch, "onnx-int8", threads=args.threads)
            found, seconds = timed_spans(detector, engine, texts)
            reference = found if reference is None else reference
            row = {"variant": variant, **scores(found, reference, gold_set, words, seconds)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        shutil.rmtree(scratch)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"sentences": len(texts), "words": words, "threads": args.threads, "rows": rows}
    out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    base = rows[0]["words_per_s"]
    lines = [
        "# Weight-only quantisation (MatMulNBits) against drift (issue #20)",
        "",
        f"Written by `python experiments/matmul_nbits.py --limit {args.limit} --threads {args.threads} "
        f"--variants {args.variants}`: the default export's 42 backbone MatMuls as ONNX Runtime "
        "`MatMulNBits` (variant: bits-block-accuracy_level-symmetric; accuracy level 4 computes in int8 "
        f"with one activation scale per block), on {len(texts)} dev sentences ({words:,} words). DICE: "
        "the (sentence, start, end) sets against the fp32 export; words/s: in process, one pass after a "
        "warm-up (a noisy, single figure).",
        "",
        "| variant | DICE vs fp32 | recall | precision | words/s | × fp32 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['dice_vs_fp32']:.4f} | {r['recall']:.2f} | {r['precision']:.2f} | "
            f"{r['words_per_s']} | {r['words_per_s'] / base:.2f} |"
        )
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
