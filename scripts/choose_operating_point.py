"""Choose a model's operating point on development data (benchmark dev splits), never test.

Through the public detector (``predict_spans`` + ``postprocess``, what ``detector(text)``
runs): one forward pass per benchmark at the lowest threshold gives every candidate; each grid
point (decoding × threshold × margin) decodes a subset. Rule: the threshold stays 0.5 (the
paper's, so ``decoding="threshold"`` is the paper's decoding one option away); the margin of the
default decoding (``tommer.core.decoding.DEFAULT_DECODING``) is the smallest one whose pooled dev F1
is within ``F1_TOLERANCE`` (0.5 points) of the highest.
Writes results/operating_point.{json,md}; ``--write-config`` stores threshold and margin in
the model's config.json (and card).

    python scripts/choose_operating_point.py --limit 300 --write-config
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import tommer
from tommer.core.decoding import DEFAULT_DECODING
from tommer.core.layout import resolve_model_dir
from tommer.data.metrics import SpanScores
from tommer.data.readers import data_root
from tommer.evaluation.evaluation import BENCHMARKS, load_benchmark, score_spans

THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
MARGINS = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0)
DECODINGS = ("flat", "nested", "threshold")
# The margin overrides the model's own ranking in favour of longer spans, and a large one merges
# neighbouring mentions ("Angela Merkel met Emmanuel Macron" for smollm2-135m-l12 at margin 6): the
# smallest margin whose dev F1 is within this of the best is taken.
F1_TOLERANCE = 0.005


RESULTS = Path(__file__).resolve().parent.parent / "results"  # written here from any cwd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=tommer.DEFAULT_MODEL)
    ap.add_argument("--limit", type=int, default=300, help="dev sentences per benchmark")
    ap.add_argument("--write-config", action="store_true")
    ap.add_argument("--out", default=str(RESULTS / "operating_point"))
    args = ap.parse_args()

    detector = tommer.load(args.model)
    grid = [
        (d, t, m) for d in DECODINGS for t in THRESHOLDS for m in (MARGINS if d != "threshold" else (0.0,))
    ]
    counts = {g: SpanScores() for g in grid}
    for name in BENCHMARKS:
        docs = load_benchmark(data_root(), name, "dev", limit=args.limit)
        texts = [d.text for d in docs]
        encodings, spans = detector.predict_spans(texts, min(THRESHOLDS), batch_size=16)
        for decoding, t, m in grid:
            detector.config.margin = m
            kept = [[sp for sp in doc if sp[2] > t] for doc in spans]
            mentions = detector.postprocess(texts, encodings, kept, decoding)
            row = score_spans(docs, [[(x.start, x.end) for x in ms] for ms in mentions])
            c = counts[(decoding, t, m)]
            c.tp, c.predicted, c.gold = c.tp + row["tp"], c.predicted + row["predicted"], c.gold + row["gold"]
        print(name, flush=True)

    rows = [
        {"decoding": d, "threshold": t, "margin": m, "precision": c.precision, "recall": c.recall, "f1": c.f1}
        for (d, t, m), c in counts.items()
    ]
    candidates = [r for r in rows if r["decoding"] == DEFAULT_DECODING and r["threshold"] == 0.5]
    best = max(r["f1"] for r in candidates)
    chosen = min((r for r in candidates if r["f1"] >= best - F1_TOLERANCE), key=lambda r: r["margin"])
    meta = {
        "command": " ".join(["python scripts/choose_operating_point.py", *map(shlex.quote, sys.argv[1:])]),
        "model": args.model,
        "split": "dev",
        "limit": args.limit,
        "rule": f"threshold 0.5; decoding {DEFAULT_DECODING}: the smallest margin within "
        f"{100 * F1_TOLERANCE:g} points of the highest pooled dev F1",
        "chosen": chosen,
        "rows": rows,
    }
    out = Path(args.out)  # a stem that may hold dots (qwen2.5-0.5b): names are appended, not with_suffix
    out.parent.mkdir(parents=True, exist_ok=True)
    out.parent.joinpath(out.name + ".json").write_text(json.dumps(meta, indent=2) + "\n")
    lines = [
        "# Operating point (threshold, margin, decoding), chosen on dev data",
        "",
        f"Model `{args.model}`; the first {args.limit} dev sentences (with at least one entity) of each of "
        "the 13 benchmarks, pooled; untyped exact span match, through `detector.predict_spans` + "
        f"`detector.postprocess` (what `detector(text)` runs). Rule: {meta['rule']}. Regenerate with:",
        "",
        f"    {meta['command']}",
        "",
        "| decoding | threshold | margin | precision | recall | F1 |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        mark = " **(chosen)**" if r is chosen else ""
        lines.append(
            f"| {r['decoding']}{mark} | {r['threshold']} | {r['margin']} | {100 * r['precision']:.1f} | "
            f"{100 * r['recall']:.1f} | {100 * r['f1']:.1f} |"
        )
    out.parent.joinpath(out.name + ".md").write_text("\n".join(lines) + "\n")
    print(json.dumps(chosen))
    if args.write_config:  # config.json and the model card are rewritten by save_pretrained
        detector.config.threshold = chosen["threshold"]
        detector.config.margin = chosen["margin"]
        selection = {k: meta[k] for k in ("command", "split", "limit", "rule", "chosen")}
        detector.config.info.pop("threshold_selection", None)
        detector.config.info["operating_point"] = selection
        detector.save_pretrained(resolve_model_dir(args.model))


if __name__ == "__main__":
    main()
