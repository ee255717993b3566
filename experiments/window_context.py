"""Left context of long-text windows: does less context cost quality? (issue #20, long documents)

Documents of 100 consecutive dev sentences (the first 200 with an entity of each benchmark's dev
split, gold offsets shifted) go through the default model with each ``--contexts`` value of
``DetectorConfig.context`` (tokens of left context that overlapping 512-token windows share).
Reports pooled recall / precision against gold, the DICE of each mention set with the first
context's, and the windows' tokens per document token.

    python experiments/window_context.py --contexts 64,32
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from int8_exclusions import dice

import tommer
from tommer.data.readers import data_root, read_benchmark_json


def documents(per_benchmark: int, size: int) -> tuple[list[str], list[set]]:
    texts, gold = [], []
    for folder in sorted((data_root() / "benchmarks").iterdir()):
        sentences = [d for d in read_benchmark_json(folder / "dev.json") if d.spans][:per_benchmark]
        for k in range(0, len(sentences), size):
            text, spans = "", set()
            for d in sentences[k : k + size]:
                offset = len(text) + 1 if text else 0
                text = f"{text} {d.text}" if text else d.text
                spans |= {(s + offset, e + offset) for s, e in d.spans}
            texts.append(text)
            gold.append(spans)
    return texts, gold


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--contexts", default="64,32")
    ap.add_argument("--out", default="results/tried/window_context")
    args = ap.parse_args()
    detector = tommer.load()
    texts, gold = documents(200, 100)
    gold_set = {(k, s, e) for k, g in enumerate(gold) for s, e in g}
    rows, reference = [], None
    for context in (int(c) for c in args.contexts.split(",")):
        detector.config = dataclasses.replace(detector.config, context=context)
        encodings, windows = detector.preprocess(texts)
        found = {(k, m.start, m.end) for k, ms in enumerate(detector(texts)) for m in ms}
        reference = found if reference is None else reference
        tp = len(found & gold_set)
        rows.append(
            {
                "context": context,
                "recall": round(100 * tp / len(gold_set), 2),
                "precision": round(100 * tp / max(len(found), 1), 2),
                "dice_vs_first": round(dice(found, reference), 4),
                "tokens_per_token": round(sum(w.length for w in windows) / sum(len(e) for e in encodings), 4),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    words = sum(len(t.split()) for t in texts)
    out.with_suffix(".json").write_text(
        json.dumps({"documents": len(texts), "words": words, "rows": rows}, indent=2) + "\n"
    )
    lines = [
        "# Left context of long-text windows (issue #20)",
        "",
        f"Written by `python experiments/window_context.py --contexts {args.contexts}`: {len(texts)} dev "
        f"documents of 100 consecutive sentences ({words:,} words), the default model, `flat` decoding.",
        "",
        "| context (tokens) | recall | precision | DICE vs the first row | window tokens per text token |",
        "|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['context']} | {r['recall']:.2f} | {r['precision']:.2f} | {r['dice_vs_first']:.4f} | "
        f"{r['tokens_per_token']:.4f} |"
        for r in rows
    ]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
