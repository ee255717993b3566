"""Typing gold mentions: the zero-shot head against the full backbone's own words.

A diagnostic for issue #5 (``lm_labels=True`` is the feature it measures). On the first
``--limit`` sentences of each CrossNER domain's **dev** split, every gold mention is given one of
the domain's label names (as the zero-shot rows of ``tommer eval --typed`` name them) in two ways:

- ``head``: the shipped zero-shot head's best label (label vectors from layer-L prompts), for the
  gold spans among the probe's candidates at the head's candidate threshold (the others cannot
  be typed by it at all; their share is reported);
- ``lm``: the whole backbone with its LM head (``tommer.typed.lm_labels.LMLabeler``, as ``lm_labels=True``)
  reads ``<sentence>\\nIn the text above, <mention> is a`` and scores each label by the summed
  log-probability of its tokens, minus the same after ``In the text above, N/A is a``.

Accuracy is the share of those gold mentions given their gold type (label ``miscellaneous`` too).
The end-to-end table scores, on the same sentences, the head's typed mentions against the same
spans with the lm's label (strict typed P / R / F1). Writes
``<out>.md`` and ``<out>.json``.

    python scripts/lm_typing.py --benchmarks CrossNER_AI,CrossNER_literature --limit 100 \\
        --out results/typed/lm_typing
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections import Counter
from pathlib import Path

from tommer.api import load
from tommer.data.readers import data_root, read_annotated
from tommer.evaluation.typed_eval import CROSSNER, LABEL_NAMES, gold_renaming
from tommer.training.type_training import encode_grouped, probe_candidates, score_predictions
from tommer.typed.lm_labels import PROMPT, LMLabeler
from tommer.typed.reading import typed_mentions

RESULTS = Path(__file__).resolve().parent.parent / "results"  # written here from any cwd


def relabel(labeler, texts, predictions, labels) -> list[list[tuple]]:
    """Typed mentions (start, end, label, score) per text, each label replaced by ``labeler``'s."""
    out = []
    for text, pred in zip(texts, predictions):
        found = labeler.label(text, [(m[0], m[1]) for m in pred], labels)
        out.append([(m[0], m[1], *hit) for m, hit in zip(pred, found)])
    return out


def head_outputs(detector, docs, names, rename, cache_dir) -> tuple[list[dict], list[list], list[set]]:
    """Per sentence: the head's best label name per candidate span, its typed mentions (as in
    ``tommer eval --typed``) and the gold (start, end, label) set."""
    head = detector.type_head
    cfg = head.config
    detector.load_head_layers()
    read = cfg.read_layers(detector.config.layer)
    grouped = encode_grouped(detector, docs, read, cfg.echo, 1, 0, cfg.text_prefix, cache_dir, rename=rename)
    cands = probe_candidates(detector.probe, grouped.plain, cfg.candidate_threshold)
    entries = grouped.entries(head, cands, detector.label_vectors(names))
    picks = [{(a, b): names[int(row.argmax())] for a, b, _, row in spans} for spans in entries]
    thresholds = cfg.candidate_threshold, cfg.label_threshold
    typed = typed_mentions(head, entries, [names] * len(entries), *thresholds)
    return picks, typed, grouped.gold


def _prf(scores) -> dict:
    m = scores.micro
    return {"precision": m.precision, "recall": m.recall, "f1": m.f1, "tp": m.tp, "predicted": m.predicted}


def score_domain(detector, lm, root: Path, name: str, limit: int, cache_dir, log) -> dict:
    folder = root / "benchmarks" / name
    label_file = json.loads((folder / "labels.json").read_text())
    docs = read_annotated(folder / "dev.json", typed=True)[:limit]
    rename = gold_renaming(docs, label_file, str(folder / "dev.json"))
    names = [LABEL_NAMES.get(lab, lab) for lab in label_file]
    by_head, typed, gold_sets = head_outputs(detector, docs, names, rename, cache_dir)

    def lm_labels(sentence: str, spans: list[tuple[int, int]]) -> list[str]:
        return [label for label, _ in lm.label(sentence, spans, names)]

    counts: Counter = Counter()
    per_type: dict[str, Counter] = {}
    started = time.perf_counter()
    for doc, head_pick in zip(docs, by_head):
        trimmed = []
        for s, e in doc.spans:  # whitespace-trimmed, as the scorer reads spans
            text = doc.text[s:e]
            trimmed.append((s + len(text) - len(text.lstrip()), e - (len(text) - len(text.rstrip()))))
        for (a, b), gold, lm_pick in zip(trimmed, doc.labels, lm_labels(doc.text, trimmed)):
            gold = rename[gold]
            row = per_type.setdefault(gold, Counter())
            for c in (counts, row):
                c["gold"] += 1
                c["lm"] += lm_pick == gold
                if (a, b) in head_pick:
                    c["candidates"] += 1
                    c["head"] += head_pick[(a, b)] == gold
                    c["lm_on_candidates"] += lm_pick == gold
    seconds = time.perf_counter() - started
    # end to end: the head's typed mentions as they are, and with the LM's label instead
    relabelled = relabel(lm, [d.text for d in docs], typed, names)
    end_to_end = {
        "head": _prf(score_predictions(typed, gold_sets)),
        "head_spans_lm_labels": _prf(score_predictions(relabelled, gold_sets)),
    }
    log(
        f"{name}: {counts['gold']} gold mentions, lm {counts['lm'] / counts['gold']:.3f}, {seconds:.0f} s; "
        + json.dumps(end_to_end)
    )
    return {
        "benchmark": name,
        "sentences": len(docs),
        **counts,
        "lm_seconds": seconds,
        "end_to_end": end_to_end,
        "per_type": per_type,
    }


def _acc(n: int, d: int) -> str:
    return f"{100 * n / d:.1f}" if d else "–"


def render(report: dict) -> str:
    lines = [
        "# Typing gold mentions: zero-shot head vs the backbone's own words (CrossNER dev)",
        "",
        f"Regenerate with:\n\n```\n{report['command']}\n```",
        "",
        f"- Split: **dev**, the first {report['limit']} sentences of each domain; every gold mention is "
        "typed among the domain's label names. Typing only: which spans to type is not measured.",
        "- head: the shipped zero-shot head's best label, on the gold spans among the probe's candidates.",
        f"- lm: the whole backbone ({report['backbone']}, LM head included) as "
        "`tommer.typed.lm_labels.LMLabeler`: "
        f"scores `{PROMPT!r}` + ` <label>` by the label tokens' log-probability, minus the same after "
        "`'In the text above, N/A is a'`.",
        "",
        "| domain | gold mentions | among candidates | head | lm (same spans) | lm (all) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in report["rows"]:
        lines.append(
            f"| {r['benchmark']} | {r['gold']} | {_acc(r['candidates'], r['gold'])} | "
            f"{_acc(r['head'], r['candidates'])} | {_acc(r['lm_on_candidates'], r['candidates'])} | "
            f"{_acc(r['lm'], r['gold'])} |"
        )
    lines += [
        "",
        "## End to end on the same sentences (strict typed micro P / R / F1)",
        "",
        "The head's typed mentions (its spans, candidate and label thresholds, as in `tommer eval --typed`), "
        "and the same spans with the lm's label instead of the head's.",
        "",
        "| domain | head P | head R | head F1 | head spans + lm labels P | R | F1 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["rows"]:
        h, m = r["end_to_end"]["head"], r["end_to_end"]["head_spans_lm_labels"]
        cells = [f"{100 * x[k]:.1f}" for x in (h, m) for k in ("precision", "recall", "f1")]
        lines.append(f"| {r['benchmark']} | " + " | ".join(cells) + " |")
    for r in report["rows"]:
        lines += ["", f"## {r['benchmark']}", "", "| type | gold | head | lm |", "|---|---:|---:|---:|"]
        for label, c in sorted(r["per_type"].items(), key=lambda kv: -kv[1]["gold"]):
            lines.append(
                f"| {label} | {c['gold']} | {_acc(c['head'], c['candidates'])} | {_acc(c['lm'], c['gold'])} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="smollm2-135m", help="detector with the zero-shot head")
    parser.add_argument("--backbone", default="smollm2-135m", help="the causal LM that scores label names")
    parser.add_argument("--benchmarks", default=",".join(CROSSNER))
    parser.add_argument("--limit", type=int, default=60, help="first N dev sentences per domain")
    parser.add_argument("--data", help="data root (default: $TOMMER_DATA or ../shared/data)")
    parser.add_argument("--cache-dir", default="build/cache")
    parser.add_argument("--out", default=str(RESULTS / "typed/lm_typing"))
    args = parser.parse_args(argv)
    root = Path(args.data) if args.data else data_root()
    if not (root / "benchmarks").is_dir():
        sys.exit(f"no benchmarks under {root}: give --data or set TOMMER_DATA")
    detector = load(args.model)
    if detector.type_head is None or not detector.type_head.zero_shot:
        sys.exit(f"{args.model} has no zero-shot type head")
    lm = LMLabeler(args.backbone)
    rows = [
        score_domain(detector, lm, root, name, args.limit, args.cache_dir, print)
        for name in args.benchmarks.split(",")
    ]
    command = "python scripts/lm_typing.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    report = {"command": command.strip(), "limit": args.limit, "backbone": args.backbone, "rows": rows}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    out.with_suffix(".md").write_text(render(report))
    print(f"wrote {out}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
