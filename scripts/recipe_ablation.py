"""Recipe ablation of the mention probe, on development data only (never test).

Each row adds one change of the reference recipe (VictorMorand/llm2ner) to the row above it,
trains a probe on the Pile-NER part (the fixed 90% split) with ``tommer.training.train_probe``,
the function behind ``tommer train``, and scores it on

- the fixed 10% held-out Pile-NER passages (P / R / F1), and
- the first ``--dev-limit`` sentences (with at least one entity) of every benchmark's dev split,
  pooled,

each under threshold decoding (0.5) and greedy ``flat`` decoding (candidates above 0.5).
Then self-distillation rows (teacher: the best recipe row by held-out F1 under ``flat``), and a
decoder table for the best model: ``flat`` / ``nested`` over a grid of margins, and the old
maximum-total-probability decoder for reference. Hidden states are cached in ``--cache-dir``
(keyed by the token ids). A row's ``rank_weight`` adds :func:`covering_rank_loss` (a research loss,
not an option of ``tommer train``) through ``train_probe(extra_loss=...)``.

    python scripts/recipe_ablation.py --epochs 6 --dev-limit 150 --out results/recipe_ablation
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from bisect import bisect_right
from dataclasses import asdict
from pathlib import Path

import torch
from sweep_common import cpu_flags, encode_cached, pct, pooled

from tommer.core.backbone import DEFAULT_BACKBONE, Backbone
from tommer.core.probe import NEG_LOGIT, ProbeConfig, ToMMeRProbe
from tommer.data.readers import PILE_NER_BIO, data_root, read_bio
from tommer.evaluation.evaluation import BENCHMARKS, load_benchmark
from tommer.training.training import (
    EncodedCorpus,
    TrainConfig,
    add_teacher_spans,
    evaluate,
    split_holdout,
    train_probe,
)

BASE = {
    "layer": 6,
    "cosine": False,
    "lr": 2e-3,
    "init": "default",
    "grad_clip": 0.0,
    "weight_decay": 0.01,
    "patience_steps": 0,
    "max_span_tokens": 32,
    "batch_size": 8,
    "overlap_weight": 0.0,
    "rank_weight": 0.0,
    "val_decoding": "threshold",
}
# one change per row, each on top of the rows above
STEPS = [
    ("baseline (shipped recipe)", {}),
    ("+ cosine matching", {"cosine": True}),
    ("+ lr 1e-2", {"lr": 1e-2}),
    ("+ W_Q, W_K ~ N(0, 1)", {"init": "normal"}),
    ("+ gradient clipping 2.0", {"grad_clip": 2.0}),
    ("+ weight decay 1e-4", {"weight_decay": 1e-4}),
    ("+ LR plateau on training loss (5000 steps), batch 16", {"patience_steps": 5000, "batch_size": 16}),
    ("+ span window 25 tokens", {"max_span_tokens": 25}),
    ("+ layer 7 (the reference's layer 6: output of block index 6)", {"layer": 7}),
]
MARGINS = [0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0]


def _covering_lse(logits: torch.Tensor) -> torch.Tensor:
    """(B, T): at token t, the log-sum-exp of the logits of every span covering t (end >= t >= start).

    A prefix log-sum-exp over starts, then a suffix one over ends, read on the diagonal.
    """
    prefix = torch.logcumsumexp(logits, dim=2)
    return torch.logcumsumexp(prefix.flip(1), dim=1).flip(1).diagonal(dim1=1, dim2=2)


def covering_rank_loss(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over tokens t inside a gold span of −log P(a gold span | the spans covering t).

    Greedy non-overlapping decoding keeps, around each token, the highest-logit span that covers it;
    this loss trains the gold span to win that contest against every overlapping span (a sub-span, a
    super-span or a crossing one), which the per-span BCE does not ask for.
    """
    z = logits.masked_fill(~mask, NEG_LOGIT)
    everything = _covering_lse(z)
    gold = _covering_lse(z.masked_fill(~labels, NEG_LOGIT))
    inside = gold > NEG_LOGIT / 2
    return (everything - gold)[inside].mean() if inside.any() else logits.sum() * 0


def max_total_flat(spans, margin=0.0):
    """The decoder ``flat`` was before: the non-overlapping set of maximum total probability."""
    spans = list(spans)
    order = sorted(range(len(spans)), key=lambda k: (spans[k][1], spans[k][0]))
    ends = [spans[k][1] for k in order]
    best, prev = [0.0] * (len(order) + 1), []
    for pos, k in enumerate(order):
        p = bisect_right(ends, spans[k][0] - 1, 0, pos)
        prev.append(p)
        best[pos + 1] = max(best[pos], spans[k][2] + best[p])
    chosen, pos = [], len(order)
    while pos > 0:
        k = order[pos - 1]
        if spans[k][2] + best[prev[pos - 1]] > best[pos - 1]:
            chosen.append(spans[k])
            pos = prev[pos - 1]
        else:
            pos -= 1
    return sorted(chosen)


def score_row(probe, held, dev) -> dict:
    row = {}
    for decoding in ("threshold", "flat"):
        pile = evaluate(probe, held, 0.5, decoding)
        d = pooled(probe, dev, decoding)
        row[decoding] = {
            "pile": {"precision": pile.precision, "recall": pile.recall, "f1": pile.f1},
            "dev": {"precision": d.precision, "recall": d.recall, "f1": d.f1},
        }
    row["combine"] = [round(float(w), 3) for w in probe.combine.weight.detach().flatten()]
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default=DEFAULT_BACKBONE)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--dev-limit", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-dir", default="build/ablation-cache")
    ap.add_argument("--out", default="results/recipe_ablation")
    ap.add_argument("--train-docs", type=int, help="first N training texts only (a quick smoke run)")
    ap.add_argument("--steps", type=int, help="first N recipe rows only (a quick smoke run)")
    ap.add_argument("--base", help="JSON: changes to the base recipe of the first row")
    ap.add_argument("--rows", help='JSON list of ["name", {changes}]: replaces the recipe rows')
    ap.add_argument("--no-distill", action="store_true", help="skip the self-distillation rows")
    ap.add_argument("--render", help="only rewrite the markdown of this JSON report")
    ap.add_argument("--save-best", help="save the best row's probe state dict + config here (JSON + .pt)")
    args = ap.parse_args()

    if args.render:
        Path(args.render).with_suffix(".md").write_text(render(json.loads(Path(args.render).read_text())))
        return
    base = {**BASE, **json.loads(args.base or "{}")}
    steps = [tuple(x) for x in json.loads(args.rows)] if args.rows else STEPS
    root = data_root()
    layers = sorted({base["layer"], *(c["layer"] for _, c in steps if "layer" in c)})
    train_docs, held_docs = split_holdout(read_bio(root / PILE_NER_BIO), 0.1, args.seed)
    train_docs = train_docs[: args.train_docs]
    dev_docs = {name: load_benchmark(root, name, "dev", limit=args.dev_limit) for name in BENCHMARKS}
    backbone = Backbone.load(args.backbone, max(layers))
    cache = Path(args.cache_dir) / args.backbone
    t0 = time.perf_counter()
    train = encode_cached(backbone, train_docs, layers, cache, f"pile-train{len(train_docs)}")
    held = encode_cached(backbone, held_docs, layers, cache, "pile-held")
    dev = {
        n: encode_cached(backbone, d, layers, cache, f"dev{args.dev_limit}-{n}") for n, d in dev_docs.items()
    }
    encode_wall = time.perf_counter() - t0
    print(f"encoded in {encode_wall:.0f} s", flush=True)

    def run(recipe: dict, corpus: dict[int, EncodedCorpus] | None = None) -> tuple[ToMMeRProbe, dict]:
        layer = recipe["layer"]
        probe_config = ProbeConfig(backbone.hidden_size, 64, recipe["cosine"], recipe["max_span_tokens"])
        train_config = TrainConfig(
            epochs=recipe.get("epochs") or args.epochs,
            lr=recipe["lr"],
            weight_decay=recipe["weight_decay"],
            batch_size=recipe["batch_size"],
            seed=args.seed,
            init=recipe["init"],
            grad_clip=recipe["grad_clip"],
            patience_steps=recipe["patience_steps"],
            overlap_weight=recipe["overlap_weight"],
            val_decoding=recipe["val_decoding"],
        )
        started = time.perf_counter()
        weight = recipe.get("rank_weight", 0.0)
        extra = (lambda *a: weight * covering_rank_loss(*a)) if weight > 0 else None  # noqa: E731
        probe, history = train_probe(
            (corpus or train)[layer], held[layer], probe_config, train_config, log=print, extra_loss=extra
        )
        row = score_row(probe, held[layer], {n: c[layer] for n, c in dev.items()})
        row.update(recipe=dict(recipe), train_wall_s=time.perf_counter() - started, epochs=len(history))
        return probe, row

    rows, recipe, probes = [], dict(base), []
    for name, change in steps[: args.steps]:
        recipe = {**recipe, **change}
        probe, row = run(recipe)
        row["name"] = name
        rows.append(row)
        probes.append(probe)
        print(json.dumps(row), flush=True)

    best_k = max(range(len(rows)), key=lambda k: rows[k]["flat"]["pile"]["f1"])
    teacher, best_recipe = probes[best_k], rows[best_k]["recipe"]
    layer = best_recipe["layer"]
    distill_rows = []
    for name, kwargs in (
        []
        if args.no_distill
        else [
            ("self-distillation: all teacher spans (p >= 0.9)", {}),
            ("+ drop teacher spans that cross a gold span", {"drop_crossing": True}),
            ("+ cap: at most 0.5 teacher spans per gold span", {"drop_crossing": True, "cap": 0.5}),
        ]
    ):
        relabelled, added = add_teacher_spans(train[layer], teacher, 0.9, **kwargs)
        probe, row = run(best_recipe, {layer: relabelled})
        row.update(name=name, teacher_spans_added=added, gold_spans=sum(len(g) for g in train[layer].gold))
        distill_rows.append(row)
        probes.append(probe)
        print(json.dumps(row), flush=True)

    candidates = rows + distill_rows
    best_all = max(range(len(candidates)), key=lambda k: candidates[k]["flat"]["dev"]["f1"])
    model = probes[best_all]
    dev_best = {n: c[layer] for n, c in dev.items()}
    decoder_rows = []
    for decoding in ("flat", "nested"):
        for margin in MARGINS:
            d = pooled(model, dev_best, decoding, margin)
            p = evaluate(model, held[layer], 0.5, decoding, margin=margin)
            decoder_rows.append(
                {
                    "decoding": decoding,
                    "margin": margin,
                    "dev": [d.precision, d.recall, d.f1],
                    "pile": [p.precision, p.recall, p.f1],
                }
            )
            print(json.dumps(decoder_rows[-1]), flush=True)
    from tommer.core import decoding as dec

    dec.DECODERS["max-total"] = max_total_flat
    d = pooled(model, dev_best, "max-total")
    p = evaluate(model, held[layer], 0.5, "max-total")
    decoder_rows.append(
        {
            "decoding": "max-total (old flat)",
            "margin": None,
            "dev": [d.precision, d.recall, d.f1],
            "pile": [p.precision, p.recall, p.f1],
        }
    )
    meta = {
        "command": "python scripts/recipe_ablation.py " + shlex.join(sys.argv[1:]),
        "backbone": args.backbone,
        "train_texts": len(train_docs),
        "held_out_texts": len(held_docs),
        "dev_sentences": sum(len(d) for d in dev_docs.values()),
        "encode_wall_s": encode_wall,
        "cpu_flags": cpu_flags(),
        "rows": rows,
        "distill_rows": distill_rows,
        "best_recipe_row": rows[best_k]["name"],
        "best_model_row": candidates[best_all]["name"],
        "decoder_rows": decoder_rows,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    out.with_suffix(".md").write_text(render(meta))
    if args.save_best:
        torch.save(model.state_dict(), Path(args.save_best).with_suffix(".pt"))
        Path(args.save_best).with_suffix(".json").write_text(
            json.dumps(
                {
                    "row": candidates[best_all]["name"],
                    "recipe": candidates[best_all]["recipe"],
                    "probe": asdict(model.config),
                },
                indent=2,
            )
        )


def render(meta: dict) -> str:
    lines = [
        "# Probe recipe ablation (development data only)",
        "",
        f"Generated by `{meta['command']}`. Backbone {meta['backbone']}; trained on {meta['train_texts']} "
        f"Pile-NER texts, scored on the {meta['held_out_texts']} held-out texts (fixed 10% split) and on "
        f"{meta['dev_sentences']} dev sentences (first ones with an entity of each of the 13 benchmarks), "
        "pooled. Threshold decoding keeps every span with p > 0.5; `flat` is greedy non-overlapping "
        "decoding (highest logit first, margin 0) of the same candidates. Each row adds one change "
        "to the row above. Combine weights: [S, min-pool, max-pool, e_i, e_i+1].",
        f"CPU flags: {meta['cpu_flags']}.",
        "",
    ]
    header = [
        "| row | Pile-NER P / R / F1 (threshold) | Pile-NER P / R / F1 (flat) | dev P / R (threshold) "
        "| dev P / R / F1 (flat) | combine weights |",
        "|---|---|---|---|---|---|",
    ]
    lines += header

    def fmt(row):
        t, f = row["threshold"], row["flat"]
        pile = lambda r: f"{pct(r['precision'])} / {pct(r['recall'])} / {pct(r['f1'])}"  # noqa: E731
        return (
            f"| {row['name']} | {pile(t['pile'])} | {pile(f['pile'])} | {pct(t['dev']['precision'])} / "
            f"{pct(t['dev']['recall'])} | {pile(f['dev'])} | {row['combine']} |"
        )

    lines += [fmt(r) for r in meta["rows"]]
    if meta["distill_rows"]:
        lines += [
            "",
            f"Self-distillation (teacher: row '{meta['best_recipe_row']}', the best held-out F1 under flat):",
            "",
            *header,
        ]
    for r in meta["distill_rows"]:
        added = f"{r['name']} ({r['teacher_spans_added']:,} teacher spans added to {r['gold_spans']:,} gold)"
        lines.append(fmt({**r, "name": added}))
    lines += [
        "",
        f"## Decoders (model: '{meta['best_model_row']}', the best row by dev F1 under flat)",
        "",
        "Candidates above 0.5. Margin in logits: within it, a longer overlapping span wins.",
        "",
        "| decoding | margin | dev P / R / F1 | Pile-NER P / R / F1 |",
        "|---|---:|---|---|",
    ]
    for r in meta["decoder_rows"]:
        d, p = r["dev"], r["pile"]
        lines.append(
            f"| {r['decoding']} | {'' if r['margin'] is None else r['margin']} | "
            f"{pct(d[0])} / {pct(d[1])} / {pct(d[2])} | {pct(p[0])} / {pct(p[1])} / {pct(p[2])} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
