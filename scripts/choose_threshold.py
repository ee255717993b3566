"""Choose the default model's threshold on development data (benchmark dev splits), never test.

One forward pass per benchmark at the lowest threshold gives every candidate span; each higher
threshold keeps a subset. Rule: the highest threshold whose pooled dev recall reaches
``--target-recall``; if none does, 0.5 (the paper's operating point: a lower one buys little
recall for many more spurious spans). Writes
results/threshold_dev.{json,md}; ``--write-config`` stores the choice in the model's config.json.

    python scripts/choose_threshold.py --limit 300 --write-config
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import tommer
from tommer.core.layout import resolve_model_dir
from tommer.data.metrics import SpanScores
from tommer.data.readers import data_root
from tommer.evaluation.evaluation import BENCHMARKS, load_benchmark, score_spans

THRESHOLDS = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=tommer.DEFAULT_MODEL)
    ap.add_argument("--limit", type=int, default=300, help="dev sentences per benchmark")
    ap.add_argument("--target-recall", type=float, default=0.95)
    ap.add_argument("--decoding", default="threshold")
    ap.add_argument("--write-config", action="store_true")
    ap.add_argument("--out", default="results/threshold_dev")
    args = ap.parse_args()

    detector = tommer.load(args.model)
    lowest = min(THRESHOLDS)
    counts = {t: {"tp": 0, "predicted": 0, "gold": 0} for t in THRESHOLDS}
    per_bench = {}
    for name in BENCHMARKS:
        docs = load_benchmark(data_root(), name, "dev", limit=args.limit)
        texts = [d.text for d in docs]
        encodings, spans = detector.predict_spans(texts, lowest, batch_size=16)
        per_bench[name] = {}
        for t in THRESHOLDS:
            kept = [[sp for sp in doc if sp[2] > t] for doc in spans]
            mentions = detector.postprocess(texts, encodings, kept, args.decoding)
            row = score_spans(docs, [[(m.start, m.end) for m in ms] for ms in mentions])
            per_bench[name][t] = row["recall"]
            for key in counts[t]:
                counts[t][key] += row[key]
        print(name, {t: round(r, 3) for t, r in per_bench[name].items()}, flush=True)

    rows = []
    for t in THRESHOLDS:
        c = SpanScores(**counts[t])
        rows.append({"threshold": t, "precision": c.precision, "recall": c.recall, "f1": c.f1})
    reaching = [row for row in rows if row["recall"] >= args.target_recall]
    fallback = next(row for row in rows if row["threshold"] == 0.5)
    chosen = max(reaching, key=lambda row: row["threshold"]) if reaching else fallback
    meta = {
        "command": "python scripts/choose_threshold.py " + shlex.join(sys.argv[1:]),
        "model": args.model,
        "split": "dev",
        "limit": args.limit,
        "decoding": args.decoding,
        "rule": f"highest threshold with pooled dev recall >= {args.target_recall}, else 0.5",
        "chosen": chosen,
        "rows": rows,
        "recall_per_benchmark": per_bench,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    lines = [
        "# Default threshold, chosen on dev data",
        "",
        f"Model `{args.model}`; the first {args.limit} dev sentences (with at least one entity) of each of "
        f"the 13 benchmarks, pooled; untyped exact span match, decoding `{args.decoding}`. "
        f"Rule: {meta['rule']}. Regenerate with:",
        "",
        f"    {meta['command']}",
        "",
        "| threshold | precision | recall | F1 |",
        "| --- | --- | --- | --- |",
    ]
    for row in rows:
        mark = " (chosen)" if row is chosen else ""
        lines.append(
            f"| {row['threshold']}{mark} | {row['precision']:.4f} | {row['recall']:.4f} | {row['f1']:.4f} |"
        )
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(json.dumps(chosen))
    if args.write_config:  # config.json and the model card are rewritten by save_pretrained
        detector.config.threshold = chosen["threshold"]
        selection = {k: meta[k] for k in ("command", "split", "limit", "rule", "chosen")}
        detector.config.info["threshold_selection"] = selection
        detector.save_pretrained(resolve_model_dir(args.model))


if __name__ == "__main__":
    main()
